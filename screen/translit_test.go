package screen

import (
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
