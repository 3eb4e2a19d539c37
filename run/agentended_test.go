package run

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/store"
)

// endedFleet is a controller (its loop not started) over a store holding
// runs of many attempts each: final ones, every attempt ended long ago,
// and running ones, every attempt but the last ended. It is what a tenant
// has after months of runs that were retried, moved and preempted: the
// credential of every attempt its workloads ever ran.
type endedFleet struct {
	c        *Controller
	h        http.Handler
	reads    *atomic.Int64 // whole reads of a run
	versions *atomic.Int64 // reads of a run's version
	final    []*Run
	live     []*Run
}

func newEndedFleet(tb testing.TB, final, live, attempts int) *endedFleet {
	tb.Helper()
	ctx := context.Background()
	st, dir := testStore(tb)
	var reads, versions atomic.Int64
	c := New(Config{Store: wholeReads{Store: st, n: &reads, v: &versions}, StateDir: dir, CatalogDir: "testdata/sites", Workers: 1,
		AgentKey: []byte("agent key for the ended-attempt tests")})
	f := &endedFleet{c: c, h: c.AgentHandler(), reads: &reads, versions: &versions}
	long := time.Now().Add(-time.Hour)
	for i := range final + live {
		r := &Run{ID: fmt.Sprintf("run-%012x", i), Tenant: "t1", Job: "tiny", State: Cancelled, Site: "alpha", Attempt: attempts,
			Data: Data{Submitted: long}}
		if i >= final {
			r.State = Running
		}
		for n := 1; n <= attempts; n++ {
			a := Attempt{N: n, Site: "alpha", Nonce: newNonce()}
			if n < attempts || r.State.Final() {
				a.Over = long
			}
			r.Attempts = append(r.Attempts, a)
		}
		row, err := toRow(r)
		if err != nil {
			tb.Fatal(err)
		}
		row.CreatedAt, row.UpdatedAt = long, long
		if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
			tb.Fatal(err)
		}
		if r.State.Final() {
			f.final = append(f.final, r)
		} else {
			f.live = append(f.live, r)
		}
	}
	return f
}

// post sends a heartbeat with attempt n's credential, or asks for the
// attempt's manifest (manifest: the route that reads the run whole),
// answering the status.
func (f *endedFleet) post(r *Run, n int, manifest bool) int {
	a := r.Attempts[n-1]
	req := httptest.NewRequest("POST", agentURL("", r, a, agent.RouteHeartbeat), bytes.NewReader([]byte("{}")))
	req.Header.Set("Content-Type", reportType)
	if manifest {
		req = httptest.NewRequest("GET", agentURL("", r, a, agent.RouteManifest), nil)
	}
	req.RemoteAddr = "192.0.2.7:4000"
	req.Header.Set("Authorization", "Bearer "+f.c.credential(r.ID, a))
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w.Code
}

// TestEndedCredentialsCycledPastTheBound: a tenant holding the credentials
// of more ended attempts than the server remembers (maxEnded) cycled
// through them, and each request missed what was remembered (the attempt
// found longest ago was forgotten first) and read a run, documents and
// every attempt, for ever. What is remembered is now one entry a run,
// standing for every attempt it has moved past: each run is read once,
// whatever the number of its attempts' credentials. Meanwhile the live
// attempts' credentials are never refused, and every ended one always is.
func TestEndedCredentialsCycledPastTheBound(t *testing.T) {
	const final, live, attempts = 38, 2, 1800 // 71,960 ended attempts' credentials
	if final*attempts+live*(attempts-1) <= maxEnded {
		t.Fatalf("%d ended attempts: want more than maxEnded (%d)", final*attempts+live*(attempts-1), maxEnded)
	}
	f := newEndedFleet(t, final, live, attempts)
	runs := append(append([]*Run{}, f.final...), f.live...)
	sent := 0
	for pass := range 2 {
		for n := 1; n <= attempts; n++ {
			for _, r := range runs {
				liveOne := !r.State.Final() && n == attempts
				code := f.post(r, n, !liveOne && n%2 == 0)
				sent++
				switch {
				case liveOne && code != http.StatusOK:
					t.Fatalf("pass %d: live attempt %d of %s refused: %d", pass, n, r.ID, code)
				case !liveOne && code != http.StatusGone:
					t.Fatalf("pass %d: ended attempt %d of %s: %d; want 410", pass, n, r.ID, code)
				}
				// Each run is read once to find its attempts ended
				// (its version, and then whole); a live attempt's run
				// is asked its version at each request.
				liveAsked := int64(pass*len(f.live) + min(n/attempts, 1)*len(f.live))
				if reads, most := f.reads.Load()+f.versions.Load(), 2*int64(len(runs))+liveAsked; reads > most {
					t.Fatalf("pass %d, %d requests: %d reads of runs (%d whole); want at most %d (two a run, and one a live attempt's request)", pass, sent, reads, f.reads.Load(), most)
				}
			}
		}
	}
}

