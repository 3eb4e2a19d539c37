package screen

import (
	"bytes"
	"encoding/json"
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

// TestImportAtDecisionBoundCarriesNewestOver: an import that would carry
// dismissals over past the decisions file's bound (MaxDecisions, or its
// bytes) was refused whole, and the list it brought (new designations
// among it) was not imported: the old list stayed in force. The import
// now goes ahead and carries over the newest dismissals that fit; the
// oldest are left, named to the caller with the bound, and lapse (the
// match shows again, failing closed). The file ends within its bounds.
func TestImportAtDecisionBoundCarriesNewestOver(t *testing.T) {
	smallDecisionBound(t)
	type setup struct {
		s           *Store
		now         *time.Time
		orgs        []*catalog.Organization
		recorded    []Decision
		republished []byte
	}
	prepare := func(t *testing.T, filler int) setup {
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		s := &Store{Dir: t.TempDir(), Now: func() time.Time { return now }}
		orgs := []*catalog.Organization{org("example-lab", "DE", "Example Lab"), org("northwind", "DE", "Northwind Avionics"), org("polar", "DE", "Polar Quartz")}
		names := []string{"Exampel Lab Co., Ltd.", "Northwind Avionix", "Polar Quartzz"}
		var recs, capitals []map[string]any
		for i, n := range names {
			recs = append(recs, cslRecord(fmt.Sprintf("e%d", i+1), elSource, n, nil, "CN"))
			capitals = append(capitals, cslRecord(fmt.Sprintf("e%d", i+1), elSource, strings.ToUpper(n), nil, "CN"))
		}
		l, err := s.Import("consolidated.json", cslJSON(t, recs...))
		if err != nil {
			t.Fatal(err)
		}
		// Dismissed with the earlier hash, oldest first.
		var ds []Decision
		for i, o := range orgs {
			ds = append(ds, Decision{Org: o.Metadata.Name, Tenant: catalog.DefaultTenant, Fingerprint: Fingerprint(o), EntryID: l.Entries[i].ID, Entry: "EL " + l.Entries[i].Name,
				Action: Dismiss, By: "a.person", Reason: "other company", Time: now.Add(time.Duration(i-3) * time.Hour), ListSHA256: l.SHA256, EntrySHA256: l.Entries[i].contentHashV1()})
		}
		writeFiller(t, s, ds, filler)
		now = now.Add(time.Hour)
		return setup{s, &now, orgs, ds, cslJSON(t, capitals...)}
	}
	check := func(t *testing.T, u setup, carried int) {
		t.Helper()
		var handed, left []Decision
		var bound string
		l, got, err := u.s.ImportWith("consolidated.json", u.republished, ImportOptions{
			Record:     func(ds []Decision) error { handed = ds; return nil },
			NotCarried: func(ds []Decision, b string) { left, bound = ds, b },
		})
		if err != nil {
			t.Fatalf("an import carrying dismissals over at the bound: %v, want it imported", err)
		}
		if stored, err := u.s.List(); err != nil || !stored.ImportedAt.Equal(*u.now) || stored.SHA256 != l.SHA256 {
			t.Errorf("the list after the import: %v, want the one imported", err)
		}
		n := len(u.recorded)
		if len(got) != carried || len(handed) != carried || len(left) != n-carried {
			t.Fatalf("carried over %d (handed to the audit log %d), left %d; want the %d newest carried, %d left", len(got), len(handed), len(left), carried, n-carried)
		}
		for i, d := range got {
			if want := u.recorded[n-carried+i].EntryID; d.EntryID != want || d.Rekeyed == nil || handed[i].EntryID != want {
				t.Errorf("carried over %d: %s, want %s (the newest kept)", i, d.EntryID, want)
			}
		}
		for i, d := range left {
			if d.EntryID != u.recorded[i].EntryID || d.Rekeyed == nil {
				t.Errorf("left %d: %s, want %s (the oldest left)", i, d.EntryID, u.recorded[i].EntryID)
			}
		}
		if !strings.Contains(bound, u.s.decisionsPath()) || !strings.Contains(bound, fmt.Sprintf("%d decisions", maxDecisions)) ||
			!strings.Contains(bound, fmt.Sprintf("%d oldest were not", n-carried)) || !strings.Contains(bound, "dismiss those matches again") {
			t.Errorf("the bound named for those left: %q", bound)
		}
		ds, err := u.s.Decisions()
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(u.s.decisionsPath()); err != nil || len(ds) > maxDecisions || fi.Size() > maxDecisionsBytes {
			t.Errorf("the decisions file after the import: %d decisions, %v; want within %d decisions and %d bytes", len(ds), err, maxDecisions, maxDecisionsBytes)
		}
		// Those carried over hold through the republication; those left
		// lapse, and the match shows again.
		for i, o := range u.orgs {
			r, err := u.s.Screen("", o)
			if err != nil {
				t.Fatal(err)
			}
			if lapsed := i < n-carried; lapsed != (r[0].Status != catalog.RestrictedNone) {
				t.Errorf("%s (lapsed %v): %s (%s)", o.Metadata.Name, lapsed, r[0].Status, r[0].Source)
			}
		}
	}
	t.Run("count", func(t *testing.T) {
		// Room for two of the three.
		u := prepare(t, maxDecisions-len([]int{1, 2, 3})-2)
		check(t, u, 2)
		if ds, _ := u.s.Decisions(); len(ds) != maxDecisions {
			t.Errorf("%d decisions, want the file filled to its bound of %d", len(ds), maxDecisions)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		// Room in bytes for the newest copy alone.
		u := prepare(t, 5)
		ds, err := u.s.Decisions()
		if err != nil {
			t.Fatal(err)
		}
		prev, err := u.s.List()
		if err != nil {
			t.Fatal(err)
		}
		copies := rekey(ds, prev, &List{File: "consolidated.json", ImportedAt: *u.now})
		if len(copies) != 3 {
			t.Fatalf("%d copies, want 3", len(copies))
		}
		out, err := u.s.encodeDecisions(append(ds, copies[2]))
		if err != nil {
			t.Fatal(err)
		}
		defer func(m int64) { maxDecisionsBytes = m }(maxDecisionsBytes)
		maxDecisionsBytes = int64(len(out))
		check(t, u, 1)
		if fi, err := os.Stat(u.s.decisionsPath()); err != nil || fi.Size() != maxDecisionsBytes {
			t.Errorf("the decisions file: %v, want it filled to its bound of %d bytes exactly", err, maxDecisionsBytes)
		}
	})
	t.Run("none fit", func(t *testing.T) {
		check(t, prepare(t, maxDecisions-3), 0)
	})
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
