package screen

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// syntheticList is a list of n entries, each with a name, two alternate
// names and an address, names of four or five words as on the published
// list.
func syntheticList(n int) *List {
	words := []string{"Example", "Advanced", "Computing", "Northwind", "Supercomputing", "Center", "Trading", "Avionics",
		"Institute", "Shenzhen", "Research", "Technology", "Co., Ltd.", "LLC", "Société", "Müller", "ООО", "Северный", "示例"}
	es := make([]Entry, n)
	for i := range es {
		name := fmt.Sprintf("%s %s %s %s %d", words[i%len(words)], words[(i/7)%len(words)], words[(i/49)%len(words)], words[(i/3)%len(words)], i)
		es[i] = Entry{ID: fmt.Sprint(i), List: "SDN", Name: name, AltNames: []string{name + " Holding", "Alias " + name},
			Addresses: []Address{{Address: "1 Harbour Road", City: "Tianjin", Country: "CN"}}}
	}
	return &List{Entries: es}
}

// hostileOrg has the most aliases the catalog accepts, each size bytes
// long, in words that come near no listed name.
func hostileOrg(size int) *catalog.Organization {
	mk := func(i int) string {
		var b strings.Builder
		for w := 0; b.Len() < size; w++ {
			fmt.Fprintf(&b, "Wq%dz%d ", w, i)
		}
		return b.String()[:size]
	}
	var aliases []string
	for i := 0; i < catalog.MaxScreeningNames; i++ {
		aliases = append(aliases, mk(i))
	}
	o := org("hostile", "DE", mk(catalog.MaxScreeningNames), aliases...)
	o.Spec.Addresses = aliases
	return o
}

// TestScreeningCostBounded: an organisation whose names are longer
// together than the catalog accepts (one that reached the screener
// without its checks) is not compared name by name, at a cost of minutes
// per screening, but held undetermined at once, saying why.
func TestScreeningCostBounded(t *testing.T) {
	ix := newIndex(syntheticList(2000))
	o := hostileOrg(1000)
	done := make(chan Result, 1)
	go func() { done <- ix.screen("", o, nil) }()
	select {
	case r := <-done:
		if r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "not screened") || !strings.Contains(r.Source, fmt.Sprint(catalog.MaxScreeningText)) {
			t.Errorf("got %s (%s), want undetermined, not screened over the bound", r.Status, r.Source)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("screening %d bytes of names against 2,000 entries took over 10s", o.ScreeningText())
	}
}

