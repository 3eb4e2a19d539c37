package policy

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestOrgLicencesFactHoldsOnlyLicencesInForce: org.licences lists the
// licences the organisation holds on the as-of date. A rule that asks
// whether a licence is held (here: training in SG needs the one lifting
// r1) must not be satisfied by a licence that expired before that date,
// just as liftedBy is not.
func TestOrgLicencesFactHoldsOnlyLicencesInForce(t *testing.T) {
	pack := `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: licence-test}
rules:
  - id: r1
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["test"]
    message: "{site.name} needs the permit"
    condition: "site.country == 'SG' && !('r1' in org.licences)"
`
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct {
		expires string
		allowed bool
	}{
		{"2026-06-15", true},  // in force on its last day
		{"2026-06-14", false}, // expired the day before
		{"", true},            // no expiry
	} {
		q := w.query(t, "2026-06-15", "us-lab", jobSpec{}, 1e21)
		o := *q.Org
		o.Spec.Licenses = []catalog.License{{Rule: "r1"}}
		if c.expires != "" {
			o.Spec.Licenses[0].Expires = catalog.MustDate(c.expires)
		}
		q.Org = &o
		s, err := e.Session(q)
		if err != nil {
			t.Fatal(err)
		}
		if d := s.Evaluate(site, pool, acc); d.Allowed != c.allowed {
			t.Errorf("licence expiring %q, as of 2026-06-15: allowed %v, want %v (%+v)", c.expires, d.Allowed, c.allowed, d.Denials)
		}
	}
}
