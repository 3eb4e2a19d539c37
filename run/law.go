package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// LawNow is the law in force: its revision, how to ask it about placements
// and transfers, and the days on which it changes.
type LawNow struct {
	Rev      int64
	Law      planner.Law
	Transfer transfer.Law
	Dates    []catalog.Date
	// Digest names everything the law reads beyond its revision: the
	// rule files' contents (built-in packs, rules directories, applied
	// files) and the screening list and decisions. A law check records it
	// (with the controller's catalog, lawDigest), and a law that no longer
	// has the digest of the last check is checked again: a new binary's
	// packs, a rules directory edited between starts, a screening import
	// or decision change the law under the same revision.
	Digest string
	// Exports is what the law counts of earlier exports.
	Exports policy.Exports
	// Behind, when set, says why this server cannot apply the law in force
	// (a newer rules revision does not load here): no law check runs or
	// is recorded under the older revision meanwhile.
	Behind error
}

// lawNow is the configured law in force (a static law with no dates when
// Config.LawNow is not set).
func (c *Controller) lawNow() LawNow {
	if c.cfg.LawNow != nil {
		ln := c.cfg.LawNow()
		ln.Exports = c.exports()
		if ln.Behind != nil {
			// The revision this server could load is not the law: every
			// placement asked of it is not judged, so nothing starts,
			// moves or fails under it until the law in force loads.
			ln.Law = behindLaw{&behindError{ln.Behind}}
		}
		return ln
	}
	ln := LawNow{Law: c.cfg.Law, Exports: c.exports()}
	if c.cfg.Stager != nil {
		ln.Transfer = c.cfg.Stager.Law
	}
	return ln
}

// behindLaw is the law of a server behind the law in force: no session
// opens under it.
type behindLaw struct{ err *behindError }

func (l behindLaw) Session(policy.Query) (planner.Session, error) { return nil, l.err }

// lawBehind is a behindError when this server cannot load the law in
// force, else nil: staging, moving a checkpoint and planning again wait
// for it rather than act on the older rules, or fail the run on the
// denial the stager's law gives meanwhile.
func (c *Controller) lawBehind() error {
	if c.cfg.LawNow == nil {
		return nil
	}
	if ln := c.cfg.LawNow(); ln.Behind != nil {
		return &behindError{ln.Behind}
	}
	return nil
}

// KindLawCheck is the audit kind of one re-check of every live run and
// staged copy after a rules revision or on a day the law changes.
const KindLawCheck = "law-check"

// lawMaxAhead bounds how far ahead a placement's horizon is looked for.
const lawMaxAhead = 3 * 366 * 24 * time.Hour

// placementLaw asks law whether site's pool is lawful for the run's job on
// asOf.
func placementLaw(w *catalog.World, job *catalog.TrainingJob, site *catalog.Site, poolIdx int, asOf catalog.Date, law planner.Law, exports policy.Exports) (policy.Decision, error) {
	if site == nil || poolIdx < 0 || poolIdx >= len(site.Spec.Pools) {
		return policy.Decision{}, fmt.Errorf("site or pool %d is no longer in the catalog", poolIdx)
	}
	pool := &site.Spec.Pools[poolIdx]
	acc := w.Accelerators[pool.Accelerator]
	if acc == nil {
		return policy.Decision{}, fmt.Errorf("accelerator %s is not known", pool.Accelerator)
	}
	q := transfer.JobQuery(w, job, asOf) // with the whole job's compute
	probe := newExportsProbe(exports)
	q.Exports = probe.exports()
	sess, err := law.Session(q)
	if err != nil {
		return policy.Decision{}, err
	}
	dec := sess.Evaluate(site, pool, acc)
	if err := probe.failed(); err != nil {
		// A rule that counts earlier exports could not read them: the
		// placement was not judged, which is not a denial (that would move
		// or fail the run on a store's passing error).
		return policy.Decision{}, &storeReadError{fmt.Errorf("transfer ledger: %w", err)}
	}
	return dec, nil
}

// exportsProbe passes reads of earlier exports on and keeps the first
// error one met.
type exportsProbe struct {
	policy.Exports
	mu  sync.Mutex
	err error
}

func (p *exportsProbe) Exported(ctx context.Context, tenant string, orgs []string, origin string, since, until catalog.Date) ([]policy.Export, error) {
	xs, err := p.Exports.Exported(ctx, tenant, orgs, origin, since, until)
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
	return xs, err
}

// newExportsProbe is a probe of e; nil (reading nothing) when e is nil.
func newExportsProbe(e policy.Exports) *exportsProbe {
	if e == nil {
		return nil
	}
	return &exportsProbe{Exports: e}
}

// exportsProbe is a probe of the controller's ledger (nil without one).
func (c *Controller) exportsProbe() *exportsProbe { return newExportsProbe(c.exports()) }

// exports is the probe as a policy.Exports: a nil interface for a nil
// probe, which a query reads as "no ledger".
func (p *exportsProbe) exports() policy.Exports {
	if p == nil {
		return nil
	}
	return p
}

// failed is the first error a read met (nil for a nil probe).
func (p *exportsProbe) failed() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// lawQueryDates is the days of q's own (policy.QueryDates: a licence's
// expiry, an adequacy lapsing) on which law may answer otherwise: only
// those it says can change its answers (planner.QueryDatedLaw), or all of
// them with a law that does not say. Each day is a session and the
// placement judged again, at every law check of every live run: an
// organisation's 256 licences naming rules no licence lifts, each ending
// on its own day, made each check judge the run's placement 256 times
// over.
func lawQueryDates(law planner.Law, q policy.Query) []catalog.Date {
	if ql, ok := law.(planner.QueryDatedLaw); ok {
		return ql.QueryDates(q)
	}
	return policy.QueryDates(q)
}

// horizon is the first of the law's future days (after asOf, within
// lawMaxAhead), or of the days the job's own facts change the answer on (a
// licence's expiry: lawQueryDates), on which the placement is not
// lawful, with the rule that ends it; zero when no loaded rule ends it.
func horizon(w *catalog.World, job *catalog.TrainingJob, site *catalog.Site, poolIdx int, asOf catalog.Date, ln LawNow) (catalog.Date, string, error) {
	limit := asOf.Add(lawMaxAhead)
	for _, d := range policy.MergeDates(ln.Dates, lawQueryDates(ln.Law, transfer.JobQuery(w, job, asOf))) {
		if !d.After(asOf) || d.Time.After(limit) {
			continue
		}
		dec, err := placementLaw(w, job, site, poolIdx, d, ln.Law, ln.Exports)
		if err != nil {
			return catalog.Date{}, "", err
		}
		if !dec.Allowed {
			return d, firstRule(dec), nil
		}
	}
	return catalog.Date{}, "", nil
}