// TestScreeningAddressesBounded: an organisation with more addresses, or
// longer ones, than the catalog accepts (one that reached the screener
// without its checks) is held undetermined at once, saying why, as one
// with too long names is: its addresses are compared with those of every
// entry its names come near. Within the bounds it is screened.
func TestScreeningAddressesBounded(t *testing.T) {
	ix := newIndex(syntheticList(2000))
	within := org("lab", "DE", "Example Frontier Lab")
	for i := 0; i < catalog.MaxScreeningNames; i++ {
		within.Spec.Addresses = append(within.Spec.Addresses, strings.Repeat(fmt.Sprintf("Road %d ", i), 200)[:catalog.MaxScreeningField])
	}
	if r := ix.screen("", within, nil); strings.Contains(r.Source, "not screened") {
		t.Fatalf("an organisation within the bounds: %s", r.Source)
	}
	many := *within
	many.Spec.Addresses = append(slices.Clone(within.Spec.Addresses), "1 Harbour Road Tianjin")
	long := *within
	long.Spec.Addresses = slices.Clone(within.Spec.Addresses)
	long.Spec.Addresses[3] = strings.Repeat("Harbour Road ", 100000)
	for name, o := range map[string]*catalog.Organization{"too many addresses": &many, "an address too long": &long} {
		start := time.Now()
		r := ix.screen("", o, nil)
		if r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "not screened") {
			t.Errorf("%s: %s (%s), want undetermined, not screened", name, r.Status, r.Source)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
}

// BenchmarkScreenLargestOrg is screening an organisation with as many
// and as long names as the catalog accepts against a 10,000-entry list
// (the published Consolidated Screening List has about 30,000 names with
// aliases); BenchmarkScreenOneName one with a single name.
func BenchmarkScreenLargestOrg(b *testing.B) {
	ix := newIndex(syntheticList(10000))
	o := hostileOrg(catalog.MaxScreeningText/(catalog.MaxScreeningNames+1) - 1)
	for b.Loop() {
		if r := ix.screen("", o, nil); r.Status != catalog.RestrictedNone {
			b.Fatal(r.Source)
		}
	}
}

// BenchmarkScreenLargestOrgShortWords is BenchmarkScreenLargestOrg with
// names of words of three letters or fewer and single letters, each
// compared also with its letters joined and with all its words joined
// (joinSpacedLetters, joinShortWords): the costliest the versions so
// joined make an organisation within the catalog's bounds.
func BenchmarkScreenLargestOrgShortWords(b *testing.B) {
	ix := newIndex(syntheticList(10000))
	size := catalog.MaxScreeningText/(catalog.MaxScreeningNames+1) - 1
	mk := func(i int) string {
		var sb strings.Builder
		for w := 0; sb.Len() < size; w++ {
			fmt.Fprintf(&sb, "Wq%d q z ", (w+i)%10)
		}
		return sb.String()[:size]
	}
	var aliases []string
	for i := 0; i < catalog.MaxScreeningNames; i++ {
		aliases = append(aliases, mk(i))
	}
	o := org("hostile", "DE", mk(catalog.MaxScreeningNames), aliases...)
	for b.Loop() {
		if r := ix.screen("", o, nil); r.Status != catalog.RestrictedNone {
			b.Fatal(r.Source)
		}
	}
}

func BenchmarkScreenOneName(b *testing.B) {
	ix := newIndex(syntheticList(10000))
	o := org("lab", "DE", "Example Frontier Model Laboratory")
	for b.Loop() {
		ix.screen("", o, nil)
	}
}

// BenchmarkApplyDecisions is attaching decisions to an organisation's
// 2,000 matches from a history of 10,000 decisions (a tenant's names may
// come near thousands of entries; the history only grows), by the
// matcher as it was (reference: each match against each decision) and as
// it is (one pass).
func BenchmarkApplyDecisions(b *testing.B) {
	l := syntheticList(10000)
	ix := newIndex(l)
	o := org("lab", "CN", "Example Lab")
	res := Result{Org: "lab"}
	for i := 0; i < 2000; i++ {
		res.Matches = append(res.Matches, Match{Kind: Possible, Score: 0.9, Entry: l.Entries[i*5]})
	}
	var ds []Decision
	for i := 0; i < 10000; i++ {
		d := Decision{Org: []string{"lab", "other"}[i%2], Tenant: "acme", Fingerprint: Fingerprint(o), EntryID: l.Entries[(i*7)%len(l.Entries)].ID,
			Action: []string{Dismiss, Confirm, Dismiss}[i%3]}
		ds = append(ds, d)
	}
	// The same decisions made against the entries as they are: each
	// dismissal is checked against its entry's content.
	hashed := slices.Clone(ds)
	for i := range hashed {
		hashed[i].EntrySHA256 = l.Entries[(i*7)%len(l.Entries)].ContentHash()
	}
	for _, c := range []struct {
		name  string
		apply func(*Result, string, *catalog.Organization, []Decision)
		ds    []Decision
	}{{"reference", ix.refApplyDecisions, ds}, {"now", ix.applyDecisions, ds}, {"now-entry-hashes", ix.applyDecisions, hashed}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				r := res
				r.Matches = append([]Match(nil), res.Matches...)
				c.apply(&r, "acme", o, c.ds)
			}
		})
	}
}

// BenchmarkScreenLargestCyrillicOrg is BenchmarkScreenLargestOrg with the
// names in Cyrillic, each compared as written and in each romanisation:
// the most names, then the longest, that screening compares
// (maxComparedNames, maxComparedLetters).
func BenchmarkScreenLargestCyrillicOrg(b *testing.B) {
	ix := newIndex(syntheticList(10000))
	benchLargestOrg(b, ix, "Щюгя%dз ", func(o *catalog.Organization) bool {
		return ix.screen("", o, nil).Status == catalog.RestrictedNone
	})
}

