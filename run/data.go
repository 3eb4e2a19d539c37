package run

import (
	"github.com/dustin/go-humanize"

	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/textfit"
	"meridian.dev/meridian/internal/textsafe"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// storedDatasets splits the job's datasets into those with a store (to be
// staged) and those declared only; an unknown name is an error.
func storedDatasets(w *catalog.World, job *catalog.TrainingJob) (stored, declared []string, err error) {
	for _, name := range job.Spec.Datasets {
		ds := w.Datasets[name]
		if ds == nil {
			return nil, nil, fmt.Errorf("job %s: dataset %q is neither in the request nor registered", job.Metadata.Name, name)
		}
		if ds.Spec.Store == "" {
			declared = append(declared, name)
		} else {
			stored = append(stored, name)
		}
	}
	return stored, declared, nil
}

// stageData stages the job's datasets to the tenant's part of the
// attempt's site store through the transfer stager (law as of today,
// intents and confirmations in the ledger), then records that the attempt's
// data is in place. It is safe to repeat after a crash: the stager
// reconciles what a killed staging sent and sends only what is missing.
func (c *Controller) stageData(ctx context.Context, r *Run) (bool, error) {
	w, job, err := c.worldJob(r)
	if err != nil {
		return c.failJudged(ctx, r, err, err.Error())
	}
	site := w.Site(r.Site)
	if site == nil {
		return c.fail(ctx, r, fmt.Sprintf("site %q is no longer in the catalog", r.Site))
	}
	stored, declared, err := storedDatasets(w, job)
	if err != nil {
		return c.fail(ctx, r, err.Error())
	}
	for _, name := range stored {
		// Registered before the server's stores were narrowed, say.
		if err := c.checkDatasetStore(w.Datasets[name]); err != nil {
			return c.fail(ctx, r, err.Error())
		}
	}
	var events []store.Event
	for _, name := range declared {
		events = append(events, store.Event{Kind: "staging", Reason: fmt.Sprintf("dataset %s declared only (no spec.store); nothing moved to %s", name, r.Site)})
	}
	var results []*transfer.Result
	if len(stored) > 0 {
		if err := c.lawBehind(); err != nil {
			return false, err
		}
		if c.cfg.Stager == nil {
			return c.fail(ctx, r, fmt.Sprintf("datasets %v must be staged to %s but this controller has no stager", stored, r.Site))
		}
		dst := *site
		dst.Spec.Store = c.SiteStore(site)
		sj := *job
		sj.Spec.Datasets = stored
		// Runs staging to one store take turns, so that the second finds
		// the first's chunks there instead of sending them again.
		sctx, unlock, err := c.lockStaging(ctx, dst.Spec.Store+"|"+r.Tenant)
		if err != nil {
			return false, err
		}
		if err := c.stillLeading(ctx); err != nil {
			unlock()
			return false, err
		}
		q := transfer.JobQuery(w, job, c.today())
		// The run's world may predate an update of its datasets (built
		// before it, kept since): the staging counts them as registered
		// now, never fewer people than the world had.
		reg, err := c.registry(ctx, r.Tenant)
		if err != nil {
			unlock()
			return c.failJudged(ctx, r, err, fmt.Sprintf("staging attempt %d to %s: the registry: %v", r.Attempt, r.Site, err))
		}
		now, also, notes, err := registeredNow(reg, q.Datasets)
		if err != nil {
			unlock()
			return c.fail(ctx, r, fmt.Sprintf("staging attempt %d to %s: %v", r.Attempt, r.Site, err))
		}
		q.Datasets = now
		// The same holds for the organisations' affiliates: the group
		// counts those of the world and of the registry now.
		q.Org, q.Organizations = affiliatedNow(reg, q.Org, q.Organizations)
		byName := make(map[string]*catalog.Dataset, len(now))
		for _, d := range now {
			byName[d.Metadata.Name] = d
		}
		for _, name := range stored {
			if err := c.checkDatasetStore(byName[name]); err != nil {
				unlock()
				return c.fail(ctx, r, err.Error())
			}
		}
		for _, n := range notes {
			events = append(events, store.Event{Kind: "staging", Reason: n})
		}
		// Which registration of each dataset moves, for the ledger.
		q.Registrations, _ = c.registrationsIn(reg, r.Tenant, false, q.Datasets...)
		probe := c.exportsProbe()
		q.Exports = probe.exports()
		// A dataset whose origin moved leaves from either, as far as the
		// law knows: it must allow both.
		err = c.judgedFromBoth(q, &dst, also)
		if err == nil {
			results, err = c.cfg.Stager.StageJob(sctx, &sj, byName, &dst, r.Tenant, dataPrefix(r.Tenant), q, r.ID)
		}
		// Read before unlock, which ends sctx: after it, every staging
		// would look cut short.
		cut := sctx.Err() != nil
		unlock()
		// The dataset the staging stopped at, for the tenant's text (the
		// error's own words are the server's log's).
		at := ""
		if err != nil && len(results) < len(stored) {
			at = stored[len(results)] // StageJob stages them in order
		}
		var denied *transfer.DeniedError
		switch {
		case err != nil && probe.failed() != nil:
			// A rule that counts earlier exports could not read them: the
			// move was not judged, and the step is tried again (neither
			// refused nor failed for a store's passing error).
			return false, &storeReadError{fmt.Errorf("transfer ledger: %w", probe.failed())}
		case errors.As(err, &denied) && c.refusedElsewhereOnly(r, denied):
			// Refused on another day it is now somewhere (the eve of a
			// rule east of UTC, or its last hours west of it), not on the
			// UTC day the run was planned by: the site, not the run, is
			// unlawful now, and the run leaves it to be placed again.
			return c.leaveForLawOn(ctx, r, policy.Decision{Denials: denied.Denials}, c.lawNow().Rev, catalog.Date{}, denied.AsOf)
		case errors.As(err, &denied):
			return c.refuse(ctx, r, denied)
		case err != nil && cut:
			// Cut short (shutdown, the step's time limit, or the staging
			// lease lost): the next step resumes where this one stopped.
			return false, err
		case err != nil && keyUnusable(err):
			// The tenant's to resolve (send the key again): no later try
			// gets past it until then, and no failure ends the run.
			name := at
			if name == "" {
				name = "(unknown)"
			}
			return c.keyHeld(ctx, r, name, err)
		case err != nil && transfer.Transient(err):
			// A store answering 500 or not at all, or the ledger not
			// written: the same staging may well pass a while later.
			return c.stageFailed(ctx, r, at, err)
		case err != nil:
			return c.fail(ctx, r, c.siteFault(r, r.Site, fmt.Sprintf("staging attempt %d to %s failed%s", r.Attempt, r.Site, atDataset(at, err)), err))
		}
	}
	var sent int64
	for _, res := range results {
		sent += res.BytesSent
		c.cfg.Observer.Staged(res.From, res.To, res.BytesSent)
		events = append(events, store.Event{Kind: "staging", Reason: fmt.Sprintf("dataset %s staged to %s (%s → %s, basis %s): %d of %d chunks sent, %s; %d already there, %d damaged there and replaced",
			res.Dataset, res.Site, res.From, res.To, orNone(res.Basis), res.ChunksSent, res.Chunks, humanize.Bytes(uint64(max(res.BytesSent, 0))), res.Skipped, res.Damaged)})
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Staging || r.Staged == r.Attempt {
			return store.ErrNoChange
		}
		r.Staged = r.Attempt
		r.StageTries, r.StageNext, r.StageUnreserved = 0, time.Time{}, false
		if n := len(r.Attempts); n > 0 && r.Attempts[n-1].N == r.Attempt {
			a := &r.Attempts[n-1]
			a.StagedBytes += sent
			for _, res := range results {
				if a.Manifests == nil {
					a.Manifests = map[string]string{}
				}
				a.Manifests[res.Dataset] = res.ManifestSHA256
			}
		}
		ch.Events = append(ch.Events, events...)
		return nil
	})
	return err == nil, err
}

