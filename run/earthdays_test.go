package run

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// untilPack is denyPack for a rule that ends: every site in country is
// unlawful from 2020 until the day until (the first day it no longer is).
func untilPack(id, country, until string) policy.File {
	f := denyPack(id, country, "2020-01-01")
	f.Data = []byte(strings.Replace(string(f.Data), "effectiveFrom: 2020-01-01", fmt.Sprintf("effectiveFrom: 2020-01-01\n    effectiveUntil: %s", until), 1))
	return f
}

// earthFixture is a law-check fixture's controller on clock clk, under
// the pack p, with tenant t1's run planned on 1 June 2026.
func earthFixture(t *testing.T, clk *clock, p policy.File) (*Controller, *Run) {
	t.Helper()
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	if _, _, err := f.rs.Apply(ctx, rules.Change{Files: []policy.File{p}}, "admin", "test", clk.Now()); err != nil {
		t.Fatal(err)
	}
	c := f.controller(func(cfg *Config) { cfg.Now = clk.Now })
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(600, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

// TestAttackAttemptStartOnRuleEveEastOfUTC: a rule makes Singapore's
// sites unlawful from 11 June. At 20:00 UTC on 10 June it is the 11th in
// Singapore (UTC+8) and from UTC+4 eastward, and the rule is in force
// there; judged by the UTC day, the law asked before an attempt starts
// let it start at alpha (SG). It refuses, naming the rule and the day.
func TestAttackAttemptStartOnRuleEveEastOfUTC(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, r := earthFixture(t, clk, denyPack("test-no-sg-from-june-11", "SG", "2026-06-11"))
	if r.Site != "alpha" {
		t.Fatalf("planned at %s, want alpha (SG), lawful until the 11th", r.Site)
	}
	// At 09:00 UTC on the 10th the 11th has begun nowhere: the rule is
	// not in force, and the start is lawful.
	clk.set(time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC))
	if dec, checked, err := c.lawfulNow(r); err != nil || !checked || !dec.Allowed {
		t.Fatalf("before the 11th began anywhere: %+v, checked %v, %v; want lawful", dec, checked, err)
	}
	clk.set(time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC))
	dec, checked, err := c.lawfulNow(r)
	if err != nil || !checked {
		t.Fatalf("law before the attempt: checked %v, %v", checked, err)
	}
	if dec.Allowed || len(dec.Denials) == 0 || dec.Denials[0].Rule != "test-no-sg-from-june-11" {
		t.Fatalf("an attempt at alpha at 20:00 UTC on the eve of the rule: %+v; want refused by test-no-sg-from-june-11", dec)
	}
	if msg := dec.Denials[0].Message; !strings.Contains(msg, "2026-06-11 already in some time zone") {
		t.Errorf("denial %q does not say the rule's day has begun in some time zone", msg)
	}
}

// TestLooseningWaitsForTheLastTimeZone: a rule that makes Singapore's
// sites unlawful until 11 June binds until the 10th has ended everywhere:
// at 05:00 UTC on the 11th it is still the 10th at UTC-12 (and UTC-6 and
// westward), and a placement at alpha is refused; at 12:00 UTC the 11th
// has begun everywhere, and it is lawful.
func TestLooseningWaitsForTheLastTimeZone(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, r := earthFixture(t, clk, untilPack("test-no-sg-until-june-11", "SG", "2026-06-11"))
	w, job, err := c.worldJob(r)
	if err != nil {
		t.Fatal(err)
	}
	alpha := w.Site("alpha")
	if alpha == nil || alpha.Spec.Country != "SG" {
		t.Fatalf("site alpha: %+v", alpha)
	}
	ln := c.lawNow()
	clk.set(time.Date(2026, 6, 11, 5, 0, 0, 0, time.UTC))
	dec, err := placementLawAt(w, job, alpha, 0, clk.Now(), ln)
	if err != nil {
		t.Fatal(err)
	}
	if dec.Allowed || len(dec.Denials) == 0 || dec.Denials[0].Rule != "test-no-sg-until-june-11" {
		t.Fatalf("alpha at 05:00 UTC on the 11th: %+v; want refused by test-no-sg-until-june-11", dec)
	}
	if msg := dec.Denials[0].Message; !strings.Contains(msg, "still 2026-06-10 in some time zone") {
		t.Errorf("denial %q does not say the 10th is still in force in some time zone", msg)
	}
	clk.set(time.Date(2026, 6, 11, 12, 0, 0, 0, time.UTC))
	if dec, err := placementLawAt(w, job, alpha, 0, clk.Now(), ln); err != nil || !dec.Allowed {
		t.Fatalf("alpha at 12:00 UTC on the 11th: %+v, %v; want lawful", dec, err)
	}
}

