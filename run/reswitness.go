package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// resourceWitness confirms a tenant's registered resources against the
// audit log. A resource's row and its register record are written in one
// transaction (Apply, or a run request registering what it carries), and
// only the record is sealed: whoever could write the database without the
// audit key could otherwise rewrite a registered Dataset or Organization
// (its document and the hash on its row together: a dataset's kind or
// location, an organisation's country) and every later plan, submission
// and law check would judge by the rewritten one. A row is taken only when
// its document hashes to the hash on its row and the latest sealed
// register record of that resource names that hash.
type resourceWitness struct {
	chain *audit.Chain

	mu sync.Mutex
	// latest is, per tenant, kind and name, the hash the latest sealed
	// register record read so far names; after is the seq of the last
	// record read.
	latest map[resourceKey]string
	after  int64
}

type resourceKey struct{ tenant, kind, name string }

// Register records are a few hundred bytes; a page holds many.
const (
	resWitnessPage      = 1000
	resWitnessPageBytes = 1 << 20
)

// changedError is a registered resource whose row is not what Meridian
// wrote. To the tenant it is a conflict with a registered resource (409),
// which registering the resource again (`meridian apply --update`) mends.
type changedError struct {
	kind, name string
	msg        string
}

func (e *changedError) Error() string        { return e.msg }
func (e *changedError) Is(target error) bool { return target == ErrConflict }

// resourceChanged says a registered resource's row is not what Meridian
// wrote.
func resourceChanged(r *store.Resource, why string) error {
	return &InputError{Field: "documents", Err: &changedError{kind: r.Kind, name: r.Name,
		msg: fmt.Sprintf("registered %s %s of tenant %s: %s: it was changed outside Meridian, and is not used until the database is restored or the tenant registers it again (`meridian apply -f FILE --update`)",
			r.Kind, r.Name, catalog.TenantOr(r.Tenant), why)}}
}

// confirmed reports whether r (of tenant) is as Meridian registered it: its
// document hashes to its row's hash and, with a witness, the latest sealed
// register record of it names that hash. A false answer with a nil error
// names no fault yet: the caller reads the row again (an update that came
// in between) and asks once more.
func (w *resourceWitness) confirmed(ctx context.Context, log store.Store, tenant string, r *store.Resource) (bool, error) {
	sum := sha256.Sum256(r.Doc)
	if got := hex.EncodeToString(sum[:]); got != r.Hash {
		return false, resourceChanged(r, fmt.Sprintf("its document hashes to %s, not to the %s its row records", got, r.Hash))
	}
	if w == nil || w.chain == nil {
		return true, nil
	}
	k := resourceKey{tenant, r.Kind, r.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.latest[k] == r.Hash {
		return true, nil
	}
	if err := w.catchUp(ctx, log); err != nil {
		return false, fmt.Errorf("read the register records of the audit log: %w", err)
	}
	return w.latest[k] == r.Hash, nil
}

// readOn reads the register records sealed since the last read: a reader
// calls it after listing the rows it confirms, so that a row put back to
// an earlier version after an update is held to the update's record, not
// to the earlier one this server read before (the rows are listed first:
// a record newer than a row listed is an update that came in between,
// which the caller reads again).
func (w *resourceWitness) readOn(ctx context.Context, log store.Store) error {
	if w == nil || w.chain == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.catchUp(ctx, log); err != nil {
		return fmt.Errorf("read the register records of the audit log: %w", err)
	}
	return nil
}

// refusal is the error for r once it is still not confirmed after a
// second read.
func (w *resourceWitness) refusal(tenant string, r *store.Resource) error {
	w.mu.Lock()
	rec, ok := w.latest[resourceKey{tenant, r.Kind, r.Name}]
	w.mu.Unlock()
	if !ok {
		return resourceChanged(r, "no sealed register record of the audit log names it")
	}
	return resourceChanged(r, fmt.Sprintf("its row's hash is %s, but its latest sealed register record names %s", r.Hash, rec))
}

// catchUp reads the register records sealed since the last read. Records
// not sealed under the chain's key (a row added to the log by hand) are
// passed over: the log's verification names them.
func (w *resourceWitness) catchUp(ctx context.Context, log store.Store) error {
	if w.latest == nil {
		w.latest = map[resourceKey]string{}
	}
	q := store.AuditQuery{Kinds: []string{KindRegister}, AllTenants: true, After: w.after, Limit: resWitnessPage, MaxBytes: resWitnessPageBytes}
	for {
		page, next, err := log.AuditSelectPage(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page {
			w.after = max(w.after, e.Seq)
			if !w.chain.Sealed(e) {
				continue
			}
			var p struct{ Kind, Name, SHA256 string }
			if json.Unmarshal(e.Payload, &p) != nil || p.Kind == "" || p.Name == "" {
				continue
			}
			w.latest[resourceKey{e.Tenant, p.Kind, p.Name}] = p.SHA256
		}
		if next == 0 {
			return nil
		}
		q.After = next
	}
}

// resourceIntact reports whether r, as read, is as Meridian registered it
// (a read error counts as not).
func (c *Controller) resourceIntact(ctx context.Context, tenant string, r *store.Resource) bool {
	ok, err := c.resWitness.confirmed(ctx, c.cfg.Store, tenant, r)
	return ok && err == nil
}

// confirmRow confirms r, a row of tenant's listed before the witness read
// on (readOn), and returns it, or the row read again when an update came
// in after the list (its record is newer than the row listed). A row not
// as Meridian registered it is a *changedError (in an InputError).
func (c *Controller) confirmRow(ctx context.Context, tenant string, r *store.Resource) (*store.Resource, error) {
	ok, err := c.resWitness.confirmed(ctx, c.cfg.Store, tenant, r)
	if err != nil || ok {
		return r, err
	}
	if r, err = c.cfg.Store.GetResource(ctx, tenant, r.Kind, r.Name); err != nil {
		return nil, &storeReadError{err}
	}
	if ok, err = c.resWitness.confirmed(ctx, c.cfg.Store, tenant, r); err == nil && !ok {
		err = c.resWitness.refusal(tenant, r)
	}
	return r, err
}
