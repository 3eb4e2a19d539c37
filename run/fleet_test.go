package run

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// fleetQuotas: t1–t3 share a cohort (16 nominal each, at most 8
// borrowed), t4 has 16 of its own, t5 has none (so it may use nothing:
// quotas fail closed).
const fleetQuotas = `apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: t1}
spec:
  cohort: lab
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 16, borrowingLimit: 8}]
---
apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: t2}
spec:
  cohort: lab
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 16, borrowingLimit: 8}]
---
apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: t3}
spec:
  cohort: lab
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 16, borrowingLimit: 8}]
---
apiVersion: meridian.dev/v1alpha1
kind: Quota
metadata: {name: t4}
spec:
  families: [{name: h100, accelerators: [nvidia-h100-sxm], nominal: 16}]
`

// testQuotas reads Quota documents against the built-in accelerators.
func testQuotas(t *testing.T, name, text string) *fleet.Quotas {
	t.Helper()
	w, err := catalog.Assemble(planner.AssumptionKeys(), nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := fleet.ParseQuotas(name, []byte(text), w.Accelerators)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// fleetJob is a job that needs 8 accelerators and whose workload does
// nothing but succeed (the test is about admission, not training).
func fleetJob(name string) Document {
	return Document{Name: "job.yaml", Content: `apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: ` + name + `}
spec:
  organization: lab
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  constraints: {minAccelerators: 8}
  workload:
    command: [/bin/sh, -c, "exit 0"]
`}
}

// heldBy is what the runs hold, per pool and per tenant, worked out from
// each run's state and placement (not from the store's hold columns).
func heldBy(rows []*store.Run) (pools map[string]int, tenants map[string]int, err error) {
	pools, tenants = map[string]int{}, map[string]int{}
	for _, row := range rows {
		var d Data
		if err := json.Unmarshal(row.Data, &d); err != nil {
			return nil, nil, err
		}
		site, pl := "", d.Placement
		switch State(row.State) {
		case Planned, Staging, Queued, Running, Checkpointed:
			site = row.Site
		case Migrating:
			if d.Migration != nil && d.Migration.Drain {
				site = row.Site
			} else if d.Migration != nil && d.Migration.Target != nil {
				site, pl = d.Migration.Target.Site, *d.Migration.Target
			}
		}
		if site == "" {
			continue
		}
		pools[fmt.Sprintf("%s/%d", site, pl.Pool)] += pl.Count
		tenants[row.Tenant] += pl.Count
		// The store's own column agrees.
		if row.Hold.Site != site || row.Hold.Count != pl.Count {
			return nil, nil, fmt.Errorf("run %s (%s): hold column %+v, placement %s × %d", row.ID, row.State, row.Hold, site, pl.Count)
		}
	}
	return pools, tenants, nil
}

// listClock records when each list of the active runs starts: in the
// fleet test that is the controller's loop, one list per pass, and the
// runs committed before it are those its admission pass sees.
type listClock struct {
	store.Store
	mu     sync.Mutex
	starts []time.Time
}

func (l *listClock) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	if o.Active {
		l.mu.Lock()
		l.starts = append(l.starts, time.Now())
		l.mu.Unlock()
	}
	return l.Store.ListRuns(ctx, o)
}

// passOf is the start of the last list before t: that of the pass that
// acted at t.
func (l *listClock) passOf(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.starts, t, time.Time.Compare)
	if i == 0 {
		return time.Time{}
	}
	return l.starts[i-1]
}