// dropLeftAtOnce moves out of plan's placements, into its rejections (as
// the law's), those a run would have to leave as soon as it got there: a
// rule already loaded makes the placement unlawful on a day within the move
// margin from now, so its horizon's MoveBy has passed and monitor moves the
// run on at once (moveBeforeRule). Placed there, a run left again at once;
// a run held because no place stays lawful was released there by its next
// retry, which plans as of today only, and held again: a new attempt, a
// drain and a checkpoint's round trip for each retry, without end. The
// placement is asked about each of the law's days in that window; one the
// law cannot judge is rejected too (failing closed), unless the store could
// not be read, which is an error (not judged: the caller tries again).
func (c *Controller) dropLeftAtOnce(w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, plan *planner.Plan) error {
	if len(plan.Placements) == 0 {
		return nil
	}
	ln := c.lawNow()
	if ln.Law == nil {
		return nil
	}
	by := c.cfg.Now().Add(c.cfg.MoveMargin)
	var days []catalog.Date
	for _, d := range policy.MergeDates(ln.Dates, lawQueryDates(ln.Law, transfer.JobQuery(w, job, asOf))) {
		if d.After(asOf) && !d.Time.After(by) {
			days = append(days, d)
		}
	}
	if len(days) == 0 {
		return nil
	}
	keep := make([]planner.Placement, 0, len(plan.Placements))
	for _, p := range plan.Placements {
		var why *policy.Finding
		for _, d := range days {
			dec, err := placementLaw(w, job, w.Site(p.Site), p.Pool, d, ln.Law, ln.Exports)
			if notJudged(err) {
				return err
			}
			if err != nil {
				why = &policy.Finding{Rule: policy.EngineRule, Kind: string(planner.KindLaw), Code: policy.CodeUndetermined,
					Message: fmt.Sprintf("%s pool %d cannot be judged for %s, within the move margin (%s) of now: %v", p.Site, p.Pool, d, c.cfg.MoveMargin, err)}
				break
			}
			if !dec.Allowed {
				f := firstDenial(dec)
				f.Kind, f.Code = string(planner.KindLaw), policy.CodeDenied
				f.Message = fmt.Sprintf("%s is not lawful from %s (%s), within the move margin (%s) of now: a run placed there would have to leave at once", p.Site, d, denialText(dec), c.cfg.MoveMargin)
				why = &f
				break
			}
		}
		if why == nil {
			keep = append(keep, p)
			continue
		}
		plan.Rejected = append(plan.Rejected, planner.Rejection{Site: p.Site, Country: p.Country, Accelerator: p.Accelerator,
			Kind: planner.KindLaw, Resolution: planner.KindLaw.Resolution(), Candidates: 1, Reasons: []policy.Finding{*why}})
		if plan.Summary.RejectedByKind == nil {
			plan.Summary.RejectedByKind = map[string]int{}
		}
		plan.Summary.RejectedByKind[string(planner.KindLaw)]++
	}
	plan.Summary.Placements -= len(plan.Placements) - len(keep)
	plan.Placements = keep
	return nil
}

// firstDenial is dec's first denial, its rule, source and dates, or the
// engine's when it has none.
func firstDenial(dec policy.Decision) policy.Finding {
	if len(dec.Denials) == 0 {
		return policy.Finding{Rule: policy.EngineRule}
	}
	return dec.Denials[0]
}

func firstRule(dec policy.Decision) string {
	if len(dec.Denials) == 0 {
		return policy.EngineRule
	}
	return dec.Denials[0].Rule
}

func denialText(dec policy.Decision) string {
	parts := make([]string, 0, len(dec.Denials))
	for _, f := range dec.Denials {
		if strings.HasPrefix(f.Message, f.Rule+":") {
			parts = append(parts, "rule "+f.Message) // the message names its rule
		} else {
			parts = append(parts, "rule "+f.Rule+": "+f.Message)
		}
	}
	if len(parts) == 0 {
		return "the law engine gave no reason (failing closed)"
	}
	return strings.Join(parts, "; ")
}

// lawStatus computes the run's horizon at its current placement.
func (c *Controller) lawStatus(r *Run, ln LawNow) (*LawStatus, error) {
	w, job, err := c.worldJob(r)
	if err != nil {
		return nil, err
	}
	today := c.today()
	st := &LawStatus{Revision: ln.Rev, CheckedOn: today.String()}
	d, rule, err := horizon(w, job, w.Site(r.Site), r.Placement.Pool, today, ln)
	if err != nil {
		return nil, err
	}
	if !d.IsZero() {
		st.LawfulUntil, st.UntilRule = d.String(), rule
		st.MoveBy = d.Time.Add(-c.cfg.MoveMargin)
	}
	return st, nil
}

// lawTick re-checks every live run and staged copy when the law changed
// since the last check: a new rules revision, or a day on which a loaded
// rule starts, ends or resumes. The check is recorded (one audit entry) and
// remembered in the store, so a restart neither skips nor repeats it.
func (c *Controller) lawTick(ctx context.Context) {
	if c.cfg.LawNow == nil {
		return
	}
	ln := c.lawNow()
	if ln.Behind != nil {
		c.lawFailed("law check", ln.Rev, ln.Behind)
		return
	}
	if c.lawClock().Before(c.lawRetry) && ln.Rev == c.lawRetryRev {
		// Waiting after failures (lawFailed); a new revision is checked
		// at once, and deferred withdrawals keep their own pace.
		c.retryWithdrawals(ctx, ln)
		return
	}
	// The law changes for the check on the day a rule starts or ends
	// anywhere on Earth: the newest day begun somewhere (transfer.Latest),
	// up to 14 hours before it begins in UTC. Checked by the UTC day, a
	// copy a rule forbids from D stayed until D began in UTC, while D had
	// begun east of it. The check's record keeps the UTC day (utc), as
	// servers before this one wrote and read it: a leader of theirs in a
	// rolling upgrade took a later day for a record changed outside
	// Meridian. That the law was judged through today is this server's
	// own note (lawThrough), so that a rule's day begun east of UTC is
	// not found new on every tick until it begins in UTC.
	now := c.cfg.Now()
	utc, today := transfer.Today(now), transfer.Latest(now)
	// Owners' updates of registered documents, through any replica: the
	// runs' cached worlds of their tenants are dropped before any check.
	if err := c.docUpdates(ctx); err != nil {
		c.lawFailed("law check: registered documents' updates", ln.Rev, err)
		return
	}
	// A check begun now judges every update read so far: the updates up
	// to this entry of the log, which its record names for a leader that
	// reads it later (docUpdates).
	through := c.docSeq
	lastRev, lastDay, err := c.cfg.Store.LawCheck(ctx)
	if err != nil {
		c.lawFailed("law check", ln.Rev, err)
		return
	}
	if lastRev > ln.Rev {
		// Another server checked under a revision this one has not loaded
		// yet (its refresh comes within a second) or cannot load: checking
		// under older rules would record them as the law checked, and
		// leave the law in force unenforced here. A new revision is
		// checked at once when it loads.
		c.lawFailed("law check", ln.Rev, fmt.Errorf("the last check was under rules revision %d; this server has revision %d", lastRev, ln.Rev))
		return
	}
	why := ""
	switch {
	case lastDay == "":
		why = "first check"
	case lastRev != ln.Rev:
		why = fmt.Sprintf("rules revision %d (was %d)", ln.Rev, lastRev)
	default:
		last, err := catalog.ParseDate(lastDay)
		if err != nil {
			why = "unreadable last check"
			break
		}
		from := last
		if t := c.lawThrough; t.rev == ln.Rev && t.day == lastDay && t.through.After(from) {
			from = t.through // this server's own check, the last recorded
		}
		if last.After(today) {
			// The row is outside the audit chain: a day written ahead
			// into it left every day of the law before it out of
			// (last, today], and no change of the law was checked again.
			why = "the last check is dated " + lastDay + ", after today: its record was changed outside Meridian"
			break
		}
		// The rules' days, and the country table's: the day an adequacy
		// decision lapses changes what may be where, runs' and staged
		// copies' alike.
		// Whether any day falls in (last, today]: no merged, sorted list
		// is needed for that, and this runs on every tick.
	days:
		for _, ds := range [][]catalog.Date{ln.Dates, countryDays()} {
			for _, d := range ds {
				if d.After(from) && !d.After(today) {
					why = "the law changes on " + d.String()
					break days
				}
			}
		}
	}
	digest := c.lawDigest(ln)
	if why == "" && lastDay != "" && digest != c.checkedLaw {
		// The same revision, another law: a binary with other built-in
		// packs or facts, a rules directory or the catalog edited between
		// starts, a screening import or decision. Each may make a running
		// placement or a staged copy unlawful.
		why = "the law this server reads is not the one last checked (its rule files, catalog or screening changed)"
	}
	if why == "" && c.docDue != "" {
		// An owner's update changes the facts runs and staged copies are
		// judged by (an organisation's status, attributes or licences, a
		// dataset's class or bases), as a new revision changes the rules.
		why = c.docDue
	}
	if why == "" && lastDay != "" && c.factScan != today {
		// The days a staged copy's own facts change (a licence of its
		// organisation expires) are in no run's horizon and not among the
		// law's days. They are read once a day, when a day has passed
		// since the last check.
		last, _ := catalog.ParseDate(lastDay)
		what, err := c.copyFactDay(ctx, last, today)
		if err != nil {
			c.lawFailed("law check: the staged copies' facts", ln.Rev, err)
		} else {
			// A change found is scanned for again until the check it
			// calls for is recorded (below): a check that fails must be
			// retried on the next tick, not the next day.
			if what == "" {
				c.factScan = today
			}
			why = what
		}
	}
	if why == "" {
		if c.factScan == today {
			// The law in force has a recorded check (another server's,
			// maybe): what failed tries here did is in no record to come.
			c.lawFails, c.lawDone = 0, nil
		}
		c.retryWithdrawals(ctx, ln)
		return
	}
	res, err := c.recheckAll(ctx, ln)
	if err != nil {
		// The check is not done: it is not recorded, so the next tick
		// tries again.
		c.carryOver(res)
		c.lawFailed("law check", ln.Rev, err)
		return
	}
	c.withCarried(res)
	fields := map[string]any{
		"revision": ln.Rev, "day": utc.String(), "through": today.String(), "why": why, "runs": res.Runs, "lawful": res.Lawful,
		"documentsThrough": through, "law": digest,
	}
	lawCheckLists(fields, res)
	rec, err := audit.NewRecord(KindLawCheck, "", fields)
	if err == nil {
		err = c.cfg.Store.SetLawCheck(ctx, ln.Rev, utc.String(), rec)
	}
	if err != nil {
		c.carryOver(res) // done, and not recorded
		c.lawFailed("record law check", ln.Rev, err)
		return
	}
	// Checked as of today: no staged copy's fact changes after today
	// until tomorrow. Every update read before the check began is in it.
	c.factScan = today
	c.lawThrough = lawThrough{rev: ln.Rev, day: utc.String(), through: today}
	c.docDue = ""
	c.checkedLaw = digest
	c.lawFails = 0
	c.lawDone = nil
}