// registeredNow is ds, a run's datasets as its world has them, as its
// staging asks the law about them and the ledger records them: each as the
// tenant's registry confirms it now, with the larger of the two head
// counts and the more sensitive of the two classes. A world is kept from
// when it was built, and the tenant may have updated a dataset since (on
// another server, or between the world's read and the staging): its
// staging counted the people the world's copy listed, fewer than the
// registration now lists, and the volume thresholds undercounted. Counting
// the registration's fewer, or its weaker class (personal data updated to
// public), would undercount the people the run was judged with, so the
// stricter counts (failing closed); the registration's other fields are
// the ones in force. A dataset whose origin moved is judged from both:
// also lists, for each such dataset, its copy as staged but from the run's
// origin, which the law must allow as well. A dataset that kept its
// registration is its world's copy. notes says, for the timeline, where
// the two differed; a dataset no longer registered, or of a class outside
// the vocabulary, is an error.
func registeredNow(reg *registry, ds []*catalog.Dataset) (out, also []*catalog.Dataset, notes []string, err error) {
	out = make([]*catalog.Dataset, len(ds))
	for i, d := range ds {
		cur := reg.datasets[d.Metadata.Name]
		switch {
		case cur == nil:
			return nil, nil, nil, fmt.Errorf("dataset %s is no longer registered to this tenant: nothing of it is staged; register it and submit the job again", d.Metadata.Name)
		case cur == d:
			out[i] = d
			continue
		}
		name := d.Metadata.Name
		if d.Spec.Subjects != cur.Spec.Subjects {
			notes = append(notes, fmt.Sprintf("dataset %s: the run's copy lists %d subjects and its registration now %d: the staging counts %d",
				name, d.Spec.Subjects, cur.Spec.Subjects, max(d.Spec.Subjects, cur.Spec.Subjects)))
		}
		more := *cur
		more.Spec.Subjects = max(d.Spec.Subjects, cur.Spec.Subjects)
		if d.Spec.Classification != cur.Spec.Classification {
			was, is := slices.Index(catalog.Classifications, d.Spec.Classification), slices.Index(catalog.Classifications, cur.Spec.Classification)
			if was < 0 || is < 0 {
				return nil, nil, nil, fmt.Errorf("dataset %s: spec.classification: the run's copy is %q and its registration now %q, and %v are the classes known: nothing of it is staged",
					name, d.Spec.Classification, cur.Spec.Classification, catalog.Classifications)
			}
			more.Spec.Classification = catalog.Classifications[max(was, is)]
			notes = append(notes, fmt.Sprintf("dataset %s: the run's copy is %s data and its registration now %s: the staging counts it as %s",
				name, d.Spec.Classification, cur.Spec.Classification, more.Spec.Classification))
		}
		if d.Spec.Origin != cur.Spec.Origin {
			from := more
			from.Spec.Origin = d.Spec.Origin
			also = append(also, &from)
			notes = append(notes, fmt.Sprintf("dataset %s: the run's copy comes from %s and its registration now from %s: the law must allow the staging from both, and the ledger records %s",
				name, d.Spec.Origin, cur.Spec.Origin, cur.Spec.Origin))
		}
		if more.Spec.Subjects == cur.Spec.Subjects && more.Spec.Classification == cur.Spec.Classification {
			out[i] = cur // the registration in force, sealed record and all
		} else {
			out[i] = &more
		}
	}
	return out, also, notes, nil
}

