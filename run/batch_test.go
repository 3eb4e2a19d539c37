package run

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// batchEnv is a controller over the two batch sites (ca: $1/h, cb: $3/h,
// room for one run of 8 each) whose loop does not run: the test calls the
// admission loop itself, so that every run waiting is in one pass.
type batchEnv struct {
	t  testing.TB
	c  *Controller
	st store.Store
}

func newBatchEnv(t *testing.T) *batchEnv { return newBatchEnvAt(t, "testdata/batch-sites") }

func newBatchEnvAt(t testing.TB, catalogDir string) *batchEnv {
	t.Helper()
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: catalogDir, Workers: 2,
		Plan: func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
			return planner.Make(w, job, planner.Options{AsOf: asOf, ExcludeSites: exclude})
		},
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		},
		ServerURL: "http://127.0.0.1:1", AgentKey: []byte("agent key for the batch tests")})
	return &batchEnv{t: t, c: c, st: st}
}

// batchJob is a job of 8 accelerators (no more, no fewer) and tokens
// tokens (the cost grows with them), at the sites allowed (all: none
// given).
func batchJob(name string, tokens float64, sites ...string) Document {
	allow := ""
	if len(sites) > 0 {
		allow = ", sites: {allow: [" + strings.Join(sites, ", ") + "]}"
	}
	return Document{Name: "job.yaml", Content: fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: %s}
spec:
  organization: lab
  model: {parameters: 1.0e9}
  method: pretrain
  tokens: %g
  constraints: {minAccelerators: 8, maxAccelerators: 8%s}
  workload:
    command: [/bin/sh, -c, "exit 0"]
`, name, tokens, allow)}
}

// submit submits a job for tenant; want is the state it must be in.
func (e *batchEnv) submit(tenant string, doc Document, priority int, want State) *Run {
	e.t.Helper()
	r, _, err := e.c.Submit(context.Background(), tenant, SubmitRequest{Documents: []Document{doc}, Priority: priority})
	if err != nil {
		e.t.Fatal(err)
	}
	if r.State != want {
		e.t.Fatalf("%s's %s: %s (%s), want %s", tenant, r.Job, r.State, r.Reason, want)
	}
	return r
}

// end ends run id (its hold with it), as a finished attempt would.
func (e *batchEnv) end(id string) {
	e.t.Helper()
	if _, err := e.c.update(context.Background(), id, func(r *Run, ch *store.Change) error {
		r.Migration, r.Hold = nil, nil
		return transition(ch, r, Succeeded, "test: done")
	}); err != nil {
		e.t.Fatal(err)
	}
}

// admit runs one pass of the admission loop.
func (e *batchEnv) admit() admitStats {
	e.t.Helper()
	rows, err := e.st.ListRuns(context.Background(), store.ListOptions{Active: true, Final: FinalStates, AllTenants: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.c.admit(context.Background(), rows)
}

// get reads run id from the store.
func (e *batchEnv) get(id string) *Run {
	e.t.Helper()
	row, err := e.st.GetRun(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := fromRow(row)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// target is where an admitted run goes (it fails the test for a run that
// was not admitted).
func (e *batchEnv) target(id string) planner.Placement {
	e.t.Helper()
	r := e.get(id)
	if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil {
		e.t.Fatalf("run %s (%s) was not admitted: %s; %s", id, r.Job, r.State, r.Reason)
	}
	return *r.Migration.Target
}

// costAt is what job doc costs at site, as the planner prices it alone.
func (e *batchEnv) costAt(doc Document, site string) float64 {
	e.t.Helper()
	docs, err := catalog.Decode("job.yaml", []byte(doc.Content))
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := catalog.Assemble(planner.AssumptionKeys(), e.c.mustCatalog(e.t), docs)
	if err != nil {
		e.t.Fatal(err)
	}
	var job *catalog.TrainingJob
	for _, j := range w.Jobs {
		job = j
	}
	plan, err := planner.Make(w, job, planner.Options{AsOf: e.c.today()})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, pl := range plan.Placements {
		if pl.Site == site {
			return pl.CostUSD
		}
	}
	e.t.Fatalf("%s has no placement at %s", job.Metadata.Name, site)
	return 0
}

func (c *Controller) mustCatalog(t testing.TB) *catalog.Set {
	t.Helper()
	cs, err := c.catalog()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// fillBoth places one run at each site (tenant t0), so that what is
// submitted next waits.
func (e *batchEnv) fillBoth() (ca, cb string) {
	return e.submit("t0", batchJob("hold-ca", 1e9, "ca"), 0, Planned).ID, e.submit("t0", batchJob("hold-cb", 1e9, "cb"), 0, Planned).ID
}

// TestBatchAdmissionCheaper: two runs wait, both lawful at both sites; the
// first in the admission order is short, the second long. Admitted one at
// a time, the first would take the cheap site (its best) and the long one
// the dear site; the batch gives the cheap site to the long run, and the
// total is strictly lower.
func TestBatchAdmissionCheaper(t *testing.T) {
	e := newBatchEnv(t)
	holdA, holdB := e.fillBoth()
	short, long := batchJob("short", 1e9), batchJob("long", 2e10)
	first := e.submit("t1", short, 0, Held)
	second := e.submit("t2", long, 0, Held)
	if first.Hold.Wait != WaitCapacity || len(first.Hold.Wants) != 2 {
		t.Fatalf("first waits %+v", first.Hold)
	}
	e.end(holdA)
	e.end(holdB)
	st := e.admit()
	if st.Admitted != 2 || st.Batches != 1 {
		t.Fatalf("admission pass: %+v", st)
	}
	a, b := e.target(first.ID), e.target(second.ID)
	oneAtATime := e.costAt(short, "ca") + e.costAt(long, "cb")
	batched := e.costAt(short, "cb") + e.costAt(long, "ca")
	if !(batched < oneAtATime) {
		t.Fatalf("the test's premise: batched $%.2f, one at a time $%.2f", batched, oneAtATime)
	}
	if a.Site != "cb" || b.Site != "ca" {
		t.Fatalf("short went to %s, long to %s: want cb and ca ($%.2f against $%.2f one at a time)", a.Site, b.Site, batched, oneAtATime)
	}
	if got := a.CostUSD + b.CostUSD; got > batched+1e-6 {
		t.Errorf("admitted at $%.2f, want $%.2f", got, batched)
	}
	// The release says why the short run did not get its best place.
	evs, err := e.c.Events(context.Background(), "t1", first.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		if ev.Kind == "released" {
			found = true
			// The batch holds t2's run too: t1 learns neither how many
			// runs were admitted beside its own nor what they cost.
			if !strings.Contains(ev.Reason, "fleet assignment of the waiting runs") || !strings.Contains(ev.Reason, "one at a time") ||
				strings.Contains(ev.Reason, "2 waiting") || strings.Contains(ev.Reason, fmt.Sprintf("%.2f", batched)) || strings.Contains(ev.Reason, fmt.Sprintf("%.2f", oneAtATime)) {
				t.Errorf("release: %s", ev.Reason)
			}
		}
	}
	if !found {
		t.Error("no released event")
	}
}

// TestBatchAdmissionPlacesMore: the first run in the admission order may
// go to either site, the second only to the cheap one. One at a time, the
// first takes the cheap site and the second waits; the batch places both.
func TestBatchAdmissionPlacesMore(t *testing.T) {
	e := newBatchEnv(t)
	holdA, holdB := e.fillBoth()
	first := e.submit("t1", batchJob("anywhere", 1e9), 0, Held)
	second := e.submit("t1", batchJob("pinned", 1e9, "ca"), 0, Held)
	e.end(holdA)
	e.end(holdB)
	if st := e.admit(); st.Admitted != 2 {
		t.Fatalf("admission pass: %+v", st)
	}
	if a, b := e.target(first.ID), e.target(second.ID); a.Site != "cb" || b.Site != "ca" {
		t.Fatalf("first went to %s, second to %s: want cb and ca", a.Site, b.Site)
	}
}

// TestBatchAdmissionPriority: a tenant's cheap run of priority 0 waits
// ahead (older) of its dear run of priority 5; there is room for one. A
// least-cost assignment would admit the cheap one; the higher priority
// goes first, and the other keeps waiting, saying why.
func TestBatchAdmissionPriority(t *testing.T) {
	e := newBatchEnv(t)
	holdA, _ := e.fillBoth()
	cheap, dear := batchJob("cheap", 1e9), batchJob("dear", 2e10)
	low := e.submit("t1", cheap, 0, Held)
	high := e.submit("t1", dear, 5, Held)
	if e.costAt(cheap, "ca") >= e.costAt(dear, "ca") {
		t.Fatal("the test's premise: the low-priority run is the cheaper")
	}
	e.end(holdA)
	if st := e.admit(); st.Admitted != 1 {
		t.Fatalf("admission pass: %+v", st)
	}
	if pl := e.target(high.ID); pl.Site != "ca" {
		t.Fatalf("high went to %s", pl.Site)
	}
	if r := e.get(low.ID); r.State != Held || r.Hold == nil || r.Hold.Wait != WaitCapacity {
		t.Fatalf("low: %s, hold %+v", r.State, r.Hold)
	}
}

// TestBatchAdmissionWaitBehind: three sites with room for one run each
// (ca $1/h, cc $2/h, cb $3/h). Of tenant t1's waiting runs, the first
// (priority 5) may use only ca, the second (priority 5) any site, the
// third (priority 5) only ca, the last (priority 0) any site. The first
// takes ca and the second cc; no arrangement places the third (it waits,
// saying that the runs ahead of it took the room), and the last takes cb,
// which the third may not use.
func TestBatchAdmissionWaitBehind(t *testing.T) {
	e := newBatchEnvAt(t, "testdata/batch-sites-3")
	var holders []string
	for _, s := range []string{"ca", "cb", "cc"} {
		holders = append(holders, e.submit("t0", batchJob("hold-"+s, 1e9, s), 0, Planned).ID)
	}
	pinned := e.submit("t1", batchJob("pinned", 1e9, "ca"), 5, Held)
	anywhere := e.submit("t1", batchJob("anywhere", 1e9), 5, Held)
	behind := e.submit("t1", batchJob("behind", 1e9, "ca"), 5, Held)
	low := e.submit("t1", batchJob("low", 1e9), 0, Held)
	for _, id := range holders {
		e.end(id)
	}
	if st := e.admit(); st.Admitted != 3 || st.Tried != 4 {
		t.Fatalf("admission pass: %+v", st)
	}
	for id, want := range map[string]string{pinned.ID: "ca", anywhere.ID: "cc", low.ID: "cb"} {
		if pl := e.target(id); pl.Site != want {
			t.Errorf("%s went to %s, want %s", e.get(id).Job, pl.Site, want)
		}
	}
	r := e.get(behind.ID)
	if r.State != Held || r.Hold == nil || r.Hold.Wait != WaitCapacity || !strings.Contains(r.Hold.Reason, "ahead of it in the admission order") {
		t.Fatalf("behind: %s, hold %+v", r.State, r.Hold)
	}
	// It waits for ca, with no room for it now: freeing ca tries it again.
	if len(r.Hold.Wants) != 1 || r.Hold.Wants[0].Site != "ca" || r.Hold.Wants[0].Free != 0 {
		t.Fatalf("behind waits for %+v", r.Hold.Wants)
	}
	e.end(pinned.ID)
	if st := e.admit(); st.Admitted != 1 {
		t.Fatalf("second pass: %+v", st)
	}
	if pl := e.target(behind.ID); pl.Site != "ca" {
		t.Fatalf("behind went to %s", pl.Site)
	}
}

// TestBatchAdmissionFairShare: tenant ty holds a run at cb; tenant tx holds
// nothing. ty's cheap run has waited longer than tx's dear one, and there
// is room for one at ca. A least-cost assignment would admit ty's; fair
// share puts tx, under its share, first.
func TestBatchAdmissionFairShare(t *testing.T) {
	e := newBatchEnv(t)
	holdA := e.submit("t0", batchJob("hold-ca", 1e9, "ca"), 0, Planned).ID
	e.submit("ty", batchJob("ty-running", 1e9, "cb"), 0, Planned)
	cheap, dear := batchJob("ty-cheap", 1e9), batchJob("tx-dear", 2e10)
	ty := e.submit("ty", cheap, 0, Held)
	tx := e.submit("tx", dear, 0, Held)
	if e.costAt(cheap, "ca") >= e.costAt(dear, "ca") {
		t.Fatal("the test's premise: ty's run is the cheaper")
	}
	e.end(holdA)
	if st := e.admit(); st.Admitted != 1 {
		t.Fatalf("admission pass: %+v", st)
	}
	if pl := e.target(tx.ID); pl.Site != "ca" {
		t.Fatalf("tx's run went to %s", pl.Site)
	}
	if r := e.get(ty.ID); r.State != Held || r.Hold == nil || r.Hold.Wait != WaitCapacity {
		t.Fatalf("ty's run: %s, hold %+v", r.State, r.Hold)
	}
}

// TestBatchRandom: random batches of waiting runs (4 or 8 accelerators,
// lawful at a random subset of three pools of 8, at random prices), grown
// in order as the admission loop grows them. Each time: the batch's
// arrangement fits the pools; every run left out cannot be placed with the
// runs let in ahead of it, however those are arranged (checked by exact
// search); and the settled batch costs no more than admitting its runs one
// at a time would, and, of two runs or more, no more than its least-cost
// arrangement (exact search).
func TestBatchRandom(t *testing.T) {
	e := newBatchEnvAt(t, "testdata/batch-sites-3")
	base, err := e.c.capacityWorld()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	sites := []string{"ca", "cb", "cc"}
	for round := range 300 {
		b := e.c.newBatch(base, &usage{pool: map[poolKey]int{}, tenant: map[string]map[string]int{}})
		var order []*entrant
		n := 2 + rng.IntN(6)
		for i := range n {
			count := 4 * (1 + rng.IntN(2))
			en := &entrant{r: &Run{ID: fmt.Sprintf("r%d", i), Tenant: "t1"}, byCost: true}
			for _, s := range sites {
				if rng.IntN(3) > 0 {
					en.opts = append(en.opts, planner.Placement{Site: s, Pool: 0, Accelerator: "nvidia-h100-sxm", Count: count, CostUSD: float64(1 + rng.IntN(20))})
					en.ranks = append(en.ranks, len(en.opts))
				}
			}
			if len(en.opts) == 0 {
				continue
			}
			order = append(order, en)
			ahead := append([]*entrant(nil), b.in...)
			in, err := b.add(en)
			if err != nil {
				t.Fatal(err)
			}
			if in {
				continue
			}
			b.out = append(b.out, en)
			// Exact search: no arrangement places en with the runs ahead.
			probe := e.c.newBatch(base, b.u)
			probe.in = ahead
			p := probe.problem(en)
			sol, err := fleet.Exact(p)
			if err != nil {
				t.Fatal(err)
			}
			if sol.Waiting == 0 {
				t.Fatalf("round %d: run %s left out, but an arrangement places it with the %d ahead", round, en.r.ID, len(ahead))
			}
		}
		if len(b.in) == 0 {
			continue
		}
		seq, seqWaiting := b.oneAtATime()
		if _, err := b.settle(); err != nil {
			t.Fatal(err)
		}
		used := map[string]int{}
		for i, en := range b.in {
			used[en.opts[b.pick[i]].Site] += en.opts[b.pick[i]].Count
		}
		for s, n := range used {
			if n > 8 {
				t.Fatalf("round %d: %d placed at %s, room for 8", round, n, s)
			}
		}
		if seqWaiting == 0 && b.cost(b.pick) > b.cost(seq)+1e-9 {
			t.Fatalf("round %d: batch costs %.2f, one at a time %.2f", round, b.cost(b.pick), b.cost(seq))
		}
		best, err := fleet.Exact(b.problem(nil))
		if err != nil {
			t.Fatal(err)
		}
		// (A batch of one takes its best-ranked place, as a lone run does.)
		if best.Waiting != 0 || len(b.in) > 1 && b.cost(b.pick) > best.Cost+1e-9 {
			t.Fatalf("round %d: batch costs %.2f, the least-cost arrangement %.2f (%d waiting)", round, b.cost(b.pick), best.Cost, best.Waiting)
		}
	}
}

// TestBatchAdmissionKeepsTimeRanks: as TestBatchAdmissionCheaper, but the
// short job ranks its placements by time. Moving it to the dear site would
// save cost, but give it a worse-ranked place than it would take alone:
// the batch keeps what one at a time gives.
func TestBatchAdmissionKeepsTimeRanks(t *testing.T) {
	e := newBatchEnv(t)
	holdA, holdB := e.fillBoth()
	short := batchJob("short", 1e9)
	short.Content = strings.Replace(short.Content, "  method: pretrain\n", "  method: pretrain\n  objective: time\n", 1)
	first := e.submit("t1", short, 0, Held)
	second := e.submit("t2", batchJob("long", 2e10), 0, Held)
	e.end(holdA)
	e.end(holdB)
	if st := e.admit(); st.Admitted != 2 {
		t.Fatalf("admission pass: %+v", st)
	}
	a, b := e.target(first.ID), e.target(second.ID)
	if a.Site != "ca" || a.Rank != 1 || b.Site != "cb" {
		t.Fatalf("short went to %s (rank %d), long to %s: want ca (rank 1) and cb", a.Site, a.Rank, b.Site)
	}
}
