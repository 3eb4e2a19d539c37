package main

// Several `meridian serve` replicas on one PostgreSQL, behind one address:
// the failover test kills (SIGKILL) or freezes (SIGSTOP) the leader at
// random points while runs are submitted, staged, running and migrating,
// and checks that another replica takes over, that no run is lost or
// launched twice, and that the audit log and its shared anchor verify.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/internal/syncbuf"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// syncBuffer is a buffer safe for a process's writes and the test's
// reads.
type syncBuffer = syncbuf.Buffer

// balancer is the load balancer a platform team puts in front of replicas:
// round robin over the backends whose /healthz answered within 250 ms in
// the last check (every 100 ms). A frozen replica stops answering its
// health check and gets no more requests.
type balancer struct {
	backends []string
	healthy  []atomic.Bool
	next     atomic.Uint64
	srv      *httptest.Server
	stop     chan struct{}
}

func newBalancer(t testing.TB, backends []string) *balancer {
	b := &balancer{backends: backends, healthy: make([]atomic.Bool, len(backends)), stop: make(chan struct{})}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 5 * time.Second
	rp := &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := b.pick()
			if target == "" {
				target = b.backends[0]
			}
			u, _ := url.Parse("http://" + target)
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"error": {"code": "bad_gateway", "message": %q}}`, err.Error())
		},
		FlushInterval: -1,
	}
	b.srv = httptest.NewServer(rp)
	go b.check()
	t.Cleanup(func() { close(b.stop); b.srv.Close() })
	return b
}

func (b *balancer) pick() string {
	for i := 0; i < len(b.backends); i++ {
		n := int(b.next.Add(1)) % len(b.backends)
		if b.healthy[n].Load() {
			return b.backends[n]
		}
	}
	return ""
}

func (b *balancer) check() {
	hc := &http.Client{Timeout: 250 * time.Millisecond}
	for {
		for i, be := range b.backends {
			resp, err := hc.Get("http://" + be + "/healthz")
			ok := err == nil && resp.StatusCode == 200
			if resp != nil {
				resp.Body.Close()
			}
			b.healthy[i].Store(ok)
		}
		select {
		case <-b.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// replica is one `meridian serve` process of a cluster.
type replica struct {
	name, addr string
	cmd        *exec.Cmd
	log        *syncBuffer
	waited     chan error
	frozen     bool
}

type cluster struct {
	t        testing.TB
	bin      string
	state    string
	cat      string
	db       string
	leaseTTL time.Duration
	reps     []*replica
	lb       *balancer
	pg       *pgx.Conn
	c        *api.Client
}

func newCluster(t testing.TB, n int, cat string) *cluster {
	t.Helper()
	db := pgtest.NewDatabase(t)
	p := newServeProc(t) // a state directory others may pass through
	cl := &cluster{t: t, bin: p.bin, state: p.state, cat: repoCatalog(t, cat), db: db, leaseTTL: 3 * time.Second}
	var addrs []string
	for i := 0; i < n; i++ {
		r := &replica{name: fmt.Sprintf("r%d", i), addr: freeAddr(t)}
		cl.reps = append(cl.reps, r)
		addrs = append(addrs, r.addr)
	}
	cl.lb = newBalancer(t, addrs)
	// Replicas start together, as a deployment's do: one of them makes the
	// shared secrets and the admin token, the others read them.
	var wg sync.WaitGroup
	for _, r := range cl.reps {
		wg.Add(1)
		go func(r *replica) { defer wg.Done(); cl.start(r) }(r)
	}
	wg.Wait()
	t.Cleanup(cl.stopAll)
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	cl.pg = conn
	cfg, err := readClientConfig(cl.state)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != cl.lb.srv.URL {
		t.Fatalf("client.json names %s, not the balancer %s", cfg.Server, cl.lb.srv.URL)
	}
	cl.c = api.NewClient(cfg.Server, cfg.Token)
	return cl
}

// recordDemoKey records, in the cluster's store, the key demoJob kept in
// the state directory's keyring (and recorded in its SQLite log, which the
// replicas do not read): the replicas use a keyring key only as their
// store's audit log records it, as `dataset send-key` would have it.
func (cl *cluster) recordDemoKey() {
	cl.t.Helper()
	ctx := context.Background()
	key, err := audit.LoadKey(cl.state)
	if err != nil {
		cl.t.Fatal(err)
	}
	st, err := store.OpenPostgres(ctx, cl.db, store.Options{AuditKey: key})
	if err != nil {
		cl.t.Fatal(err)
	}
	defer st.Close()
	k, err := dataset.TenantKeyrings{Root: cl.state}.Get(dataset.DefaultTenant, demoDataset)
	if err != nil {
		cl.t.Fatal(err)
	}
	rec, err := dataset.KeyRecord(dataset.DefaultTenant, demoDataset, k, "owner")
	if err != nil {
		cl.t.Fatal(err)
	}
	if err := st.AppendAudit(ctx, rec); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *cluster) start(r *replica) {
	cl.t.Helper()
	args := []string{"serve", "--state", cl.state, "--store", cl.db, "--listen", r.addr, "--advertise", cl.lb.srv.URL,
		"--catalog", cl.cat, "--poll", "50ms", "--replica", r.name, "--lease-ttl", cl.leaseTTL.String(),
		"--log-format", "json", "--rate-limit", "0"}
	r.cmd = exec.Command(cl.bin, args...)
	r.log = &syncBuffer{}
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		cl.t.Fatal(err)
	}
	r.frozen = false
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			cl.t.Fatalf("replica %s exited (%v): %s", r.name, err, r.log.String())
		default:
		}
		if resp, err := hc.Get("http://" + r.addr + "/healthz"); err == nil {
			resp.Body.Close()
			r.waited = exited
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd.Process.Kill()
	cl.t.Fatalf("replica %s did not come up: %s", r.name, r.log.String())
}

func (cl *cluster) kill(r *replica) {
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.waited
	r.waited = nil
}

func (cl *cluster) freeze(r *replica) { r.cmd.Process.Signal(syscall.SIGSTOP); r.frozen = true }
func (cl *cluster) thaw(r *replica)   { r.cmd.Process.Signal(syscall.SIGCONT); r.frozen = false }

func (cl *cluster) stopAll() {
	for _, r := range cl.reps {
		if r.waited == nil {
			continue
		}
		if r.frozen {
			cl.thaw(r)
		}
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.waited:
		case <-time.After(20 * time.Second):
			r.cmd.Process.Kill()
			<-r.waited
		}
		r.waited = nil
	}
}

// lease reads the controller lease from the database.
func (cl *cluster) lease() (holder string, epoch int64, live bool) {
	err := cl.pg.QueryRow(context.Background(), `SELECT holder, epoch, expires_at > clock_timestamp() FROM leases WHERE name = 'controller'`).Scan(&holder, &epoch, &live)
	if err != nil {
		return "", 0, false
	}
	return holder, epoch, live
}

func (cl *cluster) replica(name string) *replica {
	for _, r := range cl.reps {
		if r.name == name {
			return r
		}
	}
	return nil
}

// leader waits for a live lease and returns its holder.
func (cl *cluster) leader() (*replica, int64) {
	cl.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if h, e, live := cl.lease(); live {
			if r := cl.replica(h); r != nil {
				return r, e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cl.t.Fatal("no replica leads")
	return nil, 0
}

// takeover waits until a replica other than old holds the lease at a later
// epoch and returns how long that took since t0.
func (cl *cluster) takeover(old string, epoch int64, t0 time.Time) (time.Duration, string) {
	cl.t.Helper()
	d, by, err := cl.awaitTakeover(old, epoch, t0)
	if err != nil {
		cl.t.Fatal(err)
	}
	return d, by
}

// awaitTakeover is takeover for another goroutine than the test's: it
// reports instead of failing the test.
func (cl *cluster) awaitTakeover(old string, epoch int64, t0 time.Time) (time.Duration, string, error) {
	for time.Since(t0) < 60*time.Second {
		if h, e, live := cl.lease(); live && h != old && e > epoch {
			return time.Since(t0), h, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, "", fmt.Errorf("no replica took over from %s within a minute", old)
}

// retry calls f until it succeeds or a minute passes: through the
// balancer, a request may land on a replica that just died.
func retry[T any](t testing.TB, what string, f func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := f()
		if err == nil {
			return v
		}
		var se *api.StatusError
		if errors.As(err, &se) && se.Status < 500 && se.Status != http.StatusTooManyRequests {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReplicasFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes and PostgreSQL databases")
	}
	pgtest.ServerURL(t)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	cl := newCluster(t, 3, "../../examples/demo/sites")
	ctx := context.Background()
	lose := "sg-jurong-1"
	loseRoot := filepath.Join(cl.state, "sites", lose)
	spec := catalog.BackendSpec{Type: "local"}
	job := demoJob(t, cl.bin, cl.state, 200, 10, "20ms")
	cl.recordDemoKey()
	ids := map[string]bool{}
	submit := func(key string) *run.Run {
		r := retry(t, "submit "+key, func() (*run.Run, error) {
			return cl.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}, IdempotencyKey: key})
		})
		ids[r.ID] = true
		return r
	}
	for i := 0; i < 4; i++ {
		submit(fmt.Sprintf("before-%d", i))
	}
	checkFirstWork(t, cl)
	var takeovers []time.Duration
	lost := false
	for round := 0; round < 6; round++ {
		time.Sleep(time.Duration(200+rng.Intn(1500)) * time.Millisecond) // chaos timing, not synchronisation
		if round == 2 && !lost {
			if err := failSite(ctx, spec, loseRoot); err != nil {
				t.Fatal(err)
			}
			lost = true
		}
		old, epoch := cl.leader()
		freeze := rng.Intn(2) == 0
		t0 := time.Now()
		if freeze {
			cl.freeze(old)
		} else {
			cl.kill(old)
		}
		// The takeover is watched while a submission is made during the
		// outage (the others keep answering): a request the balancer sent
		// to the frozen replica waits for its timeout, and must not count.
		type seen struct {
			d   time.Duration
			by  string
			err error
		}
		took := make(chan seen, 1)
		go func() {
			d, by, err := cl.awaitTakeover(old.name, epoch, t0)
			took <- seen{d, by, err}
		}()
		submit(fmt.Sprintf("during-%d", round))
		tk := <-took
		if tk.err != nil {
			t.Fatal(tk.err)
		}
		d, by := tk.d, tk.by
		takeovers = append(takeovers, d)
		how := "killed"
		if freeze {
			how = "frozen"
		}
		t.Logf("round %d: leader %s (epoch %d) %s; %s took over after %s", round, old.name, epoch, how, by, d.Round(time.Millisecond))
		time.Sleep(time.Duration(rng.Intn(1000)) * time.Millisecond)
		if freeze {
			// It wakes believing it leads: it must find out it does not,
			// and act on nothing.
			cl.thaw(old)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(old.log.String(), "stopped leading the controller loop") {
				if time.Now().After(deadline) {
					t.Fatalf("replica %s thawed and never saw it lost the lease:\n%s", old.name, tail([]byte(old.log.String()), 3000))
				}
				time.Sleep(20 * time.Millisecond)
			}
		} else {
			cl.start(old)
		}
	}
	t.Cleanup(func() {
		if b, err := backend.For(spec, loseRoot); err == nil {
			if f, ok := b.(backend.SiteFailer); ok {
				f.RestoreSite(context.Background())
			}
		}
	})
	// Everything finishes, whoever leads.
	runs := waitRunsFinal(t, 3*time.Minute, 100*time.Millisecond, func() ([]*run.Run, error) {
		return retry(t, "list", func() ([]*run.Run, error) { return cl.c.List(ctx) }), nil
	})
	if len(runs) != len(ids) {
		t.Errorf("%d runs, %d submitted", len(runs), len(ids))
	}
	migrated := 0
	for _, r := range runs {
		if !ids[r.ID] {
			t.Errorf("a run nobody submitted: %s", r.ID)
		}
		if r.State != run.Succeeded {
			t.Errorf("run %s ended %s: %s", r.ID, r.State, r.Reason)
		}
		if r.Attempt > 1 {
			migrated++
		}
		full := retry(t, "get", func() (*run.Run, error) { return cl.c.Get(ctx, r.ID) })
		checkLaunchedOnce(t, cl.state, full)
		evs := retry(t, "events", func() ([]store.Event, error) { return cl.c.Events(ctx, r.ID) })
		// Each attempt is recorded as submitted at most once, the last one
		// exactly once (an earlier one may have met its site lost before
		// it was submitted).
		queued := map[string]int{}
		var story []string
		for _, e := range evs {
			story = append(story, fmt.Sprintf("%s %s→%s %s", e.Kind, e.From, e.To, e.Reason))
			if e.Kind == "state" && e.To == string(run.Queued) {
				n := strings.Fields(strings.TrimPrefix(e.Reason, "attempt "))
				if len(n) > 0 {
					queued[n[0]]++
				}
			}
		}
		for a, n := range queued {
			if n > 1 {
				t.Errorf("run %s: attempt %s recorded as submitted %d times:\n%s", r.ID, a, n, strings.Join(story, "\n"))
			}
		}
		if queued[fmt.Sprint(full.Attempt)] != 1 {
			t.Errorf("run %s: its last attempt %d was never recorded as submitted:\n%s", r.ID, full.Attempt, strings.Join(story, "\n"))
		}
	}
	if migrated == 0 {
		t.Log("no run migrated this time (the site loss found no run there)")
	}
	// The chain is linear and reaches the anchor every replica advanced.
	res := retry(t, "verify", func() (audit.Result, error) { return cl.c.Verify(ctx) })
	if !res.OK || res.Anchored == nil || res.Anchored.Seq < 10 {
		t.Errorf("audit after failovers: %+v", res)
	}
	checkClusterMetrics(t, cl, len(runs))
	checkJSONLogs(t, cl)
	sort.Slice(takeovers, func(i, j int) bool { return takeovers[i] < takeovers[j] })
	t.Logf("takeover times (lease TTL %s): %v; median %s, max %s", cl.leaseTTL, takeovers, takeovers[len(takeovers)/2], takeovers[len(takeovers)-1])
	// Bounded, with room for a loaded machine; the 5 s target is measured
	// by BenchmarkFailover.
	if worst := takeovers[len(takeovers)-1]; worst > 4*cl.leaseTTL {
		t.Errorf("a takeover took %s", worst)
	}
}

// checkLaunchedOnce: each attempt was launched exactly once, at its own
// site, and no attempt the controller does not know of was launched (every
// launch prints a line into the output the site's scheduler keeps).
func checkLaunchedOnce(t *testing.T, state string, r *run.Run) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(state, "sites", "*", "jobs", "*", "output.log"))
	var launches []string
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		site := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(l))))
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "launch" && f[1] == "run="+r.ID {
				launches = append(launches, site+" "+f[1]+" "+f[2])
			}
		}
	}
	sort.Strings(launches)
	recorded := map[string]bool{}
	for _, a := range r.Attempts {
		recorded[fmt.Sprintf("%s run=%s attempt=%d", a.Site, r.ID, a.N)] = true
	}
	for i, l := range launches {
		if i > 0 && launches[i-1] == l {
			t.Errorf("run %s: launched twice: %s", r.ID, l)
		}
		if !recorded[l] {
			t.Errorf("run %s: a launch the controller never recorded: %s", r.ID, l)
		}
	}
	last := r.Attempts[len(r.Attempts)-1]
	if !containsString(launches, fmt.Sprintf("%s run=%s attempt=%d", last.Site, r.ID, last.N)) {
		t.Errorf("run %s: final attempt %d never launched: %v", r.ID, last.N, launches)
	}
}

// BenchmarkFailover measures how long three replicas on PostgreSQL take to
// replace a leader that was killed (SIGKILL) or frozen (SIGSTOP): from the
// signal to another replica holding the controller lease at the next epoch.
// The lease lasts 3 s unrenewed (serve's default --lease-ttl).
func BenchmarkFailover(b *testing.B) {
	pgtest.ServerURL(b)
	for _, mode := range []string{"kill", "freeze"} {
		b.Run(mode, func(b *testing.B) {
			cl := newCluster(b, 3, "../../examples/demo/sites")
			var total, worst time.Duration
			for i := 0; i < b.N; i++ {
				old, epoch := cl.leader()
				t0 := time.Now()
				if mode == "kill" {
					cl.kill(old)
				} else {
					cl.freeze(old)
				}
				d, _ := cl.takeover(old.name, epoch, t0)
				total += d
				worst = max(worst, d)
				b.StopTimer()
				if mode == "kill" {
					cl.start(old)
				} else {
					cl.thaw(old)
				}
				b.StartTimer()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/takeover")
			b.ReportMetric(worst.Seconds(), "s-worst")
		})
	}
}

// BenchmarkReplicaSubmit measures run submissions accepted per second by
// three replicas on one PostgreSQL, clients spread over them: HTTP, the
// token check, the tenant's world, the real planner with the built-in law
// and the PostgreSQL transaction with its audit entries, serialised on the
// chain's head. The controller lease is held by the benchmark meanwhile,
// so that no replica launches the runs and only submission is measured.
func BenchmarkReplicaSubmit(b *testing.B) {
	pgtest.ServerURL(b)
	cl := newCluster(b, 3, "../../examples/demo/sites")
	ctx := context.Background()
	if _, err := cl.pg.Exec(ctx, `UPDATE leases SET holder = 'benchmark', epoch = epoch + 1, expires_at = clock_timestamp() + interval '1 hour' WHERE name = 'controller'`); err != nil {
		b.Fatal(err)
	}
	job, err := os.ReadFile("../../examples/demo/job.yaml")
	if err != nil {
		b.Fatal(err)
	}
	req := run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: string(job)}}}
	cfg, _ := readClientConfig(cl.state)
	var next atomic.Uint64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := cl.reps[int(next.Add(1))%len(cl.reps)]
		c := api.NewClient("http://"+r.addr, cfg.Token)
		for pb.Next() {
			if _, err := c.Submit(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
	res, err := cl.c.Verify(ctx)
	if err != nil || !res.OK {
		b.Errorf("audit after the benchmark: %+v %v", res, err)
	}
}

// scrape reads a replica's /metrics (with the admin token) into sums by
// metric name and label set.
func scrape(t testing.TB, addr, token string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		fmt.Sscan(line[i+1:], &v)
		out[line[:i]] = v
	}
	return out
}

// checkClusterMetrics: each replica reports the store's run counts; one
// leads; what the leaders did (plans, staging) shows in their counters.
func checkClusterMetrics(t *testing.T, cl *cluster, runs int) {
	t.Helper()
	leaders, staged, plans := 0.0, 0.0, 0.0
	for _, r := range cl.reps {
		m := scrape(t, r.addr, cl.c.Token)
		if got := m[`meridian_runs{site="`+siteOfSucceeded(m)+`",state="succeeded"}`]; got == 0 {
			t.Errorf("replica %s reports no succeeded runs", r.name)
		}
		total := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, "meridian_runs{") {
				total += v
			}
			if strings.HasPrefix(k, "meridian_staged_bytes_total{") {
				staged += v
			}
		}
		if int(total) != runs {
			t.Errorf("replica %s counts %v runs, want %d", r.name, total, runs)
		}
		leaders += m["meridian_leader"]
		plans += m[`meridian_plan_seconds_count{via="controller"}`]
		if m["meridian_audit_appends_total"] < 10 {
			t.Errorf("replica %s: audit appends %v", r.name, m["meridian_audit_appends_total"])
		}
	}
	if leaders != 1 {
		t.Errorf("%v replicas say they lead", leaders)
	}
	// Staged bytes and plans are each process's own, and a killed leader
	// takes its counters with it: they are checked before the chaos
	// (checkFirstWork) and only logged here.
	t.Logf("after the failovers, the replicas count %v bytes staged and %v controller plans", staged, plans)
}

// checkFirstWork waits for a run to get past staging under the first
// leader, and checks that the staging and the plans show in the replicas'
// metrics (summed: the plans were made by whichever replica took the
// submission).
func checkFirstWork(t *testing.T, cl *cluster) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		runs := retry(t, "list", func() ([]*run.Run, error) { return cl.c.List(ctx) })
		started := false
		for _, r := range runs {
			started = started || r.State == run.Running || r.State.Final()
		}
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no run got past staging under the first leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	staged, plans := 0.0, 0.0
	for _, r := range cl.reps {
		for k, v := range scrape(t, r.addr, cl.c.Token) {
			if strings.HasPrefix(k, "meridian_staged_bytes_total{") {
				staged += v
			}
			if k == `meridian_plan_seconds_count{via="controller"}` {
				plans += v
			}
		}
	}
	if staged == 0 || plans == 0 {
		t.Errorf("staged bytes %v, controller plans %v: the first leader's work does not show", staged, plans)
	}
}

func siteOfSucceeded(m map[string]float64) string {
	for k := range m {
		if strings.HasPrefix(k, `meridian_runs{site="`) && strings.HasSuffix(k, `",state="succeeded"}`) {
			return strings.TrimSuffix(strings.TrimPrefix(k, `meridian_runs{site="`), `",state="succeeded"}`)
		}
	}
	return ""
}

// checkJSONLogs: with --log-format json every line a replica wrote is a
// JSON object, and lines about a run name the run and its tenant.
func checkJSONLogs(t *testing.T, cl *cluster) {
	t.Helper()
	withRun := 0
	for _, r := range cl.reps {
		for _, line := range strings.Split(strings.TrimSpace(r.log.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("replica %s wrote a line that is not JSON: %q", r.name, line)
				continue
			}
			if m["run"] != nil {
				withRun++
				if m["tenant"] == nil {
					t.Errorf("replica %s: a line about run %v names no tenant: %s", r.name, m["run"], line)
				}
			}
		}
	}
	if withRun == 0 {
		t.Error("no log line names a run")
	}
}
