package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math"
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

// The checkpoints an agent seals at its attempt's site are in that site's
// store but not on the transfer ledger (they crossed no border), so the law
// check, which judges the copies the ledger lists, never sees them. When a
// run leaves a site, each site it leaves (the attempt's, and the one its
// checkpoint was at) is put on the run's Swept list in the same write that
// moves the run; once that write is durable the checkpoint the run resumes
// from is at its new site (or given up), and at the run's next step (not
// in the move's own, a long step the loop stops once the run has moved
// on) the left site is judged as a checkpoint copy is (checkpointCopyLaw:
// the run's datasets' transfer law to its country). Where the law no
// longer lets the data be there, every checkpoint of the run in that store
// is removed, each recorded as a transfer-withdrawn audit entry of kind
// checkpoint (as of the day the site was judged as of), up to sweepNamed
// a pass, and those past them in one entry for the pass, at most
// sweepPassMax a pass, the next pass at the run's next step; where it does,
// they are kept, as checkpoints are kept after their run ends
// (docs/rules.md).

// sweepCheckpoints works through run id's Swept list, now or, after a
// failure (a site's store, the ledger, a staging holding the store), once
// a wait that doubles from withdrawRetry has passed: at the next of its
// steps, or, for a run that takes none (ended, or held waiting for room),
// the loop's (sweepEnded). Failures are logged, not returned: the run's
// own step goes on.
func (c *Controller) sweepCheckpoints(ctx context.Context, id string) {
	now := c.cfg.Now()
	c.mu.Lock()
	b, waits := c.sweepWait[id]
	c.mu.Unlock()
	if waits && now.Before(b.next) {
		return
	}
	fails, next, err := c.sweep(ctx, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(err, store.ErrNotFound) || err == nil && next.IsZero() {
		delete(c.sweepWait, id)
		return
	}
	if c.sweepWait == nil {
		c.sweepWait = map[string]copyBackoff{}
	}
	if err == nil {
		// Only sites whose store failed are left, each waiting for the
		// time on the record.
		c.sweepWait[id] = copyBackoff{fails: b.fails, next: next}
		return
	}
	// The failures on the run's record count too: after a restart (or
	// under another leader) the wait goes on from where it was, rather
	// than from seconds while the record counts on towards maxSweepFails.
	b.fails = max(b.fails+1, fails)
	b.next = now.Add(sweepWaitAfter(b.fails))
	if !next.IsZero() && next.After(b.next) {
		b.next = next
	}
	c.sweepWait[id] = b
	lvl := slog.LevelWarn
	if errors.Is(err, errStagingBusy) || errors.Is(err, ErrNotLeader) || errors.Is(err, store.ErrFenced) {
		lvl = slog.LevelInfo
	}
	c.cfg.Logger.Log(ctx, lvl, "checkpoints at a left site: removal deferred", "run", id, "err", err, "retryIn", sweepWaitAfter(b.fails))
}

// sweep judges and clears each site on run id's Swept list, read afresh,
// and takes it off the list once done. fails is the most failures in a
// row on record of a site whose store failed this sweep; next is the
// earliest time on record that a site whose store failed is next tried
// (zero: none waits).
//
// The list it sweeps is the one it read and confirmed against the run's
// sealed records (checkSwept), whoever calls it (a step, or the loop for
// an ended run): a site listed that no sealed placement named is refused,
// nothing swept; one a sealed move left that no sealed record says was
// swept, taken off the row, is put back and swept (restoreSwept). Each
// site done is taken off in a write that seals a record of it
// (KindCheckpointsSwept).
func (c *Controller) sweep(ctx context.Context, id string) (fails int, next time.Time, err error) {
	row, err := c.cfg.Store.GetRun(ctx, id)
	if err != nil {
		return 0, next, err
	}
	r, err := fromRow(row)
	if err != nil {
		return 0, next, err
	}
	missing, err := c.runWitness.checkSwept(ctx, c.cfg.Store, r)
	if err != nil {
		return 0, next, err
	}
	if len(missing) > 0 {
		if err := c.restoreSwept(ctx, r.ID, missing); err != nil {
			return 0, next, err
		}
		for _, s := range missing {
			r.Swept = append(r.Swept, Sweep{Site: s})
		}
	}
	if len(r.Swept) == 0 {
		return 0, next, nil
	}
	if err := c.lawBehind(); err != nil {
		return 0, next, err
	}
	ln := c.lawNow()
	key := c.sweepKey(ln)
	now := c.cfg.Now()
	waitFor := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	var failed error
	for _, sw := range r.Swept {
		if sw.Pending != "" && sw.PendingKey == key {
			// Not judged under this law and these facts: nothing has
			// changed that could judge it now.
			continue
		}
		if wait := sw.Next.Sub(now); sw.Fails > 0 && wait > 0 && wait <= sweepRetryMax {
			// Its store failed and its wait, on the record, is not
			// over: a restart (or another leader) does not shorten it.
			// A wait longer than the longest is of a clock that was
			// ahead, and not kept.
			waitFor(sw.Next)
			continue
		}
		err := c.sweepSite(ctx, r, sw, ln)
		abandon := ""
		var se *sweepStoreError
		var pe *sweepPendingError
		switch {
		case errors.Is(err, errSweepMore):
			// Tried again at the next step, as it failed nothing.
			waitFor(now)
			continue
		case errors.As(err, &pe):
			if _, uerr := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
				i := slices.IndexFunc(r.Swept, func(s Sweep) bool { return s.Site == sw.Site })
				if i < 0 || r.Swept[i].Fails != sw.Fails || r.Swept[i].Pending != sw.Pending || r.Swept[i].PendingKey != sw.PendingKey {
					return store.ErrNoChange
				}
				was := r.Swept[i].Pending
				r.Swept[i].Pending, r.Swept[i].PendingKey, r.Swept[i].Fails, r.Swept[i].Next = pe.why, key, 0, time.Time{}
				if was != pe.why {
					ch.Events = append(ch.Events, store.Event{Kind: "checkpoints-pending", Reason: fmt.Sprintf(
						"the run's checkpoints at %s, a site it left, could not be judged (%s): they are not taken as lawful, and are judged again when the law, its rules revision (now %d) or the registered facts change",
						sw.Site, pe.why, ln.Rev)})
				}
				return nil
			}); uerr != nil {
				return fails, next, errors.Join(err, uerr)
			}
			continue
		case errors.As(err, &se):
			n := sw.Fails + 1
			if n < maxSweepFails {
				at := now.Add(sweepWaitAfter(n))
				if _, uerr := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
					i := slices.IndexFunc(r.Swept, func(s Sweep) bool { return s.Site == sw.Site })
					if i < 0 || r.Swept[i].Fails != sw.Fails {
						return store.ErrNoChange
					}
					// Judged now: what kept it pending is past.
					r.Swept[i].Fails, r.Swept[i].Pending, r.Swept[i].PendingKey = n, "", ""
					r.Swept[i].Next = at
					return nil
				}); uerr != nil {
					return fails, next, errors.Join(err, uerr)
				}
				fails = max(fails, n)
				waitFor(at)
				// The other sites are swept meanwhile: one store down
				// does not keep the run's checkpoints where the law no
				// longer lets them be at the others.
				failed = errors.Join(failed, err)
				continue
			}
			abandon = fmt.Sprintf("its store failed %d sweeps in a row, the last: %s", n, c.loggedClass(r, sw.Site, "sweep the run's checkpoints", se.err))
		case err != nil:
			return fails, next, err
		}
		if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			i := slices.IndexFunc(r.Swept, func(s Sweep) bool { return s.Site == sw.Site })
			if i < 0 || r.Swept[i].Fails != sw.Fails {
				return store.ErrNoChange
			}
			r.Swept = slices.Delete(r.Swept, i, i+1)
			if abandon != "" {
				return sweepAbandoned(ch, r, sw, abandon)
			}
			return sweepDone(ch, r, sw)
		}); err != nil {
			return fails, next, err
		}
	}
	return fails, next, failed
}

