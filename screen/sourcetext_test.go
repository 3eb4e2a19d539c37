package screen

import (
	"strings"
	"testing"
	"unicode"
)

// TestSourceQuotesControlCharacters: a result's source, printed to
// terminals and logs, quotes text of the list or of the decisions that
// holds a control or bidirectional formatting character (an escape
// sequence), rather than sending it to the terminal as it is.
func TestSourceQuotesControlCharacters(t *testing.T) {
	const esc = "\x1b]0;owned\x07\x1b[2J"
	s := &Store{Dir: t.TempDir()}
	names := []string{"Northwind Trading GmbH", "Polar Quartz GmbH", "Delta Dynamics GmbH"}
	var recs []map[string]any
	for i, n := range names {
		r := cslRecord("e"+string(rune('1'+i))+esc, elSource+esc, n, nil, "CN")
		r["start_date"] = "2020-01-01" + esc
		r["federal_register_notice"] = "85 FR 1\u202e"
		recs = append(recs, r)
	}
	l, err := s.Import("consolidated\x1b[2J.json", cslJSON(t, recs...))
	if err != nil {
		t.Fatal(err)
	}
	polar, delta := org("polar", "DE", names[1]), org("delta", "DE", names[2])
	if _, err := s.Decide("", polar, l.Entries[1].ID, Dismiss, "a.person", "other company"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Decide("", delta, l.Entries[2].ID, Confirm, "a.person", "same register"); err != nil {
		t.Fatal(err)
	}
	// A decision refuses such text (TestDecisionTextBounded); one written
	// before it did, or by hand, still holds it.
	ds, err := s.Decisions()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds {
		ds[i].By, ds[i].Reason = ds[i].By+esc, ds[i].Reason+esc
	}
	if err := s.writeDecisions(ds); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Screen("", org("northwind", "DE", names[0]), polar, delta)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if i := strings.IndexFunc(r.Source, func(r rune) bool { return unicode.IsControl(r) || r == '\u202e' }); i >= 0 {
			t.Errorf("%s (%s): source holds %q: %q", r.Org, r.Status, r.Source[i:i+1], r.Source)
		}
		if !strings.Contains(r.Source, `\x1b`) {
			t.Errorf("%s (%s): source does not quote the escape: %q", r.Org, r.Status, r.Source)
		}
	}
}
