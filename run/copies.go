package run

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// stagedCopy is a dataset of a tenant that the ledger says is at a site,
// or (kind transfer.KindCheckpoint) a run's sealed checkpoint that a move
// copied there: dataset is then the checkpoint's name, and run its run.
type stagedCopy struct {
	tenant, dataset, site, org string
	kind, run                  string
}

// checkpoint reports whether the copy is a run's checkpoint.
func (cp stagedCopy) checkpoint() bool { return cp.kind == transfer.KindCheckpoint }

// copyKey is the copy an entry of the ledger names.
func copyKey(tenant, kind, name, site, run string) stagedCopy {
	k := stagedCopy{tenant: catalog.TenantOr(tenant), dataset: name, site: site}
	if kind == transfer.KindCheckpoint {
		k.kind, k.run = kind, run
	}
	return k
}

// stagedCopies reads the ledger: every dataset copy with objects at a site
// since it was last withdrawn there, whole or not: a confirmation of any of
// its objects, or an intent that nothing has closed (a staging cut short
// may have left any of that intent's objects at the site). Checkpoints a
// move copied to a site count alike: weights trained on the data are
// judged as the data is (checkpointCopyLaw).
//
// It reads only the entries appended since its last read (copyIndex): the
// law check runs it on every pass, and read whole, a ledger of 100,000
// entries was the controller's largest read.
func (c *Controller) stagedCopies(ctx context.Context) ([]stagedCopy, error) {
	return c.copyIndex.read(ctx, c.cfg.Store)
}

// copyLedgerKinds are the kinds of ledger entries that say where copies
// are.
var copyLedgerKinds = []string{transfer.KindIntent, transfer.KindTransfer, transfer.KindAbandoned, transfer.KindWithdrawn}

// ledgerCopies is stagedCopies over the ledger entries q selects (one
// run's, say), read whole. The server's read of one run's entries starts
// at the run's submission (runRecordsQuery), not at the log's start.
func (c *Controller) ledgerCopies(ctx context.Context, q store.AuditQuery) ([]stagedCopy, error) {
	q.Kinds = copyLedgerKinds
	q, err := c.runRecordsQuery(ctx, q)
	if err != nil {
		return nil, err
	}
	es, err := c.cfg.Store.AuditSelect(ctx, q)
	if err != nil {
		return nil, err
	}
	f := newCopyFold()
	for _, e := range es {
		f.apply(e)
	}
	return f.copies(), nil
}

// copyFold is what the ledger's entries, folded in order, say of the
// copies at sites: a confirmation puts a copy there, and a withdrawal
// (which deletes whatever of it is at the site) takes it away, with the
// intents opened before it. It holds the copies that are at a site (and
// their open intents), and the organisation each copy was last staged
// for (kept after a withdrawal: a staging again that names none is judged
// under it): one name a copy, not the ledger's history.
type copyFold struct {
	at  map[stagedCopy]*copyState
	org map[stagedCopy]string
	// intentOf is the copy each open intent is of: an abandonment names
	// the intent, not whether it was a dataset's or a checkpoint's. An
	// intent leaves it once closed (confirmed, abandoned, or its copy
	// withdrawn).
	intentOf map[string]stagedCopy
	// touched, when not nil, gathers the copies entries folded since it
	// was emptied name (copyIndex keeps its list of copies by it).
	touched map[stagedCopy]bool
}

// copyState is one copy's in a copyFold: whether any of its objects was
// confirmed at the site, and its intents neither confirmed nor abandoned.
type copyState struct {
	confirmed bool
	open      map[string]bool
}

func newCopyFold() *copyFold {
	return &copyFold{at: map[stagedCopy]*copyState{}, org: map[stagedCopy]string{}, intentOf: map[string]stagedCopy{}}
}

func (f *copyFold) get(k stagedCopy) *copyState {
	if f.at[k] == nil {
		f.at[k] = &copyState{open: map[string]bool{}}
	}
	return f.at[k]
}

// close closes intent id of copy k, and forgets k when nothing of it is
// left at the site (the same, to the fold, as a copy never staged).
func (f *copyFold) close(k stagedCopy, id string) {
	st := f.at[k]
	if st == nil {
		return
	}
	delete(st.open, id)
	if f.intentOf[id] == k {
		delete(f.intentOf, id)
	}
	if !st.confirmed && len(st.open) == 0 {
		delete(f.at, k)
	}
}

// apply folds one ledger entry; an entry that does not decode is passed
// over.
func (f *copyFold) apply(e audit.Entry) {
	k, ok := f.fold(e)
	if ok && f.touched != nil {
		f.touched[k] = true
	}
}

