package run

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// partition stands between agents and the agent API and can cut an
// attempt off: "cut" answers 503 without passing the request on (the site
// cannot reach the server); "deaf" passes it on and answers 503 (the
// server hears the agent, the agent never hears back). The manifest goes
// through, so the agent starts, unless the mode is "down": then every
// request of the attempt is cut, the manifest's too.
type partition struct {
	upstream string
	mu       sync.Mutex
	modes    map[int]string
	// manifests is the status of each answer to an attempt's manifest
	// request that was passed on.
	manifests map[int][]int
	// holdManifest, when set, is called before an attempt's manifest
	// request is passed on (an agent slow to start).
	holdManifest func(attempt int)
}

// manifestAnswers returns the statuses the server answered attempt's
// manifest requests with.
func (p *partition) manifestAnswers(attempt int) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.manifests[attempt])
}

var attemptInPath = regexp.MustCompile(`/attempts/(\d+)`)

// partitionAgents puts a partition in front of the test's agent API.
func partitionAgents(t testing.TB, c *Config) *partition {
	p := &partition{upstream: c.ServerURL, modes: map[int]string{}, manifests: map[int][]int{}}
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	c.ServerURL = ts.URL
	return p
}

func (p *partition) set(attempt int, mode string) {
	p.mu.Lock()
	p.modes[attempt] = mode
	p.mu.Unlock()
}

