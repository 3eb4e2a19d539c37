package planner

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// countingLaw is the policy engine's law, counting the sessions opened.
type countingLaw struct {
	engineLaw
	opened *atomic.Int64
}

func (l countingLaw) Session(q policy.Query) (Session, error) {
	l.opened.Add(1)
	return l.engineLaw.Session(q)
}

func (l countingLaw) SessionContext(ctx context.Context, q policy.Query) (Session, error) {
	l.opened.Add(1)
	return l.engineLaw.SessionContext(ctx, q)
}

// licenceWorld is affiliateWorld's long run for an organisation holding
// the licences given (YAML flow items).
func licenceWorld(t *testing.T, licences []string) *catalog.World {
	t.Helper()
	w, err := catalog.Load(AssumptionKeys(), "testdata/world/sites", writeJob(t, `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: affiliate-lab}
spec:
  headquarters: CN
  restrictedParty: affiliate-of-listed
  licenses: [`+strings.Join(licences, ", ")+`]
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: long-run}
spec:
  organization: affiliate-lab
  model: {parameters: 7.0e9}
  method: pretrain
  tokens: 4.0e13
  objective: cost
  constraints: {maxAccelerators: 8}
`))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestHorizonLicencesBounded: a plan's horizon opens a session, and
// judges every placement again, for each day its law may change on. Each
// licence of the organisation was such a day, whatever rule it named: 256
// licences of rule ids no rule is lifted by, each expiring on its own day
// (the catalog holds as many), made a plan open a session for each of
// them and cost a hundred times a plan without them. Only a rule's last
// licence, of a rule a licence lifts, can change the answer.
func TestHorizonLicencesBounded(t *testing.T) {
	eng, err := policy.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	asOf := catalog.MustDate("2026-12-01")
	opens := func(licences []string) (int64, *Plan) {
		n := &atomic.Int64{}
		w := licenceWorld(t, licences)
		p, err := Make(w, w.Jobs[0], Options{AsOf: asOf, Rules: countingLaw{engineLaw{eng}, n}})
		if err != nil {
			t.Fatal(err)
		}
		return n.Load(), p
	}
	base, _ := opens(nil)
	var many []string
	for i := range catalog.MaxFactItems - 2 {
		many = append(many, fmt.Sprintf("{rule: x-%d, expires: %s}", i, asOf.AddDate(0, 0, 2+3*i).Format(catalog.DateLayout)))
	}
	// Two licences of one rule that lifts: the last one's end is a day.
	many = append(many, "{rule: us-ear-affiliates-2025, expires: 2027-01-15}", "{rule: us-ear-affiliates-2025, expires: 2027-03-01}")
	got, p := opens(many)
	if got > base+1 {
		t.Errorf("%d licences opened %d sessions, %d without them: want at most one more", len(many), got, base)
	}
	// The licensed placements are lawful until the day after the last
	// licence of the rule ends, as before.
	saw := false
	for _, pl := range p.Placements {
		if pl.LawfulUntil == nil {
			continue
		}
		saw = true
		if pl.LawfulUntil.String() != "2027-03-02" || pl.LawfulUntilRule != "us-ear-affiliates-2025" {
			t.Errorf("%s %s: lawful until %s (%s), want 2027-03-02 (us-ear-affiliates-2025)", pl.Site, pl.Accelerator, pl.LawfulUntil, pl.LawfulUntilRule)
		}
	}
	if !saw {
		t.Fatalf("no placement lawful under the licence only until it ends: %+v", p.Placements)
	}
}
