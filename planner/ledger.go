package planner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// ErrLedgerUnread says that a plan was not made because the transfer
// ledger its law counts (Options.Exports) could not be read: the rules
// that count earlier exports judged nothing, so no placement can be called
// lawful. Nothing was decided; the same plan a moment later may be made.
var ErrLedgerUnread = errors.New("the transfer ledger could not be read")

// ledgerKey is the context key of the ledger WithLedger attaches.
type ledgerKey struct{}

// WithLedger is ctx carrying the transfer ledger a server's plans count
// (its Exports). Make counts it when Options.Exports is nil and
// Options.Context is ctx, so that a planner function whose signature has
// no place for the ledger (a server's controller hands its planner a
// context, a job and a date) still judges the volume rules on what was
// exported before, not on the job's own datasets only. A nil e leaves ctx
// as it is.
func WithLedger(ctx context.Context, e policy.Exports) context.Context {
	if e == nil {
		return ctx
	}
	return context.WithValue(ctx, ledgerKey{}, e)
}

// LedgerOf is the ledger WithLedger attached to ctx, or nil.
func LedgerOf(ctx context.Context) policy.Exports {
	if ctx == nil {
		return nil
	}
	e, _ := ctx.Value(ledgerKey{}).(policy.Exports)
	return e
}

// planLedger is the ledger one plan reads, as every session of the plan
// (one per worker, one per day a horizon looks at) asks it. It keeps the
// first error a read met: a rule that could not count has not judged the
// placement, whatever its session then decided. (It need not answer a
// question once for all the sessions: the planner judges the law once per
// class of pool, and the policy session counts each total once.)
type planLedger struct {
	e   policy.Exports
	mu  sync.Mutex
	err error
}

// batchExports is a ledger that answers a batch of questions asked
// together (transfer.ExportIndex: its Batch reads the audit log's head at
// its first question only, where each question read it).
type batchExports interface {
	Batch() policy.Exports
}

// newPlanLedger is the ledger of one plan over e: its batch when e has
// one, so that the plan's questions look for new records once between
// them.
func newPlanLedger(e policy.Exports) *planLedger {
	if b, ok := e.(batchExports); ok {
		e = b.Batch()
	}
	return &planLedger{e: e}
}

// Exported implements policy.Exports.
func (l *planLedger) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	xs, err := l.e.Exported(ctx, tenant, orgs, origin, since, until)
	if err != nil {
		l.mu.Lock()
		if l.err == nil {
			l.err = err
		}
		l.mu.Unlock()
	}
	return xs, err
}

// failed is the plan's error when a read of the ledger failed, nil
// otherwise (and for a plan without a ledger).
func (l *planLedger) failed(job string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		return nil
	}
	return fmt.Errorf("planner: plan of TrainingJob/%s: %w, so the rules that count earlier exports judged no placement: %w", job, ErrLedgerUnread, l.err)
}
