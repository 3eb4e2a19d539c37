package screen

import (
	"strings"
	"testing"

	"meridian.dev/meridian/internal/textsafe"
)

// TestSourceQuotesControlCharacters: a result's source, printed to
// terminals and logs, quotes text of the list or of the decisions that
// holds a control or bidirectional formatting character (an escape
// sequence), rather than sending it to the terminal as it is.
func TestSourceQuotesControlCharacters(t *testing.T) {
	for _, c := range []struct{ name, esc, want string }{
		{"escape sequence", "\x1b]0;owned\x07\x1b[2J", `\x1b`},
		// A line separator broke the line as a newline does, forging a
		// line of the command's output or of a log.
		{"line separator", "\u2028forged: clear\u2029", `\u2028forged: clear\u2029`},
		{"override", "\u202edeunimsid", `\u202edeunimsid`},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range sourcesHolding(t, c.esc) {
				if i := textsafe.Index(r.Source); i >= 0 {
					t.Errorf("%s (%s): source holds %U: %q", r.Org, r.Status, []rune(r.Source[i:])[0], r.Source)
				}
				if !strings.Contains(r.Source, c.want) {
					t.Errorf("%s (%s): source does not quote %q: %q", r.Org, r.Status, c.esc, r.Source)
				}
			}
		})
	}
}

// sourcesHolding screens three organisations against a list whose
// entries' ids, sources, dates and notices, and whose decisions' authors
// and reasons, all end in esc.
func sourcesHolding(t *testing.T, esc string) []Result {
	s := &Store{Dir: t.TempDir()}
	names := []string{"Northwind Trading GmbH", "Polar Quartz GmbH", "Delta Dynamics GmbH"}
	var recs []map[string]any
	for i, n := range names {
		r := cslRecord("e"+string(rune('1'+i))+esc, elSource+esc, n, nil, "CN")
		r["start_date"] = "2020-01-01" + esc
		r["federal_register_notice"] = "85 FR 1" + esc
		recs = append(recs, r)
	}
	l, err := s.Import("consolidated"+esc+".json", cslJSON(t, recs...))
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
	return rs
}