// TestCopyWithdrawnWhenTheRuleDayBeginsEastOfUTC: a rule forbids data in
// Singapore from 16 June. A copy staged there before is withdrawn once
// the 16th has begun anywhere (10:00 UTC on the 15th, at UTC+14), not
// when it begins in UTC: judged by the UTC day, it stayed at its site 14
// hours into the rule's day east of UTC. The withdrawal's record carries
// the UTC day it was made on, and the 16th as the day that refused.
func TestCopyWithdrawnWhenTheRuleDayBeginsEastOfUTC(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)}
	e, rs := lawEnv(t, func(c *Config) { c.Now, c.Stager.Now = clk.Now, clk.Now })
	ctx := context.Background()
	p := transferRule("test-no-sg-data-from-june-16", "No data in SG from 16 June", "deny", "2026-06-16", "transfer.to == 'SG'", "")
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{p}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	stageCorpus(t, e.c, e.dir)
	if w := firstWithdrawal(t, e.st); w != nil {
		t.Fatalf("withdrawn before the rule: %+v", w)
	}
	// At 09:00 UTC on the 15th the 16th has begun nowhere: the copy stays.
	clk.set(time.Date(2026, 6, 15, 9, 0, 0, 0, time.UTC))
	e.c.Nudge()
	time.Sleep(300 * time.Millisecond)
	if w := firstWithdrawal(t, e.st); w != nil {
		t.Fatalf("withdrawn before the 16th began anywhere: %+v", w)
	}
	clk.set(time.Date(2026, 6, 15, 10, 30, 0, 0, time.UTC))
	e.c.Nudge()
	deadline := time.Now().Add(20 * time.Second)
	w := firstWithdrawal(t, e.st)
	for w == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		w = firstWithdrawal(t, e.st)
	}
	if w == nil {
		t.Fatal("the copy was not withdrawn once the rule's day began east of UTC")
	}
	if w.Dataset != "corpus" || w.Site != "alpha" || len(w.Rules) == 0 || w.Rules[0] != "test-no-sg-data-from-june-16" || w.AsOf != "2026-06-15" {
		t.Errorf("withdrawal %+v, want corpus at alpha under test-no-sg-data-from-june-16, recorded as of the UTC day 2026-06-15", w)
	}
	// The record names the day whose law refused, as its reason does:
	// dated by the UTC day alone, it read as a refusal on a day the rule
	// was not yet in force.
	if w.RuleDay != "2026-06-16" {
		t.Errorf("withdrawal's ruleDay %q, want 2026-06-16, the day that refused", w.RuleDay)
	}
}

// TestReplanOnRuleEveKeepsOnlyPlacesLawfulEverywhere: a re-plan at 20:00
// UTC on 10 June, made as of the UTC day, may still offer alpha (SG), on
// the eve of a rule that closes Singapore's sites from the 11th, already
// in force there. The placements a re-plan or a held run's release goes
// on with (every server plan made as of today, c.plan) are those lawful
// on every day it is somewhere: alpha is left out, naming the rule, and
// at 09:00 UTC, when the 11th has begun nowhere, it is kept.
func TestReplanOnRuleEveKeepsOnlyPlacesLawfulEverywhere(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, r := earthFixture(t, clk, denyPack("test-no-sg-from-june-11", "SG", "2026-06-11"))
	w, job, err := c.worldJob(r)
	if err != nil {
		t.Fatal(err)
	}
	kept := func(at time.Time, sites ...string) (string, *planner.Plan) {
		t.Helper()
		clk.set(at)
		plan := &planner.Plan{}
		for _, s := range sites {
			plan.Placements = append(plan.Placements, planner.Placement{Site: s})
		}
		if err := c.dropUnlawfulElsewhere(w, job, c.today(), plan); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, pl := range plan.Placements {
			out = append(out, pl.Site)
		}
		return strings.Join(out, ","), plan
	}
	if got, _ := kept(time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC), "alpha", "bravo"); got != "alpha,bravo" {
		t.Fatalf("at 09:00 UTC on the 10th: %s; want alpha and bravo", got)
	}
	if got, _ := kept(time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC), "alpha", "bravo"); got != "bravo" {
		t.Fatalf("at 20:00 UTC on the 10th: %s; want bravo only", got)
	}
	got, plan := kept(time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC), "alpha")
	if got != "" || len(plan.Rejected) != 1 || plan.Rejected[0].Site != "alpha" || plan.Rejected[0].Reasons[0].Rule != "test-no-sg-from-june-11" || !strings.Contains(plan.Rejected[0].Reasons[0].Message, "in every time zone") {
		t.Fatalf("alpha alone at 20:00 UTC: kept %q, rejected %+v; want alpha rejected by test-no-sg-from-june-11", got, plan.Rejected)
	}
}

