package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	_ "meridian.dev/meridian/backend/slurm" // registers "slurm" for the Slurm benchmark
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/examples/trainer/charlm"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// corpus is the example trainer's data, written once per test binary.
var corpus string

// The test binary doubles as the site agent (first argument "__agent") and
// as the workload: with TEST_TRAINER set it runs the example trainer.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "__agent" {
		os.Exit(agent.MainAs("__agent", os.Args[2:]))
	}
	if os.Getenv("TEST_TRAINER") == "1" {
		os.Exit(charlm.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(standInAgent())
	}
	dir, err := os.MkdirTemp("", "meridian-corpus-")
	if err != nil {
		panic(err)
	}
	if err := charlm.WriteCorpus(dir); err != nil {
		panic(err)
	}
	// Workloads run as another user (or under Landlock with the corpus as a
	// read-only path): let them read it.
	os.Chmod(dir, 0o755)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chmod(p, 0o644)
		}
		return nil
	})
	corpus = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// traversable lets other users pass through dir and its parent (the test's
// temporary directories are 0700), as a real state directory allows.
func traversable(t testing.TB, dir string) {
	t.Helper()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

// agentConfig fills what a controller needs to start agents: the agent API
// served on loopback, this test binary as the agent, and the corpus as a
// path workloads may read.
func agentConfig(t testing.TB, cfg *Config, serve func() *Controller) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve().AgentHandler().ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	cfg.ServerURL = ts.URL
	cfg.AgentKey = []byte("agent key for the tests 01234567")
	cfg.AgentCommand = func(*catalog.Site) []string { return []string{exe, "__agent"} }
	cfg.Heartbeat = 200 * time.Millisecond
	cfg.Sandbox.ReadOnly = append(cfg.Sandbox.ReadOnly, corpus)
	if m := os.Getenv("MERIDIAN_TEST_SANDBOX"); m != "" {
		cfg.Sandbox.Mode = m
	}
}

