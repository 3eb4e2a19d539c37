package catalog

import (
	"strings"
	"testing"
)

// rulesTableCountries are the 40 jurisdictions of the policy facts' country
// table; later issues (law) rely on every one being present.
var rulesTableCountries = []string{
	"US", "CA", "MX", "BR", "GB", "IE", "DE", "FR", "NL", "SE", "FI", "NO", "CH", "PL", "ES", "IT",
	"IL", "AE", "SA", "QA", "IN", "SG", "MY", "TH", "ID", "VN", "PH", "JP", "KR", "TW", "HK", "MO",
	"CN", "AU", "NZ", "RU", "KZ", "TR", "ZA", "EG",
}

func TestBuiltinCountriesCoverRulesTable(t *testing.T) {
	cs, err := BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	if len(rulesTableCountries) != 40 {
		t.Fatalf("list has %d codes, want 40", len(rulesTableCountries))
	}
	for _, iso := range rulesTableCountries {
		c, ok := cs[iso]
		if !ok {
			t.Errorf("%s missing", iso)
			continue
		}
		if c.DiffusionTier == 0 {
			t.Errorf("%s: no AI Diffusion tier", iso)
		}
		if c.Localisation == "" {
			t.Errorf("%s: no localisation note", iso)
		}
	}
	for iso, c := range cs {
		if err := checkCountry(c); err != nil {
			t.Errorf("%s: %v", iso, err)
		}
		// AI Diffusion Tier 3 is exactly D:5 plus Macau.
		if want := c.InGroup("D:5") || iso == "MO"; (c.DiffusionTier == 3) != want {
			t.Errorf("%s: tier %d but D:5-or-Macau = %v", iso, c.DiffusionTier, want)
		}
	}
}

// TestAdequacyOn checks the dated adequacy decisions that data-transfer
// rules depend on, on days either side of each boundary. A decision's
// until is the day it lapses, as the policy engine reads it: the
// catalog held it in force that day too.
func TestAdequacyOn(t *testing.T) {
	cs, err := BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		iso, day  string
		wantScope string // "" = no decision in force
	}{
		{"US", "2023-07-09", ""},
		{"US", "2023-07-10", ScopeDPFCertified},
		{"US", "2026-06-01", ScopeDPFCertified},
		{"GB", "2021-06-27", ""},
		{"GB", "2021-06-28", ScopeFull},
		{"GB", "2030-01-01", ScopeFull},
		{"GB", "2031-12-26", ScopeFull},
		{"GB", "2031-12-27", ""}, // until: the day it lapses
		{"GB", "2031-12-28", ""},
		{"JP", "2019-01-22", ""},
		{"JP", "2019-01-23", ScopeFull},
		{"KR", "2022-01-01", ScopeFull},
		{"CA", "2025-01-01", ScopeCommercial},
		{"BR", "2026-06-01", ""}, // draft only
		{"CN", "2026-06-01", ""},
		{"SG", "2026-06-01", ""},
		{"CH", "2026-06-01", ScopeFull},
	}
	for _, c := range cases {
		t.Run(c.iso+"@"+c.day, func(t *testing.T) {
			country, ok := cs[c.iso]
			if !ok {
				t.Fatalf("%s missing", c.iso)
			}
			got := ""
			if d := country.AdequateOn(MustDate(c.day)); d != nil {
				got = d.Scope
			}
			if got != c.wantScope {
				t.Errorf("AdequateOn = %q, want %q", got, c.wantScope)
			}
		})
	}
}