// affiliatedNow is a staging's organisation and the organisations it
// knows (a run's world's), each with the affiliates its world's copy and
// its registration now declare, and the organisations registered since
// the world was built: the group the volumes count (policy.OrgGroup) and
// the staging's ledger entry records is never smaller than either's. A
// world is kept from when it was built: an affiliate declared since was
// in no total of the run's stagings, so its exports went uncounted. The
// other fields are the world's, which the run was judged with.
func affiliatedNow(reg *registry, org *catalog.Organization, known map[string]*catalog.Organization) (*catalog.Organization, map[string]*catalog.Organization) {
	out := make(map[string]*catalog.Organization, len(known)+len(reg.orgs))
	for name, o := range known {
		out[name] = o
	}
	for name, cur := range reg.orgs {
		was := out[name]
		switch {
		case cur == nil || was == cur:
		case was == nil:
			out[name] = cur
		default:
			out[name] = withAffiliates(was, cur.Spec.Affiliates)
		}
	}
	if org != nil {
		if o := out[org.Metadata.Name]; o != nil {
			org = withAffiliates(org, o.Spec.Affiliates)
		}
	}
	return org, out
}

// withAffiliates is o with more added to its affiliates (o itself when
// it declares them all).
func withAffiliates(o *catalog.Organization, more []string) *catalog.Organization {
	var add []string
	for _, a := range more {
		if !slices.Contains(o.Spec.Affiliates, a) && !slices.Contains(add, a) {
			add = append(add, a)
		}
	}
	if len(add) == 0 {
		return o
	}
	c := *o
	c.Spec.Affiliates = append(slices.Clone(o.Spec.Affiliates), add...)
	return &c
}

