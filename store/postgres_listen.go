package store

import (
	"context"
	"strings"
	"time"
)

// runsChannel is the channel migration 00006 notifies with the tenant and
// id of each run whose row (and with it, its timeline) a transaction
// changed: "tenant id".
const runsChannel = "meridian_run_changes"

// RunChanges is what a RunListener tells its caller.
type RunChanges struct {
	// Changed is called with the tenant and id of a run whose change some
	// replica committed (this one included), in commit order.
	Changed func(tenant, id string)
	// Resync is called each time listening (re)starts: changes committed
	// while nobody listened were not announced, so whoever waits on one
	// should read again.
	Resync func()
	// Lost is called when the listening connection fails, before
	// ListenRuns connects again.
	Lost func(err error)
}

// RunListener is a Store that announces the run changes every replica
// commits, not only this process's: the API's event streams wake on them
// instead of waiting for their next poll.
type RunListener interface {
	// ListenRuns calls h's functions until ctx ends. It never returns
	// early: a lost connection is reported to h.Lost and opened again, the
	// waits between tries doubling from 100 ms to 5 s.
	ListenRuns(ctx context.Context, h RunChanges)
}

// Listener backoff bounds; a connection that listened this long before it
// failed starts the backoff over.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	listenHealthy    = time.Minute
)

// ListenRuns implements RunListener with PostgreSQL's LISTEN on a
// connection of its own, taken out of the pool (a listening session must
// not serve other queries). The notification queue is the database's:
// a listener that stops reading without closing its connection (a frozen
// process) holds notifications back for every replica until the queue,
// 8 GB by default, is full and notifying transactions fail; the database
// logs a warning from half full on, naming the listener's process.
func (s *Postgres) ListenRuns(ctx context.Context, h RunChanges) {
	wait := listenBackoffMin
	for ctx.Err() == nil {
		start := time.Now()
		err := s.listenOnce(ctx, h)
		if ctx.Err() != nil {
			return
		}
		if h.Lost != nil {
			h.Lost(err)
		}
		if time.Since(start) >= listenHealthy {
			wait = listenBackoffMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, listenBackoffMax)
	}
}

// listenOnce listens on one connection until it fails or ctx ends.
func (s *Postgres) listenOnce(ctx context.Context, h RunChanges) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+runsChannel); err != nil {
		return err
	}
	if h.Resync != nil {
		h.Resync()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Channel != runsChannel || h.Changed == nil {
			continue
		}
		// Tenant names hold no space (they are DNS names); a payload
		// without one is not ours and is dropped.
		if tenant, id, ok := strings.Cut(n.Payload, " "); ok && tenant != "" && id != "" {
			h.Changed(tenant, id)
		}
	}
}