// fold is apply, and says which copy the entry named (ok false: none).
func (f *copyFold) fold(e audit.Entry) (stagedCopy, bool) {
	switch e.Kind {
	case transfer.KindIntent:
		// Not its list of objects, which this does not need.
		var in struct {
			ID string `json:"id"`
			transfer.Entry
		}
		if json.Unmarshal(e.Payload, &in) != nil {
			return stagedCopy{}, false
		}
		k := copyKey(e.Tenant, in.Kind, in.Dataset, in.Site, in.RunID)
		f.get(k).open[in.ID] = true
		f.intentOf[in.ID] = k
		if in.Organization != "" {
			f.org[k] = in.Organization
		}
		return k, true
	case transfer.KindTransfer:
		var t transfer.Entry
		if json.Unmarshal(e.Payload, &t) != nil {
			return stagedCopy{}, false
		}
		k := copyKey(e.Tenant, t.Kind, t.Dataset, t.Site, t.RunID)
		if t.BytesSent == 0 && !t.Complete {
			f.close(k, t.Intent)
			return k, true
		}
		f.get(k).confirmed = true
		f.close(k, t.Intent)
		if t.Organization != "" {
			f.org[k] = t.Organization
		}
		return k, true
	case transfer.KindAbandoned:
		var a transfer.Abandoned
		if json.Unmarshal(e.Payload, &a) != nil {
			return stagedCopy{}, false
		}
		k, ok := f.intentOf[a.Intent]
		if !ok {
			k = copyKey(e.Tenant, "", a.Dataset, a.Site, "")
		}
		f.close(k, a.Intent)
		return k, true
	case transfer.KindWithdrawn:
		var w transfer.Withdrawn
		if json.Unmarshal(e.Payload, &w) != nil {
			return stagedCopy{}, false
		}
		k := copyKey(e.Tenant, w.Kind, w.Dataset, w.Site, w.Run)
		if st := f.at[k]; st != nil {
			for id := range st.open {
				if f.intentOf[id] == k {
					delete(f.intentOf, id)
				}
			}
		}
		delete(f.at, k)
		return k, true
	}
	return stagedCopy{}, false
}

// copies is the copies at sites, sorted (sortCopies).
func (f *copyFold) copies() []stagedCopy {
	out := make([]stagedCopy, 0, len(f.at))
	for k, st := range f.at {
		if st.confirmed || len(st.open) > 0 {
			k.org = f.org[k]
			out = append(out, k)
		}
	}
	sortCopies(out)
	return out
}

// copyIndex is the controller's copyFold of the whole ledger, kept between
// reads: each read folds in the entries appended since the last (a page
// at a time), and the first read of a server reads the ledger whole.
// What it holds is bounded by the copies at sites, as one read of the
// whole ledger's is, not by the ledger's length.
type copyIndex struct {
	mu   sync.Mutex
	fold *copyFold
	// seq and hash are the last entry folded: the next read starts at it
	// and finds it unchanged, or reads the ledger whole again (a log
	// restored from a backup, say, whose later seqs are other entries).
	seq  int64
	hash string
	// list is the fold's copies, in order (cmpCopy), as of the last read
	// (nil: to be listed whole): a read changes the copies its entries
	// named (fold.touched), not the rest.
	list []stagedCopy
}

// Each read of the ledger's new entries takes at most copyPage entries,
// or the entries up to copyPageBytes of payload (an intent lists every
// object of its copy), at a time.
var (
	copyPage      = 5000
	copyPageBytes = int64(16 << 20)
)

// read folds in the entries of st's ledger after the last read, and
// returns the copies at sites (the caller's to change). It fails when the
// ledger cannot be read: no copy is then judged on what was read before.
func (ix *copyIndex) read(ctx context.Context, st store.Store) ([]stagedCopy, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	err := ix.catchUp(ctx, st)
	// What was folded is listed, failed or not: the list follows the
	// fold, which the next read goes on from.
	ix.relist()
	if err != nil {
		return nil, err
	}
	return slices.Clone(ix.list), nil
}

// relist brings list up to date with the copies the fold touched.
func (ix *copyIndex) relist() {
	f := ix.fold
	if ix.list == nil || len(f.touched) > len(ix.list)/8+64 {
		ix.list = f.copies()
		clear(f.touched)
		return
	}
	for k := range f.touched {
		i, found := slices.BinarySearchFunc(ix.list, k, cmpCopy)
		st := f.at[k]
		live := st != nil && (st.confirmed || len(st.open) > 0)
		switch {
		case !live && found:
			ix.list = slices.Delete(ix.list, i, i+1)
		case live:
			cp := k
			cp.org = f.org[k]
			if found {
				ix.list[i] = cp
			} else {
				ix.list = slices.Insert(ix.list, i, cp)
			}
		}
	}
	clear(f.touched)
}

func (ix *copyIndex) reset() {
	ix.fold, ix.seq, ix.hash, ix.list = newCopyFold(), 0, "", nil
	ix.fold.touched = map[stagedCopy]bool{}
}

