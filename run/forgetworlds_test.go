package run

import (
	"context"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/store"
)

// listCount is a store that counts its ListRuns calls.
type listCount struct {
	store.Store
	n atomic.Int64
}

func (l *listCount) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	l.n.Add(1)
	return l.Store.ListRuns(ctx, o)
}

// TestForgetWorldsReadsNoRuns: a tenant's apply dropped its runs' cached
// worlds by listing every run the tenant ever had, ended ones too, each
// row's whole data read to leave its documents out, on every apply and on
// every server reading its record; on SQLite every other tenant's writes
// waited for it. The cache says whose each world is: the tenant's are
// dropped with no read of the store, and another tenant's are kept.
func TestForgetWorldsReadsNoRuns(t *testing.T) {
	var counted *listCount
	e := newEnv(t, func(c *Config) {
		counted = &listCount{Store: c.Store}
		c.Store = counted
	})
	ctx := context.Background()
	runs := map[string]*Run{}
	for _, tenant := range []string{"t1", "t2"} {
		r, _, err := e.c.Submit(ctx, tenant, SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.world(r); err != nil {
			t.Fatal(err)
		}
		runs[tenant] = r
	}
	before := counted.n.Load()
	e.c.forgetWorlds(ctx, "t1")
	if n := counted.n.Load() - before; n != 0 {
		t.Errorf("forgetting a tenant's worlds listed runs %d times; want none", n)
	}
	e.c.mu.Lock()
	_, kept1 := e.c.worlds[runs["t1"].ID]
	_, kept2 := e.c.worlds[runs["t2"].ID]
	e.c.mu.Unlock()
	if kept1 || !kept2 {
		t.Errorf("after t1's apply: t1's world kept %v, t2's kept %v; want t1's dropped, t2's kept", kept1, kept2)
	}
}

// TestWorldBuiltAcrossAnApplyNotKept: a world was built from registered
// resources read with no lock held and kept after: an apply that dropped
// the tenant's worlds in between was undone by it, and the stale world
// stood until the tenant's next apply (the law check the apply called for
// judged it). One built across an apply is used once, not kept.
func TestWorldBuiltAcrossAnApplyNotKept(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100000, 1000)}})
	if err != nil {
		t.Fatal(err)
	}
	e.c.forgetWorlds(ctx, "t1")
	apply := func(*Run) { e.c.forgetWorlds(ctx, "t1") }
	worldBuilt.Store(&apply)
	t.Cleanup(func() { worldBuilt.Store(nil) })
	if _, err := e.c.world(r); err != nil {
		t.Fatal(err)
	}
	e.c.mu.Lock()
	_, kept := e.c.worlds[r.ID]
	e.c.mu.Unlock()
	if kept {
		t.Errorf("a world built across an apply of its tenant was kept")
	}
	worldBuilt.Store(nil)
	if _, err := e.c.world(r); err != nil {
		t.Fatal(err)
	}
	e.c.mu.Lock()
	_, kept = e.c.worlds[r.ID]
	e.c.mu.Unlock()
	if !kept {
		t.Errorf("a world built with no apply meanwhile was not kept")
	}
}
