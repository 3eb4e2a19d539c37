package run

import (
	"context"
	"errors"

	"meridian.dev/meridian/planner"
)

// The server's plans count the transfer ledger. The law's volume rules
// (China's thresholds of people exported since 1 January, the DOJ's bulk
// thresholds of data given over twelve months) read what the tenant's
// organisation exported before. The stager and the law of a live
// placement (placementLaw) read the controller's ledger; a plan made
// without it judged those rules on the job's own datasets only, so a run
// the ledger makes unlawful was ranked lawful, submitted, and failed at
// staging, or, moved off a site a placement rule denies on the ledger,
// planned back onto it.

// planCtx is ctx carrying the controller's ledger to the planner
// (planner.WithLedger): Config.Plan is handed a context, not planner
// options, and serve's planner passes its context on as
// planner.Options.Context. The ledger answers for the plan's world's
// tenant only (the query's Tenant), as placementLaw's does.
func (c *Controller) planCtx(ctx context.Context) context.Context {
	return planner.WithLedger(ctx, c.exports())
}

// ledgerNotJudged is err, a plan's, as a storeReadError when the planner
// could not read the ledger (planner.ErrLedgerUnread): the plan judged
// nothing, so the step that asked for it (a re-plan, a held run's retry)
// is tried again rather than failing or holding the run on a store's
// passing error.
func ledgerNotJudged(err error) error {
	var rerr *storeReadError
	if errors.Is(err, planner.ErrLedgerUnread) && !errors.As(err, &rerr) {
		return &storeReadError{err}
	}
	return err
}