// judgedFromBoth asks the stager's law about each dataset of also (a
// run's dataset as staged, from the origin its registration no longer
// names) moving to dst, in query q (the staging's, the dataset in place of
// its copy as staged): a *transfer.DeniedError for the first the law does
// not allow, naming the origin it refused.
func (c *Controller) judgedFromBoth(q policy.Query, dst *catalog.Site, also []*catalog.Dataset) error {
	for _, d := range also {
		aq := q
		aq.AsOf = c.today()
		aq.Datasets = make([]*catalog.Dataset, len(q.Datasets))
		for i, qd := range q.Datasets {
			if qd.Metadata.Name == d.Metadata.Name {
				qd = d
			}
			aq.Datasets[i] = qd
		}
		if err := c.cfg.Stager.Allows(aq, d, dst); err != nil {
			return err
		}
	}
	return nil
}

// atDataset says, in a staging's failure, the dataset it stopped at (name,
// "" for none known) and the object, where err says which
// (dataset.ObjectError): their names are the tenant's own, where the
// error's words are the server's.
func atDataset(name string, err error) string {
	at := ""
	if name != "" {
		at = " at dataset " + name
	}
	if key, ok := dataset.FailedObject(err); ok {
		if at == "" {
			at = " at"
		}
		at += " object " + objectText(key)
	}
	return at
}

// maxObjectKey is how much of an object's key a staging's failure quotes:
// a chunk's key is under 100 bytes, and a store may list keys of 1 KiB
// (S3's limit) or, a file store, longer.
const maxObjectKey = 256

// objectText is key as a tenant's text shows it: at most maxObjectKey
// bytes of it (a mark where it was cut), each character that may not be
// shown as itself escaped (textsafe.Escape). A key a store listed is of
// its choosing: a line break in it would forge a line of the timeline, a
// terminal escape rewrite what the reader sees. It is cut before it is
// escaped, so that no escape is cut in two, and the escaped text is at
// most four times the cut (a byte not UTF-8 written \xNN).
func objectText(key string) string {
	cut := textfit.Prefix(key, maxObjectKey)
	s := textsafe.Escape(cut)
	if len(cut) < len(key) {
		s += fmt.Sprintf("… (%d bytes in all)", len(key))
	}
	return s
}

// maxStageTries is how many tries of an attempt's staging a store's
// passing failure may stop before the run waits held (stageFailed), as
// maxMoveTries is for a checkpoint's copy.
const maxStageTries = maxMoveTries

// stageFailed records a try of the attempt's staging that a passing
// failure stopped (a store's, or the server's own ledger's:
// transfer.Transient). Such a failure said nothing about the run, and
// failing it threw away its place and, for a moved run, the checkpoint it
// resumes from. The staging is tried again with the held runs' backoff
// (Config.HoldRetry, doubling to 10 min); what it sent stays at the site
// and the next try sends only what is missing. After maxStageTries the run
// waits held, and each release (an hour apart at most) tries the staging
// again, its tries counted afresh, at the placement its plan then picks. The timeline says so
// at each try. A refusal (the law's, a key or object that does not
// authenticate, a 4xx answer, an object gone) still fails the run.
func (c *Controller) stageFailed(ctx context.Context, r *Run, dataset string, cause error) (bool, error) {
	now := c.cfg.Now()
	tries, attempt := r.StageTries+1, r.Attempt
	what := c.siteFault(r, r.Site, fmt.Sprintf("staging attempt %d to %s could not finish%s", r.Attempt, r.Site, atDataset(dataset, cause)), cause)
	c.cfg.Logger.Warn("staging failed", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "try", tries, "err", cause)
	same := func(r *Run) bool {
		return r.State == Staging && !r.CancelRequested && r.Attempt == attempt && r.Staged != attempt && r.StageTries == tries-1
	}
	if tries < maxStageTries {
		wait := c.holdBackoff(tries)
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if !same(r) {
				return store.ErrNoChange
			}
			r.StageTries, r.StageNext = tries, now.Add(wait)
			r.StageUnreserved = wait > reserveWait
			ch.Events = append(ch.Events, store.Event{Kind: "staging-failed", Reason: fmt.Sprintf("%s; try %d of %d: what reached the site is kept and the staging tried again in %s",
				what, tries, maxStageTries, wait)})
			return nil
		})
		return err == nil, err
	}
	wait := c.storeHoldWait(tries)
	reason := fmt.Sprintf("%s; %d tries failed: the run waits held rather than fail, and tries again in %s", what, tries, wait)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if !same(r) {
			return store.ErrNoChange
		}
		return holdStaging(ch, r, &Hold{Reason: reason, Code: policy.CodeNotNow, Since: now, NextTry: now.Add(wait), Tries: 1, StageTries: tries}, reason)
	})
	return err == nil, err
}

