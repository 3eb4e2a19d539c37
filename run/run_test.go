package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/procbackend"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/internal/toytrainer"
	"meridian.dev/meridian/store"
)

// The test binary doubles as the workload: with MERIDIAN_TEST_TRAINER set
// it runs the toy trainer instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("MERIDIAN_TEST_TRAINER") == "1" {
		os.Exit(toytrainer.Main(os.Args[1:], os.Stdout))
	}
	os.Exit(m.Run())
}

type env struct {
	t     *testing.T
	st    *store.SQLite
	c     *Controller
	dir   string
	procs map[string]*procbackend.Backend
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, dir: dir, procs: map[string]*procbackend.Backend{}}
	cfg := Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest, Poll: 20 * time.Millisecond,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			b := procbackend.New(root)
			e.procs[site.Metadata.Name] = b
			return b, nil
		}}
	if mod != nil {
		mod(&cfg)
	}
	e.c = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func jobDoc(steps, every int) Document {
	exe, _ := os.Executable()
	return Document{Name: "job.yaml", Content: fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: lab}
spec: {headquarters: SG}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: tiny}
spec:
  organization: lab
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload:
    command: [%q, -steps, "%d", -every, "%d", -step-ms, "15"]
    env: {MERIDIAN_TEST_TRAINER: "1"}
