package screen

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// cslJSON is a CSL bulk file in the published JSON format holding recs.
func cslJSON(t *testing.T, recs ...map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{"results": recs})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func cslRecord(id, source, name string, alt []string, countries ...string) map[string]any {
	var addrs []map[string]any
	for _, c := range countries {
		addrs = append(addrs, map[string]any{"address": "1 Harbour Road", "city": "Somewhere", "country": c})
	}
	return map[string]any{"id": id, "source": source, "name": name, "alt_names": alt, "addresses": addrs, "programs": []string{"EAR"}}
}

const elSource = "Entity List (EL) - Bureau of Industry and Security"

// TestDismissalLapsesWhenTheEntryChanges: a dismissal made against one
// revision of the list kept clearing the organisation after a later
// import changed the entry it dismissed (here, an alias equal to the
// organisation's name, then an address in its country): it no longer
// applies, and the match is shown for review again, saying the entry
// changed since the dismissal; a new dismissal of the entry as it is
// applies. An import that changes other entries only keeps it. A
// confirmation applies whatever the entry became, and a dismissal
// recorded before entries were hashed applies as it did.
func TestDismissalLapsesWhenTheEntryChanges(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return now }}
	lab := org("example-lab", "DE", "Example Lab")
	nw := org("northwind", "DE", "Northwind Avionics")
	e1 := func(alt []string, countries ...string) map[string]any {
		return cslRecord("e1", elSource, "Exampel Lab", alt, countries...)
	}
	e3 := func(countries ...string) map[string]any {
		return cslRecord("e3", elSource, "Northwind Avionix", nil, countries...)
	}
	other := cslRecord("e2", elSource, "Polar Quartz Systems", nil, "CN")
	imp := func(recs ...map[string]any) {
		t.Helper()
		if _, err := s.Import("consolidated.json", cslJSON(t, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	screen := func(o *catalog.Organization) Result {
		t.Helper()
		r, err := s.Screen("", o)
		if err != nil {
			t.Fatal(err)
		}
		return r[0]
	}

	imp(e1(nil, "CN"), e3("CN"))
	if r := screen(lab); r.Status != catalog.RestrictedUndetermined || len(r.Matches) != 1 || r.Matches[0].Entry.ID != "e1" {
		t.Fatalf("the fixture's possible match: %s (%s)", r.Status, r.Source)
	}
	d, err := s.Decide("", lab, "e1", Dismiss, "a.person", "other register number")
	if err != nil {
		t.Fatal(err)
	}
	if d.EntrySHA256 == "" {
		t.Fatal("the dismissal records no hash of the entry")
	}
	if _, err := s.Decide("", nw, "e3", Confirm, "b.person", "same company"); err != nil {
		t.Fatal(err)
	}
	if r := screen(lab); r.Status != catalog.RestrictedNone || !strings.Contains(r.Source, "dismissed by a.person") {
		t.Fatalf("after the dismissal: %s (%s)", r.Status, r.Source)
	}

	// Another entry added: the entry dismissed is the same, and so is
	// the dismissal.
	now = now.AddDate(0, 0, 1)
	imp(e1(nil, "CN"), other, e3("CN"))
	if r := screen(lab); r.Status != catalog.RestrictedNone {
		t.Errorf("after an import that left the entry as it was: %s (%s)", r.Status, r.Source)
	}

	// The entry gains the organisation's name as an alias.
	imp(e1([]string{"Example Lab"}, "CN"), other, e3("CN", "AE"))
	r := screen(lab)
	if r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "dismissed by a.person on 2026-03-01, but the entry has changed since the dismissal") ||
		len(r.Matches) != 1 || r.Matches[0].Decision != nil || r.Matches[0].Lapsed == nil {
		t.Errorf("after the entry gained the organisation's name: %s (%s)", r.Status, r.Source)
	}
	if r := screen(nw); r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "confirmed by b.person") {
		t.Errorf("a confirmation after its entry changed: %s (%s)", r.Status, r.Source)
	}

	// And an address in its country: an exact match, the dismissal of the
	// entry as it was no help.
	imp(e1([]string{"Example Lab"}, "CN", "DE"), other, e3("CN", "AE"))
	r = screen(lab)
	if r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "exact match") || !strings.Contains(r.Source, "changed since the dismissal") {
		t.Errorf("after the entry gained the organisation's name and country: %s (%s)", r.Status, r.Source)
	}

	// A person dismisses the entry as it is now: that applies.
	if _, err := s.Decide("", lab, "e1", Dismiss, "c.person", "checked again: other company"); err != nil {
		t.Fatal(err)
	}
	if r := screen(lab); r.Status != catalog.RestrictedNone || !strings.Contains(r.Source, "dismissed by c.person on 2026-03-02") {
		t.Errorf("after a dismissal of the changed entry: %s (%s)", r.Status, r.Source)
	}

	// A decisions file written before entries were hashed: its dismissal
	// has no entrySha256, and applies whatever the entry became.
	old := `{"decisions": [{"org": "example-lab", "entryId": "e1", "entry": "EL Exampel Lab", "action": "dismiss",
		"by": "d.person", "reason": "checked", "time": "2025-01-01T00:00:00Z", "listSha256": "0ld"}]}`
	if err := os.WriteFile(s.DecisionsPath(), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := screen(org("example-lab", "FR", "Example Lab")); r.Status != catalog.RestrictedNone || !strings.Contains(r.Source, "dismissed by d.person") {
		t.Errorf("a dismissal recorded without the entry's hash: %s (%s)", r.Status, r.Source)
	}
}

