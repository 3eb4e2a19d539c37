package run

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
// register record of that resource names that hash. A resource that a
// sealed register record names is registered until a sealed record says
// it was deleted (action "deleted"; Meridian itself deletes none): its row
// deleted outright is changed outside Meridian too, not a name free to
// register again on a request's word.
type resourceWitness struct {
	chain *audit.Chain

	mu sync.Mutex
	// latest is, per tenant, kind and name, the hash the latest sealed
	// register record read so far names; after is the seq of the last
	// record read.
	latest map[string]map[resourceName]string
	after  int64
	// seqs is, per tenant, kind and name, the seq of that latest record:
	// which registration the resource is (sealedSeq).
	seqs map[string]map[resourceName]int64
	// gens counts, per tenant, the sealed register records read.
	gens map[string]uint64
}

type resourceName struct{ kind, name string }

// actionDeleted, as a register record's action, says the resource was
// deleted in the record's transaction: from then on its row is absent.
const actionDeleted = "deleted"

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
	k := resourceName{r.Kind, r.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	if h, ok := w.latest[tenant][k]; ok && h == r.Hash {
		return true, nil
	}
	if err := w.catchUp(ctx, log); err != nil {
		return false, fmt.Errorf("read the register records of the audit log: %w", err)
	}
	h, ok := w.latest[tenant][k]
	return ok && h == r.Hash, nil
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

// generation is the count of tenant's sealed register records read so
// far, and whether there is a witness: while it stays the same, what the
// records say the tenant registered stays the same.
func (w *resourceWitness) generation(tenant string) (uint64, bool) {
	if w == nil || w.chain == nil {
		return 0, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gens[tenant], true
}

// refusal is the error for r once it is still not confirmed after a
// second read.
func (w *resourceWitness) refusal(tenant string, r *store.Resource) error {
	w.mu.Lock()
	rec, ok := w.latest[tenant][resourceName{r.Kind, r.Name}]
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
		w.latest, w.gens = map[string]map[resourceName]string{}, map[string]uint64{}
	}
	if w.seqs == nil {
		w.seqs = map[string]map[resourceName]int64{}
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
			var p struct{ Kind, Name, SHA256, Action string }
			if json.Unmarshal(e.Payload, &p) != nil || p.Kind == "" || p.Name == "" {
				continue
			}
			k := resourceName{p.Kind, p.Name}
			w.gens[e.Tenant]++
			if p.Action == actionDeleted {
				delete(w.latest[e.Tenant], k)
				delete(w.seqs[e.Tenant], k)
				continue
			}
			if w.latest[e.Tenant] == nil {
				w.latest[e.Tenant] = map[resourceName]string{}
			}
			if w.seqs[e.Tenant] == nil {
				w.seqs[e.Tenant] = map[resourceName]int64{}
			}
			w.latest[e.Tenant][k] = p.SHA256
			w.seqs[e.Tenant][k] = e.Seq
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

// recorded is the hash the latest sealed register record read so far
// names for tenant's resource kind/name, and whether one names it (and no
// sealed record deleted it since).
func (w *resourceWitness) recorded(tenant, kind, name string) (string, bool) {
	if w == nil || w.chain == nil {
		return "", false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.latest[tenant][resourceName{kind, name}]
	return h, ok
}

// sealedSeq is the seq of the latest sealed register record read so far
// of tenant's resource kind/name, when that record names hash (the row the
// caller confirmed): the registration the row is. Each register and
// `apply --update` seals a new record, so two registrations of one name
// are two seqs however alike their contents; a record not sealed under
// the audit key is never read, so a seq cannot be made up.
func (w *resourceWitness) sealedSeq(tenant, kind, name, hash string) (int64, bool) {
	if w == nil || w.chain == nil {
		return 0, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	k := resourceName{kind, name}
	if h, ok := w.latest[tenant][k]; !ok || h != hash {
		return 0, false
	}
	seq, ok := w.seqs[tenant][k]
	return seq, ok && seq > 0
}

// rowGone is the reason a registered resource whose row was deleted
// outright, while its latest sealed register record names hash, is
// changed outside Meridian.
func rowGone(hash string) string {
	return fmt.Sprintf("its row is gone, while its latest sealed register record names %s and no sealed record deletes it", hash)
}

// absent is, of tenant's resources that a sealed register record names
// and no sealed record deleted, those for which listed (the rows listed
// before the witness read on) has no row, with the hash each record
// names.
func (w *resourceWitness) absent(tenant string, listed func(kind, name string) bool) map[resourceName]string {
	if w == nil || w.chain == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out map[resourceName]string
	for k, h := range w.latest[tenant] {
		if !listed(k.kind, k.name) {
			if out == nil {
				out = map[resourceName]string{}
			}
			out[k] = h
		}
	}
	return out
}

// missingRows reads again each of tenant's resources that the audit log
// holds registered but the rows listed before the witness read on lack
// (listed reports those): one registered in between is returned,
// confirmed; one whose row is still absent was deleted outside Meridian,
// a *changedError (in an InputError), unless replacing names it (an apply
// that registers it again), when it is left out and skipped is true.
func (c *Controller) missingRows(ctx context.Context, tenant string, listed func(kind, name string) bool, replacing map[string]bool) (_ []*store.Resource, skipped bool, _ error) {
	gone := c.resWitness.absent(tenant, listed)
	if len(gone) == 0 {
		return nil, false, nil
	}
	names := make([]resourceName, 0, len(gone))
	for k := range gone {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b resourceName) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
	})
	var out []*store.Resource
	for _, k := range names {
		r, err := c.cfg.Store.GetResource(ctx, tenant, k.kind, k.name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if replacing[k.kind+"/"+k.name] {
				skipped = true
				continue
			}
			return nil, false, resourceChanged(&store.Resource{Tenant: tenant, Kind: k.kind, Name: k.name}, rowGone(gone[k]))
		case err != nil:
			return nil, false, &storeReadError{err}
		}
		r, err = c.confirmRow(ctx, tenant, r)
		var changed *changedError
		if errors.As(err, &changed) && replacing[k.kind+"/"+k.name] {
			skipped = true
			continue
		}
		if err != nil {
			return nil, false, err
		}
		out = append(out, r)
	}
	return out, skipped, nil
}

// markedRow is one of a tenant's registered resources as a listing shows
// it: its row (for one whose row is gone, its kind and name alone) and,
// when it is not as Meridian registered it, why.
type markedRow struct {
	*store.Resource
	changed string
}

// markedRows lists tenant's registered resources of kind (every kind when
// empty), by kind and name, each confirmed or marked changed outside
// Meridian, those whose row was deleted outright (a sealed register record
// names them, no sealed record deletes them) included.
func (c *Controller) markedRows(ctx context.Context, tenant, kind string) ([]markedRow, error) {
	rows, err := c.cfg.Store.ListResources(ctx, tenant, kind)
	if err != nil {
		return nil, err
	}
	// Read on after the list (confirmRow), even with no rows (absent).
	if err := c.resWitness.readOn(ctx, c.cfg.Store); err != nil {
		return nil, err
	}
	out := make([]markedRow, 0, len(rows))
	listed := make(map[resourceName]bool, len(rows))
	for _, r := range rows {
		listed[resourceName{r.Kind, r.Name}] = true
		m, err := c.markedRow(ctx, tenant, r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	gone := c.resWitness.absent(tenant, func(k, n string) bool { return kind != "" && k != kind || listed[resourceName{k, n}] })
	if len(gone) == 0 {
		return out, nil
	}
	for k, h := range gone {
		r, err := c.cfg.Store.GetResource(ctx, tenant, k.kind, k.name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			r = &store.Resource{Tenant: tenant, Kind: k.kind, Name: k.name}
			var changed *changedError
			errors.As(resourceChanged(r, rowGone(h)), &changed)
			out = append(out, markedRow{Resource: r, changed: changed.msg})
			continue
		case err != nil:
			return nil, err
		}
		// Registered between the list and the read of the records.
		m, err := c.markedRow(ctx, tenant, r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b markedRow) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// markedRow confirms r, listed before the witness read on, or marks it.
func (c *Controller) markedRow(ctx context.Context, tenant string, r *store.Resource) (markedRow, error) {
	got, err := c.confirmRow(ctx, tenant, r)
	var changed *changedError
	if err != nil && !errors.As(err, &changed) {
		return markedRow{}, err
	}
	if got != nil {
		r = got
	}
	m := markedRow{Resource: r}
	if changed != nil {
		m.changed = changed.msg
	}
	return m, nil
}