func (p *partition) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	mode, n := "", 0
	if m := attemptInPath.FindStringSubmatch(req.URL.Path); m != nil {
		n, _ = strconv.Atoi(m[1])
		p.mu.Lock()
		mode = p.modes[n]
		p.mu.Unlock()
	}
	manifest := req.Method == http.MethodGet && n > 0 && mode != "down"
	if manifest && p.holdManifest != nil {
		p.holdManifest(n)
	}
	if req.Method == http.MethodGet && mode != "down" {
		mode = ""
	}
	if mode == "cut" || mode == "down" {
		http.Error(w, "cut off", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(req.Body)
	out, err := http.NewRequestWithContext(req.Context(), req.Method, p.upstream+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if manifest {
		p.mu.Lock()
		p.manifests[n] = append(p.manifests[n], resp.StatusCode)
		p.mu.Unlock()
	}
	if mode == "deaf" {
		http.Error(w, "the answer was lost", http.StatusServiceUnavailable)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(reply)
}

// exitCodeAt returns the exit code the local backend recorded for the
// site's one job, waiting up to 20 s for it.
func (e *env) exitCodeAt(site string) int {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(e.dir, "sites", site, "jobs", "*", "exitcode"))
		if len(files) == 1 {
			if b, err := os.ReadFile(files[0]); err == nil {
				if code, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					return code
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What the job left says why.
	files, _ := filepath.Glob(filepath.Join(e.dir, "sites", site, "jobs", "*", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		e.t.Logf("%s: %s", filepath.Base(f), b[max(0, len(b)-1500):])
	}
	e.t.Fatalf("no job at %s recorded an exit code in 20 s", site)
	return 0
}

// TestDeafAgentStopsAndTheRunMoves: an agent whose reports reach the
// server but whose answers never come back stops the workload when its
// lease lapses. The server, which heard it all along, takes the agent's
// exit code as the site's loss: the run resumes at the next site instead
// of failing.
func TestDeafAgentStopsAndTheRunMoves(t *testing.T) {
	var p *partition
	e := newEnv(t, func(c *Config) {
		c.SiteTimeout = time.Second
		c.AgentLease = 2 * time.Second
		p = partitionAgents(t, c)
	})
	p.set(1, "deaf")
	e.cutOffAtAlpha(p, "lease")
}

// cutOffAtAlpha runs a job planned at alpha whose first attempt the test
// cut off from the server, and checks that it ended at bravo, that alpha's
// agent stopped its workload for its lease (2 s here, which the workload
// outlasts), and that alpha's loss was recorded with a reason naming why.
//
// An agent that asked for its manifest only once alpha was lost (one slow
// to start) was answered 410 and started nothing: it exits ExitSetup, as
// for any answer that refuses the attempt. The server reads a job's exit
// code only while the job's attempt is the run's live one (monitor, for a
// run queued, running or checkpointed, states its agent is never answered
// 410 in); for an attempt it has already lost, 121 and 122 mean the same
// to it, and the run's end checked here is the same either way.
func (e *env) cutOffAtAlpha(p *partition, why string) {
	e.t.Helper()
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(300, 5)}})
	if err != nil {
		e.t.Fatal(err)
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		e.t.Fatalf("%s at %s after %d attempts: %s", r.State, r.Site, r.Attempt, r.Reason)
	}
	code := e.exitCodeAt("alpha")
	answers := p.manifestAnswers(1)
	want := agent.ExitLease
	if slices.Contains(answers, http.StatusGone) {
		want = agent.ExitSetup
	}
	if code != want {
		e.t.Errorf("the agent at alpha exited %d, want %d (its manifest was answered %v)", code, want, answers)
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	for _, ev := range evs {
		if ev.Kind == "site-lost" && strings.Contains(ev.Reason, why) {
			return
		}
	}
	e.t.Errorf("no site-lost event naming %q: %v", why, kinds(evs))
}

// TestAgentLeaseBounds: the lease agents get is the configured one, never
// less than twice the silence limit (an agent must not stop before the
// server would count it lost), ten minutes when unset, and none when
// turned off.
func TestAgentLeaseBounds(t *testing.T) {
	for _, c := range []struct {
		lease, siteTimeout, want time.Duration
	}{
		{0, 30 * time.Second, DefaultAgentLease},
		{0, 10 * time.Minute, 20 * time.Minute},
		{time.Minute, 30 * time.Second, time.Minute},
		{time.Minute, 45 * time.Second, 90 * time.Second},
		{-1, 30 * time.Second, 0},
	} {
		ctl := New(Config{AgentLease: c.lease, SiteTimeout: c.siteTimeout, Heartbeat: 2 * time.Second})
		if got := ctl.agentLease(); got != c.want {
			t.Errorf("lease %s, site timeout %s: agents get %s, want %s", c.lease, c.siteTimeout, got, c.want)
		}
	}
}

// patienceAt is a site's backend that keeps the agent patience the
// controller gave each job, and gives the job's agent a shorter one (a
// test cannot wait the hour a site timeout of an hour calls for).
type patienceAt struct {
	backend.Backend
	mu    sync.Mutex
	given []string
}

func (b *patienceAt) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	env := maps.Clone(spec.Env)
	b.mu.Lock()
	b.given = append(b.given, env[agent.EnvPatience])
	b.mu.Unlock()
	env[agent.EnvPatience] = "2s"
	spec.Env = env
	return b.Backend.Submit(ctx, spec)
}

// TestAgentWithoutAManifestLosesTheSite: an agent that cannot reach the
// server for its manifest, at a site whose timeout is set above the
// agent's old fixed 2 minutes, waits as long as the server tells it and
// then gives up as for its lease: the site is lost and the run moves on
// to the next site, where it succeeds. The agent exited 121 (setup failed)
// after 2 minutes, and the controller failed the run there.
func TestAgentWithoutAManifestLosesTheSite(t *testing.T) {
	var p *partition
	alpha := &patienceAt{}
	e := newEnv(t, func(c *Config) {
		c.SiteTimeout = time.Hour
		p = partitionAgents(t, c)
		c.Backends = func(site *catalog.Site, root string) (backend.Backend, error) {
			b, err := backend.For(site.Spec.Backend, root)
			if err != nil || site.Metadata.Name != "alpha" {
				return b, err
			}
			alpha.mu.Lock()
			defer alpha.mu.Unlock()
			alpha.Backend = b
			return alpha, nil
		}
	})
	p.set(1, "down")
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(20, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Site != "bravo" || r.Attempt != 2 {
		t.Fatalf("%s at %s after %d attempts: %s", r.State, r.Site, r.Attempt, r.Reason)
	}
	if code := e.exitCodeAt("alpha"); code != agent.ExitLease {
		t.Errorf("the agent at alpha exited %d, want %d", code, agent.ExitLease)
	}
	evs, _ := e.c.Events(ctx, "t1", r.ID)
	if !contains(kinds(evs), "site-lost") {
		t.Errorf("no site-lost event: %v", kinds(evs))
	}
	// The patience the server gave follows its site timeout: the agent
	// does not give up before the server would count the site lost
	// (agent.MaxPatience bounds it).
	alpha.mu.Lock()
	defer alpha.mu.Unlock()
	if len(alpha.given) == 0 {
		t.Fatal("alpha's backend was given no job")
	}
	d, err := time.ParseDuration(alpha.given[0])
	if err != nil || d < min(time.Hour, agent.MaxPatience) || d > agent.MaxPatience {
		t.Errorf("agent patience %q under a site timeout of 1h: want at least the timeout, at most %s", alpha.given[0], agent.MaxPatience)
	}
}