// notHashed are the fields of Entry that ContentHash leaves out, with
// why: they change no match nor what a match means, and a feed that
// republished an entry with them changed lapsed every dismissal of it.
// Every other field, and any field added to Entry later, must change the
// hash (TestEntryContentHashReadsEveryField): one is left out only by
// being listed here.
var notHashed = map[string]string{
	"Source":        "the list's published name; List, its code, is hashed",
	"EntityNumber":  "the list's own record number, renumbered when it is republished; the id is hashed",
	"FRNotice":      "the citation of the notice that last amended the entry; what it amended is hashed",
	"SourceListURL": "a link to the publisher's page",
}

// TestEntryContentHashReadsEveryField: the hash a decision records
// changes with every field of the entry and of its addresses but those
// listed in notHashed, which leave it as it is; alternate names,
// addresses and programmes are sets, in any order and with repeats; and
// it is the same for the entry as the list file stores it and reads it
// back.
func TestEntryContentHashReadsEveryField(t *testing.T) {
	base := Entry{ID: "e1", List: "EL", Name: "Example", AltNames: []string{"Ex", "Exa"}, Addresses: []Address{{Country: "CN"}, {City: "Wuhan", Country: "CN"}},
		Programs: []string{"EAR", "SDN"}}
	seen := map[string]string{base.ContentHash(): "the base entry"}
	vary := func(what string, e Entry) {
		h := e.ContentHash()
		if reason, ok := notHashed[what]; ok {
			if h != base.ContentHash() {
				t.Errorf("%s, left out of the hash (%s), changes it", what, reason)
			}
			return
		}
		if prev, ok := seen[h]; ok {
			t.Errorf("%s: the same hash as %s (hash it, or list it in notHashed saying why it changes no match)", what, prev)
		}
		seen[h] = what
	}
	clone := func() Entry {
		e := base
		e.AltNames, e.Programs, e.Addresses = slices.Clone(base.AltNames), slices.Clone(base.Programs), slices.Clone(base.Addresses)
		return e
	}
	et := reflect.TypeOf(base)
	for i := range et.NumField() {
		f := et.Field(i)
		e := clone()
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Slice:
			if f.Type.Elem().Kind() == reflect.String {
				v.Set(reflect.Append(v, reflect.ValueOf("x")))
			} else {
				for j := range f.Type.Elem().NumField() {
					e2 := clone()
					a := reflect.ValueOf(&e2.Addresses[0]).Elem().Field(j)
					a.SetString(a.String() + "x")
					vary(f.Name+"."+f.Type.Elem().Field(j).Name, e2)
				}
				v.Set(reflect.Append(v, reflect.ValueOf(Address{})))
			}
		default:
			t.Fatalf("field %s of kind %s: ContentHash's test does not vary it", f.Name, f.Type.Kind())
		}
		vary(f.Name, e)
	}
	for name := range notHashed {
		if _, ok := et.FieldByName(name); !ok {
			t.Errorf("notHashed lists %s, which Entry has no more", name)
		}
	}
	// Words moved from one field to the next are another entry, and so
	// are an address's parts moved from one address to another.
	vary("a name split differently", Entry{ID: "e1", List: "EL", Name: "Exam", AltNames: []string{"pleEx", "Exa"}, Addresses: base.Addresses, Programs: base.Programs})
	moved := clone()
	moved.Addresses = []Address{{City: "Wuhan"}, {Country: "CN"}, {Country: "CN"}}
	vary("a country moved to another address", moved)
	// The sets in another order, with repeats, or spaces run together:
	// the same entry.
	same := clone()
	slices.Reverse(same.AltNames)
	slices.Reverse(same.Programs)
	slices.Reverse(same.Addresses)
	same.AltNames = append(same.AltNames, "Ex")
	same.Name = " Example  "
	same.Source, same.FRNotice, same.SourceListURL, same.EntityNumber = "Entity List (EL)", "89 FR 1234", "https://example.org/el", "17"
	if same.ContentHash() != base.ContentHash() {
		t.Error("the entry republished with its sets in another order, its name spaced otherwise, its notice and links changed: another hash")
	}
	data, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var back Entry
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.ContentHash() != base.ContentHash() {
		t.Error("the entry read back from the list file hashes differently")
	}
}