// lawDigest names the law ln is, beyond its revision: the rule files and
// screening (LawNow.Digest) and the catalog the law reads (sites,
// accelerators, countries: catalogDigest), hashed.
func (c *Controller) lawDigest(ln LawNow) string {
	sum := sha256.Sum256([]byte(ln.Digest + "\x00" + c.catalogDigest()))
	return hex.EncodeToString(sum[:16])
}

// catalogDigest is the digest of the world this controller's law reads of
// its catalog: its sites (the catalog's and the extra ones), and the
// accelerators and countries built in. It is read once: the catalog does
// not change while the process runs.
func (c *Controller) catalogDigest() string {
	c.catDigestOnce.Do(func() {
		h := sha256.New()
		w, err := c.capacityWorld()
		if err != nil {
			fmt.Fprintf(h, "unreadable: %v", err)
		} else {
			enc := json.NewEncoder(h)
			for _, v := range []any{w.Sites, w.Accelerators, w.Countries} {
				if err := enc.Encode(v); err != nil {
					fmt.Fprintf(h, "unencodable: %v", err)
				}
			}
		}
		c.catDigest = hex.EncodeToString(h.Sum(nil))
	})
	return c.catDigest
}

// docUpdates reads the register entries (and law checks) recorded since
// the last read, every replica's. An owner's update of a registered
// Organization or Dataset sets docDue, so that the next law check judges
// live runs and staged copies by the updated facts, and drops the cached
// worlds of that tenant's runs (the replica that took the update dropped
// only its own). In the first read of a term, a recorded law check judged
// the updates up to the entry its record names (documentsThrough): a
// check the last leader began before an update, and recorded after it,
// did not judge it. A check recorded without that name (by an older
// version) is taken to have judged none.
func (c *Controller) docUpdates(ctx context.Context) error {
	first := !c.docRead
	tenants := map[string]bool{}
	for {
		q := store.AuditQuery{Kinds: []string{KindRegister, KindLawCheck}, AllTenants: true, After: c.docSeq, Limit: 1000}
		es, err := c.cfg.Store.AuditSelect(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range es {
			switch e.Kind {
			case KindLawCheck:
				var p struct {
					Through *int64 `json:"documentsThrough"`
					Law     string `json:"law"`
				}
				ok := json.Unmarshal(e.Payload, &p) == nil
				if first && ok && p.Through != nil && *p.Through >= c.docDueSeq {
					c.docDue = ""
				}
				if first {
					c.checkedLaw = p.Law
				}
			case KindRegister:
				var p struct{ Kind, Name, Action string }
				if json.Unmarshal(e.Payload, &p) == nil && p.Action == "updated" {
					c.docDue = fmt.Sprintf("%s %s of tenant %s was updated", p.Kind, p.Name, catalog.TenantOr(e.Tenant))
					c.docDueSeq = e.Seq
					c.factsSeq.Store(max(c.factsSeq.Load(), e.Seq))
					tenants[catalog.TenantOr(e.Tenant)] = true
				}
			}
			c.docSeq = max(c.docSeq, e.Seq)
		}
		if q.Next(es) == 0 {
			break
		}
	}
	c.docRead = true
	for t := range tenants {
		c.forgetWorlds(ctx, t)
	}
	return nil
}

// Law checks that fail in a row are retried on the next tick once, and
// then after a wait that doubles from lawBackoff up to maxLawBackoff: a
// store that keeps failing is not asked to read every live run twice a
// second, nor the log filled at that rate.
const (
	lawBackoff    = time.Second
	maxLawBackoff = 30 * time.Second
)

// lawFailed logs a failed law check of revision rev and sets when the
// next may start.
func (c *Controller) lawFailed(what string, rev int64, err error) {
	c.lawFails++
	var wait time.Duration
	if c.lawFails > 1 {
		wait = min(lawBackoff<<min(c.lawFails-2, 16), maxLawBackoff)
		c.lawRetry, c.lawRetryRev = c.lawClock().Add(wait), rev
	}
	c.cfg.Logger.Error(what, "err", err, "failures", c.lawFails, "retryIn", wait)
}

// countryDays are the days the built-in country table changes the law's
// answers on (adequacy decisions lapsing), read once: the table is
// embedded.
var countryDays = sync.OnceValue(func() []catalog.Date {
	countries, err := catalog.BuiltinCountries()
	if err != nil {
		return nil // no table: no plan or check passes anyway
	}
	return policy.QueryDates(policy.Query{Countries: countries})
})

// copyFactDay names the first change after last and up to today in the
// facts that staged copies are judged by beyond the law's and the country
// table's days: the end of a licence of a copy's organisation (QueryDates:
// the day after it expires). It is empty when none falls in that span.
func (c *Controller) copyFactDay(ctx context.Context, last, today catalog.Date) (string, error) {
	copies, err := c.stagedCopies(ctx)
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	regs := map[string]*registry{} // each tenant's, read once
	runs := map[string]bool{}      // each checkpoint's run, read once
	for _, cp := range copies {
		if cp.checkpoint() {
			// A move's ledger entry names no organisation: the run's job
			// does, as registered now (checkpointCopyLaw judges the copy
			// under that organisation).
			if runs[cp.run] {
				continue
			}
			runs[cp.run] = true
			o, err := c.runOrg(ctx, cp)
			if err != nil {
				return "", err
			}
			if o == nil || seen[cp.tenant+"/"+o.Metadata.Name] {
				continue
			}
			seen[cp.tenant+"/"+o.Metadata.Name] = true
			if d := licenceEnd(o, last, today); d != "" {
				return fmt.Sprintf("a licence of organisation %s (tenant %s, run %s's) ended on %s", o.Metadata.Name, cp.tenant, cp.run, d), nil
			}
			continue
		}
		if cp.org == "" || seen[cp.tenant+"/"+cp.org] {
			continue
		}
		seen[cp.tenant+"/"+cp.org] = true
		reg := regs[cp.tenant]
		if reg == nil {
			var err error
			if reg, err = c.registry(ctx, cp.tenant); err != nil {
				return "", err
			}
			regs[cp.tenant] = reg
		}
		o := reg.orgs[cp.org]
		if o == nil {
			continue
		}
		if d := licenceEnd(o, last, today); d != "" {
			return fmt.Sprintf("a licence of organisation %s (tenant %s) ended on %s", cp.org, cp.tenant, d), nil
		}
	}
	return "", nil
}

// licenceEnd is the first day in (last, today] on which a licence of o
// has ended, or "".
func licenceEnd(o *catalog.Organization, last, today catalog.Date) string {
	for _, d := range policy.QueryDates(policy.Query{Org: o}) {
		if d.After(last) && !d.After(today) {
			return d.String()
		}
	}
	return ""
}

// runOrg is the organisation of the job of checkpoint copy cp's run, as
// the run's world has it (the tenant's registered organisations): nil
// when the run, its job or the organisation is gone, as
// checkpointCopyLaw then does not judge the copy either. It fails only
// when the store could not be read.
func (c *Controller) runOrg(ctx context.Context, cp stagedCopy) (*catalog.Organization, error) {
	if cp.run == "" {
		return nil, nil
	}
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
	w, job, err := c.worldJob(r)
	if notJudged(err) {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	return w.Organizations[job.Spec.Organization], nil
}

// lawCheckListMax and lawCheckListBytes bound each list of ids a law
// check record names: six lists of at most 2 MiB each stay well under
// what an audit entry may be (store.MaxAuditPayloadBytes).
const (
	lawCheckListMax   = 10000
	lawCheckListBytes = 2 << 20
)

// lawCheckLists sets fields' lists of the runs and copies res moved,
// held or could not judge, each cut to its first lawCheckListMax ids
// (and lawCheckListBytes), with each one's whole count ("movingCount",
// ...). Named whole, a check of some hundreds of thousands of runs made
// a record over what an entry may be: the store refused it, and no law
// check was ever recorded again (each tick checked again, and failed).
func lawCheckLists(fields map[string]any, res *CheckResult) {
	for _, l := range []struct {
		name string
		ids  []string
	}{
		{"moving", res.Moving}, {"scheduled", res.Scheduled}, {"held", res.Held},
		{"copiesRemoved", res.Removed}, {"undetermined", res.Undetermined}, {"copiesUndetermined", res.CopiesUndetermined},
	} {
		ids, n := l.ids, 0
		for i, id := range ids {
			// An id's JSON: its quotes and comma, and its text escaped at most 6 to a byte.
			if n += 3 + 6*len(id); i == lawCheckListMax || n > lawCheckListBytes {
				ids = ids[:i]
				break
			}
		}
		fields[l.name] = ids
		fields[l.name+"Count"] = len(l.ids)
	}
}

// CheckResult says what one law check found.
type CheckResult struct {
	Runs      int      `json:"runs"`
	Lawful    int      `json:"lawful"`
	Moving    []string `json:"moving"`
	Scheduled []string `json:"scheduled"`
	Held      []string `json:"held"`
	Removed   []string `json:"removed"`
	// Undetermined are the runs the law could not be evaluated for: they
	// leave as the unlawful ones do (evaluation fails closed).
	Undetermined []string `json:"undetermined"`
	// CopiesUndetermined are the staged copies the law in force could not
	// judge (a fact missing): they are left where they are, and named.
	CopiesUndetermined []string `json:"copiesUndetermined"`
}

// carryOver keeps what a failed law check did that the next try will not
// do again: the runs it moved (the next finds them migrating) and the
// copies it withdrew. The next check recorded here names them, under
// whichever revision it checks: each run's own events name the rule and
// revision it moved under.
func (c *Controller) carryOver(res *CheckResult) {
	if res == nil {
		return
	}
	if c.lawDone == nil {
		c.lawDone = &CheckResult{}
	}
	c.lawDone.addActions(res)
}

// withCarried adds to res what failed tries since the last recorded check
// did. res.Runs stays the live runs this try looked at: a run an earlier
// try moved is still live, and among them.
func (c *Controller) withCarried(res *CheckResult) {
	if c.lawDone != nil {
		res.addActions(c.lawDone)
	}
}

// addActions adds to r the runs o moved or could not judge and the copies
// it removed.
func (r *CheckResult) addActions(o *CheckResult) {
	r.Moving = sortedUnion(r.Moving, o.Moving)
	r.Undetermined = sortedUnion(r.Undetermined, o.Undetermined)
	r.Removed = sortedUnion(r.Removed, o.Removed)
}

func sortedUnion(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// recheckAll checks every run that is not finished, then every staged
// copy, under ln. It fails when it cannot read the runs or the staged
// copies, or could not record what it decided for a run: then it has not
// checked them all.
func (c *Controller) recheckAll(ctx context.Context, ln LawNow) (*CheckResult, error) {
	res := &CheckResult{Moving: []string{}, Scheduled: []string{}, Held: []string{}, Removed: []string{}, Undetermined: []string{}, CopiesUndetermined: []string{}}
	var mu sync.Mutex
	failed := 0
	sem := make(chan struct{}, c.cfg.Workers)
	// The runs are read a page at a time (eachActive), each page checked
	// before the next is read.
	active := map[string]bool{}
	err := c.eachActive(ctx, func(rows []*store.Run) error {
		var wg sync.WaitGroup
		defer wg.Wait()
		for _, row := range rows {
			active[row.ID] = true
			r, err := c.decodeRow(row)
			if err != nil {
				// A run whose stored document does not read cannot be judged:
				// the check names it as undetermined, where it left it out and
				// recorded a check that had judged every run.
				c.cfg.Logger.Error("law check: a run's stored document does not read", "run", row.ID, "tenant", row.Tenant, "err", err)
				mu.Lock()
				res.Runs++
				res.Undetermined = append(res.Undetermined, row.ID)
				mu.Unlock()
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(r *Run) {
				defer func() { <-sem; wg.Done() }()
				out, err := c.recheckRun(ctx, r, ln)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.cfg.Logger.Warn("law check", "run", r.ID, "err", err)
					failed++
				}
				res.Runs++
				switch out {
				case "lawful":
					res.Lawful++
				case "moving":
					res.Moving = append(res.Moving, r.ID)
				case "scheduled":
					res.Lawful++
					res.Scheduled = append(res.Scheduled, r.ID)
				case "held":
					res.Held = append(res.Held, r.ID)
				case "undetermined":
					res.Undetermined = append(res.Undetermined, r.ID)
				}
			}(r)
		}
		return nil
	})
	if err != nil {
		// What the pages before did stays done, and is named.
		return res, fmt.Errorf("list runs: %w", err)
	}
	c.prune(active)
	removed, unjudged, err := c.recheckCopies(ctx, ln)
	c.Nudge()
	res.Removed = append(res.Removed, removed...)
	if err == nil && failed > 0 {
		// A run whose fate could not be written runs on under the old
		// law: the check is not done until the next tick writes it.
		err = fmt.Errorf("%d of %d runs could not be acted on", failed, res.Runs)
	}
	if err != nil {
		// What this try did stays done (runs moved, copies withdrawn),
		// and the try that is recorded names it (lawTick).
		return res, err
	}
	res.CopiesUndetermined = append(res.CopiesUndetermined, unjudged...)
	for _, l := range [][]string{res.Moving, res.Scheduled, res.Held, res.Removed, res.Undetermined, res.CopiesUndetermined} {
		sort.Strings(l)
	}
	return res, nil
}

// recheckRun decides one run's fate under ln: still lawful (with the day a
// loaded rule ends that, if one does), unlawful now (it leaves), or held
// (its next try comes now).
func (c *Controller) recheckRun(ctx context.Context, r *Run, ln LawNow) (string, error) {
	switch r.State {
	case Held:
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.State != Held || r.Hold == nil {
				return store.ErrNoChange
			}
			r.Hold.NextTry = c.cfg.Now()
			return nil
		})
		return "held", err
	case Migrating:
		return c.recheckTarget(ctx, r, ln)
	case Planned, Staging, Queued, Running, Checkpointed:
	default:
		return "", nil
	}
	w, job, err := c.worldJob(r)
	if err != nil {
		return c.leaveUnjudged(ctx, r, ln, err)
	}
	dec, on, err := placementLawDayAt(w, job, w.Site(r.Site), r.Placement.Pool, c.cfg.Now(), ln)
	if err != nil {
		return c.leaveUnjudged(ctx, r, ln, err)
	}
	if !dec.Allowed {
		if _, err := c.leaveForLawOn(ctx, r, dec, ln.Rev, catalog.Date{}, on); err != nil {
			return "", err
		}
		return "moving", nil
	}
	st, err := c.lawStatus(r, ln)
	if err != nil {
		return c.leaveUnjudged(ctx, r, ln, err)
	}
	if sameHorizon(r.Law, st) {
		// Nothing to record: the check itself is in the law-check audit
		// entry, and a write per run would cost a commit each.
		return "lawful", nil
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.State == Migrating || r.State == Held {
			return store.ErrNoChange
		}
		if r.Law != nil && r.Law.LawfulUntil != st.LawfulUntil {
			ch.Events = append(ch.Events, lawEvent("lawful-until", lawUntilText(r.Site, st, ln.Rev), st.UntilRule, ln.Rev))
		} else if r.Law == nil && st.LawfulUntil != "" {
			ch.Events = append(ch.Events, lawEvent("lawful-until", lawUntilText(r.Site, st, ln.Rev), st.UntilRule, ln.Rev))
		}
		r.Law = st
		return nil
	})
	if err != nil {
		return "", err
	}
	if st.LawfulUntil != "" {
		c.Nudge()
		return "scheduled", nil
	}
	return "lawful", nil
}

