package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/screen"
)

// TestScreenDecisionPinsTheOrganisation: a dismissal named the entry as
// reviewed (--entry-sha256) but recorded the organisation as it was when
// the command ran: a tenant could change its organisation's name to the
// listed one between the review and the dismissal, and the dismissal then
// cleared the listed name. --org-fingerprint, the fingerprint the
// screening showed, has such a decision refused; without it, the output
// names the organisation's names and country the decision is about.
func TestScreenDecisionPinsTheOrganisation(t *testing.T) {
	_, _, sst := screenImported(t)
	orgs := filepath.Join(t.TempDir(), "orgs.yaml")
	write := func(legal string) {
		t.Helper()
		if err := os.WriteFile(orgs, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: exemplar}
spec: {headquarters: DE, legalName: "`+legal+`"}
`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Exemplar Lab GmbH")
	out, err := runCLI(t, "screen", orgs, "-o", "json")
	if !isCode(err, exitNoPlacement) {
		t.Fatalf("screening the reviewed organisation: %v\n%s", err, out)
	}
	var res struct{ Results []screen.Result }
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 1 || len(res.Results[0].OrgFingerprint) != 64 {
		t.Fatalf("the screening reviewed: %v\n%s\nwant its organisation's fingerprint", err, out)
	}
	reviewed := res.Results[0].OrgFingerprint
	table, _ := runCLI(t, "screen", orgs)
	// Whole: a tenant can grind a name whose fingerprint begins with a
	// few digits shown (48 bits for 12), never with all 64.
	if !strings.Contains(table, "org fingerprint: "+reviewed+"\n") {
		t.Errorf("the table does not show the organisation's whole fingerprint %s:\n%s", reviewed, table)
	}

	// Renamed after the review, to the listed name.
	write("Examplar Lab GmbH")
	_, err = runCLI(t, "screen", screen.Dismiss, "exemplar", "e1003", "-f", orgs, "--org-fingerprint", reviewed[:minOrgFingerprint], "--by", "a.person", "--reason", "register number differs")
	if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "--org-fingerprint") || !strings.Contains(err.Error(), "Examplar Lab GmbH") {
		t.Fatalf("a dismissal of an organisation changed since the review: %v, want refused, naming it as it is", err)
	}
	if ds, err := sst.Decisions(); err != nil || len(ds) != 0 {
		t.Fatalf("decisions after the refused dismissal: %+v %v", ds, err)
	}
	for _, bad := range []string{"abc", "zzzzzzzzzzzz", strings.Repeat("a", 65), reviewed[:12], reviewed[:minOrgFingerprint-1]} {
		if _, err := runCLI(t, "screen", screen.Dismiss, "exemplar", "e1003", "-f", orgs, "--org-fingerprint", bad, "--by", "a.person", "--reason", "x"); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "--org-fingerprint") {
			t.Errorf("--org-fingerprint %q: %v, want refused as bad input", bad, err)
		}
	}

	// As reviewed: recorded.
	write("Exemplar Lab GmbH")
	out, err = runCLI(t, "screen", screen.Dismiss, "exemplar", "e1003", "-f", orgs, "--org-fingerprint", strings.ToUpper(reviewed[:minOrgFingerprint]), "--by", "a.person", "--reason", "register number differs")
	if err != nil || !strings.Contains(out, "as reviewed (org fingerprint "+reviewed) {
		t.Fatalf("a dismissal of the organisation as reviewed: %v\n%s", err, out)
	}
	// Without the flag: recorded, naming what it is about.
	out, err = runCLI(t, "screen", screen.Confirm, "exemplar", "e1003", "-f", orgs, "--by", "a.person", "--reason", "same register number")
	if err != nil || !strings.Contains(out, `names "Exemplar Lab GmbH", headquarters DE`) || !strings.Contains(out, "--org-fingerprint") {
		t.Fatalf("a decision without --org-fingerprint: %v\n%s\nwant the organisation's names and country shown", err, out)
	}
	if ds, err := sst.Decisions(); err != nil || len(ds) != 2 || ds[0].Fingerprint != reviewed {
		t.Fatalf("decisions: %+v %v", ds, err)
	}
}
