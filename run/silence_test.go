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