// recheckTarget judges the target a moving run has chosen under ln: one
// the law in force no longer allows is given up, and the run is planned
// again under that law. Without it the run went on to the target chosen
// under the older revision, where its staging was refused and the run
// failed, its checkpoint with it.
func (c *Controller) recheckTarget(ctx context.Context, r *Run, ln LawNow) (string, error) {
	if r.Migration == nil || r.Migration.Target == nil {
		return "", nil // planned under the law in force when it is planned
	}
	target := *r.Migration.Target
	w, job, err := c.worldJob(r)
	if err != nil {
		if notJudged(err) {
			return "", err
		}
		return "", nil // the re-plan meets the same error and holds the run
	}
	dec, err := placementLawAt(w, job, w.Site(target.Site), target.Pool, c.cfg.Now(), ln)
	if notJudged(err) {
		return "", err
	}
	if err == nil && dec.Allowed {
		return "", nil
	}
	why := fmt.Sprintf("the target %s is not lawful under rules revision %d", target.Site, ln.Rev)
	rule := firstRule(dec)
	if err != nil {
		why = fmt.Sprintf("the target %s could not be judged under rules revision %d (failing closed): %v", target.Site, ln.Rev, err)
	} else if rule != "" {
		why += " (rule " + rule + ")"
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		m := r.Migration
		if r.State != Migrating || m == nil || m.Target == nil || m.Target.Site != target.Site || m.Target.Pool != target.Pool {
			return store.ErrNoChange
		}
		m.Done = 0
		m.setTarget(nil)
		ch.Events = append(ch.Events, lawEvent("replanned", why+"; the run is planned again", rule, ln.Rev))
		return nil
	})
	if err != nil {
		return "", err
	}
	c.Nudge()
	return "moving", nil
}