// BenchmarkScreenLargestOrgCommonLetters is BenchmarkScreenLargestOrg
// with names of the letters the list's names have most ("Shchiugia"
// shares most of its letters with the synthetic list's), which, unlike
// hostileOrg's, come near enough listed names to be compared letter by
// letter: a Latin organisation's costliest names, as the catalog accepts
// them.
func BenchmarkScreenLargestOrgCommonLetters(b *testing.B) {
	ix := newIndex(syntheticList(10000))
	benchLargestOrg(b, ix, "Shchiugia%dz ", func(o *catalog.Organization) bool {
		return o.ScreeningText() <= catalog.MaxScreeningText && ix.screen("", o, nil).Status == catalog.RestrictedNone
	})
}

// benchLargestOrg screens the organisation with the most names of words
// of format, then the longest, that screened says are screened.
func benchLargestOrg(b *testing.B, ix *index, format string, screened func(*catalog.Organization) bool) {
	mk := func(i, size int) string {
		var s strings.Builder
		for w := 0; s.Len() < size; w++ {
			fmt.Fprintf(&s, format, i*100+w)
		}
		return strings.TrimSpace(strings.ToValidUTF8(s.String()[:size], ""))
	}
	named := func(aliases, size int) *catalog.Organization {
		var as []string
		for i := 0; i < aliases; i++ {
			as = append(as, mk(i, size))
		}
		return org("hostile", "UA", mk(aliases, size), as...)
	}
	n := catalog.MaxScreeningNames
	for ; n > 0 && !screened(named(n, 16)); n-- {
	}
	size := catalog.MaxScreeningText/(n+1) - 1
	for ; size > 0 && !screened(named(n, size)); size-- {
	}
	o := named(n, size)
	b.Logf("%d names, %d bytes", n+1, o.ScreeningText())
	for b.Loop() {
		if r := ix.screen("", o, nil); r.Status != catalog.RestrictedNone {
			b.Fatal(r.Source)
		}
	}
}

// BenchmarkScreenOverBoundOrg screens the organisations past the bounds
// on the versions compared (maxComparedNames, maxComparedLetters) that
// cost the most: as many names as the catalog accepts, and as long, each
// of a word in Latin letters and one in Cyrillic letters that romanises
// to the list's common letters, so that each version is compared letter
// by letter. Only the names as written and in the Russian reading are
// compared, within the same bounds: no more than
// BenchmarkScreenLargestOrgCommonLetters.
func BenchmarkScreenOverBoundOrg(b *testing.B) {
	ix := newIndex(syntheticList(10000))
	for _, c := range []struct{ name, format string }{
		{"latin-and-cyrillic", "Shchiugia%d Шчиугиа "},
		{"cyrillic", "Шчиугиа%dз "},
	} {
		b.Run(c.name, func(b *testing.B) {
			mk := func(i, size int) string {
				var s strings.Builder
				for w := 0; s.Len() < size; w++ {
					fmt.Fprintf(&s, c.format, i*100+w)
				}
				return strings.TrimSpace(strings.ToValidUTF8(s.String()[:size], ""))
			}
			n := catalog.MaxScreeningNames
			size := catalog.MaxScreeningText/(n+1) - 1
			var as []string
			for i := 0; i < n; i++ {
				as = append(as, mk(i, size))
			}
			o := org("hostile", "UA", mk(n, size), as...)
			if o.ScreeningText() > catalog.MaxScreeningText {
				b.Fatalf("%d bytes, over the catalog's bound", o.ScreeningText())
			}
			b.Logf("%d names, %d bytes", n+1, o.ScreeningText())
			for b.Loop() {
				if r := ix.screen("", o, nil); r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "not screened") {
					b.Fatal(r.Status, r.Source)
				}
			}
		})
	}
}

// BenchmarkExactIndex makes the index of listed names by their words
// (index.exactIndex) that the first screening past the bounds on the
// versions compared makes, for a 10,000-entry list.
func BenchmarkExactIndex(b *testing.B) {
	ix := newIndex(syntheticList(10000))
	for b.Loop() {
		ix.exactOnce = sync.Once{}
		ix.exactIndex()
	}
}
