package screen

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"meridian.dev/meridian/catalog"
)

// TestAttackLookAlikeNames: a tenant wrote a listed party's name with
// letters of another script that look like Latin ones, or with invisible
// characters between the letters, and screening found nothing, so the
// listed party was placed on controlled chips. Each such name must now
// match its entry (entity-list, listed or undetermined, never none), while
// unrelated names, in Latin or in their own script, still match nothing.
// An unrelated name in a script that is neither Latin nor romanised
// (Chinese, Greek) matches nothing but is held undetermined, asking for
// its Latin name (TestNamesWithoutLatinLettersHeld); given one, it screens
// none.
func TestAttackLookAlikeNames(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample.csv")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, hq, legal string
		entry           string // the entry's name, "" for no match
	}{
		{"plain", "CN", "Example Advanced Computing Co., Ltd.", "Example Advanced Computing Co., Ltd."},
		{"cyrillic", "CN", "Ехаmрlе Аdvаnсеd Соmрutіng Co., Ltd.", "Example Advanced Computing Co., Ltd."},
		{"zero-width spaces", "CN", "E\u200bx\u200ba\u200bm\u200bp\u200bl\u200be A\u200bd\u200bv\u200ba\u200bn\u200bc\u200be\u200bd C\u200bo\u200bm\u200bp\u200bu\u200bt\u200bi\u200bn\u200bg", "Example Advanced Computing Co., Ltd."},
		{"cyrillic northwind", "CN", "Nоrthwіnd Suреrсоmрutіng Сеntеr", "Northwind Supercomputing Center"},
		{"cyrillic capitals", "CN", "NОRТНWІND SUРЕRСОМРUТІNG СЕNТЕR", "Northwind Supercomputing Center"},
		{"greek omicron", "CN", "Nοrthwind Supercοmputing Center", "Northwind Supercomputing Center"},
		{"greek capitals", "DE", "ΕΧΑΜΡLΑR LΑΒ GmbH", "Examplar Lab GmbH"},
		{"fullwidth", "CN", "Ｅｘａｍｐｌｅ Ａｄｖａｎｃｅｄ Ｃｏｍｐｕｔｉｎｇ", "Example Advanced Computing Co., Ltd."},
		{"soft hyphens", "CN", "North\u00adwind Super\u00adcomputing Cen\u00adter", "Northwind Supercomputing Center"},
		{"byte order marks", "AE", "Blue\ufeffwater Tra\ufeffding L.L.C.", "BLUEWATER TRADING LLC"},
		{"word joiners and variation selectors", "RU", "Red\u2060Star Avi\ufe0fonics Institute", "Red Star Avionics Institute"},
		// Shown right to left, "no" reads "on": the name displays as Avionics.
		{"right-to-left override", "RU", "Red Star Avi\u202eno\u202cics Institute", "Red Star Avionics Institute"},
		{"tag characters", "RU", "Red Star Avionics Insti\U000E0041tute", "Red Star Avionics Institute"},
		{"digits and pipes for letters", "CN", "N0rthw1nd Superc0mputing Cen|er", "Northwind Supercomputing Center"},
		// Enclosing marks (Me) and spacing marks (Mc) after each letter:
		// read as spaces, they made the name a row of one-letter words.
		{"enclosing circles", "CN", marked("Northwind", "\u20dd") + " Supercomputing Center", "Northwind Supercomputing Center"},
		{"enclosing keycaps", "CN", marked("Example", "\u20e3") + " Advanced Computing", "Example Advanced Computing Co., Ltd."},
		{"cyrillic millions signs", "CN", marked("Northwind", "\u0489") + " " + marked("Supercomputing", "\ua670") + " Center", "Northwind Supercomputing Center"},
		{"spacing marks", "CN", marked("Northwind", "\u0903") + " Supercomputing Center", "Northwind Supercomputing Center"},

		{"unrelated latin", "FR", "Laboratoire Propre SAS", ""},
		{"unrelated russian", "RU", "ООО Ромашка", ""},
		{"unrelated russian words", "RU", "Сибирский суперкомпьютерный центр", ""},
		{"unrelated chinese", "CN", "北京示例科技有限公司", ""},
		{"unrelated greek", "GR", "Ελληνική Εταιρεία Λογισμικού Α.Ε.", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.Screen("", org("o", c.hq, c.legal))
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			if c.name == "unrelated chinese" || c.name == "unrelated greek" {
				if len(r.Matches) > 0 || r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "Latin letters") {
					t.Errorf("%q, on no list and without a Latin name, screened %s (%d matches): %s", c.legal, r.Status, len(r.Matches), r.Source)
				}
				res, err = s.Screen("", org("o", c.hq, c.legal, "Hellas Software Beijing"))
				if err != nil {
					t.Fatal(err)
				}
				r = res[0]
			}
			if c.entry == "" {
				if r.Status != catalog.RestrictedNone {
					t.Errorf("%q, on no list, screened %s: %s", c.legal, r.Status, r.Source)
				}
				return
			}
			if r.Status == catalog.RestrictedNone || len(r.Matches) == 0 || r.Matches[0].Entry.Name != c.entry {
				t.Fatalf("%q screened %s (%s), want a match with %q", c.legal, r.Status, r.Source, c.entry)
			}
		})
	}
}

