package run

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"meridian.dev/meridian/store"
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
	var nonce [8]byte
	rand.Read(nonce[:])
	holder := c.cfg.Replica + "/" + hex.EncodeToString(nonce[:])
	waitFor := time.Duration(0)
	if wait {
		waitFor = -1 // until ctx ends
	}
	lctx, release, err := holdStagingLease(ctx, c.cfg.Store, key, holder, waitFor, c.cfg.Logger.With("key", key))
	if err != nil {
		unlockLocal()
		if errors.Is(err, store.ErrLeaseBusy) {
			return nil, nil, errStagingBusy
		}
		return nil, nil, fmt.Errorf("staging lease for %s: %w", key, err)
	}
	return lctx, func() { release(); unlockLocal() }, nil
}

// HoldStagingLease takes, on st, the lease that gives its holder the only
// right to write into one site store (siteStore, as SiteStore names it)
// for one tenant: the lease the servers sharing st take for a staging or
// the withdrawal of a copy (lockStaging), for the CLI's `dataset stage` and
// the reconciliation `dataset ledger` makes, on the state directory's
// database. wait is as store.HoldLease's; store.ErrLeaseBusy when another
// holds it and the caller would not wait. The context returned ends if the
// lease is lost; release gives it back.
func HoldStagingLease(ctx context.Context, st store.Leaser, siteStore, tenant, holder string, wait time.Duration, log *slog.Logger) (context.Context, func(), error) {
	return holdStagingLease(ctx, st, siteStore+"|"+tenant, holder, wait, log)
}

func holdStagingLease(ctx context.Context, st store.Leaser, key, holder string, wait time.Duration, log *slog.Logger) (context.Context, func(), error) {
	sum := sha256.Sum256([]byte(key))
	name := "staging:" + hex.EncodeToString(sum[:12])
	return store.HoldLease(ctx, st, name, holder, stagingLeaseTTL, wait, log)
}
