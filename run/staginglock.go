package run

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// stagingLeaseTTL is how long a staging lease lasts unrenewed; the holder
// renews it every third of that.
var stagingLeaseTTL = 30 * time.Second

// lockStaging gives the caller the only right, among every server sharing
// the store, to write into one site store for one tenant (key): stagings,
// and the withdrawal of a copy, there. A second staging that ran at the
// same time would reconcile the first's open intent while its chunks were
// still crossing: it would record as abandoned chunks that arrived a moment
// later, and the bytes would be at the site with no record counting them.
//
// Within this server the callers take turns on a mutex; across servers on
// a store lease, renewed while held. The context returned ends when the
// lease is lost (this server stalled past its TTL and another took it), so
// that the work under it stops. Call unlock when done.
func (c *Controller) lockStaging(ctx context.Context, key string) (context.Context, func(), error) {
	return c.stagingLock(ctx, key, true)
}

// errStagingBusy is tryLockStaging's answer while another holds the key.
var errStagingBusy = errors.New("a staging into that store is under way")

// tryLockStaging is lockStaging that does not wait: errStagingBusy when
// another staging holds the key.
func (c *Controller) tryLockStaging(ctx context.Context, key string) (context.Context, func(), error) {
	return c.stagingLock(ctx, key, false)
}

func (c *Controller) stagingLock(ctx context.Context, key string, wait bool) (context.Context, func(), error) {
	var unlockLocal func()
	if wait {
		unlockLocal = c.lockStore(key)
	} else if unlockLocal = c.tryLockStore(key); unlockLocal == nil {
		return nil, nil, errStagingBusy
	}
	sum := sha256.Sum256([]byte(key))
	name := "staging:" + hex.EncodeToString(sum[:12])
	var nonce [8]byte
	rand.Read(nonce[:])
	holder := c.cfg.Replica + "/" + hex.EncodeToString(nonce[:])
	pause := 50 * time.Millisecond
	for {
		start := time.Now() // the lease runs from (at the latest) here, by this machine's clock
		l, err := c.cfg.Store.TryLease(ctx, name, holder, stagingLeaseTTL)
		if err != nil {
			unlockLocal()
			return nil, nil, fmt.Errorf("staging lease for %s: %w", key, err)
		}
		if l.Holder == holder {
			lctx, cancel := context.WithCancel(ctx)
			// The work under the lease stops a third of the TTL before
			// the lease could lapse unrenewed (the store's clock may run
			// apart from this machine's, and the work takes a moment to
			// stop).
			valid := start.Add(2 * stagingLeaseTTL / 3)
			done := make(chan struct{})
			go func() {
				defer close(done)
				t := time.NewTicker(stagingLeaseTTL / 3)
				defer t.Stop()
				for {
					select {
					case <-lctx.Done():
						return
					case <-t.C:
					}
					// A renewal that has not come back by then is a
					// lease that may have lapsed.
					start := time.Now()
					rctx, rcancel := context.WithDeadline(lctx, valid)
					got, err := c.cfg.Store.TryLease(rctx, name, holder, stagingLeaseTTL)
					rcancel()
					switch {
					case lctx.Err() != nil:
						return
					case err == nil && got.Holder == holder && got.Epoch == l.Epoch:
						l, valid = got, start.Add(2*stagingLeaseTTL/3)
						continue
					case err == nil:
						// Another holds it, or it lapsed and was taken
						// again at a new epoch: another server may have
						// held it in between (and reconciled this
						// staging's open intent).
						c.cfg.Logger.Error("staging lease lost", "key", key, "holder", got.Holder, "epoch", got.Epoch, "held", l.Epoch)
						if got.Holder == holder {
							l = got // taken again: unlock gives it back
						}
					case time.Now().Before(valid):
						continue // tried again on the next tick
					default:
						c.cfg.Logger.Error("staging lease lost: not renewed before it could lapse", "key", key, "err", err)
					}
					cancel()
					return
				}
			}()
			unlock := func() {
				cancel()
				<-done
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				c.cfg.Store.ReleaseLease(rctx, name, holder, l.Epoch)
				rcancel()
				unlockLocal()
			}
			return lctx, unlock, nil
		}
		if !wait {
			unlockLocal()
			return nil, nil, errStagingBusy
		}
		select {
		case <-ctx.Done():
			unlockLocal()
			return nil, nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}