// leaveUnjudged moves a run whose placement the law in force could not be
// judged for (its documents, its site or pool, or a rule could not be
// evaluated): evaluation fails closed, so a run the law cannot be checked
// for does not run on as if it were lawful. The re-plan meets the same
// error and holds the run, with the reason, until it is mended.
func (c *Controller) leaveUnjudged(ctx context.Context, r *Run, ln LawNow, cause error) (string, error) {
	if notJudged(cause) {
		// Not judged at all: the store could not be read. The check
		// fails, is not recorded, and the next tick judges the run.
		return "", cause
	}
	dec := policy.Decision{Denials: []policy.Finding{policy.EngineFinding("the law in force could not be evaluated for this placement: " + cause.Error())}}
	if _, err := c.leaveForLaw(ctx, r, dec, ln.Rev, catalog.Date{}); err != nil {
		return "", fmt.Errorf("%v; leaving: %w", cause, err)
	}
	return "undetermined", nil
}

// sameHorizon reports whether a run's recorded law status already says
// what st says about its horizon.
func sameHorizon(old, st *LawStatus) bool {
	return old != nil && old.LawfulUntil == st.LawfulUntil && old.UntilRule == st.UntilRule && old.MoveBy.Equal(st.MoveBy)
}

func lawUntilText(site string, st *LawStatus, rev int64) string {
	return fmt.Sprintf("%s is lawful until %s: rule %s takes effect then (rules revision %d); the run moves by %s",
		site, st.LawfulUntil, st.UntilRule, rev, st.MoveBy.UTC().Format(time.RFC3339))
}

// lawEvent is an event of a rule-driven change, naming the rule and the
// rules revision in its data.
func lawEvent(kind, reason, rule string, rev int64) store.Event {
	return lawDayEvent(kind, reason, rule, rev, catalog.Date{})
}

// lawDayEvent is lawEvent that also names, as ruleDay, the day whose law
// decided (when day is not zero).
func lawDayEvent(kind, reason, rule string, rev int64, day catalog.Date) store.Event {
	data := map[string]any{"rule": rule, "revision": rev}
	if !day.IsZero() {
		data["ruleDay"] = day.String()
	}
	b, _ := json.Marshal(data)
	return store.Event{Kind: kind, Reason: reason, Data: string(b)}
}

// leaveForLaw starts a move because the run's placement is not lawful (now,
// or from until): an attempt that runs is asked to checkpoint and stop
// first (its agent gets Stop; the workload SIGTERM), then the run is
// re-planned under the law in force.
func (c *Controller) leaveForLaw(ctx context.Context, r *Run, dec policy.Decision, rev int64, until catalog.Date) (bool, error) {
	return c.leaveForLawOn(ctx, r, dec, rev, until, c.today())
}