// catchUp folds in the ledger's entries after ix.seq. A page read fails
// with the index as of the pages before it: the next read goes on from
// there.
func (ix *copyIndex) catchUp(ctx context.Context, st store.Store) error {
	if ix.fold == nil {
		ix.reset()
	}
	q := store.AuditQuery{AllTenants: true, Kinds: copyLedgerKinds, Limit: copyPage, MaxBytes: copyPageBytes}
	// The last entry folded is read again, to find it still there.
	check := ix.seq > 0
	if check {
		q.After = ix.seq - 1
	}
	for {
		page, err := st.AuditSelect(ctx, q)
		if err != nil {
			return err
		}
		next := q.Next(page)
		if check {
			check = false
			if len(page) == 0 || page[0].Seq != ix.seq || page[0].Hash != ix.hash {
				// Not the log folded so far: it is read whole again.
				ix.reset()
				q.After = 0
				continue
			}
			page = page[1:]
		}
		for _, e := range page {
			ix.fold.apply(e)
			ix.seq, ix.hash = e.Seq, e.Hash
		}
		if next == 0 {
			return nil
		}
		q.After = next
	}
}

// maxCopyReads bounds the ledger reads copiesOf makes, one for each tenant
// of the copies asked for (and each run of a checkpoint's copy): past it
// the whole ledger is read once instead.
const maxCopyReads = 16

// copiesOf is stagedCopies for the copies in todo only (their keys, org
// left out), or for every copy when todo is nil. It reads the ledger
// entries of their tenants, and for a checkpoint's copy those of its run,
// not every tenant's: a copy's key holds its tenant (and a checkpoint's
// its run), and the ledger records each entry under the tenant and run it
// names, so the entries left out are all of other copies. A retry of a
// deferred withdrawal read the whole ledger, every few seconds while a
// staging held the store, to judge one copy again.
func (c *Controller) copiesOf(ctx context.Context, todo map[stagedCopy]bool) ([]stagedCopy, error) {
	type scope struct{ tenant, run string }
	scopes := map[scope]bool{}
	for k := range todo {
		s := scope{tenant: k.tenant}
		if k.checkpoint() {
			s.run = k.run
		}
		scopes[s] = true
	}
	if todo == nil || len(scopes) > maxCopyReads {
		return c.stagedCopies(ctx)
	}
	var out []stagedCopy
	seen := map[stagedCopy]bool{}
	for s := range scopes {
		q := store.AuditQuery{Tenant: s.tenant, RunID: s.run}
		if s.tenant == catalog.DefaultTenant {
			// Entries written before entries named their tenant are the
			// default tenant's, as copyKey reads them.
			q.Untenanted = store.AllUntenanted
		}
		got, err := c.ledgerCopies(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, cp := range got {
			k := cp
			k.org = ""
			if todo[k] && !seen[k] {
				seen[k] = true
				out = append(out, cp)
			}
		}
	}
	sortCopies(out)
	return out, nil
}

// sortCopies orders copies by tenant, dataset, site, kind and run
// (cmpCopy).
func sortCopies(out []stagedCopy) { slices.SortFunc(out, cmpCopy) }

// cmpCopy orders copies by tenant, dataset, site, kind and run: the keys
// of copies, which no two copies share.
func cmpCopy(a, b stagedCopy) int {
	return cmp.Or(strings.Compare(a.tenant, b.tenant), strings.Compare(a.dataset, b.dataset), strings.Compare(a.site, b.site),
		strings.Compare(a.kind, b.kind), strings.Compare(a.run, b.run))
}

// recheckCopies asks the law in force whether each staged copy may still be
// at its site; a copy the law now denies is deleted there (its chunks and
// manifest; the key never left its owner) and the ledger says why. A copy
// the law cannot judge (a fact missing, or its dataset or site no longer
// known) is left, and named in the second list. It fails when it cannot
// read the ledger of staged copies.
func (c *Controller) recheckCopies(ctx context.Context, ln LawNow) (removed, unjudged []string, err error) {
	if ln.Transfer == nil {
		return nil, nil, nil
	}
	copies, err := c.stagedCopies(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the ledger of staged copies: %w", err)
	}
	c.mu.Lock()
	c.deferred, c.deferredFails, c.deferredBackoff, c.resumeRuns = map[stagedCopy]bool{}, 0, nil, nil
	c.slowStores = nil
	c.mu.Unlock()
	var readErr error
	for _, cp := range copies {
		r, judged, err := c.withdrawIfDenied(ctx, cp, ln)
		if err != nil {
			// Not judged for want of a read: the check is not done.
			readErr = cmp.Or(readErr, err)
			continue
		}
		if r != "" {
			removed = append(removed, r)
		}
		if !judged {
			unjudged = append(unjudged, fmt.Sprintf("%s/%s@%s", cp.tenant, cp.dataset, cp.site))
		}
	}
	if readErr != nil {
		return removed, nil, readErr // what was withdrawn was withdrawn
	}
	return removed, unjudged, nil
}

// withdrawIfDenied withdraws one copy the law in force denies, and says
// what it removed, and whether the law could judge the copy. A copy whose
// store a staging holds is deferred: the controller tries it again on its
// next ticks (retryWithdrawals).
func (c *Controller) withdrawIfDenied(ctx context.Context, cp stagedCopy, ln LawNow) (string, bool, error) {
	// Judged on every day it is now somewhere (copyDecisionAt); the
	// withdrawal's record carries the UTC day, and the day that refused.
	now := c.cfg.Now()
	today := transfer.Today(now)
	dec, refused, from, site, resume, ok, err := c.copyDecisionAt(ctx, cp, ln, now)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, nil
	}
	if dec.Allowed || !hasCode(dec, policy.CodeDenied) {
		return "", dec.Allowed, nil
	}
	n := 0
	if resume {
		// The checkpoint the run resumes from: it is not deleted before
		// the run has moved it elsewhere (the law check that found its
		// site unlawful moves the run too), and is tried again at the
		// pace of a copy a staging holds.
		err = errResuming
	} else {
		n, err = c.withdraw(ctx, cp, from, site, dec, ln.Rev, ruleDays{asOf: today, rule: refused})
	}
	if err != nil {
		resuming := errors.Is(err, errResuming)
		lvl, busy := slog.LevelError, errors.Is(err, errStagingBusy) || errors.Is(err, ErrNotLeader)
		if busy || resuming {
			lvl = slog.LevelInfo
		}
		c.cfg.Logger.Log(ctx, lvl, "law check: withdrawal deferred", "dataset", cp.dataset, "site", cp.site, "err", err)
		k := cp
		k.org = "" // the ledger's record of the copy, read again, decides
		c.mu.Lock()
		if c.deferred == nil {
			c.deferred = map[stagedCopy]bool{}
		}
		c.deferred[k] = true
		switch {
		case resuming:
			// The run may resume from this checkpoint for days (held,
			// say): each try reads the whole ledger, so the tries are
			// spaced out, doubling to an hour, and the write that ends
			// the run or moves its checkpoint makes the copy due at once
			// (wakeResumeWaits).
			if c.deferredBackoff == nil {
				c.deferredBackoff = map[stagedCopy]copyBackoff{}
			}
			if c.resumeRuns == nil {
				c.resumeRuns = map[string]bool{}
			}
			b := c.deferredBackoff[k]
			b.fails++
			b.resume = true
			b.next = c.lawClock().Add(resumeWait(b.fails))
			c.deferredBackoff[k] = b
			c.resumeRuns[k.run] = true
		case busy:
			// A staging holds the store: tried again at the usual pace.
			delete(c.deferredBackoff, k)
		default:
			// The site's store failed: this copy waits longer each time,
			// without holding back the others.
			if c.deferredBackoff == nil {
				c.deferredBackoff = map[stagedCopy]copyBackoff{}
			}
			b := c.deferredBackoff[k]
			b.fails++
			b.resume = false
			b.next = c.lawClock().Add(withdrawWait(b.fails))
			c.deferredBackoff[k] = b
		}
		c.mu.Unlock()
		return "", true, nil
	}
	return fmt.Sprintf("%s/%s@%s (%d objects)", cp.tenant, cp.dataset, cp.site, n), true, nil
}