func TestCheckCountryRejects(t *testing.T) {
	good := func() *Country {
		return &Country{ISO: "XX", Name: "X", Bloc: "swing", DiffusionTier: 2, Source: "s",
			Adequacy: []AdequacyDecision{{Scope: ScopeFull, Status: AdequacyAdopted, Source: "s", From: MustDate("2020-01-01"), Until: MustDate("2021-01-01")}}}
	}
	if err := checkCountry(good()); err != nil {
		t.Fatalf("good country rejected: %v", err)
	}
	cases := []struct {
		name string
		edit func(c *Country)
	}{
		{"lower-case iso", func(c *Country) { c.ISO = "xx" }},
		{"no name", func(c *Country) { c.Name = "" }},
		{"unknown bloc", func(c *Country) { c.Bloc = "aliens" }},
		{"EU without EEA", func(c *Country) { c.EU = true }},
		{"tier 4", func(c *Country) { c.DiffusionTier = 4 }},
		{"bad group", func(c *Country) { c.USGroups = []string{"D5"} }},
		{"bad scope", func(c *Country) { c.Adequacy[0].Scope = "partial" }},
		{"bad status", func(c *Country) { c.Adequacy[0].Status = "maybe" }},
		{"until before from", func(c *Country) { c.Adequacy[0].Until = MustDate("2019-01-01") }},
		{"no source", func(c *Country) { c.Source = "" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := good()
			c.edit(x)
			if err := checkCountry(x); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestAdequacyInForceBounds: a decision is in force from its from day
// and lapses on its until day, as the policy engine reads it; a draft or
// invalidated one is never in force, and one without dates always is
// when adopted.
func TestAdequacyInForceBounds(t *testing.T) {
	d := AdequacyDecision{Scope: ScopeFull, Status: AdequacyAdopted, From: MustDate("2020-01-01"), Until: MustDate("2021-01-01")}
	for day, want := range map[string]bool{
		"2019-12-31": false, "2020-01-01": true, "2020-12-31": true, "2021-01-01": false, "2021-01-02": false,
	} {
		if got := d.InForce(MustDate(day)); got != want {
			t.Errorf("from 2020-01-01 until 2021-01-01, on %s: in force %v, want %v", day, got, want)
		}
		c := Country{ISO: "XX", Adequacy: []AdequacyDecision{d}}
		if got := c.AdequateOn(MustDate(day)) != nil; got != want {
			t.Errorf("AdequateOn %s: %v, want %v", day, got, want)
		}
	}
	for _, st := range []string{AdequacyDraft, AdequacyInvalidated, ""} {
		if (AdequacyDecision{Scope: ScopeFull, Status: st}).InForce(MustDate("2020-06-01")) {
			t.Errorf("a decision of status %q is in force", st)
		}
	}
	if !(AdequacyDecision{Scope: ScopeFull, Status: AdequacyAdopted}).InForce(MustDate("2020-06-01")) {
		t.Error("an adopted decision without dates is not in force")
	}
}

// TestOutermostRegionsAreEUMembers: the outermost regions of Art. 349 TFEU
// that have an ISO 3166-1 alpha-2 code are in the table as part of the EU
// (and so of the EEA), each naming the treaty as its source. Without them
// a site or a dataset there was unknown, or read as outside the EU.
func TestOutermostRegionsAreEUMembers(t *testing.T) {
	cs, err := BuiltinCountries()
	if err != nil {
		t.Fatal(err)
	}
	for _, iso := range []string{"GP", "GF", "MQ", "YT", "RE", "MF"} {
		c, ok := cs[iso]
		switch {
		case !ok:
			t.Errorf("%s missing", iso)
		case !c.EU || !c.EEA || c.Region || c.Bloc != "EU/EEA":
			t.Errorf("%s: eu %v, eea %v, region %v, bloc %q: want an EU member", iso, c.EU, c.EEA, c.Region, c.Bloc)
		case !strings.Contains(c.Source, "Art. 349") || !strings.Contains(c.Source, "355(1)"):
			t.Errorf("%s: source %q does not name Art. 349 and 355(1) TFEU", iso, c.Source)
		}
	}
	if c := cs["YT"]; c != nil && !strings.Contains(c.Source, "2012/419/EU") {
		t.Errorf("YT: source %q does not name the decision that made it an outermost region", c.Source)
	}
}
