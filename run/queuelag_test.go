package run

import (
	"context"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// lagHolds is a store whose Holds answers a commit old, as the SQLite
// store may (it reads them on a reader connection beside the writer):
// the holds as they stood before this wrapper's last write of a run.
type lagHolds struct {
	store.Store
	mu   sync.Mutex
	prev []store.TenantHold // nil before any write
}

func (l *lagHolds) before(ctx context.Context) []store.TenantHold {
	hs, err := l.Store.Holds(ctx)
	if err != nil || hs == nil {
		return []store.TenantHold{}
	}
	return hs
}

func (l *lagHolds) UpdateRun(ctx context.Context, id string, fn func(r *store.Run) (store.Change, error)) (*store.Run, error) {
	hs := l.before(ctx)
	out, err := l.Store.UpdateRun(ctx, id, fn)
	if err == nil {
		l.mu.Lock()
		l.prev = hs
		l.mu.Unlock()
	}
	return out, err
}

func (l *lagHolds) Holds(ctx context.Context) ([]store.TenantHold, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prev != nil {
		return l.prev, nil
	}
	return l.Store.Holds(ctx)
}

// When a tenant's run is admitted, its next call may pair the runs that
// write left with holds read a commit old: that order must not answer
// the tenant's following calls, which compute it once more, from holds
// read again.
func TestQueueHoldChangeOutlastsLaggingHolds(t *testing.T) {
	ctx := context.Background()
	c, holders := idleFleet(t)
	defer func(d time.Duration) { queueFresh = d }(queueFresh)
	queueFresh = time.Hour // only writes end the order's window here
	waiting, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{fleetJob("a")}})
	if err != nil || waiting.State != Held {
		t.Fatalf("t1: %+v %v", waiting, err)
	}
	if r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{fleetJob("b")}}); err != nil || r.State != Held {
		t.Fatalf("t1: %+v %v", r, err)
	}
	counted := &heldReads{Store: &lagHolds{Store: c.cfg.Store}}
	c.cfg.Store = counted
	queue := func(when string, want int64) {
		t.Helper()
		if _, err := c.Queue(ctx, "t1"); err != nil {
			t.Fatal(err)
		}
		if n := counted.n.Load(); n != want {
			t.Errorf("%s: held runs read %d times, want %d", when, n, want)
		}
	}
	queue("first call", 1)

	// t0's first holder gives its room back; t1's first run takes it.
	held, err := c.Get(ctx, "t0", holders[0])
	if err != nil || held.Placement.Count == 0 {
		t.Fatalf("holder: %+v %v", held, err)
	}
	if _, err := c.update(ctx, holders[0], func(r *Run, ch *store.Change) error {
		r.State, r.Migration = Migrating, &Migration{Reason: "test: room given back"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.update(ctx, waiting.ID, func(r *Run, ch *store.Change) error {
		r.State, r.Site, r.Placement, r.Hold = Running, held.Site, held.Placement, nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	queue("t1's call after its run was admitted", 2)
	queue("t1's second call after its run was admitted", 3)
	queue("t1's third call", 3)
}
