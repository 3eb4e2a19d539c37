package screen

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestCyrillicNamesRomanised: a tenant writing its name in Cyrillic is
// compared with the list's Latin names romanised. Folded only to Latin
// look-alikes, "ООО Алмаз-Антей" was "ooo anmaz-ahtei" and "Ростек
// Трейдинг" "poctek tpeᴎдᴎhr", and both were cleared.
func TestCyrillicNamesRomanised(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "ru1", List: "SDN", Name: "Almaz Antey LLC", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
		{ID: "ru2", List: "SDN", Name: "Rostec Trading LLC", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
	}}
	for _, c := range []struct{ name, want string }{
		{"ООО Алмаз-Антей", Exact},
		{"АЛМАЗ АНТЕЙ", Exact},
		{"Ростек Трейдинг", Possible},
	} {
		r := Screen("", org("x", "RU", "Example Lab", c.name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Kind != c.want || r.Status == catalog.RestrictedNone {
			t.Errorf("%q: %s (%s), want a match of kind %s", c.name, r.Status, r.Source, c.want)
			continue
		}
		if !strings.Contains(r.Source, "romanised") || r.Matches[0].OrgName != c.name {
			t.Errorf("%q: the finding does not say the name was romanised, or names another: %s", c.name, r.Source)
		}
	}
	if r := Screen("", org("x", "RU", "Северный Ветер"), l, nil); r.Status != catalog.RestrictedNone {
		t.Errorf("another Cyrillic name: %s (%s)", r.Status, r.Source)
	}
}

// TestCyrillicRomanisedByEachSystem: the lists romanise a party's name by
// BGN/PCGN's Russian system, by ICAO Doc 9303's (passports) or by its own
// language's; the Russian reading alone gave Ukrainian г and и as g and
// i, Bulgarian ъ as nothing and щ as shch, and left Kazakh letters in
// Cyrillic, so a name written as the list romanises it in one of those
// systems was no exact match, or none at all. Each system's reading is
// compared and the best counts.
func TestCyrillicRomanisedByEachSystem(t *testing.T) {
	for _, c := range []struct{ why, listed, cyrillic string }{
		{"Ukrainian national system", "Ukrhazvydobuvannia", "Укргазвидобування"},
		{"Ukrainian, a word starting with я", "Yasynuvatskyi Mashynobudivnyi Zavod", "Ясинуватський Машинобудівний Завод"},
		{"ICAO Doc 9303", "Iuzhnyi Ural", "Южный Урал"},
		{"Belarusian, BGN/PCGN", "Hrodna Azot Wskhod", "Гродна Азот Ўсход"},
		{"Kazakh, BGN/PCGN", "Qazaqgaz", "ҚазақГаз"},
		{"Kazakh, the Russian reading", "Kazakhtelekom", "Қазахтелеком"},
		{"Serbian Latin alphabet", "Djuro Djakovic Specijalna Vozila", "Ђуро Ђаковић Специјална Возила"},
		{"Bulgarian Streamlined System", "Darzhavna Kompania Shtit", "Държавна Компания Щит"},
	} {
		l := &List{Entries: []Entry{{ID: "x1", List: "SDN", Name: c.listed, Addresses: []Address{{Country: "XX"}}}}}
		r := Screen("", org("o", "XX", c.cyrillic), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Kind != Exact {
			t.Errorf("%s: %q against a listed %q: %s (%s), want an exact match", c.why, c.cyrillic, c.listed, r.Status, r.Source)
		}
	}
	// A name with Cyrillic letters no system here has (Tajik ҷ, ҳ, ӣ) is
	// romanised in part only: held for want of a Latin name, as a
	// Chinese one is.
	l := &List{Entries: []Entry{{ID: "x1", List: "SDN", Name: "Almaz Antey", Addresses: []Address{{Country: "RU"}}}}}
	if r := Screen("", org("tj", "TJ", "Ҷумҳурии Тоҷикистон"), l, nil); r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "Latin letter") {
		t.Errorf("a Tajik name: %s (%s), want held for want of a Latin name", r.Status, r.Source)
	}
	if r := Screen("", org("kz", "KZ", "Қазақ Газ"), l, nil); r.Status != catalog.RestrictedNone {
		t.Errorf("an unrelated Kazakh name: %s (%s), want screened and cleared", r.Status, r.Source)
	}
}

// TestRomanisedNamesBounded: romanised in each system, a Cyrillic name
// is compared up to four times; names whose versions together are over
// maxComparedLetters are held, not compared at several times the cost of
// the longest Latin names the catalog accepts.
func TestRomanisedNamesBounded(t *testing.T) {
	long := strings.Repeat("Юрий Щюгя ", 50)
	var aliases []string
	for range 1 {
		aliases = append(aliases, long)
	}
	o := org("ru", "RU", long+"Завод", aliases...)
	if o.ScreeningText() > catalog.MaxScreeningText {
		t.Fatalf("the fixture is over the catalog's bound: %d bytes", o.ScreeningText())
	}
	r := Screen("", o, &List{Entries: []Entry{{ID: "x", List: "SDN", Name: "Almaz Antey"}}}, nil)
	if r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "not screened") || !strings.Contains(r.Source, fmt.Sprint(maxComparedLetters)) {
		t.Errorf("%s (%s), want held, not screened", r.Status, r.Source)
	}
}

