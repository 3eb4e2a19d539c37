package screen

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestNamesWithoutLatinLettersHeld: the lists write their parties' names
// in Latin letters. A listed party registered under its name in Chinese,
// Arabic, Persian, Greek, Japanese or Korean alone was compared in that
// script, matched nothing, and screened none: it is held undetermined,
// the source naming the fields and asking for its Latin name as an alias.
// Given one, it is screened by it; a name in Cyrillic is compared
// romanised and is not held; a match in its own script stands. A name
// that is only a legal form ("Co., Ltd.") gives no Latin name, and the
// source says its Latin letters are only legal forms rather than that it
// has none: said to have no Latin letter, an organisation named
// "Obshchestvo s Ogranichennoi Otvetstvennostyu" was told what was false.
func TestNamesWithoutLatinLettersHeld(t *testing.T) {
	l := &List{File: "consolidated.csv", Entries: []Entry{
		{ID: "e1", List: "EL", Name: "Shenzhen Example Advanced Computing Co., Ltd.", Addresses: []Address{{City: "Shenzhen", Country: "CN"}}},
		{ID: "e2", List: "SDN", Name: "SANAYE HAFTOME TIR", Addresses: []Address{{City: "Tehran", Country: "IR"}}},
		{ID: "e3", List: "EL", Name: "ALMAZ ANTEY", Addresses: []Address{{City: "Moscow", Country: "RU"}}},
		{ID: "n1", List: "EL", Name: "北方计算技术有限公司", Addresses: []Address{{City: "Beijing", Country: "CN"}}},
		{ID: "n2", List: "SDN", Name: "北方计算科技研究院", Addresses: []Address{{City: "Beijing", Country: "CN"}}},
	}}
	for _, c := range []struct {
		why         string
		o           *catalog.Organization
		wantFields  []string // held, naming these
		forms       bool     // held as having Latin letters only in legal forms
		wantStatus  string   // otherwise
		wantEntry   string
		wantInCause string
	}{
		{why: "Chinese", o: org("szeac", "CN", "深圳示例先进计算有限公司"), wantFields: []string{`spec.legalName "深圳示例先进计算有限公司"`}},
		{why: "Persian", o: org("tir", "IR", "صنایع هفتم تیر"), wantFields: []string{"spec.legalName"}},
		{why: "Arabic, Korean and Japanese aliases", o: org("many", "AE", "شركة المثال", "예시 주식회사", "株式会社エグザンプル"),
			wantFields: []string{"spec.legalName", "its 2 spec.aliases"}},
		{why: "Greek, one alias", o: org("gr", "GR", "Ελληνική Εταιρεία Λογισμικού", "Ελληνικό Λογισμικό"), wantFields: []string{`spec.aliases "Ελληνικό Λογισμικό"`}},
		{why: "Latin letters only in the legal form", o: org("cn2", "CN", "示例科技 Co., Ltd."), wantFields: []string{"spec.legalName"}, forms: true},
		{why: "no legal name, a name of digits", o: org("4711", "CN", ""), wantFields: []string{`metadata.name "4711"`}},
		// An alias that is only a legal form names no party: "Co., Ltd."
		// beside a Chinese name made it comparable, and it was cleared.
		{why: "an alias that is only a legal form", o: org("hw", "CN", "华为技术有限公司", "Co., Ltd."), wantFields: []string{`spec.aliases "Co., Ltd."`}, forms: true},
		{why: "aliases that are only legal forms", o: org("hw2", "CN", "华为技术有限公司", "LLC", "S.A."), wantFields: []string{"its 2 spec.aliases"}, forms: true},
		{why: "a legal name that is only a legal form", o: org("hw3", "CN", "Limited Liability Company"), wantFields: []string{"spec.legalName"}, forms: true},
		{why: "Cyrillic, only a legal form", o: org("ooo", "RU", "ООО"), wantFields: []string{"spec.legalName"}, forms: true},
		{why: "only a legal form spelt out", o: org("oo2", "RU", "Obshchestvo s Ogranichennoi Otvetstvennostyu"), wantFields: []string{"spec.legalName"}, forms: true},
		{why: "Cyrillic, only legal forms spelt out", o: org("oo3", "UA", "Товариство з обмеженою відповідальністю", "Акціонерне товариство"),
			wantFields: []string{"spec.legalName", `spec.aliases "Акціонерне товариство"`}, forms: true},

		{why: "its Latin name as an alias", o: org("szeac", "CN", "深圳示例先进计算有限公司", "Shenzhen Example Advanced Computing"),
			wantStatus: catalog.RestrictedEntityList, wantEntry: "e1"},
		{why: "an unrelated Latin alias", o: org("hx", "CN", "华夏有限公司", "Huaxia Co., Ltd."), wantStatus: catalog.RestrictedNone},
		{why: "Cyrillic, romanised", o: org("aa", "RU", "ООО Алмаз-Антей"), wantStatus: catalog.RestrictedEntityList, wantEntry: "e3"},
		{why: "Cyrillic, unrelated", o: org("rk", "RU", "ООО Ромашка"), wantStatus: catalog.RestrictedNone},
		{why: "an exact match in its own script", o: org("bf", "CN", "北方计算技术有限公司"), wantStatus: catalog.RestrictedEntityList, wantEntry: "n1"},
		// A possible match in its own script keeps its finding, and the
		// source says the Latin name is missing too.
		{why: "a possible match in its own script", o: org("bf2", "CN", "北京北方计算科技研究院"), wantStatus: catalog.RestrictedUndetermined,
			wantEntry: "n2", wantInCause: "Latin letters"},
	} {
		const noLatin, onlyForms = "no name of it has a Latin letter", "Latin letters, as written or romanised, only in legal forms"
		r := Screen("", c.o, l, nil)
		if c.wantFields != nil {
			cause, not := noLatin, onlyForms
			if c.forms {
				cause, not = onlyForms, noLatin
			}
			if r.Status != catalog.RestrictedUndetermined || len(r.Matches) > 0 || !strings.Contains(r.Source, cause) || strings.Contains(r.Source, not) ||
				!strings.Contains(r.Source, "to spec.aliases") {
				t.Errorf("%s: %s (%s), want held undetermined for want of a Latin name", c.why, r.Status, r.Source)
			}
			for _, f := range c.wantFields {
				if !strings.Contains(r.Source, f) {
					t.Errorf("%s: the source %q does not name %s", c.why, r.Source, f)
				}
			}
			continue
		}
		if r.Status != c.wantStatus || c.wantEntry != "" && (len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.wantEntry) ||
			!strings.Contains(r.Source, c.wantInCause) {
			t.Errorf("%s: %s (%s), want %s by %q", c.why, r.Status, r.Source, c.wantStatus, c.wantEntry)
		}
		if c.wantInCause == "" && strings.Contains(r.Source, "not comparable with the list") {
			t.Errorf("%s: held for want of a Latin name: %s", c.why, r.Source)
		}
	}
}