// maxSweepFails is how many sweeps in a row a left site's store may fail
// before the sweep there is given up. With the sweep's wait doubling from
// withdrawRetry to sweepRetryMax they span about half a day: a store
// down for maintenance is swept once it is back; one gone for good is
// not tried every few minutes for ever.
const maxSweepFails = 20

// sweepRetryMax bounds the wait between a run's sweeps that failed.
const sweepRetryMax = time.Hour

// sweepWaitAfter is the wait after n sweeps of a run in a row that
// failed.
func sweepWaitAfter(n int) time.Duration {
	return min(withdrawRetry<<min(n, 20), sweepRetryMax)
}

// KindCheckpointsLeft is the audit kind of a sweep given up: the run's
// checkpoints at a site it left that could not be judged and cleared, so
// may still be there.
const KindCheckpointsLeft = "checkpoints-left"

// errSweepSiteGone is a site to sweep that the run's catalog no longer
// has.
var errSweepSiteGone = errors.New("the site is no longer in the catalog")

// sweepPendingError is a left site the sweep could not judge: the run's
// documents or the site could not be read, or the law could not
// determine whether the run's data may be there (a fact missing). The
// site stays on the run's list, pending, failing closed.
type sweepPendingError struct{ why string }

func (e *sweepPendingError) Error() string { return "not judged: " + e.why }