// leaveForLawOn is leaveForLaw for a placement refused now on the day on
// (the UTC day, or another it now is somewhere on Earth), which the
// reason names. The audit record keeps the UTC day it was taken on
// (asOf) and names the day whose law refused (ruleDay: on, or until for
// a move ahead of a rule), as the run's law-move event does: dated by
// the UTC day alone, a move on a rule's eve read as a refusal on a day
// the rule was not in force.
func (c *Controller) leaveForLawOn(ctx context.Context, r *Run, dec policy.Decision, rev int64, until, on catalog.Date) (bool, error) {
	now := c.cfg.Now()
	rule := firstRule(dec)
	when := "as of " + on.String()
	if !until.IsZero() {
		when = "from " + until.String()
		on = until
	}
	reason := fmt.Sprintf("%s is not lawful %s under rules revision %d: %s", r.Site, when, rev, denialText(dec))
	rules := make([]map[string]string, 0, len(dec.Denials))
	for _, f := range dec.Denials {
		rules = append(rules, map[string]string{"rule": f.Rule, "reason": f.Message, "source": f.Source, "code": f.Code})
	}
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		switch r.State {
		case Planned, Staging, Queued, Running, Checkpointed:
		default:
			return store.ErrNoChange
		}
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]any{
			"decision": "leave-unlawful", "site": r.Site, "attempt": r.Attempt, "asOf": c.today().String(),
			"ruleDay": on.String(), "from": until.String(), "revision": rev, "denials": rules})
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		running := r.State == Queued || r.State == Running || r.State == Checkpointed
		r.Migration = &Migration{From: r.Site, Reason: reason, LostAt: now, Drain: running, DrainBy: time.Now().Add(c.cfg.DrainGrace),
			Rule: rule, Revision: rev, Until: until.String()}
		ch.Events = append(ch.Events, lawDayEvent("law-move", reason, rule, rev, on))
		return transition(ch, r, Migrating, reason)
	})
	c.Nudge()
	return err == nil, err
}

// drainCancelWait bounds a drain's Cancel of its attempt. It is above the
// longest a local site's Cancel takes at its defaults before it answers:
// CancelGrace (5 s) from SIGTERM to SIGKILL, then TreeWait (9 s) for what
// the job started and TreeWait again for its command lock's holder, 23 s
// in all, with room to spare for a slower site. Cut at 10 s, a Cancel
// still waiting for the workload to end was counted as done, and the move
// went ahead while the old attempt ran on: two copies wrote one
// checkpoint.
const drainCancelWait = 30 * time.Second

// draining waits for a draining attempt to end: it was told to stop (its
// agent's next heartbeat answers Stop, and the workload checkpoints on
// SIGTERM); past the grace period it is stopped through its backend. It
// reports whether the drain is over, and, when it is over without the
// site's word that the attempt stopped, why (for the run's timeline).
//
// A Cancel that fails is no stop: the drain is not over, and the step is
// tried again, as the monitor asks again a site that fails a Status or a
// Cancel. A Cancel that finds no job ends the drain only where the job is
// known gone (notFoundGone), and otherwise counts as failed. After the
// site timeout of failures the drain is over all the same, unconfirmed,
// as the monitor counts such a site lost and moves the run on: a site
// gone for good does not hold the run for ever.
//
// A Cancel the site took, its job still ending (backend.ErrStopping: it
// traps SIGTERM and pushes its last checkpoint), is no failure: the site
// answered, what the drain counted of its failures is forgotten, and the
// drain goes on until the job ends, or for the drain's own bound
// (drainStoppingBound), when it is over saying the job was still ending.
func (c *Controller) draining(ctx context.Context, r *Run) (bool, string, error) {
	if r.Handle == "" {
		return true, "", nil
	}
	be, err := c.backendFor(r, r.Site)
	if notJudged(err) {
		// The world could not be read: the drain is not over for that,
		// and its grace is not cut short; the step is tried again.
		return false, "", err
	}
	if err != nil {
		c.drained(r)
		return true, "", nil
	}
	// Ended, where the site says so; a site that lost track of the job
	// (Lost) says nothing of whether it ended (a local job whose wrapper
	// was killed alone runs its command on): it is cancelled as a live
	// one is.
	st, statusErr := be.Status(ctx, r.Handle)
	if statusErr == nil && st.State.Final() && st.State != backend.Lost {
		c.drained(r)
		return true, "", nil
	}
	if time.Now().Before(r.Migration.DrainBy) { // elapsed time, on the machine's clock
		return false, "", nil
	}
	cctx, cancel := context.WithTimeout(ctx, drainCancelWait)
	defer cancel()
	if err := be.Cancel(cctx, r.Handle); err != nil {
		if errors.Is(err, backend.ErrStopping) {
			return c.drainStopping(r, err)
		}
		if !errors.Is(err, backend.ErrNotFound) {
			return c.drainRefused(r, err)
		}
		why, serr := c.notFoundGone(ctx, r, r.Handle, st, statusErr)
		if serr != nil {
			return false, "", serr
		}
		if why != "" {
			return c.drainRefused(r, &stopError{err, why})
		}
	}
	c.drained(r)
	return true, "", nil
}

// drained forgets what the monitor and the drain counted of r's attempt's
// site failing, its drain over.
func (c *Controller) drained(r *Run) {
	c.reachable(r.ID)
	k := attemptKey(r.ID, r.Attempt)
	c.mu.Lock()
	delete(c.drainFails, k)
	delete(c.drainFails, drainStoppingKey(k))
	c.mu.Unlock()
}

// drainStoppingKey is where drainFails keeps, for the attempt k
// (attemptKey), when its drain's Cancel was first answered that the job
// is still ending (drainStopping). It ends in the attempt's key, as
// prune and newTerm go by, with no slash of its own.
func drainStoppingKey(k string) string { return k + "+stopping" }

// drainStopping takes a Cancel of r's draining attempt that its site took,
// its job still ending (cause, backend.ErrStopping): the site answered,
// so what the drain counted of its failures is forgotten, and the drain
// goes on (the next step asks again) until the job ends, or its bound
// (drainStoppingBound) is past, when it is over, unconfirmed, saying so.
// The bound counts from the drain's grace (DrainBy; none is taken as
// now), or from the first such answer of this attempt's drain, whichever
// is later: a drain whose grace passed while no server led (or the loop
// was held up) asks first well past it, and a job that only began to end
// then gets the bound all the same.
func (c *Controller) drainStopping(r *Run, cause error) (bool, string, error) {
	// The site answered: what the drain counted of its failures is
	// forgotten; the drain is over only below.
	now := time.Now() // elapsed time, on the machine's clock
	k := attemptKey(r.ID, r.Attempt)
	c.reachable(r.ID)
	c.mu.Lock()
	delete(c.drainFails, k)
	c.mu.Unlock()
	from := c.failingSince(c.drainFails, drainStoppingKey(k), now)
	if by := r.Migration.DrainBy; by.After(from) {
		from = by
	}
	past := now.Sub(from)
	if bound := c.drainStoppingBound(); past >= bound {
		c.drained(r)
		c.cfg.Logger.Info("a draining attempt's job was still ending past the drain's bound; the run moves on", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "attempt", r.Attempt, "err", cause)
		return true, fmt.Sprintf("its job was still ending %s after the drain's grace: its site took the stop (site %s: %s)",
			past.Round(time.Second), r.Site, c.stoppingClass(r, r.Site, "drain", cause)), nil
	}
	c.cfg.Logger.Info("a draining attempt's job is still ending; its site is asked again", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "attempt", r.Attempt, "err", cause)
	return false, "", nil
}

// drainStoppingBound is how long past its grace a drain waits for a job
// its site says is still ending: as long as the stop of an attempt a run
// leaves is asked again (leftStopWindow: the agents' lease, never less
// than the site timeout), after which the workload stops on its own.
func (c *Controller) drainStoppingBound() time.Duration {
	return c.leftStopWindow()
}