// TestSubmitOnLooseningDayNotPlacedWhereStillForbidden: a rule makes
// Singapore's sites unlawful until 11 June. At 05:00 UTC on the 11th it
// is still the 10th west of UTC-5, and the rule binds there: judged by
// the UTC day, Submit placed the run at alpha (SG), where its start (and
// its data's staging) then refused it. The plan keeps only places lawful
// on every day it is somewhere, and says why alpha is not among them.
func TestSubmitOnLooseningDayNotPlacedWhereStillForbidden(t *testing.T) {
	clk := &clock{t: time.Date(2026, 6, 11, 5, 0, 0, 0, time.UTC)}
	c, r := earthFixture(t, clk, untilPack("test-no-sg-until-june-11", "SG", "2026-06-11"))
	if r.Site == "alpha" {
		t.Fatalf("submitted at 05:00 UTC on the 11th: placed at alpha (%s), where the rule still binds west of UTC", r.State)
	}
	w, job, err := c.worldJob(r)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.plan(context.Background(), w, job, c.today(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plan.Placements {
		if p.Site == "alpha" {
			t.Fatalf("plan at 05:00 UTC on the 11th keeps alpha: %+v", plan.Placements)
		}
	}
	found := false
	for _, rj := range plan.Rejected {
		if rj.Site == "alpha" && rj.Kind == planner.KindLaw && len(rj.Reasons) > 0 && rj.Reasons[0].Rule == "test-no-sg-until-june-11" {
			found = true
		}
	}
	if !found {
		t.Errorf("alpha not rejected by test-no-sg-until-june-11: %+v", plan.Rejected)
	}
	// At 12:00 UTC the 11th has begun everywhere: alpha is lawful again.
	clk.set(time.Date(2026, 6, 11, 12, 0, 0, 0, time.UTC))
	plan, err = c.plan(context.Background(), w, job, c.today(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Placements) == 0 || plan.Placements[0].Site != "alpha" {
		t.Errorf("plan at 12:00 UTC on the 11th: %+v; want alpha first", plan.Placements)
	}
}

// lawChecks counts the law checks recorded in c's audit log.
func lawChecks(t *testing.T, c *Controller) int {
	t.Helper()
	es, err := c.cfg.Store.AuditEntries(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range es {
		if a.Kind == KindLawCheck {
			n++
		}
	}
	return n
}

// TestLawCheckRecordsTheUTCDay: a check at 20:00 UTC on 10 June judges
// the law through the 11th (begun east of UTC), but records the UTC day,
// as servers before it did: the 11th recorded made an older leader, in a
// rolling upgrade, take the record for one changed outside Meridian and
// check every run again. The next tick does not check again for the
// rule's day it has judged.
func TestLawCheckRecordsTheUTCDay(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, _ := earthFixture(t, clk, denyPack("test-no-sg-from-june-11", "SG", "2026-06-11"))
	clk.set(time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC))
	c.lawTick(ctx)
	if _, day, err := c.cfg.Store.LawCheck(ctx); err != nil || day != "2026-06-10" {
		t.Fatalf("law check at 20:00 UTC on the 10th recorded as of %q (%v); want the UTC day 2026-06-10", day, err)
	}
	n := lawChecks(t, c)
	clk.set(time.Date(2026, 6, 10, 21, 0, 0, 0, time.UTC))
	c.lawTick(ctx)
	if got := lawChecks(t, c); got != n {
		t.Errorf("%d law checks after the next tick, was %d: the rule's day judged through was checked again", got, n)
	}
}

// TestLeaveForLawNamesTheDayThatRefused: at 20:00 UTC on 10 June the law
// check moves the run off alpha (SG), which a rule closes from the 11th,
// the day begun east of UTC that refused it. The reason said "not lawful
// as of 2026-06-10", a day alpha was lawful on; it names the 11th.
func TestLeaveForLawNamesTheDayThatRefused(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	c, r := earthFixture(t, clk, denyPack("test-no-sg-from-june-11", "SG", "2026-06-11"))
	clk.set(time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC))
	c.lawTick(ctx)
	got, err := c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Migrating || got.Migration == nil {
		t.Fatalf("after the check at 20:00 UTC: %s (%s); want moving off alpha", got.State, got.Reason)
	}
	if !strings.Contains(got.Migration.Reason, "not lawful as of 2026-06-11") {
		t.Errorf("reason %q does not name the day that refused, 2026-06-11", got.Migration.Reason)
	}
}