// TestDismissalKeptWhenTheEntryIsRepublished: a feed that republishes an
// entry with another notice, link or list title, or its alternate names
// in another order, changes no match: the dismissals of it stand (they
// all lapsed at once). A dismissal recorded with the hash of every field
// that decisions recorded before stands while the entry is as it was,
// and lapses when it changes.
func TestDismissalKeptWhenTheEntryIsRepublished(t *testing.T) {
	e := Entry{ID: "e1", Source: elSource, List: "EL", Name: "Exampel Lab", AltNames: []string{"Exampel Laboratory", "Exampel Labs"},
		Addresses: []Address{{City: "Wuhan", Country: "CN"}}, FRNotice: "85 FR 100", SourceListURL: "https://example.org/el"}
	lab := org("example-lab", "DE", "Example Lab")
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	dismiss := func(hash string) []Decision {
		return []Decision{{Org: "example-lab", EntryID: "e1", Action: Dismiss, By: "a.person", Reason: "other company", Time: at, EntrySHA256: hash}}
	}
	screenWith := func(e Entry, ds []Decision) Result {
		l := &List{Entries: []Entry{e}}
		r := Screen("", lab, l, ds)
		if want := newIndex(l).refScreen("", lab, ds); !reflect.DeepEqual(want, r) {
			t.Errorf("the matcher and the reference differ: %s (%s) and %s (%s)", r.Status, r.Source, want.Status, want.Source)
		}
		return r
	}
	if r := screenWith(e, nil); r.Status != catalog.RestrictedUndetermined {
		t.Fatalf("the fixture's possible match: %s (%s)", r.Status, r.Source)
	}
	re := e
	re.Source, re.FRNotice, re.SourceListURL = "Entity List (EL) - Bureau of Industry and Security, Commerce", "89 FR 2000", "https://example.org/el2"
	re.AltNames = []string{"Exampel Labs", "Exampel Laboratory"}
	if r := screenWith(re, dismiss(e.ContentHash())); r.Status != catalog.RestrictedNone || r.Matches[0].Lapsed != nil {
		t.Errorf("a dismissal after the entry was republished: %s (%s)", r.Status, r.Source)
	}
	if r := screenWith(e, dismiss(e.contentHashV1())); r.Status != catalog.RestrictedNone {
		t.Errorf("a dismissal recorded with the older hash, the entry as it was: %s (%s)", r.Status, r.Source)
	}
	changed := e
	changed.AltNames = append(slices.Clone(e.AltNames), "Example Lab")
	for _, h := range []string{e.ContentHash(), e.contentHashV1()} {
		if r := screenWith(changed, dismiss(h)); r.Status != catalog.RestrictedUndetermined || len(r.Matches) == 0 || r.Matches[0].Lapsed == nil {
			t.Errorf("a dismissal after the entry gained an alias: %s (%s)", r.Status, r.Source)
		}
	}
}

