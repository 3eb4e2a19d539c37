package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
)

// pinnedJob is jobDoc(steps, every) needing 8 accelerators at site fa
// (room for two), named name.
func pinnedJob(name string, steps, every int) Document {
	d := jobDoc(steps, every)
	d.Content = strings.Replace(d.Content, "metadata: {name: tiny}", "metadata: {name: "+name+"}", 1)
	d.Content = strings.Replace(d.Content, "  tokens: 1.0e6\n", "  tokens: 1.0e6\n  constraints: {minAccelerators: 8, sites: {allow: [fa]}}\n", 1)
	return d
}

// TestPreemptAtCheckpoint: two long runs of priority 0 fill site fa; a run
// of priority 5 of the same tenant waits, then takes the place of one of
// them at its checkpoint. The victim drains, waits behind it (it keeps a
// lawful place: fa), and resumes from its checkpoint once the preempting
// run ends. The audit log says who preempted whom, at which checkpoint, and
// why.
func TestPreemptAtCheckpoint(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.CatalogDir = "testdata/fleet-sites"
		c.HoldRetry = 50 * time.Millisecond
	})
	ctx := context.Background()
	var low []*Run
	for _, name := range []string{"low-a", "low-b"} {
		r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{pinnedJob(name, 600, 10)}})
		if err != nil || r.State != Planned {
			t.Fatalf("%s: %+v %v", name, r, err)
		}
		low = append(low, r)
	}
	high, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{pinnedJob("high", 20, 10)}, Priority: 5})
	if err != nil || high.State != Held {
		t.Fatalf("high: %+v %v", high, err)
	}
	for _, r := range low {
		e.waitFor("running", 20*time.Second, func(r *Run) bool { return r.State == Running || r.State == Checkpointed }, r.ID)
	}
	high = e.waitFor("the preemption, then the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, high.ID)
	if high.State != Succeeded {
		t.Fatalf("high ended %s: %s", high.State, high.Reason)
	}
	var victim *Run
	for _, r := range low {
		got := e.waitFor("the end", 90*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
		if got.State != Succeeded {
			t.Fatalf("%s ended %s: %s", got.Job, got.State, got.Reason)
		}
		if got.Attempt == 2 {
			if victim != nil {
				t.Fatal("both low runs were preempted")
			}
			victim = got
		}
	}
	if victim == nil {
		t.Fatal("no low run was preempted")
	}
	evs, _ := e.c.Events(ctx, "t1", victim.ID)
	for _, want := range []string{"preempted", "drained", "state:held", "released", "state:succeeded"} {
		if !contains(kinds(evs), want) {
			t.Errorf("victim's timeline %v lacks %s", kinds(evs), want)
		}
	}
	logs, _ := e.c.Logs(ctx, "t1", victim.ID)
	if !strings.Contains(string(logs), "resume step=") {
		t.Errorf("the victim's attempt 2 did not resume from its checkpoint:\n%s", tailText(logs, 1500))
	}
	hevs, _ := e.c.Events(ctx, "t1", high.ID)
	if !contains(kinds(hevs), "preempting") {
		t.Errorf("high's timeline %v lacks preempting", kinds(hevs))
	}
	entries, err := e.st.AuditEntries(ctx, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range entries {
		if a.Kind != audit.KindDecision {
			continue
		}
		var p struct {
			Decision, Preempted, By, Why string
			Priority, ByPriority         int
			CheckpointStep               int64
		}
		json.Unmarshal(a.Payload, &p)
		if p.Decision != "preempt" {
			continue
		}
		n++
		if p.Preempted != victim.ID || p.By != high.ID || p.Priority != 0 || p.ByPriority != 5 || p.CheckpointStep < 10 || !strings.Contains(p.Why, "lawful placements") {
			t.Errorf("preempt record %+v", p)
		}
	}
	if n != 1 {
		t.Errorf("%d preempt records for the victim", n)
	}
}

// TestReportedCapacity: a site's own figure of what it can give replaces
// the catalog's available count once it is newer than the catalog (the
// controller's start); an older report is ignored. A run that waits for
// room is admitted when a report gives it.
func TestReportedCapacity(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CatalogDir = "testdata/fleet-sites" })
	ctx := context.Background()
	w, err := e.c.baseWorld()
	if err != nil {
		t.Fatal(err)
	}
	fa := w.Site("fa")
	e.c.ReportCapacity(fa, map[string]int{"nvidia-h100-sxm": 32}, e.c.start.Add(-time.Hour))
	if n := e.c.poolLimit(fa, 0); n != 16 {
		t.Fatalf("a report older than the catalog counts: limit %d", n)
	}
	e.c.ReportCapacity(fa, map[string]int{"nvidia-h100-sxm": 8}, time.Now())
	if n := e.c.poolLimit(fa, 0); n != 8 {
		t.Fatalf("limit %d after the site reported 8", n)
	}
	a, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{pinnedJob("a", 400, 10)}})
	if err != nil || a.State != Planned {
		t.Fatalf("a: %+v %v", a, err)
	}
	b, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{pinnedJob("b", 5, 5)}})
	if err != nil || b.State != Held || b.Hold.Wait != WaitCapacity || !strings.Contains(b.Reason, "fa pool 0 (0 free)") {
		t.Fatalf("b: %+v %v", b, err)
	}
	e.c.ReportCapacity(fa, map[string]int{"nvidia-h100-sxm": 16}, time.Now())
	e.c.Nudge()
	e.waitFor("b admitted", 20*time.Second, func(r *Run) bool { return r.State != Held }, b.ID)
	e.c.Cancel(ctx, "t1", a.ID)
	e.waitFor("a's end", 20*time.Second, func(r *Run) bool { return r.State.Final() }, a.ID)
	e.waitFor("b's end", 20*time.Second, func(r *Run) bool { return r.State.Final() }, b.ID)
}

