package run

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// unreadableHeartbeats fails SilentFor while down is set, like a store
// whose connection dropped.
type unreadableHeartbeats struct {
	store.Store
	down *atomic.Bool
}

func (u unreadableHeartbeats) SilentFor(ctx context.Context, runID string, attempt int) (time.Duration, bool, error) {
	if u.down.Load() {
		return 0, false, errors.New("connection reset by peer")
	}
	return u.Store.SilentFor(ctx, runID, attempt)
}

// TestUnreadableHeartbeatIsNoSilence: an agent that reports to another
// replica is heard by the leader only through the store. A read of the
// store that fails is not silence: taken as silence since the leader's
// term first looked, it lost a healthy run's site and ran its job twice.
func TestUnreadableHeartbeatIsNoSilence(t *testing.T) {
	var down atomic.Bool
	var st store.Store
	e := newEnv(t, func(cfg *Config) {
		st = cfg.Store
		cfg.Store = unreadableHeartbeats{Store: cfg.Store, down: &down}
		cfg.SiteTimeout = 100 * time.Millisecond
	})
	ctx := context.Background()
	const run, attempt = "r-elsewhere", 1
	if q, err := e.c.silentFor(ctx, run, attempt); err != nil || q != 0 {
		t.Fatalf("first look: %s, %v; want 0", q, err)
	}
	time.Sleep(2 * e.c.silenceLimit())
	// Another replica hears the agent.
	if err := st.Heard(ctx, run, attempt); err != nil {
		t.Fatal(err)
	}
	q, err := e.c.silentFor(ctx, run, attempt)
	if err != nil || q > e.c.silenceLimit() {
		t.Fatalf("store readable: silent %s, %v; want under %s", q, err, e.c.silenceLimit())
	}
	down.Store(true)
	if q, err := e.c.silentFor(ctx, run, attempt); err == nil {
		t.Errorf("store unreadable: silent %s and no error; a failed read must not count as silence", q)
	}
}

// TestHeartbeatsKeptOnlyWhileNeeded: a server that does not lead records an
// agent's report in the store alone (it would never read a memory of it,
// and hears every agent that reaches it); the leader keeps its memory of
// an attempt's reports only while the attempt's run is active.
func TestHeartbeatsKeptOnlyWhileNeeded(t *testing.T) {
	ctx := context.Background()
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	c.heard(ctx, "r1", "t1", 1)
	if _, ok, err := st.SilentFor(ctx, "r1", 1); err != nil || !ok {
		t.Fatalf("the report is not in the store: %v %v", ok, err)
	}
	c.mu.Lock()
	n := len(c.heartbeats)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("a server that does not lead keeps %d reports in memory", n)
	}
	c.term.set(1, time.Now().Add(time.Minute))
	c.heard(ctx, "r1", "t1", 1)
	c.heard(ctx, "r2", "t1", 1)
	c.heard(ctx, "r2", "t1", 2)
	c.prune(map[string]bool{"r2": true})
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.heartbeats[attemptKey("r1", 1)]; ok || len(c.heartbeats) != 2 {
		t.Errorf("after r1 ended the leader remembers %v, want r2's two attempts", c.heartbeats)
	}
}

// TestDrainCountsPrunedWithTheirRun: a drain's count of its site's failed
// Cancels is forgotten when the drain ends; a run that ended or was
// cancelled mid-drain kept its count for the whole leadership term.
func TestDrainCountsPrunedWithTheirRun(t *testing.T) {
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	now := time.Now()
	c.failingSince(c.drainFails, attemptKey("r1", 1), now)
	c.failingSince(c.drainFails, attemptKey("r2", 3), now)
	c.prune(map[string]bool{"r2": true})
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.drainFails[attemptKey("r1", 1)]; ok || len(c.drainFails) != 1 {
		t.Errorf("after r1 ended the drain counts are %v, want r2's alone", c.drainFails)
	}
}