// maxPendingWhy bounds what a pending site's record says of why: the
// law's findings quote the run's documents.
const maxPendingWhy = 1000

func pendingErr(why string) *sweepPendingError {
	return &sweepPendingError{truncate(why, maxPendingWhy)}
}

// sweepKey names what a sweep judges by: the rules revision, the law
// beyond it and the catalog (lawDigest), and the latest owner's update of
// a registered document. A site a sweep could not judge is judged again
// once it changes.
func (c *Controller) sweepKey(ln LawNow) string {
	return fmt.Sprintf("%d/%s/%d", ln.Rev, c.lawDigest(ln), c.factsSeq.Load())
}

// sweepStoreError is a left site's store failing its sweep: it could not
// be opened, listed or cleared.
type sweepStoreError struct{ err error }

func (e *sweepStoreError) Error() string { return "store: " + e.err.Error() }
func (e *sweepStoreError) Unwrap() error { return e.err }

// KindCheckpointsSwept is the audit kind of a site taken off a run's
// sweep list once swept (judged, and its checkpoints cleared where the
// law no longer lets them be, or kept where it does): with
// KindCheckpointsLeft, the sealed say that the sweep a sealed move of the
// run owed there is over (placeSeen.owed).
const KindCheckpointsSwept = "checkpoints-swept"

// sweepDone records, in the write that takes sw off run r's list, that
// its sweep is done.
func sweepDone(ch *store.Change, r *Run, sw Sweep) error {
	rec, err := audit.NewRecord(KindCheckpointsSwept, r.ID, map[string]any{"site": sw.Site})
	if err != nil {
		return err
	}
	rec.Tenant = catalog.TenantOr(r.Tenant)
	ch.Audit = append(ch.Audit, rec)
	return nil
}

// restoreSwept puts the sites missing back on run id's sweep list: sites
// its sealed records say a move left and no sealed record says were swept,
// which its row, changed outside Meridian, no longer lists. Its timeline
// says so.
func (c *Controller) restoreSwept(ctx context.Context, id string, missing []string) error {
	_, err := c.update(ctx, id, func(r *Run, ch *store.Change) error {
		var added []string
		for _, s := range missing {
			if !slices.ContainsFunc(r.Swept, func(sw Sweep) bool { return sw.Site == s }) {
				r.Swept = append(r.Swept, Sweep{Site: s})
				added = append(added, s)
			}
		}
		if len(added) == 0 {
			return store.ErrNoChange
		}
		ch.Events = append(ch.Events, store.Event{Kind: "sweep-restored", Reason: fmt.Sprintf(
			"its row, changed outside Meridian, no longer listed %s to sweep of its checkpoints, which a sealed move of it left and no sealed record says were swept: put back, and swept",
			strings.Join(added, ", "))})
		return nil
	})
	return err
}

// sweepAbandoned records, in the write that takes sw off run r's list,
// that the sweep of sw.Site was given up and why: an event on the run's
// timeline and an audit record naming what may be left there (the
// checkpoints of the run known to be at the site, and the prefix under
// which all of them are), for an operator to clear by hand.
func sweepAbandoned(ch *store.Change, r *Run, sw Sweep, why string) error {
	var known []string
	for _, ck := range r.Older {
		if ck.Site == sw.Site {
			known = append(known, ck.Name)
		}
	}
	if ck := r.Checkpoint; ck != nil && ck.Site == sw.Site {
		known = append(known, ck.Name)
	}
	tenant := catalog.TenantOr(r.Tenant)
	prefix := CheckpointPrefix(tenant) + "ckpt-" + r.ID + "-"
	rec, err := audit.NewRecord(KindCheckpointsLeft, r.ID, map[string]any{
		"site": sw.Site, "prefix": prefix, "checkpoints": known, "reason": why, "fails": sw.Fails,
	})
	if err != nil {
		return err
	}
	rec.Tenant = tenant
	ch.Audit = append(ch.Audit, rec)
	msg := fmt.Sprintf("the run's checkpoints at %s, a site it left, are no longer swept: %s; what is under %s in its store stays there", sw.Site, why, prefix)
	if len(known) > 0 {
		msg += fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
	}
	ch.Events = append(ch.Events, store.Event{Kind: "checkpoints-left", Reason: msg})
	return nil
}