// errResuming is why the checkpoint a run resumes from is not withdrawn
// yet.
var errResuming = errors.New("the run resumes from this checkpoint: it is withdrawn once the run has moved it")

// copyDecision is the law in force (ln, as of asOf) on a copy: a dataset's
// (copyLaw) or a run's checkpoint (checkpointCopyLaw). from is where the
// data it holds comes from, for the record of a withdrawal; resume says
// the copy is the checkpoint its run, not yet ended, resumes from.
func (c *Controller) copyDecision(ctx context.Context, cp stagedCopy, ln LawNow, asOf catalog.Date) (dec policy.Decision, from string, site *catalog.Site, resume, ok bool, err error) {
	if !cp.checkpoint() {
		dec, ds, site, ok, err := c.copyLaw(ctx, cp, ln, asOf)
		if !ok || err != nil {
			return dec, "", nil, false, ok, err
		}
		return dec, ds.Spec.Origin, site, false, true, nil
	}
	return c.checkpointCopyLaw(ctx, cp, ln, asOf)
}

// checkpointCopyLaw judges a run's checkpoint copy as the data it was
// trained on: it may stay at its site only where the transfer law lets
// each of the run's datasets be (a GDPR or PIPL dataset's weights go
// where that data may go, and no further). A copy whose job, dataset or
// site can no longer be read is not judged (ok false), as a dataset's
// copy is not; one whose run is gone is withdrawn (orphanCheckpoint).
func (c *Controller) checkpointCopyLaw(ctx context.Context, cp stagedCopy, ln LawNow, asOf catalog.Date) (policy.Decision, string, *catalog.Site, bool, bool, error) {
	none := policy.Decision{}
	if ln.Transfer == nil || cp.run == "" {
		return none, "", nil, false, false, nil
	}
	row, err := c.cfg.Store.GetRun(ctx, cp.run)
	if errors.Is(err, store.ErrNotFound) {
		return c.orphanCheckpoint(cp)
	}
	if err != nil {
		return none, "", nil, false, false, &storeReadError{fmt.Errorf("run %s of checkpoint %s: %w", cp.run, cp.dataset, err)}
	}
	r, err := fromRow(row)
	if err != nil || catalog.TenantOr(r.Tenant) != cp.tenant {
		return none, "", nil, false, false, nil
	}
	w, job, err := c.worldJob(r)
	if notJudged(err) {
		return none, "", nil, false, false, err
	}
	if err != nil {
		return none, "", nil, false, false, nil
	}
	site := w.Site(cp.site)
	if site == nil {
		return none, "", nil, false, false, nil
	}
	q := transfer.JobQuery(w, job, asOf)
	probe := newExportsProbe(ln.Exports)
	q.Exports = probe.exports()
	all := policy.Decision{Allowed: true}
	var origins []string
	for _, name := range job.Spec.Datasets {
		ds := w.Datasets[name]
		if ds == nil {
			return none, "", nil, false, false, nil
		}
		origins = appendUnique(origins, ds.Spec.Origin)
		dec := ln.Transfer.EvaluateTransfer(q, ds, site.Spec.Country)
		if err := probe.failed(); err != nil {
			return none, "", nil, false, false, &storeReadError{fmt.Errorf("transfer ledger: %w", err)}
		}
		if !dec.Allowed {
			all.Allowed = false
			for _, f := range dec.Denials {
				f.Message = fmt.Sprintf("checkpoint of run %s, trained on dataset %s: %s", r.ID, name, f.Message)
				all.Denials = append(all.Denials, f)
			}
		}
	}
	resume := checkpointInUse(r, cp)
	return all, strings.Join(origins, ","), site, resume, true, nil
}

