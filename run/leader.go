package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"meridian.dev/meridian/store"
)

// Leadership: several servers may share one store; all answer the API and
// the agents, and the one holding the controller lease runs the loop. The
// lease lives in the store with an expiry by the store's clock; its epoch
// is the fencing token that every loop transaction carries (store.WithFence),
// so a leader that was paused past its lease cannot change a run once
// another took over. Before an action outside the store (starting an
// attempt, moving data) the loop also checks its lease in the store and
// against a local deadline measured on this process's monotonic clock from
// before its last successful renewal: a process frozen and thawed after its
// lease expired knows it without asking anyone.

// DefaultLeaseTTL is how long the controller lease lasts unrenewed; a
// replica takes over within about this long after the leader stops.
const DefaultLeaseTTL = 3 * time.Second

// NewReplicaID returns a holder name for this process: host, pid and a
// random suffix, so that a restarted process is a new holder.
func NewReplicaID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// leadership is this controller's current term, if it leads.
type leadership struct {
	mu       sync.Mutex
	epoch    int64
	deadline time.Time // local monotonic deadline of the lease
}

func (l *leadership) set(epoch int64, deadline time.Time) {
	l.mu.Lock()
	l.epoch, l.deadline = epoch, deadline
	l.mu.Unlock()
}

func (l *leadership) get() (int64, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.deadline
}

// ErrNotLeader is returned by a loop step whose controller no longer holds
// the controller lease.
var ErrNotLeader = errors.New("this server no longer leads the controller loop")

// Leading reports whether this controller holds the controller lease now
// (by its local deadline), and its epoch.
func (c *Controller) Leading() (int64, bool) {
	epoch, deadline := c.term.get()
	return epoch, epoch > 0 && time.Now().Before(deadline)
}

// stillLeading is asked before an action outside the store: the local
// deadline, then the lease in the store. A context without a fence (tests
// that drive Step directly) is not checked.
func (c *Controller) stillLeading(ctx context.Context) error {
	f, ok := store.FenceOf(ctx)
	if !ok {
		return nil
	}
	if epoch, leading := c.Leading(); !leading || epoch != f.Epoch {
		return ErrNotLeader
	}
	if err := c.cfg.Store.CheckFence(ctx, f); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return nil
}

// acquire waits until this controller takes the lease, then returns a context
// that carries the fence and ends when the lease is lost (or ctx ends). A
// goroutine renews the lease until then; release stops it and gives the
// lease up.
func (c *Controller) acquire(ctx context.Context) (context.Context, func(), error) {
	ttl := c.cfg.LeaseTTL
	poll := ttl / 6
	for {
		start := time.Now()
		// Bounded as a renewal is: a request the store never answers (a
		// connection cut without a reset) held the replica out of the
		// loop until the connection was given up, minutes later.
		tctx, tc := context.WithTimeout(ctx, ttl/3)
		l, err := c.cfg.Store.TryLease(tctx, store.ControllerLease, c.cfg.Replica, ttl)
		tc()
		if err == nil && l.Holder == c.cfg.Replica {
			c.term.set(l.Epoch, start.Add(ttl))
			lctx, cancel := context.WithCancel(store.WithFence(ctx, store.Fence{Lease: store.ControllerLease, Epoch: l.Epoch}))
			done := make(chan struct{})
			go c.renew(lctx, cancel, l.Epoch, done)
			c.cfg.Logger.Info("leading the controller loop", "replica", c.cfg.Replica, "epoch", l.Epoch)
			release := func() {
				cancel()
				<-done
				c.term.set(0, time.Time{})
				rctx, rc := context.WithTimeout(context.Background(), time.Second)
				c.cfg.Store.ReleaseLease(rctx, store.ControllerLease, c.cfg.Replica, l.Epoch)
				rc()
			}
			return lctx, release, nil
		}
		if err != nil {
			c.cfg.Logger.Warn("controller lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// renew keeps the lease until it is lost, then cancels the term.
func (c *Controller) renew(ctx context.Context, cancel func(), epoch int64, done chan struct{}) {
	defer close(done)
	defer cancel()
	ttl := c.cfg.LeaseTTL
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		rctx, rc := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
		l, err := c.cfg.Store.TryLease(rctx, store.ControllerLease, c.cfg.Replica, ttl)
		rc()
		switch {
		case err == nil && l.Holder == c.cfg.Replica && l.Epoch == epoch:
			c.term.set(epoch, start.Add(ttl))
		case err == nil:
			c.cfg.Logger.Warn("controller lease lost", "replica", c.cfg.Replica, "epoch", epoch, "holder", l.Holder, "holderEpoch", l.Epoch)
			c.term.set(0, time.Time{})
			return
		default:
			if _, leading := c.Leading(); !leading {
				c.cfg.Logger.Warn("controller lease not renewed before it lapsed", "replica", c.cfg.Replica, "epoch", epoch, "err", err)
				c.term.set(0, time.Time{})
				return
			}
			c.cfg.Logger.Warn("renew controller lease", "err", err)
		}
	}
}
