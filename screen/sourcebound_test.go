package screen

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestSourceBounded: a result's source names a few dismissed matches and
// counts the others, and quotes at most maxNote bytes of a decision's
// text: an organisation of a common name with many dismissals, or a
// decision with a reason of megabytes, made every screening result of it
// (kept by a server, recorded with each law check) as large.
func TestSourceBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("source,entity_number,name,addresses\n")
	const n = 20
	for i := range n {
		fmt.Fprintf(&b, "Entity List (EL) - BIS,%d,Northwind Trading GmbH,\"Tianjin, CN\"\n", i)
	}
	s := &Store{Dir: t.TempDir()}
	l, err := s.Import("el.csv", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	o := org("northwind", "DE", "Northwind Trading GmbH")
	long := strings.Repeat("checked the register, ", 5_000) // 110 KB
	for _, e := range l.Entries {
		if _, err := s.Decide("", o, e.ID, Dismiss, "a.person", "checked the register"); err != nil {
			t.Fatal(err)
		}
	}
	// A decision refuses such a reason now (TestDecisionTextBounded); one
	// recorded before it did still holds it.
	ds, err := s.Decisions()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds {
		ds[i].Reason = long
	}
	if err := s.writeDecisions(ds); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Screen("", o)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.Status != catalog.RestrictedNone || len(r.Matches) != n {
		t.Fatalf("status %s, %d matches; want %s, %d", r.Status, len(r.Matches), catalog.RestrictedNone, n)
	}
	if !strings.Contains(r.Source, fmt.Sprintf("and %d more", n-maxListed)) || !strings.Contains(r.Source, "dismissed by a.person") {
		t.Errorf("source does not name the first dismissals and count the others: %.300s", r.Source)
	}
	if len(r.Source) > 8*maxNote {
		t.Errorf("source is %d bytes", len(r.Source))
	}
}
