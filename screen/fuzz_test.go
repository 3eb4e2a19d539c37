package screen

import (
	"strings"
	"testing"
	"unicode"

	"meridian.dev/meridian/catalog"
)

// FuzzParse feeds arbitrary bytes to the list parser and screens an
// organisation against whatever it accepts: refusing is fine, panicking
// or accepting an entry without a name or list is not.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"csl-sample.csv", "csl-sample-id.csv", "csl-sample.json"} {
		f.Add(read(f, name))
	}
	f.Add([]byte("source,name\nEntity List (EL),\"a\"\"b\"\n"))
	f.Add([]byte(`{"results":[{"source":"SDN","name":"x","entity_number":1.5e3}]}`))
	o := &catalog.Organization{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN", Aliases: []string{"Example"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		for _, e := range es {
			if e.Name == "" || e.List == "" || e.ID == "" {
				t.Fatalf("accepted an entry without name, list or id: %+v", e)
			}
		}
		_ = Screen("", o, &List{Entries: es}, nil)
	})
}

// FuzzNormalize: Normalize takes any text, gives lower-case letters and
// digits in words separated by single spaces, without invisible
// characters, and normalising its result changes nothing.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"Example Advanced Computing Co., Ltd.", "Ехаmрlе Аdvаnсеd Соmрutіng Co., Ltd.",
		"E\u200bx\u200ba\u200bm\u200bp\u200bl\u200be", "Nоrthwіnd Suреrсоmрutіng Сеntеr", "ΕΧΑΜΡLΑR LΑΒ GmbH",
		"Ｅｘａｍｐｌｅ", "Red Star Avi\u202eno\u202cics", "Tag\U000E0041s", "ООО «Северный Ветер»",
		"深圳示例先进计算有限公司", "삼성전자 주식회사", "N0rthw1nd |", "ҙɮ ᗰ Ϲ", "\xff\xfe", "",
		"भारती", "H\u20ddo\u0903",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if n != strings.TrimSpace(n) || strings.Contains(n, "  ") {
			t.Fatalf("Normalize(%q) = %q: spaces at an end or doubled", s, n)
		}
		for _, r := range n {
			if r != ' ' && (ignorable(r) || !unicode.IsLetter(r) && !unicode.IsDigit(r) && !keepsMark(r) || unicode.IsUpper(r)) {
				t.Fatalf("Normalize(%q) = %q holds %U", s, n, r)
			}
		}
		if n2 := Normalize(n); n2 != n {
			t.Fatalf("Normalize(%q) = %q, normalised again %q", s, n, n2)
		}
	})
}