// marked is word with mark written after each of its letters.
func marked(word, mark string) string {
	var b strings.Builder
	for _, r := range word {
		b.WriteRune(r)
		b.WriteString(mark)
	}
	return b.String()
}

// TestNativeScriptNames: names written in their own script (Chinese,
// Russian, Greek) still match list entries written in that script, both
// sides being folded alike, and do not match one another. The Chinese and
// Greek names that match nothing used to screen none; with no name in
// Latin letters they cannot be compared with the list's Latin names, and
// are held undetermined (TestNamesWithoutLatinLettersHeld). The Russian
// ones are compared romanised, and stay none.
func TestNativeScriptNames(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "n1", List: "EL", Source: "EL", Name: "深圳示例先进计算有限公司", Addresses: []Address{{Country: "CN"}}},
		{ID: "n2", List: "EL", Source: "EL", Name: "ООО «Северный Ветер»", AltNames: []string{"Северный Ветер Суперкомпьютер"}, Addresses: []Address{{Country: "RU"}}},
		{ID: "n3", List: "SDN", Source: "SDN", Name: "Αθηναϊκή Ναυτιλιακή Εταιρεία", Addresses: []Address{{Country: "GR"}}},
	}}
	for _, c := range []struct {
		hq, legal, entry string
		held             bool // no match, and no name in Latin letters
	}{
		{"CN", "深圳示例先进计算有限公司", "n1", false},
		{"RU", "ООО Северный Ветер", "n2", false},
		{"RU", "СЕВЕРНЫЙ ВЕТЕР СУПЕРКОМПЬЮТЕР", "n2", false},
		{"GR", "ΑΘΗΝΑΪΚΗ ΝΑΥΤΙΛΙΑΚΗ ΕΤΑΙΡΕΙΑ", "n3", false},
		{"CN", "北京示例科技有限公司", "", true},
		{"RU", "ООО Южный Берег", "", false},
		{"RU", "ООО Ромашка", "", false},
		{"GR", "Ελληνική Εταιρεία Λογισμικού", "", true},
	} {
		r := Screen("", org("o", c.hq, c.legal), l, nil)
		held := c.held
		switch {
		case c.entry == "" && held && (len(r.Matches) > 0 || r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "Latin letters")):
			t.Errorf("%q, on no list and without a Latin name, screened %s (%d matches): %s", c.legal, r.Status, len(r.Matches), r.Source)
		case c.entry == "" && !held && r.Status != catalog.RestrictedNone:
			t.Errorf("%q, on no list, screened %s: %s", c.legal, r.Status, r.Source)
		case c.entry != "" && (len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.entry || r.Matches[0].Kind != Exact):
			t.Errorf("%q screened %s (%s), want an exact match with %s", c.legal, r.Status, r.Source, c.entry)
		}
	}
}

// TestLookAlikeSource: a match found only by folding look-alike letters
// says so, so the person reading the finding knows what was matched.
func TestLookAlikeSource(t *testing.T) {
	l := &List{Entries: mustParse(t, "csl-sample.csv")}
	r := Screen("", org("o", "CN", "Ехаmрlе Аdvаnсеd Соmрutіng"), l, nil)
	if r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "look-alike letters") || !r.Matches[0].LookAlike {
		t.Errorf("status %s source %q matches %+v", r.Status, r.Source, r.Matches)
	}
	r = Screen("", org("o", "CN", "Example Advanced Computing"), l, nil)
	if r.Status != catalog.RestrictedEntityList || strings.Contains(r.Source, "look-alike") || r.Matches[0].LookAlike {
		t.Errorf("a name as listed: status %s source %q", r.Status, r.Source)
	}
}