// holdStaging puts r, whose staging stopped, on hold h (its Restart taken
// from the move under way), and records why. A move ahead of a rule's day
// that this staging ends keeps the day through the hold, as a move held
// before its copy does.
func holdStaging(ch *store.Change, r *Run, h *Hold, reason string) error {
	h.Restart = r.Migration != nil && r.Migration.Restart
	r.Hold = h
	r.Hold.keepMove(r.Migration)
	r.Migration = nil
	r.StageTries, r.StageNext, r.StageUnreserved = 0, time.Time{}, false
	ch.Events = append(ch.Events, store.Event{Kind: "staging-failed", Reason: reason})
	return transition(ch, r, Held, reason)
}

// keyUnusable reports whether err is a staging stopped by its dataset's
// key: one the server does not hold (dataset.ErrNoKey), or one its
// keyring holds but the audit log does not record (dataset.ErrKeyUnrecorded:
// written into the keyring outside Meridian, or stored before keys were
// recorded). Either is the tenant's to resolve by sending the key; a read
// of the key records that failed (dataset.ErrKeyLogUnread) is a passing
// failure (stageFailed).
func keyUnusable(err error) bool {
	return !errors.Is(err, dataset.ErrKeyLogUnread) && (errors.Is(err, dataset.ErrNoKey) || errors.Is(err, dataset.ErrKeyUnrecorded))
}

// keyHeld holds run r, whose staging of dataset name met a key the server
// cannot use (keyUnusable): failing it was final, and the tenant had to
// submit the job again once the key was sent. The run waits held, the hold
// naming the dataset and the way out, and each release plans it and tries
// the staging again: once the key is sent (`dataset send-key`, which
// records it), the staging passes. The wait between tries is the time the
// run has waited so far (at least Config.HoldRetry, at most moveHoldMax),
// so that tries come quickly at first and at most hourly after: a release
// counted since this wait began (Migration.LostAt of a run released from
// hold) keeps its hold's start. A try once the run has waited keyHoldMax
// fails it instead.
func (c *Controller) keyHeld(ctx context.Context, r *Run, name string, cause error) (bool, error) {
	now := c.cfg.Now()
	attempt := r.Attempt
	since := now
	if m := r.Migration; m != nil && m.Reason == releasedFromHold && !m.LostAt.IsZero() && !m.LostAt.After(now) {
		since = m.LostAt
	}
	wait := min(max(now.Sub(since), c.cfg.HoldRetry), moveHoldMax)
	why := fmt.Sprintf("the server holds no key of dataset %s", name)
	if errors.Is(cause, dataset.ErrKeyUnrecorded) {
		// The witness's refusal names the dataset and the fingerprints,
		// no path of the server's.
		why = fmt.Sprintf("the server refuses the key it holds for dataset %s (%v)", name, cause)
	}
	if waited := now.Sub(since); waited >= keyHoldMax {
		// Each try plans the run, takes room and writes its plan and
		// events: a key never sent would have them tried hourly for as
		// long as the run exists (its deadline counts time run, not
		// time waited).
		c.cfg.Logger.Warn("staging held for a dataset key past its bound", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "dataset", name, "waited", waited, "err", cause)
		return c.fail(ctx, r, reasonText(fmt.Sprintf("staging attempt %d to %s: %s, and the run waited %s held for it, the most it may (%s): send the key (meridian dataset send-key %s) and submit the job again",
			r.Attempt, r.Site, why, waited.Round(time.Second), keyHoldMax, name)))
	}
	reason := fmt.Sprintf("%s%s; the run waits held rather than fail, and tries the staging again in %s",
		keyHoldPrefix(r.Attempt, r.Site, name), why, wait.Round(time.Second))
	c.cfg.Logger.Warn("staging held for a dataset key", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "dataset", name, "err", cause)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Staging || r.CancelRequested || r.Attempt != attempt || r.Staged == attempt {
			return store.ErrNoChange
		}
		return holdStaging(ch, r, &Hold{Reason: reasonText(reason), Code: policy.CodeNotNow, Since: since, NextTry: now.Add(wait), Tries: 1, KeyDataset: name}, reason)
	})
	return err == nil, err
}

