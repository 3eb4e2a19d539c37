package run

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// heldReads counts the store reads of held runs, the read GET /v1/queue
// makes, of the real store it wraps.
type heldReads struct {
	store.Store
	n atomic.Int64
}

func (h *heldReads) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	if len(o.States) == 1 && o.States[0] == string(Held) {
		h.n.Add(1)
	}
	return h.Store.ListRuns(ctx, o)
}

// Every tenant's GET /v1/queue needs every tenant's held runs: calls that
// arrive together read them once, a run this controller writes shows at
// once, and one another replica writes within queueFresh.
func TestQueueReadsHeldRunsOnce(t *testing.T) {
	ctx := context.Background()
	c, holders := idleFleet(t)
	for tn := 1; tn <= 4; tn++ {
		if r, _, err := c.Submit(ctx, fmt.Sprintf("t%d", tn), SubmitRequest{Documents: []Document{fleetJob("waiting")}}); err != nil || r.State != Held {
			t.Fatalf("t%d: %+v %v", tn, r, err)
		}
	}
	// t0's holders took their holds just now: the two orders computed
	// after that (orderWrites.holds) are computed here, and a write of
	// every tenant's places lets the last go, so that the calls below
	// meet a controller that must compute the order once.
	for range 2 {
		if _, err := c.Queue(ctx, "t0"); err != nil {
			t.Fatal(err)
		}
	}
	c.orderWrites.wrote("")
	counted := &heldReads{Store: c.cfg.Store}
	c.cfg.Store = counted

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := fmt.Sprintf("t%d", i%5)
			q, err := c.Queue(ctx, tenant)
			if err == nil && (len(q) != 1 || q[0].Tenant != tenant || q[0].Position != 1) {
				err = fmt.Errorf("%s's queue: %+v", tenant, q)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := counted.n.Load(); n != 1 {
		t.Errorf("40 calls together read the held runs %d times, want 1", n)
	}

	// Progress of a running run, most of a busy fleet's writes, cannot
	// move the order: the answer stands.
	if _, err := c.update(ctx, holders[0], func(r *Run, ch *store.Change) error {
		r.Progress = &Progress{Step: 10, Steps: 100}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Queue(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if n := counted.n.Load(); n != 1 {
		t.Errorf("held runs read %d times after a progress write, want still 1", n)
	}

	// A run this controller submits is in the next answer.
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{fleetJob("second")}})
	if err != nil || r.State != Held {
		t.Fatalf("%+v %v", r, err)
	}
	before := time.Now()
	q, err := c.Queue(ctx, "t1")
	after := time.Now()
	if err != nil || len(q) != 2 || q[1].Run != r.ID {
		t.Fatalf("t1's queue after its second run: %+v %v", q, err)
	}
	if n := counted.n.Load(); n != 2 {
		t.Errorf("held runs read %d times after a write, want 2", n)
	}

	// A run another replica ends (written to the store, not through
	// this controller) leaves the answer once queueFresh has passed (or
	// queueCostFactor times what the order took, on a slow machine).
	if _, err := counted.Store.UpdateRun(ctx, r.ID, func(row *store.Run) (store.Change, error) {
		row.State = string(Cancelled)
		return store.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	q, err = c.Queue(ctx, "t1")
	if time.Since(before) < queueFresh && (err != nil || len(q) != 2) {
		t.Fatalf("within queueFresh of the last read: %+v %v, want the 2 read", q, err)
	}
	time.Sleep(time.Until(after.Add(c.queue.fresh())))
	if q, err := c.Queue(ctx, "t1"); err != nil || len(q) != 1 || q[0].Run == r.ID {
		t.Fatalf("after queueFresh: %+v %v, want 1 without %s", q, err, r.ID)
	}
}

// BenchmarkQueue is GET /v1/queue's work for 10,000 waiting runs of five
// tenants, asked by the five at once: shared, one admission order answers
// the calls of a second; each, every call computes its own (as before).
func BenchmarkQueue(b *testing.B) {
	n := 10_000
	if testing.Short() {
		n = 500
	}
	c, _ := benchQueue(b, n)
	ctx := context.Background()
	for _, shared := range []bool{true, false} {
		name := "shared"
		if !shared {
			name = "each"
		}
		b.Run(name, func(b *testing.B) {
			defer func(d, k time.Duration) { queueFresh, queueCostFactor = d, k }(queueFresh, queueCostFactor)
			if !shared {
				queueFresh, queueCostFactor = 0, 0
			}
			var i atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				tenant := fmt.Sprintf("t%d", 1+i.Add(1)%5)
				for pb.Next() {
					if _, err := c.Queue(ctx, tenant); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// slowHeldReads is heldReads whose read of the held runs takes a while,
// as a large queue's does.
type slowHeldReads struct{ heldReads }

func (h *slowHeldReads) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	if len(o.States) == 1 && o.States[0] == string(Held) {
		time.Sleep(50 * time.Millisecond)
	}
	return h.heldReads.ListRuns(ctx, o)
}

// TestQueueCallsShareAComputationUnderWrites: while writes that move the
// order keep coming (a busy fleet's held runs being retried), calls that
// arrive during one computation wait for it and take it, rather than each
// computing again in turn for the writes made meanwhile.
func TestQueueCallsShareAComputationUnderWrites(t *testing.T) {
	ctx := context.Background()
	c, _ := idleFleet(t)
	counted := &slowHeldReads{heldReads{Store: c.cfg.Store}}
	c.cfg.Store = counted
	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		for {
			select {
			case <-stop:
				return
			default:
				c.orderWrites.wrote("") // as a write that can move every tenant's order does
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Queue(ctx, fmt.Sprintf("t%d", i%5)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	writer.Wait()
	// The first call computes; those that arrived while it did take its
	// order, or at most one more that began after they arrived.
	n := counted.n.Load()
	t.Logf("20 calls under constant writes read the held runs %d times", n)
	if n > 3 {
		t.Errorf("20 calls together read the held runs %d times under constant writes, want at most 3", n)
	}
}