// TestFleet200: 200 jobs from 5 tenants against 3 local sites with room
// for 7 at a time, under quotas. Checked from the store every few
// milliseconds throughout: no pool is ever given more than it has, no
// tenant or cohort more than its quota. Every job of a tenant with a quota
// runs to success; the quota-less tenant's all wait, each saying why; a
// tenant's waiting runs are admitted in priority order.
func TestFleet200(t *testing.T) {
	if testing.Short() {
		t.Skip("200 runs")
	}
	quotas := testQuotas(t, "quotas.yaml", fleetQuotas)
	var lists *listClock
	e := newEnv(t, func(c *Config) {
		lists = &listClock{Store: c.Store}
		c.Store = lists
		c.CatalogDir = "testdata/fleet-sites"
		c.Quotas = quotas
		c.Workers = 16
	})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	limits := map[string]int{"fa/0": 16, "fb/0": 16, "fc/0": 24}
	quota := map[string]int{"t1": 24, "t2": 24, "t3": 24, "t4": 16, "t5": 0}
	var mu sync.Mutex
	var violations []string
	checks, peak := 0, 0
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ctx.Err() == nil {
			rows, err := e.st.ListRuns(ctx, store.ListOptions{AllTenants: true})
			if err != nil {
				if ctx.Err() == nil {
					t.Error(err)
				}
				return
			}
			pools, tenants, err := heldBy(rows)
			mu.Lock()
			checks++
			if err != nil {
				violations = append(violations, err.Error())
			}
			total := 0
			for p, n := range pools {
				total += n
				if n > limits[p] {
					violations = append(violations, fmt.Sprintf("pool %s holds %d of %d", p, n, limits[p]))
				}
			}
			peak = max(peak, total)
			for tn, n := range tenants {
				if n > quota[tn] {
					violations = append(violations, fmt.Sprintf("tenant %s holds %d, quota %d", tn, n, quota[tn]))
				}
			}
			if c := tenants["t1"] + tenants["t2"] + tenants["t3"]; c > 48 {
				violations = append(violations, fmt.Sprintf("cohort holds %d of 48", c))
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	type sub struct {
		id, tenant string
		priority   int
		held       bool
		// in: when Submit returned, so that the run was in the store.
		in time.Time
	}
	var subs []sub
	var smu sync.Mutex
	var wg sync.WaitGroup
	for ti := 1; ti <= 5; ti++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := fmt.Sprintf("t%d", ti)
			for i := range 40 {
				prio := (i * 7) % 3
				r, _, err := e.c.Submit(context.Background(), tenant, SubmitRequest{Documents: []Document{fleetJob(fmt.Sprintf("job-%s-%d", tenant, i))}, Priority: prio})
				if err != nil {
					t.Errorf("%s job %d: %v", tenant, i, err)
					return
				}
				in := time.Now()
				smu.Lock()
				subs = append(subs, sub{r.ID, tenant, prio, r.State == Held, in})
				smu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		rows, err := e.st.ListRuns(context.Background(), store.ListOptions{AllTenants: true})
		if err != nil {
			t.Fatal(err)
		}
		done, waiting := 0, 0
		for _, row := range rows {
			switch {
			case State(row.State).Final():
				done++
			case row.Tenant == "t5" && row.State == string(Held):
				waiting++
			}
		}
		if done+waiting == 200 && waiting == 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 4 minutes: %d ended, %d of t5's waiting, of 200", done, waiting)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	<-watched
	mu.Lock()
	t.Logf("%d store checks; at most %d of 56 accelerators held at once", checks, peak)
	if len(violations) > 0 {
		t.Fatalf("%d violations, first: %s", len(violations), violations[0])
	}
	mu.Unlock()
	if peak < 48 {
		t.Errorf("at most %d of 56 held at once: the fleet was not filled", peak)
	}
	q, err := e.c.Queue(context.Background(), "t5")
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 40 {
		t.Errorf("t5's queue holds %d, want 40", len(q))
	}
	for i, x := range q {
		if x.Wait != WaitQuota || !strings.Contains(x.Reason, "quota of tenant t5") || x.Position != i+1 || x.Tenant != "t5" {
			t.Errorf("t5's %s (position %d) waits for %q: %s", x.Run, x.Position, x.Wait, x.Reason)
			break
		}
	}
	if q1, err := e.c.Queue(context.Background(), "t1"); err != nil || len(q1) != 0 {
		t.Errorf("t1's queue: %d entries, %v", len(q1), err)
	}
	// Every job of t1–t4 succeeded; those that waited were admitted in
	// priority order within their tenant.
	released := map[string]time.Time{}
	for _, s := range subs {
		if s.tenant == "t5" {
			continue
		}
		r, err := e.c.Get(context.Background(), s.tenant, s.id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != Succeeded {
			t.Errorf("%s's run %s ended %s: %s", s.tenant, r.ID, r.State, r.Reason)
		}
		evs, err := e.c.Events(context.Background(), s.tenant, s.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Kind == "released" {
				released[s.id] = ev.Time
				if !strings.Contains(ev.Reason, "admitted after waiting") {
					t.Errorf("release of %s: %s", s.id, ev.Reason)
				}
			}
		}
		if s.held && released[s.id].IsZero() {
			t.Errorf("%s's run %s waited but was never released", s.tenant, s.id)
		}
	}
	for ti := 1; ti <= 4; ti++ {
		var held []sub
		for _, s := range subs {
			if s.tenant == fmt.Sprintf("t%d", ti) && s.held {
				held = append(held, s)
			}
		}
		// A run admitted before another of higher priority is out of
		// order only if the other was already waiting when the pass that
		// admitted it began: submissions go on while the first runs end
		// and others are admitted.
		slices.SortFunc(held, func(a, b sub) int { return released[a.id].Compare(released[b.id]) })
		for i, early := range held {
			pass := lists.passOf(released[early.id])
			for _, late := range held[i+1:] {
				if late.priority > early.priority && late.in.Before(pass) {
					t.Errorf("t%d: run %s (priority %d, in the store by %s) admitted after %s (priority %d, admitted %s by the pass that began %s)", ti,
						late.id, late.priority, late.in.Format(time.StampMicro), early.id, early.priority,
						released[early.id].Format(time.StampMicro), pass.Format(time.StampMicro))
				}
			}
		}
	}
}