// TestEndedAttemptsExact: what the agent API remembers of ended attempts
// refuses no credential of an attempt that may still work (the run's
// current one, or a final run's last within its grace, on the route that
// takes last words), whatever order the run was seen in (a read before a
// later one's, on a slow request), and refuses every attempt the latest
// run seen has moved past.
func TestEndedAttemptsExact(t *testing.T) {
	now := time.Now()
	c := &Controller{cfg: Config{Now: func() time.Time { return now }}}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		id := fmt.Sprintf("run-%012x", i)
		// The run's life, as reads of it: its attempt goes up, and it
		// may end (its last attempt over at some time).
		var seen []*Run
		attempt := 1
		for range 1 + rng.IntN(6) {
			attempt += rng.IntN(4)
			seen = append(seen, &Run{ID: id, State: Running, Attempt: attempt})
		}
		end := rng.IntN(3)
		var over time.Time
		if end > 0 {
			over = now.Add(-time.Duration(rng.IntN(4)) * time.Minute)
			seen = append(seen, &Run{ID: id, State: Cancelled, Attempt: attempt, Data: Data{Attempts: []Attempt{{N: attempt, Over: over}}}})
		}
		// Recorded in any order: a request that read the run before
		// another's may record what it found after it.
		latest := seen[len(seen)-1]
		rng.Shuffle(len(seen), func(i, j int) { seen[i], seen[j] = seen[j], seen[i] })
		for _, r := range seen {
			c.agentEnd(r, 1)
		}
		for n := 1; n <= attempt+2; n++ {
			for _, lastWords := range []bool{false, true} {
				_, gone := c.agentEnded(id, n, lastWords)
				mayWork := n > attempt ||
					n == attempt && (!latest.State.Final() || lastWords && now.Sub(over) < logGrace)
				switch {
				case gone && mayWork:
					t.Fatalf("%s: attempt %d (of %d, run %s) refused as ended, but its credential may still work", id, n, attempt, latest.State)
				case !gone && !mayWork && n <= attempt:
					t.Fatalf("%s: attempt %d (of %d, run %s) not refused, but it has ended for good", id, n, attempt, latest.State)
				}
			}
		}
	}
}

// BenchmarkAgentEndedCycled is one request of a tenant cycling through
// the credentials of more ended attempts than the server remembers
// (maxEnded): 38 cancelled runs of 1,800 attempts each, asked in turn,
// attempt by attempt, a heartbeat or the manifest (which reads a run
// whole). Each run was asked once before the timer starts. An op is one
// request's whole cost at the agent API (no connection); reads/op counts
// the store's reads of a run, whole or its version.
//
//	go test ./run -run '^$' -bench AgentEndedCycled -benchtime 2000x
func BenchmarkAgentEndedCycled(b *testing.B) {
	const runs, attempts = 38, 1800
	for _, manifest := range []bool{false, true} {
		b.Run(map[bool]string{false: "heartbeat", true: "manifest"}[manifest], func(b *testing.B) {
			f := newEndedFleet(b, runs, 0, attempts)
			for _, r := range f.final {
				if code := f.post(r, 1, manifest); code != http.StatusGone {
					b.Fatalf("status %d", code)
				}
			}
			before := f.reads.Load() + f.versions.Load()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for range b.N {
				r, n := f.final[i%runs], 2+(i/runs)%(attempts-1)
				if code := f.post(r, n, manifest); code != http.StatusGone {
					b.Fatalf("status %d", code)
				}
				i++
			}
			b.StopTimer()
			b.ReportMetric(float64(f.reads.Load()+f.versions.Load()-before)/float64(b.N), "reads/op")
		})
	}
}