// drainRefused counts the time a draining attempt's site has failed its
// Cancel (as unreachableFor does a live attempt's): the drain is over
// once that is past the site timeout, unconfirmed.
func (c *Controller) drainRefused(r *Run, cause error) (bool, string, error) {
	now := time.Now() // elapsed time, not the law's date (Config.Now)
	since := c.failingSince(c.drainFails, attemptKey(r.ID, r.Attempt), now)
	if d := now.Sub(since); d >= c.cfg.SiteTimeout {
		c.drained(r)
		// The site's words stay in the server's log: they may name its
		// hosts and paths, which the run's tenant is not told.
		c.cfg.Logger.Warn("a draining attempt's site did not confirm its stop within the site timeout; the run moves on", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "attempt", r.Attempt, "err", cause)
		return true, fmt.Sprintf("its site did not confirm the stop for %s (the site's answer is in the server's log)", d.Round(time.Second)), nil
	}
	return false, "", fmt.Errorf("draining attempt %d at %s: cancel: %w", r.Attempt, r.Site, cause)
}

// holdBackoff is how long a held run waits before its n-th retry.
func (c *Controller) holdBackoff(n int) time.Duration {
	d := c.cfg.HoldRetry
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// hold stops the run where it is: no lawful (or free) placement now.
func (c *Controller) hold(ctx context.Context, r *Run, reason, code, rule string, rev int64) (bool, error) {
	return c.holdWait(ctx, r, reason, code, rule, rev, "", nil)
}

// holdWait is hold, for a run that waits for room when wait is set.
func (c *Controller) holdWait(ctx context.Context, r *Run, reason, code, rule string, rev int64, wait string, wants []Want) (bool, error) {
	// Bounded as a state's reason is: one that waits for room names every
	// lawful pool, and a site's error may be part of it, so it grew with
	// the catalog and with what a site wrote, in every held run and every
	// page of the queue.
	reason = reasonText(reason)
	now := c.cfg.Now()
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.State == Held {
			return store.ErrNoChange
		}
		r.Hold = &Hold{Reason: reason, Code: code, Rule: rule, Revision: rev, Since: now, NextTry: now.Add(c.holdBackoff(1)), Tries: 1, Wait: wait, Wants: wants,
			Restart: r.Migration != nil && r.Migration.Restart}
		r.Hold.keepMove(r.Migration)
		r.Migration = nil
		ch.Events = append(ch.Events, lawEvent("held", reason, rule, rev))
		return transition(ch, r, Held, reason)
	})
	return err == nil, err
}

// retryHeld plans a held run again once its next try is due; a placement
// found starts a move there (its checkpoint goes along where the law lets
// it). A run that waits for room (Hold.Wait) is tried only by the
// admission loop (admitting), in admission order.
func (c *Controller) retryHeld(ctx context.Context, r *Run, admitting bool) (bool, error) {
	if r.Hold != nil && r.Hold.Wait != "" && !admitting {
		return false, nil
	}
	if !admitting && r.Hold != nil && c.cfg.Now().Before(r.Hold.NextTry) {
		return false, nil
	}
	w, job, left, err := c.jobLeft(r)
	if err != nil {
		return c.failJudged(ctx, r, err, leftErr(r, err))
	}
	asOf := c.today()
	// The run is released under the revision its plan was judged under:
	// one that lands while the plan is made has it made again.
	plan, u, ln, err := c.planUnderOneRev(ctx, r.Tenant, w, job, asOf, c.excludedNow(r))
	if err != nil {
		return false, err
	}
	plan, held, err := c.lawfulOnRuleDay(r, w, job, plan, ln)
	if err != nil {
		return false, err
	}
	if held != "" {
		return false, c.stillHeld(ctx, r.ID, held, policy.CodeDenied, r.Hold.UntilRule, ln.Rev, "", nil)
	}
	pl, rank, skipped, runnable := bestRunnable(plan.Placements)
	if !runnable {
		return false, c.notRunnable(ctx, r, w, u, plan, asOf, ln.Rev)
	}
	return c.release(ctx, r, w, u, plan, pl, rank, skipped, asOf, ln.Rev, leftNote("", left))
}

// keepMove carries into the hold move m ran into the rule day it was
// ahead of (m.Until, m.Rule) and the step of the older checkpoint it fell
// back to (m.ResumeStep).
func (h *Hold) keepMove(m *Migration) {
	if m == nil {
		return
	}
	if m.Until != "" {
		h.Until, h.UntilRule = m.Until, m.Rule
	}
	h.ResumeStep = m.ResumeStep
}

