package screen

import (
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestScreener: a long-lived screener answers from the imported list,
// sees a new decision or import once its files change, and fails closed
// on a list it cannot read.
func TestScreener(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	fuzzy := org("exemplar", "DE", "Exemplar Lab GmbH")
	if sc := scr.Screening(fuzzy); sc != nil {
		t.Fatalf("no list imported, yet a screening result: %+v", sc)
	}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	sc := scr.Screening(fuzzy)
	if sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "e1003") {
		t.Fatalf("after import: %+v", sc)
	}
	if got := scr.Screening(fuzzy); got != sc {
		t.Errorf("the same organisation was screened again: %p then %p", sc, got)
	}
	// The same name in another organisation is screened on its own facts.
	if other := scr.Screening(org("exemplar", "FR", "Laboratoire Propre SAS")); other == nil || other.Status != catalog.RestrictedNone {
		t.Errorf("an organisation with the same name but other facts: %+v", other)
	}
	if _, err := s.Decide("exemplar", "e1003", Dismiss, "a.person", "different register number"); err != nil {
		t.Fatal(err)
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status != catalog.RestrictedNone || !strings.Contains(sc.Source, "dismissed by a.person") {
		t.Fatalf("after a dismissal: %+v", sc)
	}
	if err := os.WriteFile(s.listPath(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if sc := scr.Screening(fuzzy); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "could not be read") {
		t.Fatalf("an unreadable list must fail closed: %+v", sc)
	}
	if sc := scr.Screening(nil); sc != nil {
		t.Errorf("no organisation: %+v", sc)
	}
}

// BenchmarkScreenerHit is the cost a plan's query pays once the
// organisation has been screened.
func BenchmarkScreenerHit(b *testing.B) {
	s := &Store{Dir: b.TempDir()}
	data, err := os.ReadFile("testdata/csl-sample-id.csv")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Import("consolidated.csv", data); err != nil {
		b.Fatal(err)
	}
	scr := &Screener{Store: s}
	o := org("exemplar", "DE", "Exemplar Lab GmbH")
	scr.Screening(o)
	b.ResetTimer()
	for b.Loop() {
		scr.Screening(o)
	}
}