// TestRomanisedNamesBoundedInNumber: each version of a name compared is a
// pass over the list, at about the same cost whatever its length. Short
// Cyrillic names, each compared as written and in three romanisations,
// were four times as many comparisons as the most names the catalog
// accepts in Latin letters, within the bound on letters: held, saying
// why. An organisation with as many names, and as long, in Latin letters
// as the catalog accepts, spaced letters and letters that normalise to
// two ("m" is "rn") included, is never held by these bounds.
func TestRomanisedNamesBoundedInNumber(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "x", List: "SDN", Name: "Almaz Antey"}}}
	var aliases []string
	for i := range catalog.MaxScreeningNames {
		aliases = append(aliases, fmt.Sprintf("Щюгя %d", i))
	}
	o := org("ua", "UA", "Щюгя", aliases...)
	r := Screen("", o, l, nil)
	if r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "not screened") || !strings.Contains(r.Source, fmt.Sprint(maxComparedNames)) {
		t.Errorf("%d short Cyrillic names: %s (%s), want held, not screened", len(aliases)+1, r.Status, r.Source)
	}
	// Fewer of them are screened.
	if r := Screen("", org("ua", "UA", "Щюгя", aliases[:10]...), l, nil); r.Status != catalog.RestrictedNone {
		t.Errorf("11 short Cyrillic names: %s (%s), want screened", r.Status, r.Source)
	}
	size := catalog.MaxScreeningText/(catalog.MaxScreeningNames+1) - 1
	for _, pattern := range []string{"Mammoth Mining %d ", "M a m m o t h %d "} {
		var latin []string
		for i := range catalog.MaxScreeningNames + 1 {
			latin = append(latin, strings.Repeat(fmt.Sprintf(pattern, i), size)[:size])
		}
		o := org("lat", "DE", latin[0], latin[1:]...)
		if n := o.ScreeningText(); n > catalog.MaxScreeningText {
			t.Fatalf("the fixture is over the catalog's bound: %d bytes", n)
		}
		if r := Screen("", o, l, nil); r.Status != catalog.RestrictedNone {
			t.Errorf("names in Latin letters at the catalog's bounds (%q): %s (%s), want screened", pattern, r.Status, r.Source)
		}
	}
}

