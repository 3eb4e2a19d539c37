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
const stagingLeaseTTL = 30 * time.Second

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
		l, err := c.cfg.Store.TryLease(ctx, name, holder, stagingLeaseTTL)
		if err != nil {
			unlockLocal()
			return nil, nil, fmt.Errorf("staging lease for %s: %w", key, err)
		}
		if l.Holder == holder {
			lctx, cancel := context.WithCancel(ctx)
			renewed := time.Now() // this machine's clock: the store's may differ
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
						got, err := c.cfg.Store.TryLease(lctx, name, holder, stagingLeaseTTL)
						// Lost: another holds it, or it could not be
						// renewed for so long that it may have lapsed.
						if err == nil && got.Holder != holder || err != nil && time.Since(renewed) > 2*stagingLeaseTTL/3 {
							c.cfg.Logger.Error("staging lease lost", "key", key, "err", err)
							cancel()
							return
						}
						if err == nil {
							l, renewed = got, time.Now()
						}
					}
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