// TestDecisionNamesTheEntryReviewed: a decision was recorded against the
// entry as it was when the command ran, which may be a version nobody
// reviewed (an import ran between the screening and the dismissal). Each
// match shows its entry's hash, and a decision naming it (whole or its
// first 12 digits) is refused, naming the field, once the entry has
// changed; one naming no hash is recorded against the entry as it is.
func TestDecisionNamesTheEntryReviewed(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	lab := org("example-lab", "DE", "Example Lab")
	imp := func(alt ...string) {
		t.Helper()
		if _, err := s.Import("consolidated.json", cslJSON(t, cslRecord("e1", elSource, "Exampel Lab", alt, "CN"))); err != nil {
			t.Fatal(err)
		}
	}
	imp()
	r, err := s.Screen("", lab)
	if err != nil || len(r[0].Matches) != 1 {
		t.Fatalf("the fixture's match: %v %+v", err, r)
	}
	reviewed := r[0].Matches[0].EntrySHA256
	if reviewed != r[0].Matches[0].Entry.ContentHash() {
		t.Fatalf("the match shows the entry's hash as %q", reviewed)
	}
	for _, bad := range []string{"abc", "not-a-hash-at-all", reviewed + "0"} {
		if _, err := s.DecideSeen("", lab, "e1", bad, Dismiss, "a.person", "checked"); err == nil || !strings.Contains(err.Error(), "--entry-sha256") {
			t.Errorf("a decision naming the entry as %q: %v", bad, err)
		}
	}
	// An import adds an alias before the person dismisses what they saw.
	imp("Example Lab Ltd")
	for _, h := range []string{reviewed, reviewed[:12]} {
		_, err := s.DecideSeen("", lab, "e1", h, Dismiss, "a.person", "checked")
		if err == nil || !strings.Contains(err.Error(), "--entry-sha256") || !strings.Contains(err.Error(), "no longer the one screening showed") {
			t.Errorf("a dismissal of the entry as it was (%s): %v", h, err)
		}
	}
	if ds, _ := s.Decisions(); len(ds) != 0 {
		t.Fatalf("refused decisions recorded: %+v", ds)
	}
	r, _ = s.Screen("", lab)
	now := r[0].Matches[0].EntrySHA256
	d, err := s.DecideSeen("", lab, "e1", now[:12], Dismiss, "a.person", "checked the alias too")
	if err != nil || d.EntrySHA256 != now {
		t.Fatalf("a dismissal of the entry as reviewed: %v %+v", err, d)
	}
	if r, _ := s.Screen("", lab); r[0].Status != catalog.RestrictedNone {
		t.Errorf("after the dismissal: %s (%s)", r[0].Status, r[0].Source)
	}
}