// TestRomanisedNamesBoundKeepsVerdict: an organisation whose names are
// within the catalog's bound but whose versions (each romanisation, with
// spaced letters joined) are over maxComparedLetters is still compared as
// written and in the Russian reading, as it was before those versions
// were: its exact listed name finds it listed, where the bound had it
// "not screened" and undetermined. Without that name it is held, saying
// why.
func TestRomanisedNamesBoundKeepsVerdict(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "1", List: "SDN", Name: "NPO Mashinostroyeniya", Addresses: []Address{{Country: "RU"}}}}}
	base := []string{
		"А.О. «В.П.К. «Н.П.О. машиностроения» г. Реутов Московской области",
		"Н.П.О. машиностроения, О.К.Б.-52, Ц.К.Б.М., филиал в г. Реутов",
		"В.П.К. Н.П.О. машиностроения, Ф.Г.У.П., Реутов",
	}
	var aliases []string
	for i := range 12 {
		aliases = append(aliases, fmt.Sprintf("%s филиал №%d", base[i%3], i))
	}
	held := org("npo", "RU", "А.О. «В.П.К. «Н.П.О. машиностроения»", aliases...)
	listed := org("npo", "RU", "А.О. «В.П.К. «Н.П.О. машиностроения»", append(aliases, "NPO Mashinostroyeniya")...)
	if n := listed.ScreeningText(); n > catalog.MaxScreeningText {
		t.Fatalf("the fixture is over the catalog's bound: %d bytes", n)
	}
	r := Screen("", held, l, nil)
	if r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "not screened") || !strings.Contains(r.Source, fmt.Sprint(maxComparedLetters)) {
		t.Fatalf("without its listed name: %s (%s), want held over the bound", r.Status, r.Source)
	}
	if r := Screen("", listed, l, nil); r.Status != catalog.RestrictedListed {
		t.Errorf("with its listed name: %s (%s), want listed", r.Status, r.Source)
	}
	// The same past the bound on the versions' number: many short
	// Cyrillic names, and the listed one in Latin letters last. (One in
	// Cyrillic among as many is compared as written but not read, the
	// names as written filling the bounds: held, never cleared.)
	var short []string
	for i := range catalog.MaxScreeningNames - 1 {
		short = append(short, fmt.Sprintf("Щюгя %d", i))
	}
	if r := Screen("", org("npo", "RU", "Щюгя", short...), l, nil); r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "not screened") || !strings.Contains(r.Source, fmt.Sprint(maxComparedNames)) {
		t.Errorf("many names without its listed name: %s (%s), want held over the bound", r.Status, r.Source)
	}
	if r := Screen("", org("npo", "RU", "Щюгя", append(short, "NPO Mashinostroyeniya")...), l, nil); r.Status != catalog.RestrictedListed {
		t.Errorf("many names with its listed name: %s (%s), want listed", r.Status, r.Source)
	}
	if r := Screen("", org("npo", "RU", "Щюгя", append(short, "НПО Машиностроения")...), l, nil); r.Status != catalog.RestrictedUndetermined {
		t.Errorf("many names with its listed name in Cyrillic: %s (%s), want held", r.Status, r.Source)
	}
}

// TestPastTheBoundsListedNameInCyrillic: past the bound on the versions'
// number, an organisation's names are compared with every entry as
// written only, and one whose alias is its listed name in Cyrillic
// letters (in the Russian reading or another romanisation the lists use)
// was held undetermined, not listed. The versions left out are looked up
// among the listed names: an exact match with country is listed, with
// the entry named; a near one is still held, never cleared, saying why.
func TestPastTheBoundsListedNameInCyrillic(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "1", List: "SDN", Name: "NPO Mashinostroeniya", Addresses: []Address{{Country: "RU"}}},
		{ID: "2", List: "EL", Name: "Kyivskyi Zavod Shchiuhia", Addresses: []Address{{Country: "UA"}}},
	}}
	var short []string
	for i := range catalog.MaxScreeningNames - 1 {
		short = append(short, fmt.Sprintf("Щюгя %d", i))
	}
	for _, c := range []struct {
		alias, hq, status, entry string
	}{
		{"НПО Машиностроения", "RU", catalog.RestrictedListed, "1"},
		{"ООО «НПО Машиностроения»", "RU", catalog.RestrictedListed, "1"},
		{"Машиностроения НПО", "RU", catalog.RestrictedListed, "1"},
		// Only the Ukrainian national romanisation gives the listed name.
		{"Київський Завод Щюгя", "UA", catalog.RestrictedEntityList, "2"},
		// In another country: a possible match, for a person.
		{"НПО Машиностроения", "DE", catalog.RestrictedUndetermined, "1"},
		// Near, not equal: held as over the bound.
		{"НПО Машиностроениа", "RU", catalog.RestrictedUndetermined, ""},
	} {
		o := org("npo", c.hq, "Щюгя", append(slices.Clone(short), c.alias)...)
		r := Screen("", o, l, nil)
		if r.Status != c.status {
			t.Errorf("%q in %s among %d names: %s (%s), want %s", c.alias, c.hq, len(short)+2, r.Status, r.Source, c.status)
			continue
		}
		if c.entry != "" && (len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.entry || !r.Matches[0].Romanised) {
			t.Errorf("%q: matches %+v, want entry %s romanised", c.alias, r.Matches, c.entry)
		}
		if c.status == catalog.RestrictedUndetermined && !strings.Contains(r.Source, "not screened in full") {
			t.Errorf("%q: %s, want it to say it was not screened in full", c.alias, r.Source)
		}
	}
}