// orphanCheckpoint judges a checkpoint copy whose run is gone from the
// store. Nothing can resume from it, and the data it was trained on (the
// run's job) can no longer be read to judge where it may be: left as
// undetermined, it stayed at its site for ever, named by every law check.
// It is withdrawn, failing closed, and the withdrawal's record says why.
// A site the catalog no longer has cannot be reached: that copy is left
// undetermined.
func (c *Controller) orphanCheckpoint(cp stagedCopy) (policy.Decision, string, *catalog.Site, bool, bool, error) {
	none := policy.Decision{}
	w, err := c.capacityWorld()
	if notJudged(err) {
		return none, "", nil, false, false, err
	}
	if err != nil {
		return none, "", nil, false, false, nil
	}
	site := w.Site(cp.site)
	if site == nil {
		return none, "", nil, false, false, nil
	}
	dec := policy.Decision{Denials: []policy.Finding{{Code: policy.CodeDenied,
		Message: fmt.Sprintf("checkpoint of run %s, which is no longer on record: nothing resumes from it, and the data it was trained on cannot be read to judge it (failing closed)", cp.run)}}}
	return dec, "", site, false, true, nil
}

// withdrawalWhy is the rules a withdrawal under dec names, and its
// reason. A denial that is no rule's (an orphan checkpoint's) adds no
// rule, and its message alone says why.
func withdrawalWhy(dec policy.Decision) ([]string, string) {
	rules, reasons := []string{}, []string{}
	for _, f := range dec.Denials {
		if f.Rule == "" {
			reasons = append(reasons, f.Message)
			continue
		}
		rules = append(rules, f.Rule)
	}
	if len(rules) == 0 && len(reasons) > 0 {
		return rules, strings.Join(reasons, "; ")
	}
	return rules, denialText(dec)
}

// checkpointInUse reports whether cp is the checkpoint r, not yet ended,
// resumes from: at its site, or at the site its move is copying it to
// (the copy is the one the move goes on with, and the run resumes from it
// once the move is written).
func checkpointInUse(r *Run, cp stagedCopy) bool {
	if r.State.Final() || r.Checkpoint == nil || r.Checkpoint.Name != cp.dataset {
		return false
	}
	if r.Checkpoint.Site == cp.site {
		return true
	}
	m := r.Migration
	return r.State == Migrating && m != nil && m.Target != nil && m.Target.Site == cp.site
}

// checkpointStillInUse reads cp's run again and says whether it resumes
// from cp (checkpointInUse); a run that is gone does not.
func (c *Controller) checkpointStillInUse(ctx context.Context, cp stagedCopy) (bool, error) {
	r, err := c.checkpointRun(ctx, cp)
	if err != nil || r == nil {
		return false, err
	}
	return checkpointInUse(r, cp), nil
}

// checkpointRun reads cp's run again: nil when it is gone, or is not of
// cp's tenant.
func (c *Controller) checkpointRun(ctx context.Context, cp stagedCopy) (*Run, error) {
	row, err := c.cfg.Store.GetRun(ctx, cp.run)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, &storeReadError{fmt.Errorf("run %s of checkpoint %s: %w", cp.run, cp.dataset, err)}
	}
	r, err := fromRow(row)
	if err != nil || catalog.TenantOr(r.Tenant) != cp.tenant {
		return nil, nil
	}
	return r, nil
}

