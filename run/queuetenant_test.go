package run

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// A tenant's queue shows its own held runs placed among its own, an
// order no other tenant's run moves: another tenant's write leaves the
// order computed answering it, while the writer's own next call, and
// every tenant's after the quotas are reloaded, compute it again.
func TestQueueOtherTenantWriteKeepsOrder(t *testing.T) {
	ctx := context.Background()
	c, _ := idleFleet(t)
	defer func(d time.Duration) { queueFresh = d }(queueFresh)
	queueFresh = time.Hour // only writes end the order's window here
	submit := func(tenant, job string) *Run {
		t.Helper()
		r, _, err := c.Submit(ctx, tenant, SubmitRequest{Documents: []Document{fleetJob(job)}})
		if err != nil || r.State != Held {
			t.Fatalf("%s: %+v %v", tenant, r, err)
		}
		return r
	}
	queue := func(tenant string) []QueueEntry {
		t.Helper()
		q, err := c.Queue(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	submit("t1", "a")
	submit("t2", "b")
	counted := &heldReads{Store: c.cfg.Store}
	c.cfg.Store = counted
	reads := func(want int64, when string) {
		t.Helper()
		if n := counted.n.Load(); n != want {
			t.Errorf("%s: held runs read %d times, want %d", when, n, want)
		}
	}

	before := queue("t1")
	reads(1, "first call")
	r2 := submit("t2", "c")
	if got := queue("t1"); !reflect.DeepEqual(got, before) {
		t.Errorf("t1's queue after t2's run was held: %+v, want %+v", got, before)
	}
	reads(1, "t1's call after t2's write")
	if q := queue("t2"); len(q) != 2 || q[1].Run != r2.ID {
		t.Errorf("t2's queue after its own write: %+v, want its 2 runs", q)
	}
	reads(2, "t2's call after its own write")

	// t2 cancels its held run: t1's answer stands, and is the one
	// computed afresh.
	if r, err := c.Cancel(ctx, "t2", r2.ID); err != nil || !r.CancelRequested {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	kept := queue("t1")
	reads(2, "t1's call after t2's run was cancelled")
	c.orderWrites.wrote("")
	if afresh := queue("t1"); !reflect.DeepEqual(kept, afresh) {
		t.Errorf("t1's queue from the order kept: %+v, computed afresh: %+v", kept, afresh)
	}
	reads(3, "after a write of every tenant's places")

	r1 := submit("t1", "d")
	if q := queue("t1"); len(q) != 2 || q[1].Run != r1.ID {
		t.Errorf("t1's queue after its own write: %+v, want its 2 runs", q)
	}
	reads(4, "t1's call after its own write")
	c.SetQuotas(c.quotas())
	queue("t2")
	reads(5, "t2's call after the quotas were reloaded")
}