// keyHoldMax is the longest a run waits held for a dataset's key
// (keyHeld), counted from its hold's start: a try after that fails it.
const keyHoldMax = 7 * 24 * time.Hour

// keyHoldPrefix is how the reason of a hold keyHeld writes begins. Holds
// written before Hold.KeyDataset existed name their dataset only there, so
// heldForKey reads it for them: it stays as they were written.
func keyHoldPrefix(attempt int, site, name string) string {
	return fmt.Sprintf("staging attempt %d to %s: ", attempt, site) + keyHoldAsk(name)
}

// keyHoldAsk is the part of keyHoldPrefix that names the dataset, the
// same whatever the attempt and site: each time the name is followed by
// a fixed character (a space, a ')'), so a longer name (ds-70 for ds-7)
// never reads as it. The store's hold_key column (SQLite migration 18,
// PostgreSQL 16) reads the dataset of a hold without KeyDataset from
// these words: they stay as holds written before that field have them.
func keyHoldAsk(name string) string {
	return fmt.Sprintf("send the key of dataset %s again (meridian dataset send-key %s): ", name, name)
}

// heldForKey reports whether run r waits held only for the key of its
// tenant's dataset name (keyHeld): a hold whose KeyDataset is name, that no
// law, room or failed staging (StageTries) holds. A later try that
// rewrites it for another reason (stillHeld: the law, room) clears
// KeyDataset, and one with the same reason leaves a hold that still waits
// for the key, however many tries it counts. The caller matches the
// tenant.
//
// A hold with no KeyDataset was written before the field existed (keyHeld
// now always sets it): for it alone the dataset is read from the reason,
// which must begin exactly as keyHeld then wrote it for r's attempt and
// site. Never the reason of a hold that names its dataset: a reason's
// wording may change from version to version and carries text that is not
// the server's.
func heldForKey(r *Run, name string) bool {
	h := r.Hold
	if r.State != Held || r.CancelRequested || h == nil || h.Code != policy.CodeNotNow || h.Rule != "" || h.Wait != "" || h.StageTries != 0 || h.MoveTries != 0 {
		return false
	}
	if h.KeyDataset != "" {
		return h.KeyDataset == name
	}
	return strings.HasPrefix(h.Reason, keyHoldPrefix(r.Attempt, r.Site, name))
}

// retryKeyHolds brings forward to now the next try of tenant's runs held
// for the key of its dataset name (heldForKey), which the tenant has just
// sent, and nudges the loop: they waited up to an hour for their next try
// (keyHeld's backoff). Only that tenant's held runs whose hold the store
// finds waiting for name's key (ListOptions.HeldForKey: the column it
// derives from each run's data, read through an index), or cannot tell
// the key of, are read, a page at a time, and decoded; each is tried once
// more, and a run still refused is held again with its wait grown as
// before (the hold's start is kept).
func (c *Controller) retryKeyHolds(ctx context.Context, tenant, name string) (int, error) {
	n, after := 0, ""
	lit := literalInJSON(name)
	for {
		rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Tenant: tenant, States: []string{string(Held)}, After: after, Limit: activePage, NoDocuments: true, HeldForKey: name})
		if err != nil {
			return n, err
		}
		for _, row := range rows {
			// The store lists runs whose key it cannot tell (data
			// not JSON, a reason that asks for a key otherwise than
			// whole) for every name: one that does not name this
			// dataset is passed by undecoded. The data listed may
			// be rendered anew (on PostgreSQL jsonb's text, spaced),
			// so only the name is looked for. Data holding an escape
			// (\u, a row written outside Meridian) may spell the name
			// otherwise, which the store's column decodes: it is
			// decoded here too.
			if lit != nil && !bytes.Contains(row.Data, lit) && !bytes.Contains(row.Data, []byte(`\u`)) {
				continue // names no such dataset: not held for its key
			}
			if keyHoldRead != nil {
				keyHoldRead(row.ID)
			}
			r, err := fromRow(row)
			if err != nil || r.Tenant != tenant || !heldForKey(r, name) || !c.cfg.Now().Before(r.Hold.NextTry) {
				continue
			}
			out, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
				if r.Tenant != tenant || !heldForKey(r, name) || !c.cfg.Now().Before(r.Hold.NextTry) {
					return store.ErrNoChange
				}
				r.Hold.NextTry = c.cfg.Now()
				return nil
			})
			switch {
			case err != nil && !errors.Is(err, store.ErrNoChange):
				return n, err
			case err == nil && out != nil:
				n++
			}
		}
		if len(rows) < activePage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	if n > 0 {
		c.Nudge()
	}
	return n, nil
}