// TestExtraSiteQueue: a site the server adds to its catalog (serve's local
// site) is accounted like the catalog's: a second run waits for the first
// one's room there and is admitted when it ends.
func TestExtraSiteQueue(t *testing.T) {
	set, err := catalog.Decode("extra.yaml", []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: extra-1}
spec:
  country: SG
  location: {lat: 1.3, lon: 103.8}
  operator: {name: this server, headquarters: SG}
  pools:
    - {accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 0, priceSource: "test value"}
  network: {egressPerGB: 0, gbps: 10}
  backend: {type: local}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) {
		c.CatalogDir = "testdata/fleet-sites"
		c.ExtraSites = set.Sites
	})
	ctx := context.Background()
	job := func(name string) Document {
		d := pinnedJob(name, 20, 10)
		d.Content = strings.Replace(d.Content, "allow: [fa]", "allow: [extra-1]", 1)
		return d
	}
	a, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{job("a")}})
	if err != nil || a.State != Planned || a.Site != "extra-1" {
		t.Fatalf("a: %+v %v", a, err)
	}
	b, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{job("b")}})
	if err != nil || b.State != Held || b.Hold.Wait != WaitCapacity {
		t.Fatalf("b: %+v %v", b, err)
	}
	for _, id := range []string{a.ID, b.ID} {
		if r := e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, id); r.State != Succeeded || r.Site != "extra-1" {
			t.Fatalf("%s ended %s at %s: %s", r.Job, r.State, r.Site, r.Reason)
		}
	}
}

// reclaimQuotas: t1 (nominal 8) and t2 (nominal 4) lend each other what
// they do not use.
const reclaimQuotas = `apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: t1}
spec:
  cohort: lab
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 8}]
---
apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: t2}
spec:
  cohort: lab
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 4}]
`