// sweepSite removes run r's checkpoints from the store of site sw.Site
// when the law in force (as of sw.AsOf, or today if later) no longer lets
// the run's datasets be there. It keeps them where the law does, where it
// cannot judge them (a fact missing, the run's documents or the site no
// longer readable: a *sweepPendingError, and the site stays on the
// run's list to be judged again), and never touches the checkpoint the run resumes from
// in the store it is in, nor a store the run's current site shares (its
// attempt writes its checkpoints there).
func (c *Controller) sweepSite(ctx context.Context, r *Run, sw Sweep, ln LawNow) error {
	if ln.Transfer == nil {
		return nil // no transfer law here: nothing to judge the site by
	}
	w, err := c.world(r)
	if notJudged(err) {
		return err
	}
	if err != nil {
		return pendingErr(fmt.Sprintf("the run's documents cannot be read: %v", err))
	}
	site := w.Site(sw.Site)
	if site == nil {
		// Counted as its store failing: a site taken out of the catalog
		// by mistake, and put back, is swept then.
		return &sweepStoreError{errSweepSiteGone}
	}
	url := c.SiteStore(site)
	if cur := w.Site(r.Site); cur != nil && c.SiteStore(cur) == url {
		return nil
	}
	// The withdrawal is recorded as of the UTC day (or the sweep's own
	// day, when later); the law is judged on every day it now is, and
	// the record names the day that refused too.
	asOf := c.today()
	if d, err := catalog.ParseDate(sw.AsOf); err == nil && d.After(asOf) {
		asOf = d
	}
	cp := stagedCopy{tenant: catalog.TenantOr(r.Tenant), site: sw.Site, kind: transfer.KindCheckpoint, run: r.ID}
	dec, refused, from, ok, err := c.sweepLaw(ctx, cp, ln, sw)
	if err != nil {
		return err
	}
	days := ruleDays{asOf: asOf, rule: refused}
	switch {
	case !ok:
		return pendingErr("the run, its job, a dataset it was trained on or the site can no longer be read")
	case dec.Allowed:
		return nil
	case !hasCode(dec, policy.CodeDenied):
		var msgs []string
		for _, f := range dec.Denials {
			msgs = append(msgs, f.Message)
		}
		return pendingErr("undetermined: " + strings.Join(msgs, "; "))
	}
	b, err := dataset.OpenStore(ctx, url)
	if err != nil {
		return &sweepStoreError{err}
	}
	sub := b.Sub(CheckpointPrefix(cp.tenant))
	defer sub.Close()
	lctx, cancel := context.WithTimeout(ctx, withdrawTimeout)
	// The listing is bounded: past the bound, what was found is removed
	// and the next try lists what is left.
	// A pass removes at most sweepPassMax checkpoints: each is read
	// again and removed under the store's staging lock, and a workload
	// can write as many names as the listing bound lets it. Those past
	// them are left to the next pass, which follows at the run's next
	// step without a wait (errSweepMore). The run's checkpoint, if it is
	// here, is listed beside them, and kept.
	names, held, lerr := dataset.ListedWithPrefix(lctx, sub, "ckpt-"+r.ID+"-", dataset.ListBound(0), sweepPassMax+1)
	cancel()
	if errors.Is(lerr, dataset.ErrListTooLong) {
		lerr = fmt.Errorf("%w: %w", errSweepMore, lerr)
	} else if lerr != nil {
		if ctx.Err() != nil {
			return lerr // this step ended, not the store
		}
		return &sweepStoreError{lerr}
	}
	names = slices.DeleteFunc(names, func(name string) bool {
		if ck := r.Checkpoint; ck != nil && ck.Name == name {
			if at := w.Site(ck.Site); at == nil || c.SiteStore(at) == url {
				return true // the checkpoint the run resumes from, here
			}
		}
		return false
	})
	if len(names) > sweepPassMax {
		names = names[:sweepPassMax]
		if lerr == nil {
			lerr = errSweepMore
		}
	}
	// Each checkpoint removed is recorded on its own up to sweepNamed a
	// pass; those past them (a workload can write any number under the
	// run's names in its site's store) in one entry for the pass. A
	// checkpoint on the ledger (a move copied it here: it crossed a
	// border) is recorded on its own whatever the count, as only its own
	// withdrawal takes it off the ledger.
	onLedger := func(string) bool { return false }
	if len(names) > 0 {
		listed, err := c.ledgerCopies(ctx, store.AuditQuery{RunID: r.ID, AllTenants: true})
		if err != nil {
			return err
		}
		// A set, once: the workload writes the names, as many as the
		// listing bound lets it, and each was a scan of the ledger.
		at := map[string]bool{}
		for _, l := range listed {
			if l.checkpoint() && l.run == r.ID && l.site == sw.Site && l.tenant == cp.tenant {
				at[l.dataset] = true
			}
		}
		onLedger = func(name string) bool { return at[name] }
	}
	rest := sweptRest{prefix: "ckpt-" + r.ID + "-", digest: sha256.New()}
	err = func() error {
		var own, restNames []string
		for _, name := range names {
			k := cp
			k.dataset = name
			switch {
			case onLedger(name):
				// Its withdrawal takes it off the ledger, which lists
				// it until then: a removal whose record was lost is
				// recorded by the next pass (recordWithdrawn).
				if _, err := c.withdraw(ctx, k, from, site, dec, ln.Rev, days); err != nil {
					return err
				}
			case len(own) < sweepNamed:
				own = append(own, name)
			default:
				restNames = append(restNames, name)
				rest.add(name, held[name].Objects, held[name].Bytes)
			}
		}
		if len(own) == 0 {
			return nil
		}
		// The others are on no ledger: each entry is written before
		// the checkpoints it covers are removed. Written after, a
		// server that died between (or a ledger write that failed)
		// left them gone with no record, and the next pass, finding
		// them gone, recorded nothing. The store's staging lock is held
		// from the first entry to the last removal, so that no entry is
		// written for a removal a staging would then hold off; a pass
		// cut short after an entry all the same leaves what it did not
		// remove listed for the next pass, which removes and records it
		// again.
		lctx, unlock, err := c.tryLockStaging(ctx, url+"|"+cp.tenant)
		if err != nil {
			return err
		}
		defer unlock()
		if err := c.stillLeading(lctx); err != nil {
			return err
		}
		// Read again under the lock, once: the checkpoint the run
		// resumes from, if it has come to be one of these since, is not
		// recorded as removed (nor removed: removeHeld checks each).
		now, err := c.checkpointRun(lctx, cp)
		if err != nil {
			return err
		}
		for _, name := range append(slices.Clip(own), restNames...) {
			k := cp
			k.dataset = name
			if now != nil && checkpointInUse(now, k) {
				return errResuming
			}
		}
		for _, name := range own {
			k := cp
			k.dataset = name
			rec, err := c.withdrawnRecord(k, from, site, dec, ln.Rev, days, held[name].Objects)
			if err != nil {
				return err
			}
			if err := c.appendBefore(lctx, rec); err != nil {
				return err
			}
			if _, _, err := c.removeHeld(lctx, k, site); err != nil {
				return err
			}
		}
		if rest.count == 0 {
			return nil
		}
		if err := c.recordSweptRest(lctx, cp, from, site, dec, ln.Rev, days, &rest); err != nil {
			return err
		}
		for _, name := range restNames {
			k := cp
			k.dataset = name
			if _, _, err := c.removeHeld(lctx, k, site); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, errWithdrawSlow) || errors.As(err, new(*removeError))) {
			return &sweepStoreError{err}
		}
		return err
	}
	return lerr
}