`, exe, steps, every)}
}

// waitFor polls cond until it holds or the timeout passes.
func (e *env) waitFor(what string, timeout time.Duration, cond func(*Run) bool, id string) *Run {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var r *Run
	for time.Now().Before(deadline) {
		var err error
		r, err = e.c.Get(context.Background(), "t1", id)
		if err != nil {
			e.t.Fatal(err)
		}
		if cond(r) {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s; run is %s (%s)", what, r.State, r.Reason)
	return nil
}

func kinds(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		k := e.Kind
		if e.Kind == "state" {
			k = "state:" + e.To
		}
		out = append(out, k)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, created, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(30, 10)}, AsOf: "2026-01-15"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if r.Site != "alpha" || r.State != Planned {
		t.Fatalf("planned %s at %s", r.State, r.Site)
	}
	r = e.waitFor("success", 20*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded {
		t.Fatalf("state %s: %s", r.State, r.Reason)
	}
	if r.Checkpoint == nil || r.Checkpoint.Step != 30 {
		t.Errorf("checkpoint %+v, want step 30", r.Checkpoint)
	}
	if r.Progress == nil || r.Progress.Step != 30 {
		t.Errorf("progress %+v, want step 30", r.Progress)
	}
	evs, err := e.c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(evs)
	for _, want := range []string{"created", "state:staging", "state:queued", "state:checkpointed", "state:succeeded"} {
		if !contains(got, want) {
			t.Errorf("timeline %v lacks %s", got, want)
		}
	}
	if n := e.procs["alpha"].Started(r.ID); n != 1 {
		t.Errorf("started %d times, want 1", n)
	}
	res, err := e.st.VerifyAudit(ctx)
	if err != nil || !res.OK {
		t.Fatalf("audit %+v %v", res, err)
	}
	es, _ := e.st.AuditEntries(ctx, r.ID)
	var ak []string
	for _, a := range es {
		ak = append(ak, a.Kind)
	}
	if ak[0] != audit.KindPlan || ak[1] != audit.KindDecision {
		t.Errorf("audit starts %v, want plan, decision", ak)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestMigrationOnSiteLoss(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(60, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("a checkpoint", 20*time.Second, func(r *Run) bool { return r.Checkpoint != nil && r.Checkpoint.Step >= 20 }, r.ID)
	// The site is lost: the marker makes the backend kill the job and report Lost.
	if err := os.WriteFile(filepath.Join(e.dir, "sites", "alpha", procbackend.LostFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		t.Fatalf("ended %s at %s attempt %d: %s", r.State, r.Site, r.Attempt, r.Reason)
	}
	if diff := cmp.Diff([]string{"alpha"}, r.Excluded); diff != "" {
		t.Errorf("excluded: %s", diff)
	}
	if r.RecoveredIn <= 0 || r.RecoveredIn.D() > 10*time.Second {
		t.Errorf("recovered in %s, want (0, 10s]", r.RecoveredIn.D())
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	got := kinds(evs)
	for _, want := range []string{"site-lost", "state:migrating", "replanned", "checkpoint-moved", "recovered", "state:succeeded"} {
		if !contains(got, want) {
			t.Errorf("timeline %v lacks %s", got, want)
		}
	}
	// The second attempt resumed from the moved checkpoint, so at most one
	// checkpoint interval (10 steps) of work was lost.
	logs, err := e.c.Logs(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lastStep1, resumed int64 = -1, -1
	part := strings.SplitN(string(logs), "=== attempt 2", 2)
	for _, l := range strings.Split(part[0], "\n") {
		if p, ok := ParseProgress(l); ok {
			lastStep1 = p.Step
		}
	}
	if len(part) == 2 {
		fmt.Sscanf(part[1][strings.Index(part[1], "resumed from"):], "resumed from %s at step %d", new(string), &resumed)
	}
	if resumed < 0 || lastStep1-resumed > 10 {
		t.Errorf("attempt 1 reached step %d, attempt 2 resumed at %d; want at most 10 steps lost\n%s", lastStep1, resumed, logs)
	}
	if n := e.procs["bravo"].Started(r.ID); n != 1 {
		t.Errorf("bravo started the run %d times", n)
	}
	es, _ := e.st.AuditEntries(ctx, r.ID)
	moves := 0
	for _, a := range es {
		if a.Kind == audit.KindCheckpoint {
			moves++
			if !strings.Contains(string(a.Payload), `"toSite":"bravo"`) || !strings.Contains(string(a.Payload), "lawfulBy") {
				t.Errorf("checkpoint move entry %s", a.Payload)
			}
		}
	}
	if moves != 1 {
		t.Errorf("%d checkpoint-move audit entries, want 1", moves)
	}
	if _, err := toytrainer.Verify(r.Checkpoint.Path); err != nil {
		t.Error(err)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("running", 20*time.Second, func(r *Run) bool { return r.State == Running }, r.ID)
	if _, err := e.c.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("cancelled", 20*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Cancelled {
		t.Fatalf("state %s", r.State)
	}
	st, err := e.procs["alpha"].Status(ctx, r.Handle)
	if err != nil || st.State != backend.Cancelled {
		t.Errorf("backend says %+v %v", st, err)
	}
	if _, err := e.c.Cancel(ctx, "t2", r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant cancelled: %v", err)
	}
}

// failing answers every call with an error, like a site that is down.
type failing struct{ backend.Backend }

func (failing) Status(context.Context, string) (backend.Status, error) {
	return backend.Status{}, errors.New("connection refused")
}

func TestUnreachableSiteIsLost(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.SiteTimeout = 300 * time.Millisecond
		inner := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if site.Metadata.Name == "alpha" {
				return failing{b}, err
			}
			return b, err
		}
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(20, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" {
		t.Fatalf("%s at %s: %s", r.State, r.Site, r.Reason)
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	found := false
	for _, ev := range evs {
		if ev.Kind == "site-lost" && strings.Contains(ev.Reason, "unreachable") {
			found = true
		}
	}
	if !found {
		t.Errorf("no site-lost event naming unreachability: %v", kinds(evs))
	}
}

func TestSubmitBadInput(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	good := jobDoc(10, 5)
	tests := []struct {
		name  string
		req   SubmitRequest
		field string
	}{
		{"no documents", SubmitRequest{}, "documents"},
		{"bad yaml", SubmitRequest{Documents: []Document{{Name: "x.yaml", Content: "kind: [unclosed"}}}, "documents"},
		{"unknown field", SubmitRequest{Documents: []Document{{Name: "x.yaml", Content: strings.Replace(good.Content, "method: pretrain", "method: pretrain\n  colour: red", 1)}}}, "documents"},
		{"no job", SubmitRequest{Documents: []Document{{Name: "x.yaml", Content: strings.SplitN(good.Content, "---", 2)[0]}}}, "job"},
		{"unknown job", SubmitRequest{Documents: []Document{good}, Job: "nope"}, "job"},
		{"bad date", SubmitRequest{Documents: []Document{good}, AsOf: "2026-13-45"}, "asOf"},
		{"rank too high", SubmitRequest{Documents: []Document{good}, Placement: 9}, "placement"},
		{"negative rank", SubmitRequest{Documents: []Document{good}, Placement: -1}, "placement"},
		{"no command", SubmitRequest{Documents: []Document{{Name: "x.yaml", Content: strings.SplitN(good.Content, "  workload:", 2)[0]}}}, "spec.workload.command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.c.Submit(ctx, "t1", tc.req)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("got %v, want an input error on %s", err, tc.field)
			}
		})
	}
	runs, _ := e.st.ListRuns(ctx, store.ListOptions{})
	entries, _ := e.st.AuditEntries(ctx, "")
	if len(runs) != 0 || len(entries) != 0 {
		t.Errorf("bad input wrote %d runs and %d audit entries", len(runs), len(entries))
	}
}

func TestIdempotentSubmitAndTenants(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	req := SubmitRequest{Documents: []Document{jobDoc(5, 5)}, IdempotencyKey: "k-1", Placement: 2}
	a, created, err := e.c.Submit(ctx, "t1", req)
	if err != nil || !created {
		t.Fatal(err)
	}
	if a.Site != "bravo" || a.Rank != 2 {
		t.Errorf("--placement 2 gave %s rank %d", a.Site, a.Rank)
	}
	b, created, err := e.c.Submit(ctx, "t1", req)
	if err != nil || created || b.ID != a.ID {
		t.Fatalf("retry made a new run: %v %v %v", b.ID, created, err)
	}
	if _, err := e.c.Get(ctx, "t2", a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant t2 sees t1's run: %v", err)
	}
	if l, _ := e.c.List(ctx, "t2"); len(l) != 0 {
		t.Errorf("tenant t2 lists %d runs", len(l))
	}
	if l, _ := e.c.List(ctx, "t1"); len(l) != 1 {
		t.Errorf("tenant t1 lists %d runs", len(l))
	}
}

func TestParseProgress(t *testing.T) {
	tests := []struct {
		line string
		want Progress
		ok   bool
	}{
		{"step=12 loss=2.5 tokens_per_s=1000", Progress{12, 2.5, 1000}, true},
		{"[rank0] tokens_per_s=3e4 step=7 loss=0.125 lr=1e-4", Progress{7, 0.125, 30000}, true},
		{"loss=1.0", Progress{}, false},
		{"epoch 3 done", Progress{}, false},
		{"step=-3 loss=1", Progress{}, false},
		{"step=99999999999999999999999", Progress{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			got, ok := ParseProgress(tc.line)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseProgress(f *testing.F) {
	f.Add("step=1 loss=2 tokens_per_s=3")
	f.Add("step=1e9 loss=NaN")
	f.Fuzz(func(t *testing.T, line string) {
		p, ok := ParseProgress(line)
		if ok && p.Step < 0 {
			t.Fatalf("negative step from %q", line)
		}
	})
}

// BenchmarkRecovery measures the time from a site's loss to the run running
// at another site (re-plan, checkpoint move, resubmit), on local processes.
// The controller polls every 20ms, which bounds detection.
func BenchmarkRecovery(b *testing.B) {
	dir := b.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest, Poll: 20 * time.Millisecond,
		Backends: func(_ *catalog.Site, root string) (backend.Backend, error) { return procbackend.New(root), nil }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	lost := filepath.Join(dir, "sites", "alpha", procbackend.LostFile)
	wait := func(id string, cond func(*Run) bool) *Run {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			r, err := c.Get(ctx, "t1", id)
			if err != nil {
				b.Fatal(err)
			}
			if cond(r) {
				return r
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.Fatalf("timed out on run %s", id)
		return nil
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		os.Remove(lost)
		r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 5)}})
		if err != nil {
			b.Fatal(err)
		}
		wait(r.ID, func(r *Run) bool { return r.Checkpoint != nil })
		b.StartTimer()
		lostAt := time.Now()
		os.WriteFile(lost, nil, 0o644)
		wait(r.ID, func(r *Run) bool { return r.Site == "bravo" && (r.State == Running || r.State == Checkpointed) })
		total += time.Since(lostAt)
		b.StopTimer()
		c.Cancel(ctx, "t1", r.ID)
		wait(r.ID, func(r *Run) bool { return r.State.Final() })
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/recovery")
}