// TestReclaimLentQuota: t2 borrows 4 of t1's unused quota for a run of 8;
// when t1 submits a run of 8 it waits for quota (the cohort's 12 would be
// exceeded), then takes its quota back at
// the borrower's checkpoint although its priority is no higher. The
// borrower drains, waits, and resumes from its checkpoint once t1's run
// ends. Neither tenant's timeline names the other's run or tenant; the
// audit record (the operator's) names both.
func TestReclaimLentQuota(t *testing.T) {
	quotas := testQuotas(t, "quotas.yaml", reclaimQuotas)
	e := newEnv(t, func(c *Config) {
		c.CatalogDir = "testdata/fleet-sites"
		c.HoldRetry = 50 * time.Millisecond
		c.Quotas = quotas
	})
	ctx := context.Background()
	b, l := e.lendThenReclaim(pinnedJob("borrower", 600, 10))
	b = e.waitForTenant("t2", "the borrower's end", 90*time.Second, func(r *Run) bool { return r.State.Final() }, b.ID)
	if b.State != Succeeded || b.Attempt != 2 {
		t.Fatalf("borrower ended %s after %d attempts: %s", b.State, b.Attempt, b.Reason)
	}
	logs, _ := e.c.Logs(ctx, "t2", b.ID)
	if !strings.Contains(string(logs), "resume step=") {
		t.Errorf("the borrower's attempt 2 did not resume from its checkpoint:\n%s", tailText(logs, 1500))
	}
	bevs, _ := e.c.Events(ctx, "t2", b.ID)
	levs, _ := e.c.Events(ctx, "t1", l.ID)
	for _, want := range []string{"preempted", "drained", "state:held", "state:succeeded"} {
		if !contains(kinds(bevs), want) {
			t.Errorf("borrower's timeline %v lacks %s", kinds(bevs), want)
		}
	}
	if !contains(kinds(levs), "preempting") {
		t.Errorf("lender's timeline %v lacks preempting", kinds(levs))
	}
	for _, ev := range bevs {
		if strings.Contains(ev.Reason, l.ID) || strings.Contains(ev.Reason, "t1") {
			t.Errorf("the borrower's timeline names the other tenant's run: %s: %s", ev.Kind, ev.Reason)
		}
	}
	for _, ev := range levs {
		if strings.Contains(ev.Reason, b.ID) || strings.Contains(ev.Reason, "t2") {
			t.Errorf("the lender's timeline names the other tenant's run: %s: %s", ev.Kind, ev.Reason)
		}
	}
	// The borrower's record names the lender's run by a reference that
	// only the lender's record shares; neither names the other tenant.
	type decision struct {
		Decision, Preempted, By, Why, Reclaimed, Run string
		Reclaim                                      bool
	}
	records := func(run, kind string) []decision {
		entries, err := e.st.AuditEntries(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		var out []decision
		for _, a := range entries {
			var d decision
			json.Unmarshal(a.Payload, &d)
			if a.Kind == audit.KindDecision && d.Decision == kind {
				out = append(out, d)
			}
		}
		return out
	}
	pre := records(b.ID, "preempt")
	if len(pre) != 1 {
		t.Fatalf("%d preempt records for the borrower", len(pre))
	}
	p := pre[0]
	ref := p.By
	if !p.Reclaim || p.Preempted != b.ID || !strings.HasPrefix(ref, "reclaim-") || !strings.Contains(p.Why, "cohort lab") ||
		strings.Contains(p.Why, l.ID) || strings.Contains(p.Why, "t1") {
		t.Errorf("the borrower's preempt record: %+v", p)
	}
	rec := records(l.ID, "reclaim")
	if len(rec) != 1 {
		t.Fatalf("%d reclaim records for the lender", len(rec))
	}
	p = rec[0]
	if p.Run != l.ID || p.Reclaimed != ref || !strings.Contains(p.Why, "cohort lab") || strings.Contains(p.Why, b.ID) || strings.Contains(p.Why, "t2") {
		t.Errorf("the lender's reclaim record: %+v (the borrower's names %s)", p, ref)
	}
}

// lendThenReclaim submits borrower for tenant t2, whose 8 accelerators are
// lent by t1's quota, waits for its first checkpoint, then submits t1's
// lender, which waits for its quota, and waits for the lender to reclaim
// it and succeed. It returns the borrower as submitted and the lender as
// it ended.
func (e *env) lendThenReclaim(borrower Document) (b, l *Run) {
	e.t.Helper()
	ctx := context.Background()
	b, _, err := e.c.Submit(ctx, "t2", SubmitRequest{Documents: []Document{borrower}})
	if err != nil || b.State != Planned || b.Placement.Count != 8 {
		e.t.Fatalf("borrower: %+v %v", b, err)
	}
	e.waitForTenant("t2", "the borrower's checkpoint", 30*time.Second, func(r *Run) bool {
		return (r.State == Running || r.State == Checkpointed) && r.Checkpoint != nil && r.Checkpoint.Name != ""
	}, b.ID)
	l, _, err = e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{pinnedJob("lender", 20, 10)}})
	if err != nil || l.State != Held || l.Hold.Wait != WaitQuota {
		e.t.Fatalf("lender: %+v %v", l, err)
	}
	l = e.waitFor("the reclaim, then the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, l.ID)
	if l.State != Succeeded {
		e.t.Fatalf("lender's run ended %s: %s", l.State, l.Reason)
	}
	return b, l
}
