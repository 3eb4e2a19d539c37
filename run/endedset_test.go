package run

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestEndedCredentialsPastRememberedRuns: a tenant holding ended
// attempts' credentials of more runs than the agent API remembers
// (maxEnded) cycled through them, and each request of a forgotten run's
// credential read the run, for ever. An attempt found ended for good is
// now held by run and attempt in fixed memory (endedSet), and refused
// with no read; an attempt that may still work (a final run's last within
// its grace, a later one) never is, however many runs were forgotten.
func TestEndedCredentialsPastRememberedRuns(t *testing.T) {
	now := time.Now()
	c := &Controller{cfg: Config{Now: func() time.Time { return now }}}
	id := func(i int) string { return fmt.Sprintf("run-%012x", i) }
	const runs = maxEnded + 1000
	for i := range runs {
		r := &Run{ID: id(i), State: Cancelled, Attempt: 3, Data: Data{Attempts: []Attempt{{N: 3, Over: now.Add(-time.Hour)}}}}
		if i%2 == 1 {
			// Ended a moment ago: its last attempt's last words are still
			// taken.
			r.Attempts[0].Over = now
			c.agentEnd(r, 3)
		}
		c.agentEnd(r, 1)
	}
	if len(c.endedAgents) != maxEnded {
		t.Fatalf("%d runs remembered, want maxEnded (%d)", len(c.endedAgents), maxEnded)
	}
	forgotten := 0
	for i := range runs {
		if c.endedAgents[id(i)] == nil {
			forgotten++
		}
		if state, gone := c.agentEnded(id(i), 1, false); !gone || state != string(Cancelled) {
			t.Fatalf("%s: attempt 1, found ended, answered %q %v; want refused as cancelled with no read", id(i), state, gone)
		}
		if _, gone := c.agentEnded(id(i), 4, true); gone {
			t.Fatalf("%s: attempt 4, never seen, refused", id(i))
		}
		if i%2 == 1 {
			if _, gone := c.agentEnded(id(i), 3, true); gone {
				t.Fatalf("%s: the last attempt's last words, within their grace, refused", id(i))
			}
		}
	}
	if forgotten != runs-maxEnded {
		t.Fatalf("%d runs forgotten, want %d", forgotten, runs-maxEnded)
	}
	// A run id in another form than this server's is not held.
	c.agentEnd(&Run{ID: "run-ABCDEF012345", State: Failed, Attempt: 2}, 1)
	if _, ok := c.endedKeys.has("run-ABCDEF012345", 1); ok {
		t.Errorf("a run id of another form held")
	}
}

// TestEndedSetNeverMistakes: past its memory the set forgets keys, and a
// key never added is never found, however full it is.
func TestEndedSetNeverMistakes(t *testing.T) {
	var s endedSet
	rng := rand.New(rand.NewPCG(3, 4))
	added := map[string]bool{}
	key := func() (string, int) { return fmt.Sprintf("run-%012x", rng.Uint64()>>16), 1 + rng.IntN(1<<16-1) }
	for range 1_200_000 {
		id, n := key()
		s.add(id, n, Failed)
		added[fmt.Sprint(id, "/", n)] = true
	}
	for range 200_000 {
		id, n := key()
		if _, ok := s.has(id, n); ok && !added[fmt.Sprint(id, "/", n)] {
			t.Fatalf("%s attempt %d found, never added", id, n)
		}
	}
	if a, b := mustKey(t, "run-000000000001", 1), mustKey(t, "run-000000000000", 1<<16+1); a == b {
		t.Errorf("attempt 2^16+1 held")
	}
}

func mustKey(t *testing.T, id string, n int) uint64 {
	k, _ := endedKey(id, n)
	return k
}

// BenchmarkAgentEndedPastRemembered is one request of a tenant cycling,
// in turn, through the ended attempts' credentials of more runs than the
// agent API remembers by run (maxEnded + 2,000 cancelled runs of one
// attempt each): in that order each request asks for the run found
// longest ago, the one the memory by run forgot first. Each run was asked
// once before the timer starts. reads/op counts the store's reads of a
// run, whole or its version: one or two a request without endedSet.
//
//	go test ./run -run '^$' -bench AgentEndedPastRemembered -benchtime 200000x
func BenchmarkAgentEndedPastRemembered(b *testing.B) {
	const runs = maxEnded + 2000
	f := newEndedFleet(b, runs, 0, 1)
	for _, r := range f.final {
		if code := f.post(r, 1, false); code != 410 {
			b.Fatalf("status %d", code)
		}
	}
	before := f.reads.Load() + f.versions.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if code := f.post(f.final[i%runs], 1, false); code != 410 {
			b.Fatalf("status %d", code)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.reads.Load()+f.versions.Load()-before)/float64(b.N), "reads/op")
}