// sweepNamed is how many checkpoints one pass of a left site's sweep
// records one entry each (an attempt's agent keeps its last two at its
// site); those past it are recorded in one entry for the pass, which names
// the first sweepNamed of them.
const sweepNamed = 16

// sweepPassMax is how many checkpoints one pass of a left site's sweep
// removes at most.
var sweepPassMax = 1024

// errSweepMore says that a pass of a left site's sweep removed what it
// could and left the rest, as many as it removes at most or past the
// listing's bound, to the next pass: not a failure of the store.
var errSweepMore = errors.New("more checkpoints left than one pass removes")

// sweptRest is what one pass of a sweep removes past its first sweepNamed
// checkpoints, as the store listed them.
type sweptRest struct {
	prefix  string
	count   int
	objects int
	bytes   int64
	names   []string
	digest  hash.Hash
}

func (s *sweptRest) add(name string, objects int, bytes int64) {
	s.count++
	// The sizes are the site's listing's claim (each saturated at the
	// largest int64): the sum stops there too rather than wrap to a
	// negative withdrawal on the record.
	s.objects += min(max(objects, 0), math.MaxInt-s.objects)
	s.bytes += min(max(bytes, 0), math.MaxInt64-s.bytes)
	if len(s.names) < sweepNamed {
		s.names = append(s.names, name)
	}
	s.digest.Write([]byte(name + "\n"))
}

