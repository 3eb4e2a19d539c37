package main

import (
	"crypto/sha256"
	binenc "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/screen"
)

// TestScreenImportAuditsCarriedOverFirst: an import wrote the dismissals
// it carried over to their entry's hash now into decisions.json, then to
// the audit log; when the audit log could not be written the import
// failed, yet the copies were in force, and the next import, finding them
// carried over already, never audited them. The audit log is now written
// first: failing, it imports nothing, and the next import carries the
// dismissals over, and audits them, again.
func TestScreenImportAuditsCarriedOverFirst(t *testing.T) {
	home, list, sst := screenImported(t)
	l, err := sst.List()
	if err != nil {
		t.Fatal(err)
	}
	e := l.Entries[0]
	// A dismissal as the first version recorded it: with the hash of
	// every field of the entry, the entry unchanged since.
	old := screen.Decision{Org: "exac", Tenant: catalog.DefaultTenant, EntryID: e.ID, Entry: e.List + " " + e.Name, Action: screen.Dismiss,
		By: "a.person", Reason: "other company", Time: l.ImportedAt.Add(-time.Hour), ListSHA256: l.SHA256, EntrySHA256: entryHashV1(&e)}
	if old.EntrySHA256 == e.ContentHash() {
		t.Fatal("the first version's hash is the hash now")
	}
	b, err := json.Marshal(map[string]any{"decisions": []screen.Decision{old}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sst.DecisionsPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	listBefore, err := os.ReadFile(filepath.Join(home, "screening", "list.json"))
	if err != nil {
		t.Fatal(err)
	}
	decisionsBefore, err := os.ReadFile(sst.DecisionsPath())
	if err != nil {
		t.Fatal(err)
	}

	// The audit log cannot be written: its key is readable by others,
	// which is refused.
	keyPath := auditKeyReadableByOthers(t, home)
	_, err = runCLI(t, "screen", "import", list)
	if err == nil || isCode(err, exitBadInput) || !strings.Contains(err.Error(), "audit key") || !strings.Contains(err.Error(), "nothing imported") {
		t.Fatalf("an import whose carried-over dismissal cannot be audited: %v, want it refused, saying why and that nothing is imported", err)
	}
	if got, _ := os.ReadFile(sst.DecisionsPath()); string(got) != string(decisionsBefore) {
		t.Errorf("decisions.json after the import the audit log refused:\n%s\nwant it as it was:\n%s", got, decisionsBefore)
	}
	if got, _ := os.ReadFile(filepath.Join(home, "screening", "list.json")); string(got) != string(listBefore) {
		t.Error("the list was replaced by the import the audit log refused")
	}

	// The audit log mended, the next import carries the dismissal over
	// and audits it.
	if err := os.Chmod(keyPath, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "screen", "import", list, "-o", "json")
	if err != nil {
		t.Fatalf("the import after the audit log was mended: %v", err)
	}
	var info struct {
		Carried int `json:"dismissalsCarriedOver"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Carried != 1 {
		t.Fatalf("the import after the audit log was mended: %s %v, want the dismissal carried over", out, err)
	}
	ds, err := sst.Decisions()
	if err != nil || len(ds) != 2 || ds[1].Rekeyed == nil || ds[1].EntrySHA256 != e.ContentHash() {
		t.Fatalf("decisions after the import: %+v %v, want the dismissal and its copy", ds, err)
	}
	es := screeningDecisionsAudited(t)
	if len(es) != 1 {
		t.Fatalf("%d screening decisions in the audit log, want the one carried over", len(es))
	}
	var got screen.Decision
	if err := json.Unmarshal(es[0].Payload, &got); err != nil || got.Rekeyed == nil || got.Rekeyed.From != old.EntrySHA256 || got.EntrySHA256 != e.ContentHash() {
		t.Errorf("the audit log's entry: %s %v, want the copy carried over from %s", es[0].Payload, err, old.EntrySHA256)
	}
}

// entryHashV1 is the hash of an entry the first version recorded with a
// decision (every field, alternate names in their order), a format that
// no longer changes.
func entryHashV1(e *screen.Entry) string {
	var b []byte
	put := func(s string) {
		b = binenc.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	putAll := func(ss []string) {
		b = binenc.AppendUvarint(b, uint64(len(ss)))
		for _, s := range ss {
			put(s)
		}
	}
	put("csl-entry/1")
	for _, s := range []string{e.ID, e.Source, e.List, e.EntityNumber, e.Type, e.Name} {
		put(s)
	}
	putAll(e.AltNames)
	b = binenc.AppendUvarint(b, uint64(len(e.Addresses)))
	for _, a := range e.Addresses {
		for _, s := range []string{a.Address, a.City, a.State, a.PostalCode, a.Country} {
			put(s)
		}
	}
	putAll(e.Programs)
	for _, s := range []string{e.StartDate, e.LicenseRequirement, e.LicensePolicy, e.FRNotice, e.SourceListURL} {
		put(s)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestScreenImportWriteFailureNotBadInput: a list that could not be put
// in place (the storage's fault) was reported as bad input (exit 2), as
// if the file were at fault.
func TestScreenImportWriteFailureNotBadInput(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	if err := os.MkdirAll(filepath.Join(home, "screening", "list.json", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Told to replace what is there, which does not read as a list.
	_, err := runCLI(t, "screen", "import", filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv"), "--replace-damaged")
	if err == nil || isCode(err, exitBadInput) || !strings.Contains(err.Error(), screen.ErrListNotWritten.Error()) {
		t.Fatalf("an import whose list cannot be written: %v, want an error of the storage, not bad input", err)
	}
}