// withdrawRetry is how often deferred withdrawals are tried again while a
// staging holds a store. Each retry in a row that cannot read the ledger
// doubles the wait of them all, and each failed withdrawal of one copy (its
// site's store failing) doubles that copy's own wait, up to
// withdrawRetryMax.
const (
	withdrawRetry    = 5 * time.Second
	withdrawRetryMax = 5 * time.Minute
)

// removeError is a withdrawal that its site's store failed: the copy's
// objects could not be listed or removed there.
type removeError struct{ err error }

func (e *removeError) Error() string { return e.err.Error() }
func (e *removeError) Unwrap() error { return e.err }

// withdrawWait is the wait after n failures in a row.
func withdrawWait(n int) time.Duration {
	return min(withdrawRetry<<min(n, 10), withdrawRetryMax)
}

// resumeRetryMax bounds the wait between the tries of a checkpoint copy
// deferred because its run resumes from it.
const resumeRetryMax = time.Hour

// resumeWait is the wait after the n-th try (from 1) that found the run
// still resuming from its checkpoint copy: withdrawRetry, doubling, at
// most resumeRetryMax.
func resumeWait(n int) time.Duration {
	return min(withdrawRetry<<min(max(n-1, 0), 10), resumeRetryMax)
}

// copyBackoff is when a copy whose withdrawal failed may be tried again;
// resume says it waits for its run to stop resuming from it.
type copyBackoff struct {
	fails  int
	next   time.Time
	resume bool
}

// wakeResumeWaits makes due at once the checkpoint copies of run r that
// were deferred because r resumed from them, and no longer does (it
// ended, or its checkpoint is now elsewhere): they are withdrawn at the
// next try of the deferred withdrawals rather than at the end of their
// wait.
func (c *Controller) wakeResumeWaits(r *Run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.resumeRuns[r.ID] {
		return
	}
	left := false
	for k, b := range c.deferredBackoff {
		if !b.resume || k.run != r.ID {
			continue
		}
		if checkpointInUse(r, k) {
			left = true
			continue
		}
		b.next = time.Time{}
		c.deferredBackoff[k] = b
	}
	if !left {
		delete(c.resumeRuns, r.ID)
	}
}