// recordSweptRest writes the one withdrawal entry for rest, before any of
// its checkpoints is removed: a step that ends first removes none.
func (c *Controller) recordSweptRest(ctx context.Context, cp stagedCopy, from string, site *catalog.Site, dec policy.Decision, rev int64, days ruleDays, rest *sweptRest) error {
	days = days.resolved(c.today())
	rules, reason := withdrawalWhy(dec)
	rec, err := audit.NewRecord(transfer.KindWithdrawn, cp.run, transfer.Withdrawn{Kind: cp.kind, Run: cp.run, Dataset: rest.prefix + "*", Site: cp.site, From: from,
		To: site.Spec.Country, Rules: rules, Reason: reason, Revision: rev, AsOf: days.asOf.String(), RuleDay: days.rule.String(), Objects: rest.objects,
		Checkpoints: rest.count, Names: rest.names, NamesSHA256: hex.EncodeToString(rest.digest.Sum(nil)), Bytes: rest.bytes})
	if err != nil {
		return err
	}
	rec.Tenant = cp.tenant
	return c.appendBefore(ctx, rec)
}

// appendBefore writes rec, the record of a removal not yet done, within
// withdrawTimeout and under ctx: a step that ends first (or while it is
// written) writes nothing and removes nothing.
func (c *Controller) appendBefore(ctx context.Context, rec audit.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, withdrawTimeout)
	defer cancel()
	return c.cfg.Store.AppendAudit(actx, rec)
}

// sweepScanPage is how many ended runs one tick reads in its scan for
// sites still to sweep (sweepEnded).
const sweepScanPage = 200

// sweepEnded sweeps the runs no step of Tick's reaches whose sweep is due:
// a run that ended (finished, failed, cancelled) while a removal at a
// site it left was waiting to be tried again, or one held waiting for
// room. The runs whose sweep failed are known (sweepWait); those that
// ended so under another leader, or before a restart, are found by a scan
// of the ended runs, a page a tick, once a term. At most Config.Workers
// runs are swept a tick, each within a step's bound.
func (c *Controller) sweepEnded(ctx context.Context) {
	if ctx.Err() != nil {
		return // the term is over: the next leader's loop goes on
	}
	rescan := false
	if key := c.sweepKey(c.lawNow()); key != c.sweepKeySeen {
		// The law, its revision or a registered fact changed: the ended
		// runs' left sites that could not be judged are judged again. A
		// scan under way reads on to its end and then starts over:
		// started over at each change, it never reached the runs past
		// its first pages while documents were updated more often than
		// it took to read them all.
		c.sweepKeySeen = key
		rescan = true
		if c.sweepScanned {
			c.sweepScanAfter, c.sweepScanned = "", false
		} else {
			c.sweepRescan = true
		}
	}
	if c.sweepOwedRead(ctx, rescan) {
		c.sweepOwed.handOver(c)
	}
	if !c.sweepScanned {
		rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{AllTenants: true, States: FinalStates, After: c.sweepScanAfter, Limit: sweepScanPage, NoDocuments: true})
		if err != nil {
			c.cfg.Logger.Warn("list ended runs for sites still to sweep", "err", err)
		} else {
			c.mu.Lock()
			for _, row := range rows {
				if r, err := fromRow(row); err == nil && len(r.Swept) > 0 {
					if _, known := c.sweepWait[row.ID]; !known {
						if c.sweepWait == nil {
							c.sweepWait = map[string]copyBackoff{}
						}
						c.sweepWait[row.ID] = copyBackoff{}
					}
				}
			}
			c.mu.Unlock()
			switch {
			case len(rows) < sweepScanPage && c.sweepRescan:
				c.sweepScanAfter, c.sweepRescan = "", false
			case len(rows) < sweepScanPage:
				c.sweepScanned = true
			default:
				c.sweepScanAfter = rows[len(rows)-1].ID
			}
		}
	}
	now := c.cfg.Now()
	var due []string
	c.mu.Lock()
	for id, b := range c.sweepWait {
		if len(due) == c.cfg.Workers {
			break
		}
		// A run whose step is out past its bound (boundedStep) may be
		// in its own sweep, held at a hung site: sweeping it here too
		// would hold the tick again, and sweep the run twice at once.
		_, busy := c.long[id]
		_, out := c.stepsOut.runs[id]
		if !busy && !out && !now.Before(b.next) {
			due = append(due, id)
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, stepTimeout)
			defer cancel()
			c.sweepCheckpoints(sctx, id)
		}()
	}
	wg.Wait()
}

