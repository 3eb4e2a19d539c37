package run

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// Each tenant's answer from an order shared among every tenant's calls
// is exactly the one computed for it alone: its own held runs, at their
// positions among its own, and no other tenant's.
func TestQueueSharedOrderAnswersAsComputedAlone(t *testing.T) {
	ctx := context.Background()
	c, _ := benchQueueOf(t, 60, fleetJob("waiting"))
	defer func(d, k time.Duration) { queueFresh, queueCostFactor = d, k }(queueFresh, queueCostFactor)
	tenants := []string{"t1", "t2", "t3", "t4", "t5", "t6"}

	queueFresh, queueCostFactor = 0, 0
	alone := map[string][]QueueEntry{}
	for _, tn := range tenants {
		q, err := c.Queue(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range q {
			if e.Tenant != tn || e.Position != i+1 {
				t.Fatalf("%s's entry %d: tenant %q position %d", tn, i, e.Tenant, e.Position)
			}
		}
		alone[tn] = q
	}
	if len(alone["t1"]) == 0 || len(alone["t6"]) != 0 {
		t.Fatalf("fixture: t1 holds %d, t6 %d", len(alone["t1"]), len(alone["t6"]))
	}

	// One order, computed for the first call after a write, answers all.
	queueFresh = time.Hour
	counted := &heldReads{Store: c.cfg.Store}
	c.cfg.Store = counted
	c.orderWrites.wrote("")
	for _, tn := range tenants {
		q, err := c.Queue(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(q, alone[tn]) {
			t.Errorf("%s's queue from the shared order:\n%s\nwant, computed alone:\n%s", tn, fmt.Sprint(q), fmt.Sprint(alone[tn]))
		}
		page, _, _, err := c.QueueAfter(ctx, tn, nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(page, alone[tn]) {
			t.Errorf("%s's QueueAfter from the shared order differs from its queue computed alone", tn)
		}
	}
	if n := counted.n.Load(); n != 1 {
		t.Errorf("six tenants' calls read the held runs %d times, want 1 (shared)", n)
	}
}
