package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrLeaseBusy is HoldLease's answer when another holds the lease and the
// caller would not wait (or waited as long as it would).
var ErrLeaseBusy = errors.New("lease held by another")

// LeaseClock is the clock HoldLease reads the time and waits on: this
// machine's (time.Now, time.After) unless WithLeaseClock gives another.
// It is called from the lease's renewal goroutine as well as HoldLease's
// caller, so it must be safe for concurrent use.
type LeaseClock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed by this
	// clock.
	After(d time.Duration) <-chan time.Time
}

// LeaseOption changes how HoldLease keeps a lease.
type LeaseOption func(*leaseOptions)

type leaseOptions struct{ clock LeaseClock }

// WithLeaseClock has HoldLease time its waits, its renewals and the time
// the lease is surely held by c (a test's clock, moved by the test). A
// nil interface c is ignored: the lease keeps this machine's clock. A nil
// pointer of a clock type is not a nil interface: it is kept, and a
// method that reads through it panics.
func WithLeaseClock(c LeaseClock) LeaseOption {
	return func(o *leaseOptions) {
		if c != nil {
			o.clock = c
		}
	}
}

// systemClock is this machine's clock.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// HoldLease takes lease name for holder and keeps it, renewed every third
// of ttl, until the returned release is called. wait says how long to wait
// while another holds it: 0 not at all, below 0 until ctx ends; past it,
// ErrLeaseBusy.
//
// The context returned ends when the lease may be lost: a renewal that has
// not come back a third of the ttl before the lease could lapse (the
// store's clock may run apart from this machine's, and the work takes a
// moment to stop), or one that finds another holder, or the lease taken
// again at a new epoch (another may have held it in between). The work
// under the lease runs under that context, so that it stops. log reports
// a loss. Waits and renewals are timed by this machine's clock, or the
// one WithLeaseClock gives.
func HoldLease(ctx context.Context, l Leaser, name, holder string, ttl, wait time.Duration, log *slog.Logger, opts ...LeaseOption) (context.Context, func(), error) {
	o := leaseOptions{clock: systemClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	clock := o.clock
	pause := 50 * time.Millisecond
	var deadline time.Time
	if wait > 0 {
		deadline = clock.Now().Add(wait)
	}
	for {
		start := clock.Now() // the lease runs from (at the latest) here, by clock
		got, err := l.TryLease(ctx, name, holder, ttl)
		if err != nil {
			return nil, nil, fmt.Errorf("lease %s: %w", name, err)
		}
		if got.Holder == holder {
			lctx, release := keepLease(ctx, l, clock, got, start, ttl, log)
			return lctx, release, nil
		}
		if wait == 0 || wait > 0 && clock.Now().After(deadline) {
			return nil, nil, fmt.Errorf("lease %s: %w (%s)", name, ErrLeaseBusy, got.Holder)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-clock.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

// keepLease renews held, taken at start, until release is called or it
// may be lost; see HoldLease. A renewal is tried every third of ttl; one
// that fails is tried again a fifteenth of ttl later, for as long as the
// lease is surely still held, so that one failed statement (a dropped
// connection) does not end the work: with a renewal every third, the next
// would already be past the time the lease is surely held. clock times
// the renewals and tells when the lease is surely held.
func keepLease(ctx context.Context, l Leaser, clock LeaseClock, held Lease, start time.Time, ttl time.Duration, log *slog.Logger) (context.Context, func()) {
	lctx, cancel := context.WithCancel(ctx)
	valid := start.Add(2 * ttl / 3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		next := clock.After(ttl / 3)
		for {
			select {
			case <-lctx.Done():
				return
			case <-next:
			}
			// A renewal that has not come back by then is a lease that
			// may have lapsed: it is given the time left, as clock
			// tells it, on this machine's timers (a context's deadline).
			start := clock.Now()
			rctx, rcancel := context.WithTimeout(lctx, valid.Sub(start))
			got, err := l.TryLease(rctx, held.Name, held.Holder, ttl)
			rcancel()
			switch {
			case lctx.Err() != nil:
				return
			case err == nil && got.Holder == held.Holder && got.Epoch == held.Epoch:
				held, valid = got, start.Add(2*ttl/3)
				next = clock.After(ttl / 3)
				continue
			case err == nil:
				// Another holds it, or it lapsed and was taken again at a
				// new epoch: another may have held it in between.
				log.Error("lease lost", "lease", held.Name, "holder", got.Holder, "epoch", got.Epoch, "held", held.Epoch)
				if got.Holder == held.Holder {
					held = got // taken again: release gives it back
				}
			case clock.Now().Before(valid):
				log.Warn("lease not renewed; trying again", "lease", held.Name, "err", err)
				next = clock.After(ttl / 15)
				continue
			default:
				log.Error("lease lost: not renewed before it could lapse", "lease", held.Name, "err", err)
			}
			cancel()
			return
		}
	}()
	release := func() {
		cancel()
		<-done
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		l.ReleaseLease(rctx, held.Name, held.Holder, held.Epoch)
		rcancel()
	}
	return lctx, release
}
