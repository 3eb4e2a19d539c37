package screen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// writeFiller writes the decisions file by hand: head, then n short
// decisions of an organisation that matches nothing.
func writeFiller(t testing.TB, s *Store, head []Decision, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"decisions":[`)
	for i, d := range head {
		if i > 0 {
			b.WriteByte(',')
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
	}
	const filler = `{"org":"filler","tenant":"default","entryId":"e0","action":"dismiss","by":"a","reason":"r","time":"2026-01-01T00:00:00Z","listSha256":"0"}`
	for i := range n {
		if i > 0 || len(head) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(filler)
	}
	b.WriteString("]}\n")
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.decisionsPath(), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// boundNamed is whether err names the bound on the number of decisions.
func boundNamed(err error) bool {
	return err != nil && strings.Contains(err.Error(), fmt.Sprintf("%d decisions", maxDecisions))
}

// smallDecisionBound lowers the bound on the number of decisions for the
// test: files of MaxDecisions take seconds to write and read.
func smallDecisionBound(t *testing.T) {
	m := maxDecisions
	t.Cleanup(func() { maxDecisions = m })
	maxDecisions = 100
}

// TestDecisionsCountBounded: the number of decisions was bounded only by
// the file's bytes, and a file of short decisions (a hand edit, a file
// put in place) held millions, each decoded to some 200 bytes and walked
// by every screening. A file holding more than MaxDecisions is refused
// now, naming the bound, as a file that cannot be read: screening fails
// closed. At the bound, a new decision is refused, naming it, before it
// is recorded anywhere; the file is left as it was.
func TestDecisionsCountBounded(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	o := org("exemplar", "DE", "Exemplar Lab GmbH")
	smallDecisionBound(t)

	writeFiller(t, s, nil, maxDecisions+1)
	if _, err := s.Decisions(); !boundNamed(err) || !strings.Contains(err.Error(), s.decisionsPath()) {
		t.Errorf("a file of %d decisions: %v, want a refusal naming the file and the bound", maxDecisions+1, err)
	}
	if _, err := s.Screen("", o); !boundNamed(err) {
		t.Errorf("screening with a file over the bound: %v, want a refusal naming the bound", err)
	}
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	if sc := scr.Screening(o); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, fmt.Sprintf("%d decisions", maxDecisions)) {
		t.Errorf("a server's screening with a file over the bound: %+v, want undetermined naming the bound", sc)
	}

	full := writeFiller(t, s, nil, maxDecisions)
	if ds, err := s.Decisions(); err != nil || len(ds) != maxDecisions {
		t.Fatalf("a file at the bound: %d decisions, %v", len(ds), err)
	}
	recorded := false
	_, err := s.DecideRecorded("", o, "e1003", "", Dismiss, "a.person", "different register number", func(Decision) error {
		recorded = true
		return nil
	})
	if !boundNamed(err) {
		t.Errorf("a decision past the bound: %v, want a refusal naming the bound", err)
	}
	if recorded {
		t.Error("a decision refused for the bound was recorded (audited) first")
	}
	if got, err := os.ReadFile(s.decisionsPath()); err != nil || !bytes.Equal(got, full) {
		t.Errorf("the decisions file after a refused decision: %d bytes, %v; want it as it was", len(got), err)
	}
}

// TestImportCarriesNothingOverPastDecisionBound: an import that would
// carry dismissals over past MaxDecisions is refused, naming the bound,
// before the copies are handed to the audit log; the decisions and the
// list stay as they were.
func TestImportCarriesNothingOverPastDecisionBound(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return now }}
	lab := org("example-lab", "DE", "Example Lab")
	recs := []map[string]any{cslRecord("e1", elSource, "Exampel Lab Co., Ltd.", nil, "CN")}
	l, err := s.Import("consolidated.json", cslJSON(t, recs...))
	if err != nil {
		t.Fatal(err)
	}
	d := Decision{Org: lab.Metadata.Name, Tenant: catalog.DefaultTenant, Fingerprint: Fingerprint(lab), EntryID: "e1", Entry: "EL " + l.Entries[0].Name,
		Action: Dismiss, By: "a.person", Reason: "other company", Time: now, ListSHA256: l.SHA256, EntrySHA256: l.Entries[0].contentHashV1()}
	smallDecisionBound(t)
	full := writeFiller(t, s, []Decision{d}, maxDecisions-1)
	now = now.Add(time.Hour)
	handed := false
	_, _, err = s.ImportWith("consolidated.json", cslJSON(t, recs...), ImportOptions{Record: func([]Decision) error {
		handed = true
		return nil
	}})
	if !boundNamed(err) {
		t.Errorf("an import carrying a dismissal over past the bound: %v, want a refusal naming the bound", err)
	}
	if handed {
		t.Error("the dismissals of an import refused for the bound were handed to the audit log")
	}
	if got, err := os.ReadFile(s.decisionsPath()); err != nil || !bytes.Equal(got, full) {
		t.Errorf("the decisions file after a refused import: %d bytes, %v; want it as it was", len(got), err)
	}
	if got, err := s.List(); err != nil || !got.ImportedAt.Equal(l.ImportedAt) {
		t.Errorf("the list was replaced by the refused import: %v", err)
	}
	if errors.Is(err, ErrPartialImport) {
		t.Error("refused as partial")
	}
}

// TestMaxDecisionsFromFileBytes: the bound on the number of decisions is
// what the file's bytes allow: the smallest decision the store writes (as
// written before tenants, fingerprints and entry hashes were kept, with
// one-letter names and reasons) takes at least minDecisionBytes, and
// MaxDecisions of them fit maxDecisionsBytes, so that no decisions file
// the store wrote within its bytes is refused for their number.
func TestMaxDecisionsFromFileBytes(t *testing.T) {
	d := Decision{Org: "a", EntryID: "1", Entry: " x", Action: Dismiss, By: "b", Reason: "r",
		Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ListSHA256: strings.Repeat("0", 64)}
	s := &Store{Dir: t.TempDir()}
	one, err := s.encodeDecisions([]Decision{d})
	if err != nil {
		t.Fatal(err)
	}
	two, err := s.encodeDecisions([]Decision{d, d})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(two) - len(one); n < minDecisionBytes {
		t.Errorf("the smallest decision the store writes takes %d bytes, under minDecisionBytes (%d)", n, minDecisionBytes)
	}
	if int64(MaxDecisions)*minDecisionBytes > maxDecisionsBytes {
		t.Errorf("%d decisions of %d bytes are over the file's %d bytes", MaxDecisions, minDecisionBytes, maxDecisionsBytes)
	}
}

// BenchmarkDecisionsRead reads a decisions file of 100,000 short
// decisions.
func BenchmarkDecisionsRead(b *testing.B) {
	s := &Store{Dir: b.TempDir()}
	writeFiller(b, s, nil, 100_000)
	b.ResetTimer()
	for range b.N {
		if ds, err := s.Decisions(); err != nil || len(ds) != 100_000 {
			b.Fatal(len(ds), err)
		}
	}
}

// TestDecisionOverByteBoundNotRecorded: a decision that would take the
// file over its bytes was handed to the audit log first and then refused,
// leaving an audited decision that was never in force.
func TestDecisionOverByteBoundNotRecorded(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	o := org("exemplar", "DE", "Exemplar Lab GmbH")
	if _, err := s.Decide("", o, "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.decisionsPath())
	if err != nil {
		t.Fatal(err)
	}
	defer func(m int64) { maxDecisionsBytes = m }(maxDecisionsBytes)
	maxDecisionsBytes = fi.Size() + 10
	recorded := false
	_, err = s.DecideRecorded("", o, "e1003", "", Confirm, "a.person", "same register number", func(Decision) error {
		recorded = true
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "bound") {
		t.Errorf("a decision over the bound: %v", err)
	}
	if recorded {
		t.Error("a decision refused for the file's bytes was recorded (audited) first")
	}
}
