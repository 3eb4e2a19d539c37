package run

import (
	"context"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// clockedHeldReads counts the store reads of held runs and makes each seem
// to take took on the queue's clock.
type clockedHeldReads struct {
	heldReads
	clock *fakeQueueClock
	took  time.Duration
}

func (s *clockedHeldReads) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	rows, err := s.heldReads.ListRuns(ctx, o)
	if len(o.States) == 1 && o.States[0] == string(Held) {
		s.clock.advance(s.took)
	}
	return rows, err
}

// fakeQueueClock is a clock that moves only when told.
type fakeQueueClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeQueueClock) read() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeQueueClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// An order that is slow to compute (every tenant's held runs) answers the
// calls of any tenant for queueCostFactor times as long as it took, not
// queueFresh alone: a tenant calling GET /v1/queue once a queueFresh
// cannot keep the server computing it. A run this controller holds still
// ends that at once, and the answer shows it.
func TestQueueSlowOrderAnswersLonger(t *testing.T) {
	ctx := context.Background()
	c, _ := idleFleet(t)
	if r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{fleetJob("waiting")}}); err != nil || r.State != Held {
		t.Fatalf("%+v %v", r, err)
	}
	clock := &fakeQueueClock{now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	defer func(f func() time.Time) { queueClock = f }(queueClock)
	queueClock = clock.read
	const took = 10 * time.Second
	counted := &clockedHeldReads{heldReads: heldReads{Store: c.cfg.Store}, clock: clock, took: took}
	c.cfg.Store = counted
	reads := func() int64 { return counted.n.Load() }

	if q, err := c.Queue(ctx, "t2"); err != nil || len(q) != 0 {
		t.Fatalf("t2's queue: %+v %v", q, err)
	}
	// Past queueFresh since the reading began, within 4 × its 10 s and
	// within queueMaxFresh of its end.
	clock.advance(queueFresh + 5*time.Second)
	if q, err := c.Queue(ctx, "t2"); err != nil || len(q) != 0 {
		t.Fatalf("t2's queue: %+v %v", q, err)
	}
	if n := reads(); n != 1 {
		t.Errorf("a call %v after an order that took %v: held runs read %d times, want 1", queueFresh+5*time.Second+took, took, n)
	}

	// A run held by this controller is in the next answer at once.
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{fleetJob("second")}})
	if err != nil || r.State != Held {
		t.Fatalf("%+v %v", r, err)
	}
	q, err := c.Queue(ctx, "t1")
	if err != nil || len(q) != 2 || q[1].Run != r.ID || q[1].Position != 2 {
		t.Fatalf("t1's queue after its second run: %+v %v", q, err)
	}
	if n := reads(); n != 2 {
		t.Errorf("after a run was held: held runs read %d times, want 2", n)
	}

	// Past queueCostFactor times what it took, the order is read again
	// (what another replica wrote shows).
	clock.advance(queueCostFactor * took)
	if _, err := c.Queue(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if n := reads(); n != 3 {
		t.Errorf("past the slow order's window: held runs read %d times, want 3", n)
	}
}

// A computation slowed by a passing stall (here a minute) answers calls
// for at most queueMaxFresh after it ended, not queueCostFactor times the
// stall: what another replica wrote meanwhile shows within that.
func TestQueueStalledOrderWindowCapped(t *testing.T) {
	ctx := context.Background()
	c, _ := idleFleet(t)
	if r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{fleetJob("waiting")}}); err != nil || r.State != Held {
		t.Fatalf("%+v %v", r, err)
	}
	clock := &fakeQueueClock{now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	defer func(f func() time.Time) { queueClock = f }(queueClock)
	queueClock = clock.read
	counted := &clockedHeldReads{heldReads: heldReads{Store: c.cfg.Store}, clock: clock, took: time.Minute}
	c.cfg.Store = counted
	reads := func() int64 { return counted.n.Load() }

	if _, err := c.Queue(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	// Within queueMaxFresh of the end, the stalled order still answers.
	clock.advance(queueMaxFresh - time.Second)
	if _, err := c.Queue(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if n := reads(); n != 1 {
		t.Fatalf("%v after a stalled order ended: held runs read %d times, want 1", queueMaxFresh-time.Second, n)
	}
	// Past it (far within queueCostFactor times the stall), it is read
	// again.
	counted.took = 0
	clock.advance(2 * time.Second)
	if _, err := c.Queue(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if n := reads(); n != 2 {
		t.Errorf("%v after an order stalled %v ended: held runs read %d times, want 2 (the window is capped)", queueMaxFresh+time.Second, time.Minute, n)
	}
}
