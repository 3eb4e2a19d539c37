package run

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// hungLease is a store whose first TryLease is never answered (a database
// that took the request and went silent: a connection cut without a
// reset); it ends only with its context.
type hungLease struct {
	store.Store
	calls atomic.Int32
}

func (s *hungLease) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	if s.calls.Add(1) == 1 {
		<-ctx.Done()
		return store.Lease{}, ctx.Err()
	}
	return s.Store.TryLease(ctx, name, holder, ttl)
}

// TestAcquireOutlastsAnUnansweredLeaseRequest: a replica waiting for the
// controller lease asked the store for it under the server's own context,
// bounded by nothing: one request the database never answered held it
// until the connection was given up (minutes, on a cut connection), and
// the loop did not run meanwhile, though the store answered the next
// request at once. Renewals were bounded already; each request for the
// lease is now bounded as they are, and the next one takes the lease.
func TestAcquireOutlastsAnUnansweredLeaseRequest(t *testing.T) {
	st, dir := testStore(t)
	hung := &hungLease{Store: st}
	cfg := sitesConfig(st, dir)
	cfg.Store, cfg.Replica = hung, "replica-a"
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		release func()
		err     error
	}
	done := make(chan result, 1)
	go func() {
		_, release, err := c.acquire(ctx)
		done <- result{release, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("acquire: %v", res.err)
		}
		defer res.release()
	case <-time.After(time.Minute):
		cancel()
		<-done
		t.Fatal("the replica did not take the free lease within a minute of a lease request the store never answered")
	}
	if _, leading := c.Leading(); !leading {
		t.Fatal("acquire returned, but the controller does not lead")
	}
	if n := hung.calls.Load(); n < 2 {
		t.Fatalf("%d lease requests; want the unanswered one and another", n)
	}
}
