package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Lease is a named, expiring right to act that one holder has at a time.
// Several `meridian serve` replicas share one store; the one holding the
// controller lease runs the controller loop.
type Lease struct {
	Name   string
	Holder string
	// Epoch grows by one every time the lease is taken anew (by another
	// holder, or by the same one after it expired). It is the fencing
	// token: a write carrying an older epoch is refused.
	Epoch int64
	// Expires is when the lease lapses unless renewed, by the store's clock.
	Expires time.Time
}

// ControllerLease is the lease whose holder runs the controller loop.
const ControllerLease = "controller"

// ErrFenced is returned by a write whose fence names an epoch that is no
// longer the lease's: its writer lost the lease and must stop acting.
var ErrFenced = errors.New("fenced: the lease this write depends on has passed to another holder")

// Fence is what a fenced write checks: that lease Name is still at Epoch.
type Fence struct {
	Lease string
	Epoch int64
}

type fenceKey struct{}

// WithFence returns ctx carrying f. Every UpdateRun under that context
// checks, inside its transaction, that the lease is still at f.Epoch, and
// fails with ErrFenced otherwise, changing nothing.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceOf returns the fence ctx carries, if any.
func FenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

func fencedErr(f Fence, epoch int64, found bool) error {
	if !found {
		return fmt.Errorf("lease %s does not exist, write fenced at epoch %d: %w", f.Lease, f.Epoch, ErrFenced)
	}
	return fmt.Errorf("lease %s is at epoch %d, write carried %d: %w", f.Lease, epoch, f.Epoch, ErrFenced)
}

// Leaser hands out leases. Implementations use the store's own clock, so
// that replicas whose clocks disagree still agree on who holds a lease.
type Leaser interface {
	// TryLease takes lease name for holder when it is free, has expired or
	// is holder's already (then it is renewed, keeping its epoch), for ttl.
	// It returns the lease as it stands afterwards: Holder is someone else
	// when the lease is held by another.
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease gives up holder's lease at epoch, so that another may take
	// it without waiting for it to expire. Releasing a lease one does not
	// hold does nothing.
	ReleaseLease(ctx context.Context, name, holder string, epoch int64) error
	// CheckFence returns ErrFenced unless lease f.Lease is at f.Epoch. A
	// leader calls it just before an action outside the store (starting an
	// attempt at a site).
	CheckFence(ctx context.Context, f Fence) error
}

// Heartbeats record when attempts' agents last reported, in the store, so
// that whichever replica leads sees reports that any replica received.
type Heartbeats interface {
	// Heard records that attempt of runID reported now (the store's clock).
	Heard(ctx context.Context, runID string, attempt int) error
	// SilentFor returns how long ago attempt of runID last reported, by the
	// store's clock; ok is false when it never did.
	SilentFor(ctx context.Context, runID string, attempt int) (d time.Duration, ok bool, err error)
}

// RunCount is how many runs are in one state at one site.
type RunCount struct {
	State string
	Site  string
	N     int64
	// Other marks CountRuns' last row when the runs are in more than
	// MaxRunCounts (state, site) pairs: N sums the runs of the pairs past
	// those, and State and Site are OtherRunCount.
	Other bool
}