// retryWithdrawals tries again the withdrawals a law check could not make
// (a staging held the store, or the site's store failed), under the law in
// force now. Each copy is read again from the ledger: the staging that
// held its store may have staged it anew (for another organisation, say),
// and the copy is judged as the ledger records it now.
func (c *Controller) retryWithdrawals(ctx context.Context, ln LawNow) {
	if ln.Transfer == nil {
		return // no law for copies: none is withdrawn (recheckCopies)
	}
	now := c.lawClock()
	c.mu.Lock()
	todo := c.deferred
	if todo != nil && len(todo) == 0 || now.Sub(c.deferredTry) < withdrawWait(c.deferredFails) {
		c.mu.Unlock()
		return
	}
	if todo != nil {
		// Reading the ledger costs the whole of it: not while every copy
		// deferred waits for a later time (a run resuming from its
		// checkpoint, a store failing).
		due := false
		for k := range todo {
			if b, waits := c.deferredBackoff[k]; !waits || !now.Before(b.next) {
				due = true
				break
			}
		}
		if !due {
			c.mu.Unlock()
			return
		}
	}
	c.deferredTry = now
	c.mu.Unlock()
	copies, err := c.copiesOf(ctx, todo)
	if err != nil {
		c.cfg.Logger.Error("law check: read the ledger of staged copies for deferred withdrawals", "err", err)
		c.mu.Lock()
		c.deferredFails++
		c.mu.Unlock()
		return
	}
	failed := false
	c.mu.Lock()
	c.deferred = map[stagedCopy]bool{}
	c.slowStores = nil
	c.mu.Unlock()
	for _, cp := range copies {
		k := cp
		k.org = ""
		if todo != nil && !todo[k] {
			continue
		}
		c.mu.Lock()
		b, waits := c.deferredBackoff[k]
		if waits && now.Before(b.next) {
			c.deferred[k] = true
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		r, _, err := c.withdrawIfDenied(ctx, cp, ln)
		if err != nil {
			// The copy's law could not be read: that is the ledger's
			// (or the registry's) failure, and all wait longer.
			c.cfg.Logger.Error("law check: deferred withdrawal", "dataset", cp.dataset, "site", cp.site, "err", err)
			c.mu.Lock()
			c.deferred[k] = true
			c.mu.Unlock()
			failed = true
			continue
		}
		if r != "" {
			c.cfg.Logger.Info("law check: withdrew a copy it had deferred", "copy", r)
		}
	}
	c.mu.Lock()
	if failed {
		c.deferredFails++
	} else {
		c.deferredFails = 0
	}
	// A copy no longer deferred (withdrawn, judged lawful, or gone from
	// the ledger) has no wait to keep.
	for k := range c.deferredBackoff {
		if !c.deferred[k] {
			delete(c.deferredBackoff, k)
		}
	}
	c.mu.Unlock()
}

func hasCode(dec policy.Decision, code string) bool {
	for _, f := range dec.Denials {
		if f.Code == code {
			return true
		}
	}
	return false
}

// copyLedger is a stager with the ledger the controller's stagings write:
// its Reconcile closes the intents a withdrawn copy left open.
func (c *Controller) copyLedger() *transfer.Stager {
	if c.cfg.Stager != nil && c.cfg.Stager.Ledger != nil {
		return c.cfg.Stager
	}
	return &transfer.Stager{Ledger: transfer.AuditLedger{Store: c.cfg.Store}}
}

// withdrawTimeout bounds one withdrawal's work at a site's store.
var withdrawTimeout = time.Minute

// slowFor is how long a store whose withdrawal ran out of time is not
// tried again, when no pass of the law check clears the mark before: a
// sweep of a run's left site comes in none, and a store marked by one was
// refused to every later sweep until the next rules revision or rule day.
func slowFor() time.Duration { return 2 * withdrawTimeout }

// errWithdrawSlow is why a withdrawal stopped at its deadline.
var errWithdrawSlow = errors.New("the site's store did not complete the withdrawal in time (it is tried again later)")

// removeCopy closes the copy's open intents and deletes its objects at the
// site, and says how many it deleted (the manifest counted whether or not
// it was there), and whether any of them was there.
func (c *Controller) removeCopy(ctx context.Context, cp stagedCopy, site *catalog.Site) (int, bool, error) {
	b, err := dataset.OpenStore(ctx, c.SiteStore(site))
	if err != nil {
		return 0, false, err
	}
	prefix, kind := DataPrefix(cp.tenant), transfer.KindDataset
	if cp.checkpoint() {
		prefix, kind = CheckpointPrefix(cp.tenant), transfer.KindCheckpoint
	}
	sub := b.Sub(prefix)
	defer sub.Close()
	// Intents a staging cut short left open are closed first: what of
	// them is at the site crossed, and is confirmed before it is deleted;
	// the rest never arrived. Left open, they would keep the copy on the
	// ledger (stagedCopies) after it is gone.
	if _, err := c.copyLedger().Reconcile(ctx, transfer.CopyRequest{Name: cp.dataset, Dst: sub, Tenant: cp.tenant,
		Entry: transfer.Entry{Kind: kind, Dataset: cp.dataset, Site: cp.site, RunID: cp.run}}); err != nil {
		return 0, false, fmt.Errorf("close the open intents of the copy: %w", err)
	}
	// Whether the manifest is there: Remove counts it either way.
	manifest := false
	for obj, err := range sub.List(ctx, dataset.ManifestKey(cp.dataset)) {
		if err != nil {
			return 0, false, err
		}
		if obj.Key == dataset.ManifestKey(cp.dataset) {
			manifest = true
			break
		}
	}
	// The site's listing is read within a bound, and nothing of it is
	// kept: a store whose listing never ends is refused (ErrListTooLong)
	// and the withdrawal tried again later, which also goes on removing a
	// genuine copy of more objects than the bound where the last stopped.
	n, err := dataset.Remove(ctx, sub, cp.dataset, dataset.ListBound(0))
	return n, manifest || n > 1, err
}

// ruleDays are the days a withdrawal's record is dated by: asOf, the
// day it was made on (zero: today), and rule, the day whose law refused
// the copy (zero: asOf). They differ on the eve of a rule east of UTC
// (or its last hours west of it): a record dated the UTC day alone named
// a refusal of a day on which the rule was not in force.
type ruleDays struct{ asOf, rule catalog.Date }

// resolved is d with its zero days filled in: asOf today, rule asOf.
func (d ruleDays) resolved(today catalog.Date) ruleDays {
	if d.asOf.IsZero() {
		d.asOf = today
	}
	if d.rule.IsZero() {
		d.rule = d.asOf
	}
	return d
}

// withdraw deletes a tenant's copy of a dataset (or a run's checkpoint) at
// a site, whole or what a staging cut short left of it, and records it;
// from is where the data comes from; days are the days the record is
// dated by (ruleDays).
func (c *Controller) withdraw(ctx context.Context, cp stagedCopy, from string, site *catalog.Site, dec policy.Decision, rev int64, days ruleDays) (int, error) {
	n, found, err := c.removeWithdrawn(ctx, cp, site)
	if err != nil {
		return 0, err
	}
	return c.recordWithdrawn(ctx, cp, from, site, dec, rev, days, n, found)
}

// removeWithdrawn deletes what there is of a copy at a site for withdraw,
// and says how many objects it deleted and whether any was there.
func (c *Controller) removeWithdrawn(ctx context.Context, cp stagedCopy, site *catalog.Site) (int, bool, error) {
	// Not while a staging writes there (its objects would outlive the
	// withdrawal, or its reconciliation would find them gone).
	// The law check does not wait for a staging (it could take hours):
	// a busy store is errStagingBusy, and the copy is tried again later.
	ctx, unlock, err := c.tryLockStaging(ctx, c.SiteStore(site)+"|"+cp.tenant)
	if err != nil {
		return 0, false, err
	}
	defer unlock()
	// Checked under the lock, as a staging checks: a controller whose
	// term has passed deletes nothing; the leader now judges the copy,
	// under the law and the stagings since.
	if err := c.stillLeading(ctx); err != nil {
		return 0, false, err
	}
	return c.removeHeld(ctx, cp, site)
}

// removeHeld is removeWithdrawn for a caller that holds the site store's
// staging lock and has checked, under it, that this server leads.
func (c *Controller) removeHeld(ctx context.Context, cp stagedCopy, site *catalog.Site) (int, bool, error) {
	if cp.checkpoint() && cp.run != "" {
		// Judged again under the lock: a move copies a checkpoint under
		// the same lock, and the run may have set out to copy it here,
		// or written that it resumes from it here, since it was judged.
		inUse, err := c.checkpointStillInUse(ctx, cp)
		if err != nil {
			return 0, false, err
		}
		if inUse {
			return 0, false, errResuming
		}
	}
	// The work at the site's store has a deadline: the law check runs
	// on the controller's loop, and a store that answers slowly, or
	// drips a listing without end, would hold every run's steps.
	// What was removed by then stays removed; the copy is tried again
	// later and the next try goes on where this one stopped.
	// A store that ran out of time once in this pass is not tried again
	// for the pass's other copies there: each would hold the loop for
	// the whole deadline in turn.
	storeURL := c.SiteStore(site)
	c.mu.Lock()
	at, marked := c.slowStores[storeURL]
	c.mu.Unlock()
	if marked && time.Since(at) < slowFor() {
		return 0, false, fmt.Errorf("%w: not tried, as a withdrawal at the same store ran out of time just before", errWithdrawSlow)
	}
	sctx, cancel := context.WithTimeoutCause(ctx, withdrawTimeout, errWithdrawSlow)
	defer cancel()
	n, found, err := c.removeCopy(sctx, cp, site)
	if err != nil {
		if context.Cause(sctx) == errWithdrawSlow {
			c.mu.Lock()
			if c.slowStores == nil {
				c.slowStores = map[string]time.Time{}
			}
			c.slowStores[storeURL] = time.Now()
			c.mu.Unlock()
			return 0, false, fmt.Errorf("%w (%s): %w", errWithdrawSlow, withdrawTimeout, err)
		}
		return 0, false, &removeError{err}
	}
	return n, found, nil
}

// withdrawnRecord is the audit record of the withdrawal of copy cp's n
// objects at site, judged under dec (rules revision rev), dated by days.
func (c *Controller) withdrawnRecord(cp stagedCopy, from string, site *catalog.Site, dec policy.Decision, rev int64, days ruleDays, n int) (audit.Record, error) {
	days = days.resolved(c.today())
	rules, reason := withdrawalWhy(dec)
	rec, err := audit.NewRecord(transfer.KindWithdrawn, cp.run, transfer.Withdrawn{Kind: cp.kind, Run: cp.run, Dataset: cp.dataset, Site: cp.site, From: from,
		To: site.Spec.Country, Rules: rules, Reason: reason, Revision: rev, AsOf: days.asOf.String(), RuleDay: days.rule.String(), Objects: n})
	if err != nil {
		return audit.Record{}, err
	}
	rec.Tenant = cp.tenant
	return rec, nil
}

// recordWithdrawn records the withdrawal of a copy whose n objects
// removeWithdrawn deleted (found: any was there), and says how many it
// recorded: none for a checkpoint found gone and off the ledger.
func (c *Controller) recordWithdrawn(ctx context.Context, cp stagedCopy, from string, site *catalog.Site, dec policy.Decision, rev int64, days ruleDays, n int, found bool) (int, error) {
	if !found && cp.checkpoint() && cp.run != "" {
		// Nothing of it was there: removed already by the law check or
		// by the sweep of a site its run left, which can both come to
		// the same checkpoint. The second records nothing, unless the
		// ledger still lists the copy (its objects gone some other way),
		// which only a withdrawal takes it off.
		listed, err := c.ledgerCopies(ctx, store.AuditQuery{RunID: cp.run, AllTenants: true})
		if err != nil {
			return 0, err
		}
		k := cp
		k.org = ""
		if !slices.ContainsFunc(listed, func(l stagedCopy) bool { l.org = ""; return l == k }) {
			return 0, nil
		}
	}
	rec, err := c.withdrawnRecord(cp, from, site, dec, rev, days, n)
	if err != nil {
		return 0, err
	}
	// The objects are gone: the record of it is written even if the
	// caller's context ends now (a long step the loop stops), within its
	// own bound. Lost, it would never be written: the next try finds
	// nothing left to remove.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), withdrawTimeout)
	defer cancel()
	return n, c.cfg.Store.AppendAudit(actx, rec)
}
