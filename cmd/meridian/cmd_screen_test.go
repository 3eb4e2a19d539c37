package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestScreenCommands imports a list in the published CSV format, screens
// organisations, records a person's decisions, and plans: a plan of an
// organisation whose match is undetermined fails closed; once a person
// dismisses the match it proceeds.
func TestScreenCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	list := filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv")

	if _, err := runCLI(t, "screen", "import", filepath.Join(t.TempDir(), "missing.csv")); !isCode(err, exitBadInput) {
		t.Fatalf("importing a missing file: %v", err)
	}
	out, err := runCLI(t, "screen", "import", list)
	if err != nil || !strings.Contains(out, "imported 8 entries") || !strings.Contains(out, "EL    3") {
		t.Fatalf("import: %v\n%s", err, out)
	}

	dir := t.TempDir()
	orgs := filepath.Join(dir, "orgs.yaml")
	os.WriteFile(orgs, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: exac}
spec: {headquarters: CN, legalName: "Example Advanced Computing Co., Ltd."}
---
apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: exemplar}
spec: {headquarters: DE, legalName: "Exemplar Lab GmbH"}
---
apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: clean-lab}
spec: {headquarters: FR}
`), 0o644)
	out, err = runCLI(t, "screen", orgs, "-o", "json")
	if !isCode(err, exitNoPlacement) {
		t.Fatalf("screen with matches: %v, want exit %d", err, exitNoPlacement)
	}
	var res struct {
		Results []struct {
			Org, Status, Source string
			Matches             []struct {
				Entry       struct{ ID string }
				EntrySHA256 string `json:"entrySha256"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	entryHash := "" // exemplar's match with e1003, as screening shows it
	for _, r := range res.Results {
		status[r.Org] = r.Status
		for _, m := range r.Matches {
			if r.Org == "exemplar" && m.Entry.ID == "e1003" {
				entryHash = m.EntrySHA256
			}
		}
	}
	if len(entryHash) != 64 {
		t.Fatalf("exemplar's match with e1003 shows no entrySha256: %q\n%s", entryHash, out)
	}
	// The table shows the hash's first 12 digits, enough to name it, in
	// its last column: the columns scripts read by place stay where they
	// were.
	if out, _ := runCLI(t, "screen", orgs); !strings.HasSuffix(strings.SplitN(out, "\n", 2)[0], "DECISION  ENTRY-SHA256") || !strings.Contains(out, " "+entryHash[:12]+"\n") {
		t.Fatalf("the table shows no entry hash %s in its last column:\n%s", entryHash[:12], out)
	}
	if status["exac"] != "entity-list" || status["exemplar"] != "undetermined" || status["clean-lab"] != "none" {
		t.Fatalf("statuses %v", status)
	}

	job := filepath.Join(dir, "job.yaml")
	os.WriteFile(job, []byte(`apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: ft}
spec:
  organization: exemplar
  model: {parameters: 1e9}
  method: lora
  tokens: 1e8
`), 0o644)
	out, err = runCLI(t, "plan", "-f", orgs, "-f", job, "--as-of", "2026-03-01", "-o", "json")
	if !isCode(err, exitNoPlacement) || !strings.Contains(out, "restricted-party status is undetermined") || !strings.Contains(out, "Examplar Lab GmbH") {
		t.Fatalf("plan for an undetermined organisation: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "screen", "dismiss", "exemplar", "e1003", "-f", orgs, "--by", "a.person"); !isCode(err, exitBadInput) {
		t.Fatalf("a decision without a reason: %v", err)
	}
	// Without -f the organisation must be registered to the tenant.
	if out, err := runCLI(t, "screen", "dismiss", "exemplar", "e1003", "--by", "a.person", "--reason", "r"); !isCode(err, exitBadInput) || !strings.Contains(out+err.Error(), "registered to tenant default") {
		t.Fatalf("a decision on an organisation not registered: %v\n%s", err, out)
	}
	// A dismissal naming a version of the entry other than the one
	// imported now is refused, naming the flag; one not a hash too.
	for _, h := range []string{"0123456789ab", "e1003", entryHash[:8]} {
		if out, err := runCLI(t, "screen", "dismiss", "exemplar", "e1003", "-f", orgs, "--by", "a.person", "--reason", "r", "--entry-sha256", h); !isCode(err, exitBadInput) ||
			!strings.Contains(out+err.Error(), "--entry-sha256") {
			t.Fatalf("a dismissal of entry version %s: %v\n%s", h, err, out)
		}
	}
	// Without the flag it is recorded against the entry as it is, saying
	// which version that is; with it, against the one reviewed.
	out, err = runCLI(t, "screen", "dismiss", "exemplar", "e1003", "-f", orgs, "--by", "a.person", "--reason", "register number differs")
	if err != nil || !strings.Contains(out, "recorded in "+filepath.Join(home, "screening", "decisions.json")+" and the audit log") ||
		!strings.Contains(out, "entry sha256 "+entryHash+"; not checked against the screening reviewed") {
		t.Fatalf("dismiss: %v\n%s", err, out)
	}
	out, err = runCLI(t, "screen", "dismiss", "exemplar", "e1003", "-f", orgs, "--by", "a.person", "--reason", "register number differs", "--entry-sha256", strings.ToUpper(entryHash[:12]))
	if err != nil || !strings.Contains(out, "as reviewed (entry sha256 "+entryHash+")") {
		t.Fatalf("dismiss naming the entry's version: %v\n%s", err, out)
	}
	// The decision is in the hash-chained audit log, and the log verifies.
	db, err := store.OpenSQLite(context.Background(), filepath.Join(home, "meridian.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := db.AuditEntries(context.Background(), "")
	db.Close()
	found := false
	for _, e := range es {
		found = found || e.Kind == KindScreeningDecision && strings.Contains(string(e.Payload), `"by":"a.person"`) &&
			strings.Contains(string(e.Payload), "register number differs") && strings.Contains(string(e.Payload), `"action":"dismiss"`)
	}
	if err != nil || !found {
		t.Fatalf("no screening-decision entry naming who and why in the audit log: %v %+v", err, es)
	}
	if out, err := runCLI(t, "audit", "verify", "--state", home); err != nil {
		t.Fatalf("audit verify after a decision: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "plan", "-f", orgs, "-f", job, "--as-of", "2026-03-01"); err != nil {
		t.Fatalf("plan after the match was dismissed: %v", err)
	}
	out, err = runCLI(t, "screen", orgs)
	if !isCode(err, exitNoPlacement) || !strings.Contains(out, "dismissed by a.person") {
		t.Fatalf("screen after dismissal (exac is still listed): %v\n%s", err, out)
	}
	// The dismissal was about exemplar as it was: moved to another country,
	// it is screened afresh.
	moved := filepath.Join(dir, "moved.yaml")
	b, _ := os.ReadFile(orgs)
	os.WriteFile(moved, []byte(strings.Replace(string(b), "headquarters: DE", "headquarters: FR", 1)), 0o644)
	if out, err := runCLI(t, "plan", "-f", moved, "-f", job, "--as-of", "2026-03-01", "-o", "json"); !isCode(err, exitNoPlacement) || !strings.Contains(out, "restricted-party status is undetermined") {
		t.Fatalf("plan for the dismissed organisation with another country: %v\n%s", err, out)
	}
}

// TestRulesLint lists every problem of a user's packs and exits 2; good
// packs exit 0.
func TestRulesLint(t *testing.T) {
	if out, err := runCLI(t, "rules", "lint", filepath.Join("..", "..", "examples", "rules"), filepath.Join("..", "..", "examples", "provenance-rules")); err != nil {
		t.Fatalf("the example packs: %v\n%s", err, out)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: house}
rules:
  - id: house-1
    jurisdiction: ORG
    kind: org-policy
    scope: transfer
    effect: deny
    effectiveFrom: 2026-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [house policy]
    message: "dataset {dataset.name}"
    condition: "dataset.clas == 'personal'"
    liftedBy: {bases: [eu-art49]}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: b}\nrules: []\n"), 0o644)
	out, err := runCLI(t, "rules", "lint", dir)
	if !isCode(err, exitBadInput) {
		t.Fatalf("lint of bad packs: %v, want exit %d", err, exitBadInput)
	}
	for _, want := range []string{
		`a.yaml:5: rule "house-1": condition: reads dataset.clas, which is not a fact`,
		`a.yaml:5: rule "house-1": liftedBy.bases[0]: "eu-art49" is not a legal basis`,
		`b.yaml:1: rules: a rule file needs at least one rule`,
		"3 problem(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
}

func isCode(err error, code int) bool {
	var ce *codeError
	return errors.As(err, &ce) && ce.code == code
}

// TestScreenImportOfSomeListsRefused: an import of a file that holds one
// list of the several the stored list holds replaced them all, and the
// parties of the others screened clear. It exits 2 naming the lists
// missing and the flag, and changes nothing; --allow-partial takes it.
func TestScreenImportOfSomeListsRefused(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	full, err := os.ReadFile(filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	extract := lines[0]
	for _, ln := range lines[1:] {
		if strings.Contains(ln, "(EL)") {
			extract += ln
		}
	}
	el := filepath.Join(t.TempDir(), "el.csv")
	if err := os.WriteFile(el, []byte(extract), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "screen", "import", filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "screen", "import", el)
	if !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "SDN (1 entries)") || !strings.Contains(err.Error(), "--allow-partial") {
		t.Fatalf("an import of the Entity List alone: %v, want refused naming the lists missing and the flag", err)
	}
	out, err := runCLI(t, "screen", "import", el, "--allow-partial")
	if err != nil || !strings.Contains(out, "imported 3 entries") {
		t.Fatalf("with --allow-partial: %v\n%s", err, out)
	}
}

// TestRulesLintCountsProblemsNotListed: the loader lists at most
// policy.MaxProblems problems, the last counting the rest, and `rules
// lint` counted the lines it printed: 150 broken rules read "100
// problem(s)". It now says how many there are and how many it lists.
func TestRulesLintCountsProblemsNotListed(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: many}\nrules:\n")
	for i := range 150 {
		fmt.Fprintf(&b, "  - id: r-%d\n    jurisdiction: ORG\n    kind: nonsense\n    effect: deny\n    effectiveFrom: 2024-01-01\n    enforcement: in-force\n    confidence: confirmed\n    sources: [house policy]\n    message: \"site {site.name}\"\n    condition: \"true\"\n", i)
	}
	os.WriteFile(filepath.Join(dir, "many.yaml"), []byte(b.String()), 0o644)
	out, err := runCLI(t, "rules", "lint", dir)
	if !isCode(err, exitBadInput) {
		t.Fatalf("lint of 150 broken rules: %v, want exit %d", err, exitBadInput)
	}
	if want := fmt.Sprintf("150 problem(s), the first %d listed", policy.MaxProblems-1); !strings.Contains(out, want) {
		t.Errorf("lint output lacks %q:\n%.600s", want, out[max(0, len(out)-600):])
	}
}
