package screen

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/catalog"
)

// TestLegalFormsOfOtherCountries: a listed party's name with another
// country's legal form, or its Chinese form written into the word, is the
// same name. "Beta Avionics PJSC", "... KG" and "... Sp. z o.o." matched
// nothing of a listed "Beta Avionics Limited Liability Company", whose
// "liability" was kept; "示例科技股份有限公司" or the name written with
// spaces between its letters was only a possible match of "示例科技有限公司",
// and the same name with its city before it comes near enough to be
// looked at.
func TestLegalFormsOfOtherCountries(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "ru1", List: "EL", Name: "Beta Avionics Limited Liability Company", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
		{ID: "cn1", List: "EL", Name: "示例科技有限公司", Addresses: []Address{{City: "Shenzhen", Country: "CN"}}},
	}}
	for _, c := range []struct{ name, hq, want string }{
		{"Beta Avionics LLC", "RU", Exact},
		{"Beta Avionics PJSC", "RU", Exact},
		{"Beta Avionics Public Joint Stock Company", "RU", Exact},
		{"Beta Avionics KG", "RU", Exact},
		{"Beta Avionics Sp. z o.o.", "RU", Exact},
		{"Beta Avionics Ltda", "RU", Exact},
		{"Beta Avionics Pvt Ltd", "RU", Exact},
		{"示例科技股份有限公司", "CN", Exact},
		{"示例科技", "CN", Exact},
		{"示例 科技 有限 公司", "CN", Exact},
		{"Beispiel 示例科技有限公司", "CN", Possible},
		{"深圳市示例科技有限公司", "CN", Possible},
	} {
		r := Screen("", org("x", c.hq, c.name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Kind != c.want {
			t.Errorf("%q: %s (%s), want a match of kind %s", c.name, r.Status, r.Source, c.want)
		}
		if r.Status == catalog.RestrictedNone {
			t.Errorf("%q: cleared", c.name)
		}
	}
	// Legal forms alone are no match: a name made only of them keeps them.
	if n := Normalize("有限公司"); n != "有限公司" {
		t.Errorf("Normalize(有限公司) = %q", n)
	}
	// (With no Latin name it is held undetermined, matching nothing.)
	if r := Screen("", org("x", "CN", "华夏有限公司", "Huaxia Co., Ltd."), l, nil); r.Status != catalog.RestrictedNone || len(r.Matches) > 0 {
		t.Errorf("another name with the same legal form: %s (%s)", r.Status, r.Source)
	}
}

// TestListedNameWithinLongerName: a listed name of two words or more,
// every word of it in the organisation's name, is a possible match
// however many words stand around it. "Global Northwind Supercomputing
// Center Research Institute International" scored too low by its letters
// and its words alike, and was cleared; so was the listed name's words in
// another order among others.
func TestListedNameWithinLongerName(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "a", List: "EL", Name: "Northwind Supercomputing Center", Addresses: []Address{{City: "Tianjin", Country: "CN"}}},
		{ID: "b", List: "EL", Name: "Beta Avionics", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
	}}
	for _, name := range []string{
		"Global Northwind Supercomputing Center Research Institute International",
		"Avionics Beta Moscow Plant Number Two",
	} {
		r := Screen("", org("x", "CN", name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Kind != Possible || r.Status != catalog.RestrictedUndetermined {
			t.Errorf("%q: %s (%s), want a possible match", name, r.Status, r.Source)
		}
	}
	for _, name := range []string{"Northwind Trading Research Institute", "Beta Research Institute"} {
		if r := Screen("", org("x", "CN", name), l, nil); r.Status != catalog.RestrictedNone {
			t.Errorf("%q, with only some of a listed name's words: %s (%s)", name, r.Status, r.Source)
		}
	}
}

// TestShortNameBesideItsLegalForm: a name short once its legal form is
// left out ("Kas PJSC" is "kas") was compared only exactly, where with the
// form kept it came near a listed "Kaz PJSC": the pair is compared with
// their forms kept when either is too short to compare alone.
func TestShortNameBesideItsLegalForm(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "k1", List: "EL", Name: "Kaz PJSC", Addresses: []Address{{City: "Kazan", Country: "RU"}}}}}
	if r := Screen("", org("x", "RU", "Kas PJSC"), l, nil); r.Status == catalog.RestrictedNone {
		t.Errorf("%q beside a listed %q: cleared (%s)", "Kas PJSC", "Kaz PJSC", r.Source)
	}
	// A short name against an unrelated one stays clear.
	if r := Screen("", org("x", "RU", "Zet Ltd"), l, nil); r.Status != catalog.RestrictedNone {
		t.Errorf("%q: %s (%s), want none", "Zet Ltd", r.Status, r.Source)
	}
}

