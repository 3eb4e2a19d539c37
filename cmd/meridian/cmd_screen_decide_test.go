package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/store"
)

// TestScreenDecisionAuditedFirst: confirm and dismiss wrote the decision
// into decisions.json, then to the audit log; when the audit log could not
// be written the command failed, yet the decision was in force (the match
// dismissed) with no trace in the log. The audit log is now written first:
// failing, it decides nothing.
func TestScreenDecisionAuditedFirst(t *testing.T) {
	home, _, sst := screenImported(t)
	orgs := filepath.Join(t.TempDir(), "orgs.yaml")
	if err := os.WriteFile(orgs, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: exemplar}
spec: {headquarters: DE, legalName: "Exemplar Lab GmbH"}
`), 0o644); err != nil {
		t.Fatal(err)
	}

	// The audit log cannot be written: its key is readable by others,
	// which is refused.
	keyPath := auditKeyReadableByOthers(t, home)
	// The import left the file, holding no decision (it marks a list as
	// imported): a refused decision leaves it as it is.
	before, err := os.ReadFile(sst.DecisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{screen.Dismiss, screen.Confirm} {
		_, err := runCLI(t, "screen", action, "exemplar", "e1003", "-f", orgs, "--by", "a.person", "--reason", "register number differs")
		if err == nil || isCode(err, exitBadInput) || !strings.Contains(err.Error(), "audit key") || !strings.Contains(err.Error(), "nothing decided") {
			t.Fatalf("%s when the audit log cannot be written: %v, want it refused, saying why and that nothing is decided", action, err)
		}
		if got, err := os.ReadFile(sst.DecisionsPath()); err != nil || string(got) != string(before) {
			t.Fatalf("decisions.json after a %s the audit log refused: %v\n%s\nwant it as it was", action, err, got)
		}
	}
	// The match stands undecided.
	out, err := runCLI(t, "screen", orgs, "-o", "json")
	if !isCode(err, exitNoPlacement) || strings.Contains(out, "a.person") {
		t.Fatalf("screening after the refused decisions: %v\n%s\nwant exemplar's match undecided", err, out)
	}

	// The audit log mended, the decision is audited and recorded.
	if err := os.Chmod(keyPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "screen", screen.Dismiss, "exemplar", "e1003", "-f", orgs, "--by", "a.person", "--reason", "register number differs"); err != nil {
		t.Fatalf("dismiss after the audit log was mended: %v", err)
	}
	ds, err := sst.Decisions()
	if err != nil || len(ds) != 1 || ds[0].Action != screen.Dismiss {
		t.Fatalf("decisions after the dismissal: %+v %v, want the one dismissal", ds, err)
	}
	es := screeningDecisionsAudited(t)
	if len(es) != 1 {
		t.Fatalf("%d screening decisions in the audit log, want the one dismissal", len(es))
	}
	var got screen.Decision
	if err := json.Unmarshal(es[0].Payload, &got); err != nil || got.Action != screen.Dismiss || got.EntryID != "e1003" || got.Time != ds[0].Time {
		t.Errorf("the audit log's entry: %s %v, want the dismissal recorded in decisions.json", es[0].Payload, err)
	}
}

// screenImported makes a Meridian home for t with the sample list
// imported, and gives the home, the list's file and the screening store.
func screenImported(t *testing.T) (home, list string, sst *screen.Store) {
	t.Helper()
	home = t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	list = filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv")
	if _, err := runCLI(t, "screen", "import", list); err != nil {
		t.Fatal(err)
	}
	return home, list, &screen.Store{Dir: filepath.Join(home, "screening")}
}

// auditKeyReadableByOthers writes home's audit key readable by others, so
// that the audit log cannot be written, and gives its path.
func auditKeyReadableByOthers(t *testing.T, home string) string {
	t.Helper()
	keyPath := filepath.Join(home, "audit.key")
	// The key the log was written with, when there is one (an import
	// writes to it): another key would break the log's seals.
	key, err := os.ReadFile(keyPath)
	if err != nil {
		key = []byte(strings.Repeat("ab", 32) + "\n")
	}
	if err := os.WriteFile(keyPath, key, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath
}

// screeningDecisionsAudited gives the screening decisions in the audit
// log of the state in MERIDIAN_HOME, of every tenant.
func screeningDecisionsAudited(t *testing.T) []audit.Entry {
	t.Helper()
	return stateAuditOfKind(t, KindScreeningDecision)
}

// stateAuditOfKind gives the entries of kind in the audit log of the
// state in MERIDIAN_HOME, of every tenant, in order.
func stateAuditOfKind(t *testing.T, kind string) []audit.Entry {
	t.Helper()
	st, err := openState()
	if err != nil {
		t.Fatal(err)
	}
	db := openStateDB(t, st)
	defer db.Close()
	es, err := db.AuditSelect(context.Background(), store.AuditQuery{Kinds: []string{kind}, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