// failSite simulates the loss of a test site.
func (e *env) failSite(name string) {
	e.t.Helper()
	b, err := local.New(catalog.BackendSpec{}, filepath.Join(e.dir, "sites", name))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := b.FailSite(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// found reports whether the site's backend holds a launched job for the attempt.
func (e *env) found(site, id string, attempt int) bool {
	e.t.Helper()
	b, err := local.New(catalog.BackendSpec{}, filepath.Join(e.dir, "sites", site))
	if err != nil {
		e.t.Fatal(err)
	}
	_, ok, err := b.Find(context.Background(), id, attempt)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

type env struct {
	t   testing.TB
	st  *store.SQLite
	c   *Controller
	dir string
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	st, dir := testStore(t)
	traversable(t, dir)
	e := &env{t: t, st: st, dir: dir}
	cfg := Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest, Poll: 20 * time.Millisecond,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}}
	agentConfig(t, &cfg, func() *Controller { return e.c })
	cfg.Stager = &transfer.Stager{Law: transfer.BasisLaw{}, Keys: dataset.TenantKeyrings{Root: dir}, Ledger: transfer.AuditLedger{Store: st}}
	if mod != nil {
		mod(&cfg)
	}
	e.c = New(cfg)
	// Registered before the loop's stop, so run after it, and after the
	// agent API's server, so run before it closes: no job a test started
	// outlives it (one at a site the test made unreachable is never
	// cancelled by the loop, and would run on after its directory is
	// gone). testStore's own runs after, and finds them ended.
	t.Cleanup(func() { endLocalJobs(t, dir) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// killLocalJobs kills the local jobs under dir's sites at once, for a
// test that goes on without them, and waits, a little, for their
// wrappers to be gone (at a test's end, endLocalJobs ends them and waits
// until they have). A killed job may still be writing its directory for
// a moment, and its wrapper writes the job's end after it, and a job
// launched just before this has no pid file yet. So the pids are read
// again and killed until no wrapper holds its job's run.lock.
func killLocalJobs(dir string) {
	jobs := filepath.Join(dir, "sites", "*", "jobs", "*")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pids, _ := filepath.Glob(filepath.Join(jobs, "pid"))
		for _, p := range pids {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
		locks, _ := filepath.Glob(filepath.Join(jobs, "run.lock"))
		if !slices.ContainsFunc(locks, lockTaken) {
			return
		}
	}
}

// lockTaken reports whether a process holds a lock on the file at path,
// a regular file (openRegular: a FIFO a workload planted there blocked
// the open for good).
func lockTaken(path string) bool {
	f, err := openRegular(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
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
    command: [%q, -data, %q, -checkpoints, "$(MERIDIAN_CHECKPOINT_DIR)", -steps, "%d", -checkpoint-every, "%d", -step-delay, 15ms, -log-every, "1"]
    env: {TEST_TRAINER: "1"}
`, exe, corpus, steps, every)}
}

// waitFor polls cond on tenant t1's run until it holds or the timeout passes.
func (e *env) waitFor(what string, timeout time.Duration, cond func(*Run) bool, id string) *Run {
	e.t.Helper()
	return e.waitForTenant("t1", what, timeout, cond, id)
}

// waitForTenant is waitFor for a run of tenant.
func (e *env) waitForTenant(tenant, what string, timeout time.Duration, cond func(*Run) bool, id string) *Run {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var r *Run
	for time.Now().Before(deadline) {
		var err error
		r, err = e.c.Get(context.Background(), tenant, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if cond(r) {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	var story []string
	if evs, err := e.c.Events(context.Background(), tenant, id); err == nil {
		for _, ev := range evs {
			story = append(story, fmt.Sprintf("%s %s→%s %s", ev.Kind, ev.From, ev.To, ev.Reason))
		}
	}
	e.t.Fatalf("timed out waiting for %s; run is %s (%s); its timeline:\n%s", what, r.State, r.Reason, strings.Join(story, "\n"))
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
	r, created, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(30, 10)}})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if r.Site != "alpha" || r.State != Planned {
		t.Fatalf("planned %s at %s", r.State, r.Site)
	}
	r = e.waitFor("success", 20*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded {
		logs, _ := e.c.Logs(ctx, "t1", r.ID)
		t.Fatalf("state %s: %s\n%s", r.State, r.Reason, logs)
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
	if !e.found("alpha", r.ID, 1) || e.found("alpha", r.ID, 2) {
		t.Errorf("want exactly attempt 1 launched at alpha")
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
	// The request's organisation was registered to the tenant, then planned.
	if len(ak) < 3 || ak[0] != KindRegister || ak[1] != audit.KindPlan || ak[2] != audit.KindDecision {
		t.Errorf("audit starts %v, want register, plan, decision", ak)
	}
	if reg, err := e.st.GetResource(ctx, "t1", catalog.KindOrganization, "lab"); err != nil || reg.Version != 1 {
		t.Errorf("organisation not registered to t1: %+v %v", reg, err)
	}
	// The attempt's credential stopped working when the attempt ended.
	a := r.Attempts[0]
	req, _ := http.NewRequest("GET", e.c.cfg.ServerURL+"/v1/agent/runs/"+r.ID+"/attempts/1", nil)
	req.Header.Set("Authorization", "Bearer "+e.c.credential(r.ID, a))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusGone {
		t.Errorf("manifest after the attempt ended: %v %v", resp.StatusCode, err)
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
	// The site is lost: its jobs are killed and report Lost.
	e.failSite("alpha")
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
	// The second attempt resumed from the moved checkpoint, so at most two
	// checkpoint intervals (10 steps each) of work were lost: the one in
	// progress, and one the trainer wrote just before the loss but the
	// agent had not sealed into the store yet.
	logs, err := e.c.Logs(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lastStep1, resumed int64 = -1, -1
	part := strings.SplitN(string(logs), "=== attempt 2", 2)
	for _, l := range strings.Split(part[0], "\n") {
		if p, ok := backend.ParseProgress(l); ok {
			lastStep1 = p.Step
		}
	}
	if len(part) == 2 && strings.Contains(part[1], "resume step=") {
		fmt.Sscanf(part[1][strings.Index(part[1], "resume step="):], "resume step=%d", &resumed)
	}
	if resumed < 0 || lastStep1-resumed > 20 {
		t.Errorf("attempt 1 reached step %d, attempt 2 resumed at %d; want at most 20 steps lost\n%s", lastStep1, resumed, logs)
	}
	if !e.found("bravo", r.ID, 2) || e.found("bravo", r.ID, 1) || e.found("bravo", r.ID, 3) {
		t.Errorf("want exactly attempt 2 launched at bravo")
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
	if ck := e.finalCheckpoint(r); ck.Step != 60 {
		t.Errorf("final checkpoint at step %d, want 60", ck.Step)
	}
}

// finalCheckpoint unseals the run's last checkpoint from its site's store
// with the run's key, as an agent would, and decodes it.
func (e *env) finalCheckpoint(r *Run) *charlm.Checkpoint {
	e.t.Helper()
	ck := r.Checkpoint
	if ck == nil {
		e.t.Fatal("no checkpoint")
	}
	key, err := e.c.runKeys().Get(r.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := seal.New(key, ck.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := dataset.OpenStore(context.Background(), "file://"+filepath.Join(e.dir, "sites", ck.Site, "store"))
	if err != nil {
		e.t.Fatal(err)
	}
	sub := b.Sub(CheckpointPrefix(r.Tenant))
	defer sub.Close()
	dir := filepath.Join(e.t.TempDir(), "ck")
	if _, err := dataset.UnsealDir(context.Background(), sub, s, ck.Name, dir); err != nil {
		e.t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ck.Path))
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := charlm.DecodeCheckpoint(data)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
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
	b, _ := local.New(catalog.BackendSpec{}, filepath.Join(e.dir, "sites", "alpha"))
	st, err := b.Status(ctx, r.Handle)
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

func (failing) Cancel(context.Context, string) error { return errors.New("connection refused") }

// TestUnreachableSiteIsLost: a site cut off both ways (its scheduler does
// not answer the server, its agent cannot reach it) is lost after the site
// timeout and the run moves on. The cut-off agent stops its workload by
// itself once its lease lapses: nothing tells it to, and the run runs on
// elsewhere.
//
// slow: an agent that asks for its manifest only once its site is lost
// (one slow to start: under load, past the site timeout of 300 ms) is
// answered 410 and exits ExitSetup, starting nothing. The run ends at the
// next site as when the agent stops for its lease.
func TestUnreachableSiteIsLost(t *testing.T) {
	for _, slow := range []bool{false, true} {
		t.Run(fmt.Sprint("slow=", slow), func(t *testing.T) {
			var p *partition
			e := newEnv(t, func(c *Config) {
				p = partitionAgents(t, c)
				c.SiteTimeout = 300 * time.Millisecond
				c.AgentLease = 2 * time.Second
				inner := c.Backends
				c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
					b, err := inner(site, root)
					if site.Metadata.Name == "alpha" {
						return failing{b}, err
					}
					return b, err
				}
			})
			if slow {
				p.holdManifest = func(attempt int) {
					for deadline := time.Now().Add(20 * time.Second); attempt == 1 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
						runs, _ := e.st.ListRuns(context.Background(), store.ListOptions{AllTenants: true})
						if len(runs) == 1 && runs[0].Attempt > 1 {
							return
						}
					}
				}
			}
			p.set(1, "cut")
			e.cutOffAtAlpha(p, "unreachable")
			if got := p.manifestAnswers(1); slow && !slices.Contains(got, http.StatusGone) {
				t.Errorf("alpha's agent's manifest, asked for once the site was lost, was answered %v; want 410", got)
			}
		})
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
		{"backdated", SubmitRequest{Documents: []Document{good}, AsOf: "2015-01-01"}, "asOf"},
		{"defines a site", SubmitRequest{Documents: []Document{good, {Name: "site.yaml", Content: siteDoc}}}, "documents"},
		{"job sets MERIDIAN_ env", SubmitRequest{Documents: []Document{{Name: "x.yaml", Content: strings.Replace(good.Content, "env: {", "env: {MERIDIAN_ATTEMPT_TOKEN: x, ", 1)}}}, "spec.workload.env.MERIDIAN_ATTEMPT_TOKEN"},
		{"rank too high", SubmitRequest{Documents: []Document{good}, Placement: 9}, "placement"},
		{"negative rank", SubmitRequest{Documents: []Document{good}, Placement: -1}, "placement"},
		{"idempotency key too long", SubmitRequest{Documents: []Document{good}, IdempotencyKey: strings.Repeat("k", 201)}, "idempotencyKey"},
		// A header may carry any bytes; PostgreSQL's text holds neither.
		{"idempotency key not UTF-8", SubmitRequest{Documents: []Document{good}, IdempotencyKey: "k\xff"}, "idempotencyKey"},
		{"idempotency key with NUL", SubmitRequest{Documents: []Document{good}, IdempotencyKey: "k\x00"}, "idempotencyKey"},
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
	runs, _ := e.st.ListRuns(ctx, store.ListOptions{AllTenants: true})
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

// siteDoc is a Site a tenant might try to slip into a request.
const siteDoc = `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: alpha}
spec:
  country: SG
  location: {lat: 1.3, lon: 103.8}
  operator: {name: x, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 0.01}]
  network: {egressPerGB: 0, gbps: 10}
  store: file:///tmp/attacker
`

// BenchmarkRecovery measures the time from a site's loss to the run running
// at another site (re-plan, checkpoint move, resubmit), on local processes.
// The controller polls every 20ms, which bounds detection.
func BenchmarkRecovery(b *testing.B) {
	benchRecovery(b, "testdata/sites", catalog.BackendSpec{Type: "local"})
}

// BenchmarkRecoverySlurm is BenchmarkRecovery on the single-machine Slurm
// (MERIDIAN_TEST_SLURM=1 with SLURM_CONF set; scripts/slurm-up.sh).
func BenchmarkRecoverySlurm(b *testing.B) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		b.Skip("set MERIDIAN_TEST_SLURM=1 with a running cluster")
	}
	benchRecovery(b, "testdata/slurm-sites", catalog.BackendSpec{Type: "slurm", Partition: "site-a", GresType: "h100"})
}

func benchRecovery(b *testing.B, catalogDir string, alphaSpec catalog.BackendSpec) {
	dir := b.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	traversable(b, dir)
	cfg := Config{Store: st, StateDir: dir, CatalogDir: catalogDir, Plan: testplan.Cheapest, Poll: 20 * time.Millisecond,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}}
	var c *Controller
	agentConfig(b, &cfg, func() *Controller { return c })
	c = New(cfg)
	be, err := backend.For(alphaSpec, filepath.Join(dir, "sites", "alpha"))
	if err != nil {
		b.Fatal(err)
	}
	alpha := be.(backend.SiteFailer)
	defer alpha.RestoreSite(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	wait := func(id string, cond func(*Run) bool) *Run {
		deadline := time.Now().Add(60 * time.Second)
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
		alpha.RestoreSite(ctx)
		r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 5)}})
		if err != nil {
			b.Fatal(err)
		}
		wait(r.ID, func(r *Run) bool { return r.Checkpoint != nil })
		b.StartTimer()
		lostAt := time.Now()
		if err := alpha.FailSite(ctx); err != nil {
			b.Fatal(err)
		}
		wait(r.ID, func(r *Run) bool { return r.Site == "bravo" && (r.State == Running || r.State == Checkpointed) })
		total += time.Since(lostAt)
		b.StopTimer()
		c.Cancel(ctx, "t1", r.ID)
		wait(r.ID, func(r *Run) bool { return r.State.Final() })
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/recovery")
}

// TestWorkloadFailure: a workload that fails fails the run, even when its
// exit code is the one an agent exits with after its lease lapsed, or when
// it could not end the workload's processes: the exit its agent reported
// tells them apart.
func TestWorkloadFailure(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, code := range []int{3, agent.ExitLease, agent.ExitLost} {
		doc := jobDoc(10, 5)
		doc.Content = strings.Replace(doc.Content, "command: [", fmt.Sprintf(`command: [/bin/sh, -c, "echo failing; exit %d", `, code), 1)
		r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{doc}})
		if err != nil {
			t.Fatal(err)
		}
		r = e.waitFor("the end", 20*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
		if r.State != Failed || !strings.Contains(r.Reason, fmt.Sprint(code)) || r.Attempt != 1 {
			t.Errorf("exit %d: ended %s after %d attempts: %s", code, r.State, r.Attempt, r.Reason)
		}
	}
}

// unended shows the first job it sees end as a site shows the job of an
// agent that could not end every process its workload started: failed,
// with agent.ExitLost.
type unended struct {
	backend.Backend
	mu    sync.Mutex
	first string
}

func (u *unended) Status(ctx context.Context, h string) (backend.Status, error) {
	st, err := u.Backend.Status(ctx, h)
	if err != nil || !st.State.Final() {
		return st, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.first == "" {
		u.first = h
	}
	if h == u.first {
		st.State, st.ExitCode, st.Reason = backend.Failed, agent.ExitLost, fmt.Sprintf("exit code %d", agent.ExitLost)
	}
	return st, nil
}

// TestUnendedAttemptMovesTheRun: an agent that could not end every process
// its workload started (one stuck in the kernel, holding the site's GPU)
// exits with agent.ExitLost and reports the attempt lost. The server took
// that exit as the workload's failure and failed the run; it now takes it
// as the site's loss: the run resumes at the next site.
func TestUnendedAttemptMovesTheRun(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		inner := cfg.Backends
		cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if err == nil && site.Metadata.Name == "alpha" {
				return &unended{Backend: b}, nil
			}
			return b, err
		}
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 30*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		t.Fatalf("%s at %s after %d attempts (%s), want succeeded at bravo after 2: %v", r.State, r.Site, r.Attempt, r.Reason, kinds(evs))
	}
	said := false
	for _, ev := range evs {
		said = said || strings.Contains(ev.Reason, "could not end every process")
	}
	if !said {
		t.Errorf("no event says why alpha was lost: %v", kinds(evs))
	}
}

// TestSubmitToDownSite: a site that refuses the submission (down) is lost at
// once, without waiting for the unreachability timeout.
func TestSubmitToDownSite(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SiteTimeout = time.Hour })
	e.failSite("alpha")
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(10, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 20*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		t.Fatalf("ended %s at %s, attempt %d: %s", r.State, r.Site, r.Attempt, r.Reason)
	}
	if e.found("alpha", r.ID, 1) {
		t.Error("the down site launched the job")
	}
}

// lingering reports a job that ended as still Running for hold after it
// first saw the end, as Slurm does while a long epilog runs (COMPLETING)
// or Kubernetes while a pod terminates.
type lingering struct {
	backend.Backend
	hold  time.Duration
	mu    sync.Mutex
	ended map[string]time.Time
}

func (l *lingering) Status(ctx context.Context, h string) (backend.Status, error) {
	st, err := l.Backend.Status(ctx, h)
	if err != nil || !st.State.Final() {
		return st, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.ended[h]
	if !ok {
		at = time.Now()
		l.ended[h] = at
	}
	if time.Since(at) < l.hold {
		return backend.Status{State: backend.Running}, nil
	}
	return st, nil
}

// TestAgentDoneIsNoLostSite: once an attempt's agent has reported its
// workload's exit it stops reporting, and the scheduler may still show the
// job running for a while (an epilog). That silence, past the silence
// limit, is no lost site: the run ends where it ran, when the scheduler
// says so, and is not moved and run again elsewhere. A scheduler that
// still shows the job one agents' lease on is stuck, and the site is lost
// then, as it was at once before.
func TestAgentDoneIsNoLostSite(t *testing.T) {
	for _, c := range []struct {
		name  string
		hold  time.Duration
		lease time.Duration // the agents' lease, which bounds the wait
		site  string        // where the run ends
	}{
		{"epilog", 3 * time.Second, 0, "alpha"},
		{"stuck scheduler", time.Hour, 2 * time.Second, "bravo"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) {
				cfg.SiteTimeout = 300 * time.Millisecond
				cfg.AgentLease = c.lease
				inner := cfg.Backends
				cfg.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
					b, err := inner(site, root)
					if err == nil && site.Metadata.Name == "alpha" {
						return &lingering{Backend: b, hold: c.hold, ended: map[string]time.Time{}}, nil
					}
					return b, err
				}
			})
			stuck := c.site != "alpha"
			if limit, lag := e.c.silenceLimit(), e.c.exitLag(); limit >= c.hold || (lag < c.hold) != stuck {
				t.Fatalf("silence limit %s, wait %s, hold %s: the scheduler must lag the agent's end past the limit, and past the wait only when stuck", limit, lag, c.hold)
			}
			ctx := context.Background()
			r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(20, 5)}})
			if err != nil {
				t.Fatal(err)
			}
			r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
			evs, _ := e.c.Events(ctx, "t1", r.ID)
			want := 1
			if stuck {
				want = 2
			}
			if r.State != Succeeded || r.Site != c.site || r.Attempt != want {
				t.Fatalf("%s at %s after %d attempts (%s), want succeeded at %s after %d: %v", r.State, r.Site, r.Attempt, r.Reason, c.site, want, kinds(evs))
			}
			if stuck {
				var lost string
				for _, ev := range evs {
					if ev.Kind == "site-lost" {
						lost = ev.Reason
					}
				}
				if !strings.Contains(lost, "still showed attempt 1's job running") {
					t.Errorf("site-lost reason %q, want it to say the scheduler showed the job past the agent's exit", lost)
				}
			}
		})
	}
}

// cutOff answers Status and Cancel with an error while down is set, like a
// site whose scheduler stopped answering.
type cutOff struct {
	backend.Backend
	down *atomic.Bool
}

func (c cutOff) Status(ctx context.Context, h string) (backend.Status, error) {
	if c.down.Load() {
		return backend.Status{}, errors.New("connection refused")
	}
	return c.Backend.Status(ctx, h)
}

func (c cutOff) Cancel(ctx context.Context, h string) error {
	if c.down.Load() {
		return errors.New("connection refused")
	}
	return c.Backend.Cancel(ctx, h)
}

// TestCancelAtUnreachableSiteEndsTheRun: a run cancelled while its site does
// not answer cannot be stopped there, and after the site timeout its site
// counts as lost. The run must then end cancelled, not move: re-planning it
// copied its checkpoint to another site (another country, through the
// ledger) and started a second attempt for a run its tenant had cancelled.
func TestCancelAtUnreachableSiteEndsTheRun(t *testing.T) {
	var down atomic.Bool
	e := newEnv(t, func(c *Config) {
		c.SiteTimeout = 300 * time.Millisecond
		inner := c.Backends
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := inner(site, root)
			if site.Metadata.Name == "alpha" {
				return cutOff{b, &down}, err
			}
			return b, err
		}
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("a checkpoint at alpha", 20*time.Second, func(r *Run) bool { return r.Site == "alpha" && r.Checkpoint != nil }, r.ID)
	down.Store(true)
	if _, err := e.c.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 20*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	if r.State != Cancelled || len(r.Attempts) != 1 || contains(kinds(evs), "replanned") || contains(kinds(evs), "checkpoint-moved") {
		t.Fatalf("ended %s at %s after %d attempts (%s); timeline %v", r.State, r.Site, len(r.Attempts), r.Reason, kinds(evs))
	}
	down.Store(false)
}
