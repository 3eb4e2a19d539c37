package run

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/store"
)

// TestQueueAfterKey: among one tenant's held runs, the page after a run's
// key is exactly the runs after it in the admission order (shares of two
// families, priorities and arrivals mixed), and so it stays once that
// run has left the queue: the key names its place, not the run.
func TestQueueAfterKey(t *testing.T) {
	defer func(d, k time.Duration) { queueFresh, queueCostFactor = d, k }(queueFresh, queueCostFactor)
	queueFresh, queueCostFactor = 0, 0
	ctx := context.Background()
	c, st := queueAfterFleet(t)
	ids := func(q []QueueEntry) []string {
		var out []string
		for _, e := range q {
			out = append(out, e.Run)
		}
		return out
	}
	whole, _, more, err := c.QueueAfter(ctx, "t1", nil, -1)
	if err != nil || more || len(whole) < 30 {
		t.Fatalf("the whole queue: %d entries, more %v, %v", len(whole), more, err)
	}
	if first, _ := c.Queue(ctx, "t1"); !slices.Equal(ids(first), ids(whole)) {
		t.Fatalf("QueueAfter from the first %v, Queue %v", ids(whole), ids(first))
	}
	keys := map[string]QueueKey{}
	for i := range whole {
		page, last, _, err := c.QueueAfter(ctx, "t1", nil, i+1)
		if err != nil || last.Run != whole[i].Run {
			t.Fatalf("page of %d: last %q, want %q (%v)", i+1, last.Run, whole[i].Run, err)
		}
		keys[last.Run] = last
		rest, _, _, err := c.QueueAfter(ctx, "t1", &last, -1)
		if err != nil || !slices.Equal(ids(rest), ids(whole[i+1:])) {
			t.Fatalf("after %s (%d): %v, want %v (%v)", last.Run, i+1, ids(rest), ids(whole[i+1:]), err)
		}
		if !slices.Equal(ids(page), ids(whole[:i+1])) {
			t.Fatalf("page of %d: %v", i+1, ids(page))
		}
	}
	// Each run leaves the queue in turn; the page after its key is still
	// what came after it.
	for i, e := range whole {
		if _, err := st.UpdateRun(ctx, e.Run, func(r *store.Run) (store.Change, error) {
			r.State = string(Succeeded)
			return store.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
		k := keys[e.Run]
		rest, _, _, err := c.QueueAfter(ctx, "t1", &k, -1)
		if err != nil || !slices.Equal(ids(rest), ids(whole[i+1:])) {
			t.Fatalf("after %s, gone: %v, want %v (%v)", e.Run, ids(rest), ids(whole[i+1:]), err)
		}
	}
}

// queueAfterFleet is a controller whose tenant t1 waits with 34 runs for
// two families (under quotaT1) and none, of mixed priorities and
// arrivals, t2 with 6, and t1 holds half its H100s, so that its runs
// waiting for A100s come first.
func queueAfterFleet(t *testing.T) (*Controller, *store.SQLite) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/fleet-sites"})
	c.SetQuotas(quotaT1(t, 8, 8))
	if _, _, err := st.CreateRun(ctx, &store.Run{ID: "running", Tenant: "t1", Job: "j", State: string(Running),
		Hold: store.Hold{Site: "x", Accelerator: "nvidia-h100-sxm", Count: 4}, Data: []byte(`{}`)}, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	accs := []string{"nvidia-h100-sxm", "nvidia-a100-80gb", ""}
	for i := range 40 {
		tenant := "t1"
		if i%7 == 3 {
			tenant = "t2"
		}
		h := &Hold{Wait: WaitCapacity, Reason: "waiting"}
		if acc := accs[i%3]; acc != "" {
			h.Wants = []Want{{Site: "x", Accelerator: acc}}
		}
		data, _ := json.Marshal(Data{Priority: (i / 3) % 3, Hold: h})
		if _, _, err := st.CreateRun(ctx, &store.Run{ID: fmt.Sprintf("r%02d", 40-i), Tenant: tenant, Job: "j", State: string(Held), Data: data}, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	return c, st
}

// quotaT1 is t1's quota of h100 H100s and a100 A100s.
func quotaT1(t *testing.T, h100, a100 int) *fleet.Quotas {
	return testQuotas(t, "quotas.yaml", fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Quota\nmetadata: {name: t1}\nspec:\n  families:\n"+
		"  - {name: h100, accelerators: [nvidia-h100-sxm], nominal: %d}\n  - {name: a100, accelerators: [nvidia-a100-80gb], nominal: %d}\n", h100, a100))
}

// A reload of the quotas while a page is read leaves that page in the
// order its entries were placed by, the order computed before the reload:
// with the first page, it shows each of the tenant's runs once.
func TestQueueAfterQuotaReload(t *testing.T) {
	defer func(d, k time.Duration) { queueFresh, queueCostFactor = d, k }(queueFresh, queueCostFactor)
	queueFresh, queueCostFactor = 0, 0 // each call computes the order
	defer func(f func() time.Time) { queueClock = f }(queueClock)
	ctx := context.Background()
	c, _ := queueAfterFleet(t)
	whole, _, _, err := c.QueueAfter(ctx, "t1", nil, -1)
	if err != nil || len(whole) < 30 {
		t.Fatalf("the whole queue: %d entries, %v", len(whole), err)
	}
	n := 0
	for _, e := range whole {
		if e.Key.Accelerator == "nvidia-a100-80gb" {
			n++
		}
	}
	first, last, more, err := c.QueueAfter(ctx, "t1", nil, n+2)
	if err != nil || !more {
		t.Fatalf("first page: %d entries, more %v, %v", len(first), more, err)
	}
	// The reload, with no A100s left to t1 (its runs for them now come
	// last), lands as the second page's order is computed, after its
	// runs were placed: the third reading of the clock in heldOrder.
	var clocks int
	queueClock = func() time.Time {
		if clocks++; clocks == 3 {
			c.SetQuotas(quotaT1(t, 8, 0))
		}
		return time.Now()
	}
	rest, _, _, err := c.QueueAfter(ctx, "t1", &last, -1)
	if err != nil {
		t.Fatal(err)
	}
	if clocks < 3 {
		t.Fatalf("the clock was read %d times: the order was not computed", clocks)
	}
	seen := map[string]int{}
	for _, e := range append(first, rest...) {
		seen[e.Run]++
	}
	for _, e := range whole {
		if seen[e.Run] != 1 {
			t.Errorf("%s (waiting for %q) shown %d times by the two pages, want once", e.Run, e.Key.Accelerator, seen[e.Run])
		}
	}
	if len(seen) != len(whole) {
		t.Errorf("the two pages show %d runs, want %d", len(seen), len(whole))
	}
}