// lawfulOnRuleDay keeps, of held run r's plan, the placements that are
// lawful on the rule day its hold carries (Hold.Until) as well as today,
// as a move ahead of that day requires (replan). The plan is returned as
// it is when the hold carries no day, or the day has come (the plan, as of
// today, is already judged under it). When the plan had placements and
// none stays lawful then, held says why the run stays held. An error is a
// judgement that could not be made (a read failed): the run is tried again.
func (c *Controller) lawfulOnRuleDay(r *Run, w *catalog.World, job *catalog.TrainingJob, plan *planner.Plan, ln LawNow) (out *planner.Plan, held string, err error) {
	if r.Hold == nil || r.Hold.Until == "" || len(plan.Placements) == 0 {
		return plan, "", nil
	}
	until, err := catalog.ParseDate(r.Hold.Until)
	if err != nil || until.IsZero() || !until.After(c.today()) {
		return plan, "", nil
	}
	var keep []planner.Placement
	for _, p := range plan.Placements {
		dec, err := placementLaw(w, job, w.Site(p.Site), p.Pool, until, ln.Law, ln.Exports)
		if notJudged(err) {
			return nil, "", err
		}
		if err == nil && dec.Allowed {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		return plan, fmt.Sprintf("no placement stays lawful from %s (rules revision %d)", r.Hold.Until, ln.Rev), nil
	}
	cp := *plan
	cp.Placements = keep
	return &cp, "", nil
}

// notRunnable records that held run r's plan has no runnable placement
// with room: why, and, when lawful pools lack only room, what it waits for.
func (c *Controller) notRunnable(ctx context.Context, r *Run, w *catalog.World, u *usage, plan *planner.Plan, asOf catalog.Date, rev int64) error {
	reason, code, rule := holdReason(plan, asOf, rev)
	if len(plan.Placements) > 0 {
		reason, code, rule = fmt.Sprintf("none of the %d lawful placements as of %s is at a site with a configured backend", len(plan.Placements), asOf), policy.CodeNotNow, ""
	}
	wants, quota := c.wantsOf(u, w, r.Tenant, plan)
	wait := ""
	if len(wants) > 0 {
		wait = WaitCapacity
		if quota != "" {
			wait = WaitQuota
		}
		reason = roomReason(asOf, wait, quota, wants, reason)
	}
	return c.stillHeld(ctx, r.ID, reason, code, rule, rev, wait, wants)
}

// release moves held run held to placement pl of plan (rank and skipped as
// bestRunnable says; note, when set, is added to why it was chosen). The
// store checks the hold it takes against the pool's and the quotas'
// limits: a refusal leaves the run held, waiting, with the store's reason.
func (c *Controller) release(ctx context.Context, held *Run, w *catalog.World, u *usage, plan *planner.Plan, pl planner.Placement, rank int, skipped []Skipped, asOf catalog.Date, rev int64, note string) (bool, error) {
	now := c.cfg.Now()
	_, err := c.update(ctx, held.ID, func(r *Run, ch *store.Change) error {
		if r.State != Held || r.CancelRequested {
			return store.ErrNoChange
		}
		since := now
		if r.Hold != nil {
			since = r.Hold.Since
		}
		why := fmt.Sprintf("rank %d of %d as of %s (rules revision %d)", rank, len(plan.Placements), asOf, rev)
		if len(skipped) > 0 {
			why += "; " + skippedLine(skipped)
		}
		if note != "" {
			why += "; " + note
		}
		waited := "a placement is lawful and free again"
		if r.Hold != nil && r.Hold.Wait != "" {
			waited = fmt.Sprintf("admitted after waiting %s for %s", now.Sub(since).Round(time.Second), r.Hold.Wait)
		}
		r.Migration = &Migration{From: r.Site, Reason: releasedFromHold, LostAt: since, Target: &pl, AsOf: asOf.String(), Revision: rev,
			Restart: r.Hold != nil && r.Hold.Restart}
		// The counts of failed tries (the checkpoint's copy, the
		// staging) start afresh: the hold was the wait after the last
		// round of them, and a release carrying them was held again by
		// the first passing failure, one try an hour, for a store that
		// makes progress with each try (a staging sends only what is
		// missing).
		if r.Hold != nil {
			// Still ahead of the rule day the run was moving for: the
			// move keeps it (its sweep of the site left judges as of it).
			if until, err := catalog.ParseDate(r.Hold.Until); err == nil && until.After(asOf) {
				r.Migration.Until, r.Migration.Rule = r.Hold.Until, r.Hold.UntilRule
			}
			// The older checkpoint the run fell back to is still the
			// one it resumes from: the move judges its target for the
			// work left after it, as the release's plan did.
			r.Migration.ResumeStep = r.Hold.ResumeStep
		}
		r.Migration.Done = doneShare(r)
		r.Hold = nil
		ch.Events = append(ch.Events, lawEvent("released", fmt.Sprintf("%s: %s (%s), %s", waited, pl.Site, pl.Country, why), "", rev))
		if err := addPlan(ch, r.ID, releasedFromHold, c.excludedNow(r), plan, pl, why, ""); err != nil {
			return err
		}
		return transition(ch, r, Migrating, fmt.Sprintf("released from hold: moving to %s", pl.Site))
	})
	if ce, ok := capacityErr(err); ok {
		// Another run took the room between the plan and now: the run
		// waits for any of its lawful pools, not only the one refused.
		wants, _ := c.refusedWants(u, w, held.Tenant, plan, plan.Placements)
		return false, c.stillHeld(ctx, held.ID, fmt.Sprintf("waiting for %s as of %s: %s", waitOf(ce), asOf, ce.Error()), policy.CodeNotNow, "", rev, waitOf(ce), wants)
	}
	// A plan over what its record may hold (addPlan's planField: a job
	// that some thousands of sites may take) cannot be recorded, so the
	// run cannot move: it stays held with the reason, tried again after
	// the hold's backoff (the catalog or the job's owner may narrow it).
	// Returned, the error failed every pass at once, with nothing on the
	// run.
	//
	// A run a move held so (replan: "left ...; not moved as of ...")
	// keeps that reason while it is the same of the same day: a new
	// reason is a new held event.
	if pe := (*planTooLargeError)(nil); errors.As(err, &pe) {
		same := fmt.Sprintf("as of %s: %s", asOf, pe.hold)
		reason := "not released " + same
		if held.Hold != nil && strings.HasSuffix(held.Hold.Reason, "; not moved "+same) {
			reason = held.Hold.Reason
		}
		return false, c.stillHeld(ctx, held.ID, reason, policy.CodeNotNow, "", rev, "", nil)
	}
	return err == nil, err
}

// stillHeld records another failed try of a held run: the next try, and
// the reason when it changed.
func (c *Controller) stillHeld(ctx context.Context, id, reason, code, rule string, rev int64, wait string, wants []Want) error {
	reason = reasonText(reason) // as holdWait keeps it, so that a retry compares like with like
	_, err := c.update(ctx, id, func(r *Run, ch *store.Change) error {
		if r.State != Held || r.Hold == nil {
			return store.ErrNoChange
		}
		r.Hold.Tries++
		r.Hold.NextTry = c.cfg.Now().Add(c.holdBackoff(r.Hold.Tries))
		r.Hold.Wait, r.Hold.Wants = wait, wants
		if reason != r.Hold.Reason {
			r.Hold.Reason, r.Hold.Code, r.Hold.Rule, r.Hold.Revision = reason, code, rule, rev
			// Held for another reason now, it waits for no key: sending
			// one must not bring it forward (heldForKey).
			r.Hold.KeyDataset = ""
			r.Reason = reason
			ch.Events = append(ch.Events, lawEvent("held", reason, rule, rev))
		}
		return nil
	})
	return err
}

// holdReason says why a plan has no placement: the first not-now reason
// when capacity is what is missing, else the first undetermined fact, else
// the first denying rule.
func holdReason(plan *planner.Plan, asOf catalog.Date, rev int64) (reason, code, rule string) {
	var denied, undetermined, notNow *policy.Finding
	for i := range plan.Rejected {
		for j := range plan.Rejected[i].Reasons {
			f := &plan.Rejected[i].Reasons[j]
			switch {
			case (plan.Rejected[i].Kind == planner.KindCapacity || plan.Rejected[i].Kind == planner.KindSite) && notNow == nil:
				notNow = f
			case f.Code == policy.CodeUndetermined && undetermined == nil:
				undetermined = f
			case f.Code == policy.CodeDenied && denied == nil:
				denied = f
			}
		}
	}
	switch {
	case notNow != nil:
		return fmt.Sprintf("no lawful placement is free as of %s (waiting for capacity): %s", asOf, notNow.Message), policy.CodeNotNow, notNow.Rule
	case undetermined != nil:
		return fmt.Sprintf("no placement can be judged lawful as of %s until a missing fact is given: %s", asOf, undetermined.Message), policy.CodeUndetermined, undetermined.Rule
	case denied != nil:
		return fmt.Sprintf("no lawful placement as of %s under rules revision %d: %s%s", asOf, rev, denied.Message, effectiveNote(*denied)), policy.CodeDenied, denied.Rule
	}
	return fmt.Sprintf("no feasible placement as of %s (%d candidates rejected)", asOf, len(plan.Rejected)), policy.CodeNotNow, ""
}

// firstRejection names the rejection a submitter most needs to read: the
// first missing fact, else the first denying rule, else the first reason
// of any kind ("" when the plan has none).
func firstRejection(plan *planner.Plan) string {
	var pick *policy.Finding
	site := ""
	for _, want := range []string{policy.CodeUndetermined, policy.CodeDenied, ""} {
		for i := range plan.Rejected {
			for j := range plan.Rejected[i].Reasons {
				f := &plan.Rejected[i].Reasons[j]
				if pick == nil && (want == "" || f.Code == want) {
					pick, site = f, plan.Rejected[i].Site
				}
			}
		}
	}
	if pick == nil {
		return ""
	}
	rule := ""
	if pick.Rule != "" {
		rule = " by " + pick.Rule
	}
	return fmt.Sprintf("; first: %s%s: %s%s", site, rule, pick.Message, effectiveNote(*pick))
}

// effectiveNote says when a finding's rule is law, for a reason's text: "
// (rule R effective from D)", or "" for a finding that is no rule's.
func effectiveNote(f policy.Finding) string {
	if e := f.Effective(); e != "" {
		return " (rule " + f.Rule + " " + e + ")"
	}
	return ""
}

// waitable reports whether a plan without placements is worth waiting for:
// some candidate at a runnable site of w was refused only for capacity (or
// its scheduler's state). Room at a site for planning only is not: nothing
// would ever start the run there.
func waitable(plan *planner.Plan, w *catalog.World) bool {
	for _, rj := range plan.Rejected {
		if rj.Kind != planner.KindCapacity && rj.Kind != planner.KindSite {
			continue
		}
		if s := w.Site(rj.Site); s != nil && s.Runnable() {
			return true
		}
	}
	return false
}

// lawThrough is the last law check this server recorded: under rules
// revision rev, recorded as of the UTC day day, and judging the law
// through the day through (transfer.Latest), up to a day later.
type lawThrough struct {
	rev     int64
	day     string
	through catalog.Date
}