// keyHoldRead, when set (by tests), is told the id of each held run
// retryKeyHolds decodes.
var keyHoldRead func(id string)

// literalInJSON is name's bytes when every JSON encoder writes them as
// they are inside a string (letters, digits, '-', '.', '_': a stored
// dataset's name is a DNS label), so that a run's stored data that names
// it, in a hold's KeyDataset or its reason, holds those bytes however the
// store renders it; else nil (no such shortcut).
func literalInJSON(name string) []byte {
	if name == "" {
		return nil
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_') {
			return nil
		}
	}
	return []byte(name)
}

// releasedFromHold is the Migration.Reason of a run a hold's release
// moves (Controller.release).
const releasedFromHold = "released from hold"

// exports is what the law counts of earlier exports (yearly volume
// thresholds); nil when the controller was given no source.
func (c *Controller) exports() policy.Exports {
	if c.cfg.Exports == nil {
		return nil
	}
	return c.cfg.Exports
}

// lockStore serialises stagings into one store within this controller
// (lockStaging adds the servers sharing the store).
func (c *Controller) lockStore(url string) func() {
	l := c.storeLock(url)
	l.Lock()
	return l.Unlock
}

// tryLockStore is lockStore that does not wait: nil when the store is
// taken.
func (c *Controller) tryLockStore(url string) func() {
	l := c.storeLock(url)
	if !l.TryLock() {
		return nil
	}
	return l.Unlock
}

func (c *Controller) storeLock(url string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.storeLocks[url]
	if l == nil {
		l = &sync.Mutex{}
		c.storeLocks[url] = l
	}
	return l
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// refuse fails the run because the law refused a dataset for the attempt's
// site: the placement is not used, and every denying rule is recorded.
func (c *Controller) refuse(ctx context.Context, r *Run, d *transfer.DeniedError) (bool, error) {
	c.endAttempt(ctx, r)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Staging {
			return store.ErrNoChange
		}
		rules := make([]map[string]string, 0, len(d.Denials))
		for _, f := range d.Denials {
			rules = append(rules, map[string]string{"rule": f.Rule, "reason": f.Message, "source": f.Source})
		}
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]any{
			"decision": "refuse-transfer", "dataset": d.Dataset, "site": r.Site, "from": d.From, "to": d.To,
			"asOf": d.AsOf.String(), "attempt": r.Attempt, "denials": rules,
		})
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		ch.Events = append(ch.Events, store.Event{Kind: "staging-refused", Reason: d.Error()})
		return transition(ch, r, Failed, fmt.Sprintf("attempt %d at %s not started: %s", r.Attempt, r.Site, firstLine(d.Error())+denialSummary(d)))
	})
	return err == nil, err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func denialSummary(d *transfer.DeniedError) string {
	var b strings.Builder
	for _, f := range d.Denials {
		fmt.Fprintf(&b, "; rule %s: %s", f.Rule, f.Message)
	}
	return b.String()
}

// refusedElsewhereOnly says whether the staging's refusal d is on a day
// other than the UTC day (one it now is somewhere on Earth) on which the
// law of placements refuses the run's site too: the re-plan that follows
// the run's leaving keeps only places lawful on every such day
// (dropUnlawfulElsewhere, in every server plan), so it does not send the run back. A refusal the
// placements' law does not share fails the run as one on the UTC day
// does, rather than moving it back and forth.
func (c *Controller) refusedElsewhereOnly(r *Run, d *transfer.DeniedError) bool {
	if d.AsOf.IsZero() || d.AsOf.Equal(c.today().Time) {
		return false
	}
	ln := c.lawNow()
	if ln.Law == nil {
		return false
	}
	w, job, err := c.worldJob(r)
	if err != nil {
		return false
	}
	dec, err := placementLaw(w, job, w.Site(r.Site), r.Placement.Pool, d.AsOf, ln.Law, ln.Exports)
	return err == nil && !dec.Allowed
}