// TestRussianLegalFormsSpeltOut: the lists write a Russian company's legal
// form spelt out in Latin letters ("OBSHCHESTVO S OGRANICHENNOI
// OTVETSTVENNOSTYU ACHIM" is OOO Achim), in the transliteration variants
// they use. Those words were kept as words of the name, so "ООО Ачим",
// "Achim LLC" or the name spelt out in Cyrillic scored too low against
// the listed name and screened clear: they are the company's legal form,
// left out as the abbreviations are.
func TestRussianLegalFormsSpeltOut(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "r1", List: "SDN", Name: "OBSHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTYU ACHIM", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
		{ID: "r2", List: "SDN", Name: "OBSHCHESTVO S OGRANICHENNOY OTVETSTVENNOSTIU TEKHNOPROM", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
		{ID: "r3", List: "EL", Name: "AKTSIONERNOE OBSHCHESTVO KONTSERN VEGA", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
		{ID: "r4", List: "SDN", Name: "ZAKRYTOE AKTSIONERNOE OBSHCHESTVO PRIBOR", Addresses: []Address{{City: "Tula", Country: "RU"}}},
		{ID: "r5", List: "SDN", Name: "OTKRYTOYE AKTSIONERNOYE OBSHCHESTVO SIBSTAL", Addresses: []Address{{City: "Omsk", Country: "RU"}}},
		{ID: "r6", List: "SDN", Name: "PUBLICHNOE AKTSIONERNOE OBSHCHESTVO MAGNITOGORSK", Addresses: []Address{{City: "Magnitogorsk", Country: "RU"}}},
	}}
	for _, c := range []struct{ name, entry string }{
		{"ООО Ачим", "r1"},
		{"Achim LLC", "r1"},
		{"Общество с ограниченной ответственностью «Ачим»", "r1"},
		{"Tekhnoprom OOO", "r2"},
		{"АО Концерн Вега", "r3"},
		{"ZAO Pribor", "r4"},
		{"Sibstal OJSC", "r5"},
		{"ПАО Магнитогорск", "r6"},
	} {
		r := Screen("", org("x", "RU", c.name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.entry || r.Matches[0].Kind != Exact {
			t.Errorf("%q: %s (%s), want an exact match with %s", c.name, r.Status, r.Source, c.entry)
		}
	}
	// The words of the forms alone are no name, and "s" is left out only
	// within the form: "S Trading" is not "Trading".
	for in, want := range map[string]string{
		"OBSHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTYU ACHIM":  "achirn", // m is rn, as a skeleton
		"Obshchestvo s Ogranichennoj Otvetstvennost'ju Achim": "achirn",
		"S Trading":                "s trading",
		"AKTSIONERNOE OBSHCHESTVO": "aktsionernoe obshchestvo",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if r := Screen("", org("x", "RU", "ООО Ромашка"), l, nil); r.Status != catalog.RestrictedNone {
		t.Errorf("another company with the same form: %s (%s)", r.Status, r.Source)
	}
}

// TestRussianLegalFormsNeverLowerAScore: the Russian forms spelt out were
// left out word by word, so a name that spelt them in a way not listed
// (GOST 7.79's "shh", ISO 9's "ŝ" and "č", a typing error) kept part of
// the phrase and lost the rest, and no longer came near the listed name it
// had scored 0.98 against with the phrase kept: "Publichnoe aktsionernoe
// obshhestvo KAMAZ" screened none. A name is scored both with the forms
// left out and kept, and the common spellings are forms.
func TestRussianLegalFormsNeverLowerAScore(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "r1", List: "SDN", Name: "OBSHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTYU ACHIM", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
		{ID: "k1", List: "SDN", Name: "PUBLICHNOE AKTSIONERNOE OBSHCHESTVO KAMAZ", Addresses: []Address{{City: "Naberezhnye Chelny", Country: "RU"}}},
		{ID: "s1", List: "EL", Name: "OTKRYTOE AKTSIONERNOE OBSHCHESTVO SEVERNY ZAVOD", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
	}}
	for _, c := range []struct{ name, entry string }{
		{"Publichnoe aktsionernoe obshhestvo KAMAZ", "k1"},
		{"Obshhestvo s ogranichennoj otvetstvennostju Achim", "r1"},
		{"Obŝestvo s ograničennoj otvetstvennostʹû Ačim", "r1"},
		{"Otkrytoye Aktsionernoye Obshhestvo Severny Zavod", "s1"},
		{"Obshhestvo s ogranichennoj otvetstvennost`yu Achim", "r1"},
		// Spelt in no way the forms list: near with the phrase kept.
		{"Obshchestvo s Ogranichenoi Otvetstvenostyu Achim", "r1"},
		{"Publichnoye Aktsyonernoye Obshchestvo Kamaz", "k1"},
	} {
		r := Screen("", org("x", "RU", c.name), l, nil)
		if r.Status == catalog.RestrictedNone || len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.entry {
			t.Errorf("%q: %s (%s), want a match with %s", c.name, r.Status, r.Source, c.entry)
		}
	}
	// The same holds the other way round, the list spelling it anyhow.
	l2 := &List{Entries: []Entry{{ID: "r9", List: "SDN", Name: "OBSHCHESTVO S OGRANICHENOI OTVETSTVENOSTYU ACHIM", Addresses: []Address{{City: "Moscow", Country: "RU"}}}}}
	if r := Screen("", org("x", "RU", "Obshchestvo s Ogranichennoi Otvetstvennostyu Achim"), l2, nil); r.Status == catalog.RestrictedNone {
		t.Errorf("a listed name with the form misspelt: %s (%s)", r.Status, r.Source)
	}
	// Scored both ways, a pair of names never scores lower than with the
	// forms kept, as before they were forms, or left out.
	names := []string{"OBSHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTYU ACHIM", "Obshchestvo s Ogranichenoi Otvetstvenostyu Achim",
		"ООО Ачим", "Achim LLC", "Aktsionernoe Obshchestvo Achim Trading", "Zakrytoye Aktsionernoye Obshchestvo Achimov", "Achim"}
	var sc jwScratch
	for _, a := range names {
		for _, b := range names {
			pa := prepareName(a, Normalize(a), keepingSpelled(a), true)
			pb := prepareName(b, Normalize(b), keepingSpelled(b), false)
			got, _ := sc.pairScore(&pa, &pb)
			for _, v := range []struct {
				what   string
				pa, pb prepared
			}{
				{"left out", prepareOrg(Normalize(a)).withFull(a), prepare(Normalize(b)).withFull(b)},
				{"kept", prepareOrg(keepingSpelled(a)).withFull(a), prepare(keepingSpelled(b)).withFull(b)},
			} {
				if s, ok := sc.versionScore(&v.pa, &v.pb); ok && s >= corroboratedNameMin && got < s {
					t.Errorf("%q ~ %q: %.3f, below %.3f with the forms %s", a, b, got, s, v.what)
				}
			}
		}
	}
}

// TestMatcherAgreesWithReferenceOnSpelledForms: the matcher and the
// reference score names with the Russian legal forms spelt out alike, in
// the spellings the forms list and in others.
func TestMatcherAgreesWithReferenceOnSpelledForms(t *testing.T) {
	forms := []string{"", "OOO", "Obshchestvo s Ogranichennoi Otvetstvennostyu", "Obshhestvo s ogranichennoj otvetstvennostju",
		"Obshchestvo s Ogranichenoi Otvetstvenostju", "Aktsionernoe Obshchestvo", "Zakrytoye Aktsyonernoye Obshchestvo", "Publichnoe aktsionernoe obshhestvo"}
	bases := []string{"Achim", "Kamaz", "Severny Zavod", "Tekhnoprom", "Vega Kontsern", "Ra"}
	l := &List{File: "generated.csv", SHA256: "generated"}
	for i, b := range bases {
		f := forms[(i*3)%len(forms)]
		l.Entries = append(l.Entries, Entry{ID: fmt.Sprint("e", i), List: "SDN", Name: strings.ToUpper(f + " " + b),
			AltNames: []string{b + " " + forms[(i*5+1)%len(forms)]}, Addresses: []Address{{City: "Moscow", Country: "RU"}}})
	}
	ix := newIndex(l)
	matched := 0
	for _, f := range forms {
		for _, b := range bases {
			for _, name := range []string{f + " " + b, b + " " + f, f + " " + b + "a"} {
				o := org("x", "RU", name)
				want, got := ix.refScreen("", o, nil), ix.screen("", o, nil)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("%q: the matcher and the reference differ (-reference +matcher):\n%s", name, diff)
				}
				matched += len(got.Matches)
			}
		}
	}
	if matched == 0 {
		t.Fatal("no match: the test shows nothing")
	}
}

// TestNeighbouringLegalFormsSpeltOut: the lists spell out the legal forms
// of Ukraine, Belarus and Kazakhstan, and Russia's state enterprises, as
// they do Russia's companies ("TOVARYSTVO Z OBMEZHENOIU VIDPOVIDALNISTIU
// SKIF" is TOV Skif). Those words were kept as the name's, so a short
// name ("Skif LLC", "ТОВ Скіф") scored too low against the listed one and
// screened clear. They are forms now, scored both left out and kept.
func TestNeighbouringLegalFormsSpeltOut(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "u1", List: "SDN", Name: "TOVARYSTVO Z OBMEZHENOIU VIDPOVIDALNISTIU SKIF", Addresses: []Address{{City: "Kyiv", Country: "UA"}}},
		{ID: "u2", List: "SDN", Name: "PUBLICHNE AKTSIONERNE TOVARYSTVO ORIYA", Addresses: []Address{{City: "Kharkiv", Country: "UA"}}},
		{ID: "u3", List: "SDN", Name: "DERZHAVNE PIDPRYIEMSTVO IVCHENKO", Addresses: []Address{{City: "Zaporizhzhia", Country: "UA"}}},
		{ID: "b1", List: "SDN", Name: "ADKRYTAE AKTSYYANERNAE TAVARYSTVA PELENG", Addresses: []Address{{City: "Minsk", Country: "BY"}}},
		{ID: "b2", List: "SDN", Name: "TAVARYSTVA Z ABMEZHAVANAI ADKAZNASTSIU SYNTEZ", Addresses: []Address{{City: "Minsk", Country: "BY"}}},
		{ID: "k1", List: "SDN", Name: "ZHAUAPKERSHILIGI SHEKTEULI SERIKTESTIK ORDA", Addresses: []Address{{City: "Almaty", Country: "KZ"}}},
		{ID: "k2", List: "SDN", Name: "TOVARISHCHESTVO S OGRANICHENNOI OTVETSTVENNOSTYU STEPNOY", Addresses: []Address{{City: "Almaty", Country: "KZ"}}},
		{ID: "r1", List: "EL", Name: "FEDERALNOE GOSUDARSTVENNOE UNITARNOE PREDPRIYATIE ZVEZDA", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
	}}
	for _, c := range []struct{ name, country, entry string }{
		{"Skif LLC", "UA", "u1"},
		{"ТОВ Скіф", "UA", "u1"},
		{"Товариство з обмеженою відповідальністю «Скіф»", "UA", "u1"},
		{"Oriya PJSC", "UA", "u2"},
		{"Публічне акціонерне товариство Орія", "UA", "u2"},
		{"Ivchenko", "UA", "u3"},
		{"Peleng OJSC", "BY", "b1"},
		{"Адкрытае акцыянернае таварыства Пеленг", "BY", "b1"},
		{"Syntez LLC", "BY", "b2"},
		{"Orda LLP", "KZ", "k1"},
		{"Жауапкершілігі шектеулі серіктестік Орда", "KZ", "k1"},
		{"Stepnoy LLP", "KZ", "k2"},
		{"Zvezda", "RU", "r1"},
		{"Федеральное государственное унитарное предприятие Звезда", "RU", "r1"},
	} {
		r := Screen("", org("x", c.country, c.name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.entry || r.Matches[0].Kind != Exact {
			t.Errorf("%q: %s (%s), want an exact match with %s", c.name, r.Status, r.Source, c.entry)
		}
	}
	if r := Screen("", org("x", "UA", "ТОВ Ромашка"), l, nil); r.Status != catalog.RestrictedNone {
		t.Errorf("another company with the same form: %s (%s)", r.Status, r.Source)
	}
}