// An ended run is swept by the loop (sweepEnded), found by its scan of the
// ended runs whose rows list a site to sweep. Whoever could write the
// database could empty an ended run's whole list: its scan passed it by,
// and the checkpoints at the sites its moves left stayed there unjudged.
// The sealed records say which sites a run still owes a sweep (a sealed
// move's from, with no KindCheckpointsSwept or KindCheckpointsLeft record
// of the site since: placeSeen.owed), so the loop also reads the log's
// records of these kinds, a bounded number of pages a tick, from the log's
// start at each term and on from where it was after, keeping the runs
// owed a sweep at the point read; once it has read to the log's end, each
// run owed one is handed to the sweep (sweepWait), which reads the run's
// own sealed records, puts back what its row lacks (restoreSwept) and
// sweeps it. A run is handed over once a term, again after a change of
// the law or the facts (as the scan of ended runs is made again), and
// again when a new move of it is read.

// owedScan is the loop's read of the audit log for the runs that sealed
// records say owe a sweep.
type owedScan struct {
	// after is the seq of the last record read.
	after int64
	// owed holds, per run, the sites a sealed move of it left that no
	// sealed record read since says were swept (at most maxSealedSites a
	// run, maxOwedRuns runs), and whether it was handed to the sweep.
	owed map[string]*owedRun
}

type owedRun struct {
	sites  []string
	handed bool
}

// The records of the kinds the owed scan reads per page, and the pages a
// tick reads at most.
const (
	sweepOwedPage  = 256
	sweepOwedPages = 16
)

// maxOwedRuns bounds the runs the owed scan keeps (a variable for the
// tests): at the bound, every run kept is handed to the sweep, which
// confirms each from its own records, and forgotten.
var maxOwedRuns = 1 << 14

// sweepOwedKinds are the kinds of the records that say which sites a run
// owes a sweep.
var sweepOwedKinds = []string{audit.KindDecision, KindCheckpointsSwept, KindCheckpointsLeft}

// sweepOwedRead reads on the records of sweepOwedKinds sealed since the
// last read, up to sweepOwedPages pages, and says whether the runs owed a
// sweep should be handed over: it has read to the log's end (and again
// is true after a change of the law or the facts). A server that holds no
// audit key has no sealed record to go by.
func (c *Controller) sweepOwedRead(ctx context.Context, again bool) bool {
	chain := c.cfg.AuditChain
	if chain == nil {
		return false
	}
	s := &c.sweepOwed
	if again {
		for _, o := range s.owed {
			o.handed = false
		}
	}
	q := store.AuditQuery{Kinds: sweepOwedKinds, AllTenants: true, After: s.after, Limit: sweepOwedPage,
		MaxBytes: placeWitnessPageBytes, MaxEntryBytes: placeRecordBytes}
	for range sweepOwedPages {
		page, next, err := c.cfg.Store.AuditSelectPage(ctx, q)
		if err != nil {
			c.cfg.Logger.Warn("read the sealed records of sites left for runs owed a sweep", "after", s.after, "err", err)
			return false
		}
		for _, e := range page {
			if e.RunID == "" || !chain.Sealed(e) {
				continue
			}
			s.note(c, e)
		}
		if len(page) > 0 {
			s.after = max(s.after, page[len(page)-1].Seq)
		}
		if next == 0 {
			return true
		}
		s.after = max(s.after, next)
		q.After = next
	}
	return false
}

