package policy

import (
	"slices"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestEngineQueryDatesKeepsWhatRulesRead: an engine's query days leave
// out the licences no rule reads, keep one day for each rule a licence
// lifts (the day after its last licence ends; none while one has no
// expiry), and keep every licence's day when a rule reads org.licences,
// whose items change as each one ends.
func TestEngineQueryDatesKeepsWhatRulesRead(t *testing.T) {
	rule := func(id, condition, lift string) string {
		return `  - id: ` + id + `
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["test"]
    message: "{site.name} needs the permit"
    condition: "` + condition + `"
` + lift
	}
	pack := func(rules ...string) *Engine {
		t.Helper()
		text := "apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: dates-test}\nrules:\n"
		for _, r := range rules {
			text += r
		}
		e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: []byte(text)}}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	org := &catalog.Organization{Spec: catalog.OrganizationSpec{Headquarters: "US", Licenses: []catalog.License{
		{Rule: "lifted", Expires: catalog.MustDate("2027-01-10")},
		{Rule: "lifted", Expires: catalog.MustDate("2027-02-10")},
		{Rule: "open", Expires: catalog.MustDate("2027-03-10")},
		{Rule: "open"},
		{Rule: "nothing", Expires: catalog.MustDate("2027-04-10")},
	}}}
	q := Query{Org: org}
	days := func(ds []catalog.Date) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.String())
		}
		return out
	}
	liftLicence := "    liftedBy: {licence: true}\n"
	lifting := pack(rule("lifted", "site.country == 'SG'", liftLicence), rule("open", "site.country == 'SG'", liftLicence))
	if got, want := days(lifting.QueryDates(q)), []string{"2027-02-11"}; !slices.Equal(got, want) {
		t.Errorf("licences only lifting: days %v, want %v", got, want)
	}
	reading := pack(rule("lifted", "site.country == 'SG' && !('open' in org.licences)", liftLicence))
	want := days(QueryDates(q))
	if got := days(reading.QueryDates(q)); !slices.Equal(got, want) || len(want) != 4 {
		t.Errorf("a rule reading org.licences: days %v, want every licence's %v", got, want)
	}
}