// TestMixedScriptNearMatch: a word mixing Latin and Cyrillic letters is
// never an honest spelling, so a name with one that comes near a listed
// name is a possible match even below the usual threshold, while the same
// near name in one script is not.
func TestMixedScriptNearMatch(t *testing.T) {
	l := &List{Entries: mustParse(t, "csl-sample.csv")}
	mixed := Screen("", org("o", "CN", "Nоrthwіnd Hуреrсоmрutіng Grоuр"), l, nil)
	plain := Screen("", org("o", "CN", "Northwind Hypercomputing Group"), l, nil)
	if plain.Status != catalog.RestrictedNone {
		t.Fatalf("the Latin near name: %s %s (the test needs a name below the threshold)", plain.Status, plain.Source)
	}
	if mixed.Status != catalog.RestrictedUndetermined || !strings.Contains(mixed.Source, "mixes scripts") {
		t.Errorf("the mixed-script near name: %s %s", mixed.Status, mixed.Source)
	}
	far := Screen("", org("o", "CN", "Rеd Bаnnеr Shірріng"), l, nil)
	if far.Status != catalog.RestrictedNone {
		t.Errorf("a mixed-script name near no entry: %s %s", far.Status, far.Source)
	}
}

func mustParse(t testing.TB, name string) []Entry {
	t.Helper()
	es, err := Parse(name, read(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// BenchmarkScreenOne is screening one organisation against the sample
// list, normalising the list as a fresh index does (Store.Screen, a
// Screener after an import).
func BenchmarkScreenOne(b *testing.B) {
	l := &List{Entries: mustParse(b, "csl-sample.csv")}
	o := org("o", "CN", "Nоrthwіnd Suреrсоmрutіng Сеntеr", "Example Lab")
	for b.Loop() {
		Screen("", o, l, nil)
	}
}

// BenchmarkIndexLargeList is normalising a list the size of the published
// CSL (about 30,000 entries with aliases), as a Screener does once after
// each import and Store.Screen on each call.
func BenchmarkIndexLargeList(b *testing.B) {
	words := []string{"Example", "Advanced", "Computing", "Northwind", "Supercomputing", "Center", "Trading", "Avionics",
		"Institute", "Shenzhen", "Research", "Technology", "Co., Ltd.", "LLC", "Société", "Müller", "ООО", "Северный", "示例"}
	es := make([]Entry, 30000)
	for i := range es {
		name := words[i%len(words)] + " " + words[(i/7)%len(words)] + " " + words[(i/49)%len(words)] + " " + words[(i/3)%len(words)]
		es[i] = Entry{ID: "x", List: "SDN", Name: name, AltNames: []string{strings.ToUpper(name)}}
	}
	l := &List{Entries: es}
	for b.Loop() {
		newIndex(l)
	}
}

// TestNormalizeEveryRune: for every code point, in a word and alone,
// normalising a normalised name changes nothing, and a capital letter
// folds as its small letter does (but for letters whose compatibility
// form is another letter, as Greek Ϲ's is Σ).
func TestNormalizeEveryRune(t *testing.T) {
	bad := 0
	for r := rune(0); r <= unicode.MaxRune && bad < 20; r++ {
		if !utf8.ValidRune(r) || r > 0x3FFFF && r < 0xE0000 { // unassigned planes
			continue
		}
		s := "a" + string(r) + "b " + string(r)
		n := Normalize(s)
		if n2 := Normalize(n); n2 != n {
			bad++
			t.Errorf("%U: Normalize(%q) = %q, normalised again %q", r, s, n, n2)
		}
		if unicode.IsUpper(r) && norm.NFKD.String(string(r)) == string(r) {
			l := string(unicode.ToLower(r))
			if nl := Normalize("a" + l + "b " + l); nl != n {
				bad++
				t.Errorf("%U %c: capital folds to %q, small letter %s to %q", r, r, n, l, nl)
			}
		}
	}
}

// TestEnclosedLettersRead: the negative circled and squared Latin letters
// and the regional indicators show a Latin letter each, and compatibility
// decomposition leaves them as they are: read as punctuation, "🆁🅾🆂🆃🅴🅲
// Trading" was the name "Trading" and cleared, and a name of them alone
// was held for want of a Latin letter.
func TestEnclosedLettersRead(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "x1", List: "SDN", Name: "Rostec Trading LLC", Addresses: []Address{{Country: "RU"}}}}}
	for _, n := range []string{"🆁🅾🆂🆃🅴🅲 Trading", "🅡🅞🅢🅣🅔🅒 Trading", "🇷🇴🇸🇹🇪🇨 Trading", "🆁🅾🆂🆃🅴🅲 🆃🆁🅰🅳🅸🅽🅶"} {
		r := Screen("", org("x", "RU", n), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Kind != Exact || r.Status != catalog.RestrictedListed {
			t.Errorf("%q: %s (%s), want an exact match", n, r.Status, r.Source)
		}
	}
}

// TestSpacedLettersJoined: a name written with its letters spaced apart
// ("R O S T E C Trading", "R-O-S-T-E-C") reads as the name to a person,
// and was a row of one-letter words to the matcher, near no listed name:
// it cleared. The organisation's names are compared with such letters
// joined too, the finding saying so.
func TestSpacedLettersJoined(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "x1", List: "SDN", Name: "Rostec Trading LLC", Addresses: []Address{{Country: "RU"}}},
		{ID: "x2", List: "EL", Name: "Example Advanced Computing", Addresses: []Address{{Country: "CN"}}},
	}}
	for _, c := range []struct{ name, country, entry string }{
		{"R O S T E C Trading", "RU", "x1"},
		{"R-O-S-T-E-C Trading", "RU", "x1"},
		{"Р О С Т Е К Trading", "RU", "x1"},
		{"E x a m p l e  A d v a n c e d Computing", "CN", "x2"},
	} {
		r := Screen("", org("x", c.country, c.name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.entry || r.Status == catalog.RestrictedNone || !strings.Contains(r.Source, "spaced letters joined") {
			t.Errorf("%q: %s (%s), want a match with %s, saying the letters were joined", c.name, r.Status, r.Source, c.entry)
		}
	}
	if r := Screen("", org("x", "RU", "A B Consulting"), l, nil); r.Status != catalog.RestrictedNone {
		t.Errorf("an unrelated name with initials: %s (%s)", r.Status, r.Source)
	}
}

// TestSpacedLettersNeverExact: letters are joined where a name may only
// have been spaced: "Example Sp. z o.o." is a Polish limited company, and
// read joined it is "Example Zoo", the same name as a listed party of the
// same country. Such a match was exact and listed the organisation with
// no person involved; it is a possible match, for a person to confirm.
// The same name as written, as an alias, still makes the match exact.
func TestSpacedLettersNeverExact(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "z1", List: "EL", Name: "Example Zoo", Addresses: []Address{{Country: "PL"}}}}}
	for _, n := range []string{"Example Sp. z o.o.", "R O S T E C"} {
		o := org("x", "PL", n)
		if n == "R O S T E C" {
			l.Entries = append(l.Entries, Entry{ID: "r1", List: "SDN", Name: "Rostec", Addresses: []Address{{Country: "PL"}}})
		}
		r := Screen("", o, l, nil)
		if len(r.Matches) == 0 || !r.Matches[0].SpacedLetters || r.Matches[0].Kind != Possible || r.Status != catalog.RestrictedUndetermined ||
			!strings.Contains(r.Source, "awaiting a person's decision") {
			t.Errorf("%q: %s (%s) %+v, want a possible match only, awaiting a person", n, r.Status, r.Source, r.Matches)
		}
	}
	r := Screen("", org("x", "PL", "Example Sp. z o.o.", "Example Zoo"), l, nil)
	if len(r.Matches) == 0 || r.Matches[0].Kind != Exact || r.Matches[0].SpacedLetters || r.Status != catalog.RestrictedEntityList {
		t.Errorf("its listed name as an alias: %s (%s), want exact", r.Status, r.Source)
	}
}

// TestEnclosedLettersNeverLowerAScore: letters in boxes and circles were
// read as punctuation, and are now read as letters; flags are two of them
// ("🇷🇺" is the letters R and U). Read only as letters, a listed Rostec
// registered as "Rostec 🇷🇺🇨🇳🇮🇷" was "rostec rucnir", too far from
// "Rostec" to match, and cleared where it had been an exact match. The
// name is compared with them dropped too, as it was.
func TestEnclosedLettersNeverLowerAScore(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "x1", List: "SDN", Name: "Rostec", Addresses: []Address{{Country: "RU"}}}}}
	for _, n := range []string{"Rostec 🇷🇺🇨🇳🇮🇷", "Rostec 🅰🅱🅲🅳🅴🅵🅶🅷", "R O S T E C 🇷🇺🇨🇳🇮🇷"} {
		r := Screen("", org("x", "RU", n), l, nil)
		want, status := Exact, catalog.RestrictedListed
		if strings.HasPrefix(n, "R O") {
			want, status = Possible, catalog.RestrictedUndetermined
		}
		if len(r.Matches) == 0 || r.Matches[0].Kind != want || r.Status != status {
			t.Errorf("%q: %s (%s), want a match, %s", n, r.Status, r.Source, want)
		}
	}
}
