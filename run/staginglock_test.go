package run

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// stallingLeases is a store whose lease calls for holders of one server
// (prefix) stall, the way a server frozen for a while (a long pause, a
// suspended machine) would: they return only once resumed, and then are
// carried out whatever their context says (as a statement the database
// had already taken may be).
type stallingLeases struct {
	store.Store
	prefix string
	mu     sync.Mutex
	stall  chan struct{} // non-nil while stalled
}

func (s *stallingLeases) freeze() {
	s.mu.Lock()
	s.stall = make(chan struct{})
	s.mu.Unlock()
}

func (s *stallingLeases) resume() {
	s.mu.Lock()
	close(s.stall)
	s.stall = nil
	s.mu.Unlock()
}

func (s *stallingLeases) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	s.mu.Lock()
	ch := s.stall
	s.mu.Unlock()
	if ch != nil && strings.HasPrefix(holder, s.prefix) {
		<-ch
		ctx = context.WithoutCancel(ctx)
	}
	return s.Store.TryLease(ctx, name, holder, ttl)
}

// TestStagingLeaseLapsedIsLost: a server whose staging lease lapsed while
// it was frozen, and which another server took and gave back meanwhile,
// has lost it, though its next renewal takes the lease again (at a new
// epoch): the other server may have reconciled its staging in between,
// so the staging's context ends.
func TestStagingLeaseLapsedIsLost(t *testing.T) {
	defer func(ttl time.Duration) { stagingLeaseTTL = ttl }(stagingLeaseTTL)
	stagingLeaseTTL = 300 * time.Millisecond
	ctx := context.Background()
	st, dir := testStore(t)
	ss := &stallingLeases{Store: st, prefix: "r1/"}
	c := New(Config{Store: ss, StateDir: dir, CatalogDir: "testdata/sites", Replica: "r1"})
	other := New(Config{Store: ss, StateDir: dir, CatalogDir: "testdata/sites", Replica: "r2"})
	const key = "file:///site/store|t1"
	sctx, unlock, err := c.lockStaging(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	ss.freeze()
	time.Sleep(2 * stagingLeaseTTL) // the lease lapses
	_, u2, err := other.tryLockStaging(ctx, key)
	if err != nil {
		ss.resume()
		unlock()
		t.Fatalf("the other server could not take a lapsed lease: %v", err)
	}
	u2()
	ss.resume()
	select {
	case <-sctx.Done():
	case <-time.After(2 * time.Second):
		unlock()
		t.Fatal("the staging went on under a lease that lapsed and was held by another server meanwhile")
	}
	// What the renewal took again is given back with the rest.
	unlock()
	_, u3, err := other.tryLockStaging(ctx, key)
	if err != nil {
		t.Fatalf("the other server after the first let go: %v", err)
	}
	u3()
}

// TestStagingLeaseEndsWhenRenewalHangs: a renewal that does not come back
// (the store unreachable) ends the staging's context before the lease can
// lapse, not when the call at last returns.
func TestStagingLeaseEndsWhenRenewalHangs(t *testing.T) {
	defer func(ttl time.Duration) { stagingLeaseTTL = ttl }(stagingLeaseTTL)
	stagingLeaseTTL = 900 * time.Millisecond
	ctx := context.Background()
	st, dir := testStore(t)
	hs := &hangingLeases{Store: st}
	c := New(Config{Store: hs, StateDir: dir, CatalogDir: "testdata/sites", Replica: "r1"})
	sctx, unlock, err := c.lockStaging(ctx, "file:///site/store|t1")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	took := time.Now()
	hs.mu.Lock()
	hs.hang = true
	hs.mu.Unlock()
	select {
	case <-sctx.Done():
		if d := time.Since(took); d >= stagingLeaseTTL {
			t.Fatalf("the staging's context ended %v after the lease was taken, past its TTL %v", d, stagingLeaseTTL)
		}
	case <-time.After(5 * stagingLeaseTTL):
		t.Fatal("the staging went on past its lease while the renewal hung")
	}
}

// hangingLeases is a store whose lease calls, once hang is set, wait for
// their context to end.
type hangingLeases struct {
	store.Store
	mu   sync.Mutex
	hang bool
}

func (s *hangingLeases) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return store.Lease{}, ctx.Err()
	}
	return s.Store.TryLease(ctx, name, holder, ttl)
}
