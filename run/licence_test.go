package run

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// licencedDenyPack denies every site in country unless the organisation
// holds a licence naming the rule.
func licencedDenyPack(id, country string) policy.File {
	f := denyPack(id, country, "2020-01-01")
	f.Data = append(f.Data, []byte("    liftedBy: {licence: true}\n")...)
	return f
}

// licencedWorld is the test sites' world with organisation lab (in SG),
// holding licences (each a YAML flow mapping), and its job tiny.
func licencedWorld(t *testing.T, licences ...string) *catalog.World {
	t.Helper()
	w, err := BuildWorld("testdata/sites", []Document{{Name: "job.yaml", Content: `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec:
  headquarters: SG
  licenses: [` + strings.Join(licences, ", ") + `]
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: tiny}
spec:
  organization: lab
  model: {parameters: 7.0e9}
  method: pretrain
  tokens: 1.0e12
`}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestHorizonEndsAtLicenceExpiry: a placement that is lawful only because
// a licence lifts a rule's denial stops being lawful the day after that
// licence expires, though no rule changes then; the run's horizon names
// that day, so the run moves before it rather than running on unlicensed.
func TestHorizonEndsAtLicenceExpiry(t *testing.T) {
	eng, err := policy.New(policy.Options{NoBuiltin: true, Files: []policy.File{licencedDenyPack("test-no-sg", "SG")}})
	if err != nil {
		t.Fatal(err)
	}
	w := licencedWorld(t, "{rule: test-no-sg, expires: 2026-06-15}")
	job := w.Jobs[0]
	site := w.Site("alpha")
	ln := LawNow{Law: planner.PolicyLaw(eng), Dates: eng.Dates()}
	asOf := catalog.MustDate("2026-06-01")
	dec, err := placementLaw(w, job, site, 0, asOf, ln.Law, nil)
	if err != nil || !dec.Allowed {
		t.Fatalf("with the licence in force the placement is not lawful: %+v %v", dec, err)
	}
	dec, err = placementLaw(w, job, site, 0, catalog.MustDate("2026-06-16"), ln.Law, nil)
	if err != nil || dec.Allowed {
		t.Fatalf("the day after the licence expires the placement is still lawful: %+v %v", dec, err)
	}
	d, rule, err := horizon(w, job, site, 0, asOf, ln)
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != "2026-06-16" || rule != "test-no-sg" {
		t.Errorf("horizon %q (rule %q), want 2026-06-16 (test-no-sg): the run would go on past its licence", d, rule)
	}
	// The plan (the run lasts months) gives the placement the same horizon.
	plan, err := planner.Make(w, job, planner.Options{AsOf: asOf, Rules: ln.Law})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pc := range plan.Placements {
		if pc.Site == "alpha" {
			found = true
			if pc.LawfulUntil == nil || pc.LawfulUntil.String() != "2026-06-16" {
				t.Errorf("plan places alpha lawful until %v, want 2026-06-16", pc.LawfulUntil)
			}
		}
	}
	if !found {
		t.Errorf("alpha is not among the placements: %+v", plan.Rejected)
	}
}

// countedLaw is a law that counts the sessions it opens, and says which of
// a query's days can change its answers as the law it wraps does.
type countedLaw struct {
	planner.Law
	n *atomic.Int64
}

func (l countedLaw) Session(q policy.Query) (planner.Session, error) {
	l.n.Add(1)
	return l.Law.Session(q)
}

func (l countedLaw) QueryDates(q policy.Query) []catalog.Date {
	return l.Law.(planner.QueryDatedLaw).QueryDates(q)
}

// TestHorizonLooksOnlyAtLicenceDaysThatMatter: a run's horizon, at each
// law check of every live run, judged its placement again on each of its
// organisation's licences' expiry days, whatever rule a licence named:
// 254 licences of rules no licence lifts made each check open 254 more
// sessions. Only the day after the last licence of a rule a licence
// lifts can change the answer (as the planner's horizon already does):
// one more session, and the licensed placement still ends that day.
func TestHorizonLooksOnlyAtLicenceDaysThatMatter(t *testing.T) {
	eng, err := policy.New(policy.Options{NoBuiltin: true, Files: []policy.File{licencedDenyPack("test-no-sg", "SG")}})
	if err != nil {
		t.Fatal(err)
	}
	asOf := catalog.MustDate("2026-06-01")
	opens := func(licences []string) (int64, catalog.Date, string) {
		t.Helper()
		w := licencedWorld(t, licences...)
		n := &atomic.Int64{}
		ln := LawNow{Law: countedLaw{planner.PolicyLaw(eng), n}, Dates: eng.Dates()}
		d, rule, err := horizon(w, w.Jobs[0], w.Site("alpha"), 0, asOf, ln)
		if err != nil {
			t.Fatal(err)
		}
		return n.Load(), d, rule
	}
	base, _, _ := opens([]string{"{rule: test-no-sg, expires: 2026-09-15}"})
	many := []string{"{rule: test-no-sg, expires: 2026-09-15}"}
	for i := range catalog.MaxFactItems - 2 {
		many = append(many, fmt.Sprintf("{rule: x-%d, expires: %s}", i, asOf.AddDate(0, 0, 2+i/2).Format(catalog.DateLayout)))
	}
	got, d, rule := opens(many)
	if got > base {
		t.Errorf("%d licences opened %d sessions in the horizon, %d with the one that matters: want no more", len(many), got, base)
	}
	if d.String() != "2026-09-16" || rule != "test-no-sg" {
		t.Errorf("horizon %s (%s); want 2026-09-16 (test-no-sg), the day after the licence that lifts the rule ends", d, rule)
	}
}