// TestDismissalKeptThroughCosmeticRepublication: a feed that republishes
// an entry in capitals, with its punctuation or spacing changed, changes
// no match; every dismissal of it lapsed at once, and each match had to be
// reviewed again. A change that screening reads (a letter, a dot that
// joins two words, a country's code) still lapses it.
func TestDismissalKeptThroughCosmeticRepublication(t *testing.T) {
	e := Entry{ID: "e1", Source: elSource, List: "EL", Type: "Entity", Name: "Exampel Lab Co., Ltd.", AltNames: []string{"Exampel Laboratory (Wuhan)", "Exampel-Labs"},
		Addresses: []Address{{Address: "No. 1, Hi-Tech Road", City: "Wuhan", State: "Hubei", Country: "CN"}}, Programs: []string{"EAR"}, StartDate: "2020-06-05"}
	lab := org("example-lab", "DE", "Example Lab")
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ds := []Decision{{Org: "example-lab", EntryID: "e1", Action: Dismiss, By: "a.person", Reason: "other company", Time: at, EntrySHA256: e.ContentHash()}}
	screenWith := func(e Entry) Result {
		l := &List{Entries: []Entry{e}}
		r := Screen("", lab, l, ds)
		if want := newIndex(l).refScreen("", lab, ds); !reflect.DeepEqual(want, r) {
			t.Errorf("the matcher and the reference differ: %s (%s) and %s (%s)", r.Status, r.Source, want.Status, want.Source)
		}
		return r
	}
	if r := screenWith(e); r.Status != catalog.RestrictedNone || len(r.Matches) != 1 {
		t.Fatalf("the fixture's dismissed match: %s (%s)", r.Status, r.Source)
	}
	re := e
	re.Type, re.Name, re.AltNames = "ENTITY", "EXAMPEL LAB CO, LTD", []string{"EXAMPEL LABS", "Exampel  Laboratory - Wuhan"}
	re.Addresses = []Address{{Address: "NO 1 HI TECH ROAD", City: "WUHAN", State: "HUBEI,", Country: "CN"}}
	re.Programs, re.StartDate = []string{"ear"}, "2020 06 05"
	if r := screenWith(re); r.Status != catalog.RestrictedNone || r.Matches[0].Lapsed != nil {
		t.Errorf("a dismissal after the entry was republished in capitals and other punctuation: %s (%s)", r.Status, r.Source)
	}
	for why, f := range map[string]func(*Entry){
		"a letter of the name":     func(c *Entry) { c.Name = "Example Lab Co., Ltd." },
		"a dot joining two words":  func(c *Entry) { c.AltNames = []string{"Exampel.Laboratory (Wuhan)", "Exampel-Labs"} },
		"a bar that reads as an l": func(c *Entry) { c.AltNames = []string{"Exampe| Laboratory (Wuhan)", "Exampel-Labs"} },
		"the country's code": func(c *Entry) {
			c.Addresses = []Address{{Address: "No. 1, Hi-Tech Road", City: "Wuhan", State: "Hubei", Country: "cn"}}
		},
	} {
		c := e
		f(&c)
		if r := screenWith(c); len(r.Matches) != 1 || r.Matches[0].Lapsed == nil {
			t.Errorf("%s changed: the dismissal still applies: %s (%s)", why, r.Status, r.Source)
		}
	}
}

// TestEntryHashFollowsTheMatch: two names that hash alike (cosmetic) are
// the same name to every normalisation screening makes of them, so that
// a dismissal never survives a change that can change a match. Random
// names from letters, their capitals and look-alikes, punctuation and
// invisible characters, grouped by their cosmetic form.
func TestEntryHashFollowsTheMatch(t *testing.T) {
	alphabet := []rune("aAbBlLmMiI01 .,-|'’`()&/\u00a0\u200b\u00ad–…ﬁéÉНнОоΗηKǅǆßẞİⓐⒶ∣ı🅰🅐🇦")
	rng := rand.New(rand.NewPCG(7, 11))
	versions := func(s string) [4]string {
		return [4]string{Normalize(s), keepingSpelled(s), withForms(s), normalize(s, false)}
	}
	groups := map[string][4]string{}
	example := map[string]string{}
	for range 50000 {
		r := make([]rune, 1+rng.IntN(5))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(r)
		c := cosmetic(s)
		v := versions(s)
		if w, ok := groups[c]; ok && w != v {
			t.Fatalf("%q and %q have one cosmetic form %q but screen as %q and %q", example[c], s, c, w, v)
		}
		groups[c], example[c] = v, s
	}
	if len(groups) < 1000 {
		t.Fatalf("only %d cosmetic forms", len(groups))
	}
}