// note reads sealed record e into the runs owed a sweep: a move's from
// is owed one, and a site's record of its sweep done or given up ends it.
func (s *owedScan) note(c *Controller, e audit.Entry) {
	switch e.Kind {
	case KindCheckpointsSwept, KindCheckpointsLeft:
		var sw struct {
			Site string `json:"site"`
		}
		o := s.owed[e.RunID]
		if o == nil || json.Unmarshal(e.Payload, &sw) != nil {
			return
		}
		o.sites = slices.DeleteFunc(o.sites, func(x string) bool { return x == sw.Site })
		if len(o.sites) == 0 {
			delete(s.owed, e.RunID)
		}
	case audit.KindDecision:
		var d struct {
			Decision  string   `json:"decision"`
			Placement *placeOf `json:"placement"`
			From      string   `json:"from"`
		}
		// One that does not read is refused by the run's own read.
		if json.Unmarshal(e.Payload, &d) != nil || d.Decision != "move" || d.Placement == nil || d.From == "" || d.From == d.Placement.Site {
			return
		}
		o := s.owed[e.RunID]
		if o == nil {
			if len(s.owed) >= maxOwedRuns {
				s.flush(c)
			}
			if s.owed == nil {
				s.owed = map[string]*owedRun{}
			}
			o = &owedRun{}
			s.owed[e.RunID] = o
		}
		if !slices.Contains(o.sites, d.From) && len(o.sites) < maxSealedSites {
			o.sites = append(o.sites, d.From)
			o.handed = false
		}
	}
}

// handOver hands each run owed a sweep, not yet handed, to the sweep.
func (s *owedScan) handOver(c *Controller) {
	var ids []string
	for id, o := range s.owed {
		if !o.handed {
			o.handed = true
			ids = append(ids, id)
		}
	}
	c.sweepDue(ids)
}

// flush hands every run kept to the sweep and forgets them: the sweep
// confirms each against its own sealed records.
func (s *owedScan) flush(c *Controller) {
	ids := make([]string, 0, len(s.owed))
	for id := range s.owed {
		ids = append(ids, id)
	}
	c.sweepDue(ids)
	s.owed = nil
}

// sweepDue puts runs ids on the loop's sweep (sweepWait), due now, those
// already on it left as they are.
func (c *Controller) sweepDue(ids []string) {
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sweepWait == nil {
		c.sweepWait = map[string]copyBackoff{}
	}
	for _, id := range ids {
		if _, known := c.sweepWait[id]; !known {
			c.sweepWait[id] = copyBackoff{}
		}
	}
}

// sweepLaw judges whether the checkpoints at a site a run left may stay
// there, on every day it now is somewhere on Earth (onEveryDay), each day
// no earlier than the sweep's own as-of day (the day the run left the
// site by, when that is later). Judged on the UTC day alone, a run moved
// off a site on the eve of a rule east of UTC had its checkpoints there
// found lawful and the site struck from its sweeps, and they stayed where
// the rule forbade them. on is the day whose law decided (the day judged
// for the day that refused). ok is false when a day could not be judged
// and no other day refused.
func (c *Controller) sweepLaw(ctx context.Context, cp stagedCopy, ln LawNow, sw Sweep) (dec policy.Decision, on catalog.Date, from string, ok bool, err error) {
	floor, perr := catalog.ParseDate(sw.AsOf)
	judged := true
	dec, on, err = onEveryDayOf(c.cfg.Now(), func(day catalog.Date) (policy.Decision, error) {
		if perr == nil && floor.After(day) {
			day = floor
		}
		d, f, _, _, k, err := c.checkpointCopyLaw(ctx, cp, ln, day)
		if err != nil {
			return d, err
		}
		if !k {
			judged = false
			return policy.Decision{Allowed: true}, nil
		}
		if f != "" {
			from = f
		}
		return d, nil
	})
	if err != nil {
		return policy.Decision{}, on, "", false, err
	}
	if !judged && !hasCode(dec, policy.CodeDenied) {
		return policy.Decision{}, on, "", false, nil
	}
	if perr == nil && floor.After(on) {
		on = floor // the day the judge was asked about
	}
	return dec, on, from, true, nil
}
