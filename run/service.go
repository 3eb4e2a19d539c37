package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// SubmitRequest asks for a new run.
type SubmitRequest struct {
	Documents []Document `json:"documents"`
	// Job names the TrainingJob when the documents hold several.
	Job string `json:"job,omitempty"`
	// Placement is the plan rank to use; 0 means 1.
	Placement int `json:"placement,omitempty"`
	// AsOf must be empty: a run happens today. It is kept so that a client
	// that sends one gets a clear refusal rather than a silent backdate.
	AsOf string `json:"asOf,omitempty"`
	// IdempotencyKey makes retries of one submission return one run.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Priority orders the tenant's waiting runs: higher first (default 0,
	// from -1000 to 1000).
	Priority int `json:"priority,omitempty"`
}

// Audit kinds the controller adds; a key change is recorded as
// dataset.KeyRecordKind (dataset.KeyRecord), the record a keyring's
// KeyWitness confirms keys against.
const (
	KindRegister = "register"
)

// Submit plans the job as of today, registers the request's organisations
// and datasets to the tenant the first time it sees them (a later request
// must carry equal copies), records the plan and the chosen placement, and
// queues the run for the controller. Nothing is written on error.
func (c *Controller) Submit(ctx context.Context, tenant string, req SubmitRequest) (*Run, bool, error) {
	if len(req.Documents) == 0 {
		return nil, false, &InputError{"documents", errors.New("give at least one resource file")}
	}
	if len(req.IdempotencyKey) > 200 {
		return nil, false, &InputError{"idempotencyKey", errors.New("longer than 200 characters")}
	}
	if !utf8.ValidString(req.IdempotencyKey) || strings.ContainsRune(req.IdempotencyKey, 0) {
		// The store refuses it (store.ErrKeyNotText), which would be the
		// server's fault (500) rather than the request's.
		return nil, false, &InputError{"idempotencyKey", errors.New("not UTF-8 text, or holds a NUL")}
	}
	if req.AsOf != "" {
		return nil, false, &InputError{"asOf", fmt.Errorf("%q: a run happens today, on the server's clock; plan what-if questions with `meridian plan --as-of`", req.AsOf)}
	}
	rank := req.Placement
	if rank == 0 {
		rank = 1
	}
	if rank < 0 {
		return nil, false, &InputError{"placement", fmt.Errorf("%d: want a rank of 1 or more", rank)}
	}
	if req.IdempotencyKey != "" {
		// A retry gets its run whatever the capacity is now.
		row, err := c.cfg.Store.RunByKey(ctx, tenant, req.IdempotencyKey)
		if err == nil {
			out, err := fromRow(row)
			return out, false, err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	rq, err := decodeRequest(req.Documents)
	if err != nil {
		return nil, false, err
	}
	w, fresh, err := c.requestWorld(ctx, tenant, rq)
	if err != nil {
		return nil, false, err
	}
	job, err := PickJob(w, req.Job)
	if err != nil {
		return nil, false, jobErr(req.Job, err)
	}
	if err := checkWorkload(job); err != nil {
		return nil, false, err
	}
	if req.Priority < -1000 || req.Priority > 1000 {
		return nil, false, &InputError{"priority", fmt.Errorf("%d: want -1000 to 1000", req.Priority)}
	}
	asOf := c.today()
	plan, u, ln, err := c.planUnderOneRev(ctx, tenant, w, job, asOf, nil)
	if err != nil {
		return nil, false, fmt.Errorf("plan %s: %w", job.Metadata.Name, err)
	}
	if len(plan.Placements) == 0 && !waitable(plan, w) {
		return nil, false, fmt.Errorf("%s as of %s: %w (%d candidates rejected%s)", job.Metadata.Name, asOf, ErrNoPlacement, len(plan.Rejected), firstRejection(plan))
	}
	if len(plan.Placements) == 0 {
		// Lawful places exist but none has room: the run waits for one.
		return c.submitHeld(ctx, tenant, req, job, plan, fresh, asOf, ln.Rev, u, w, nil)
	}
	if rank > len(plan.Placements) {
		return nil, false, &InputError{"placement", fmt.Errorf("rank %d: the plan has %d placements", rank, len(plan.Placements))}
	}
	// A run starts only where a backend is configured: the best runnable
	// placement, or the one the user chose if it is runnable.
	pl, best, skipped, runnable := bestRunnable(plan.Placements)
	if !runnable {
		// Lawful pools at runnable sites that lack only room: the run
		// waits for them, as a held run's retry does (notRunnable). The
		// placements at sites for planning only do not make it
		// unrunnable: a server's catalog holds such sites beside its
		// runnable ones, and a full runnable site would otherwise refuse
		// every run until it emptied. Room at a planning site is no
		// reason to wait: nothing would ever start the run there.
		// So is a runnable site whose scheduler cannot take work now
		// (waitable): the run waits for it, as with no placement at all.
		if waitable(plan, w) {
			return c.submitHeld(ctx, tenant, req, job, plan, fresh, asOf, ln.Rev, u, w, nil)
		}
		return nil, false, fmt.Errorf("%s as of %s: %w: the %d placements are at sites with no configured backend (planning only); the server's catalog configures the sites that run jobs%s", job.Metadata.Name, asOf, ErrNoPlacement, len(plan.Placements), runnableRejection(plan, w))
	}
	if req.Placement > 0 {
		if pl = plan.Placements[rank-1]; !pl.Runnable {
			return nil, false, &InputError{"placement", fmt.Errorf("rank %d (%s) is for planning only: its site has no configured backend; the best runnable placement is rank %d (%s)", rank, pl.Site, best, plan.Placements[best-1].Site)}
		}
		skipped = nil
	} else {
		rank = best
	}
	id := newID()
	r := &Run{ID: id, Tenant: tenant, Job: job.Metadata.Name, State: Planned, Site: pl.Site,
		Data: Data{Documents: req.Documents, AsOf: asOf.String(), Submitted: c.cfg.Now(), Rank: rank, Placement: pl, Priority: req.Priority}}
	if ln.Law != nil {
		d, rule, err := horizon(w, job, w.Site(pl.Site), pl.Pool, asOf, ln)
		if err != nil {
			return nil, false, fmt.Errorf("law horizon of %s: %w", pl.Site, err)
		}
		r.Law = &LawStatus{Revision: ln.Rev, CheckedOn: asOf.String()}
		if !d.IsZero() {
			r.Law.LawfulUntil, r.Law.UntilRule, r.Law.MoveBy = d.String(), rule, d.Time.Add(-c.cfg.MoveMargin)
		}
	}
	var ch store.Change
	ch.Register = fresh
	for _, res := range fresh {
		rec, err := audit.NewRecord(KindRegister, id, map[string]any{"kind": res.Kind, "name": res.Name, "sha256": res.Hash, "by": "tenant " + tenant, "via": "run request"})
		if err != nil {
			return nil, false, err
		}
		ch.Audit = append(ch.Audit, rec)
	}
	why := fmt.Sprintf("rank %d of %d by objective %s", rank, len(plan.Placements), job.Spec.ObjectiveOrDefault())
	if req.Placement > 1 {
		why = fmt.Sprintf("rank %d of %d chosen by the user", rank, len(plan.Placements))
	}
	if len(skipped) > 0 {
		why += ", the best runnable; " + skippedLine(skipped)
	}
	sum, err := runDocsDigest(tenant, r.Job, r.Documents)
	if err != nil {
		return nil, false, err
	}
	if err := addPlan(&ch, id, "submitted", nil, plan, pl, why, sum); err != nil {
		return nil, false, err
	}
	where := fmt.Sprintf("%s (%s)", pl.Site, pl.Country)
	for _, s := range c.cfg.ExtraSites {
		if s.Metadata.Name == pl.Site && s.Spec.Source != "" {
			where += ", " + s.Spec.Source
		}
	}
	ch.Events = append(ch.Events, store.Event{Kind: "created", To: string(Planned),
		Reason: fmt.Sprintf("planned as of %s: %s, %d × %s at %s", asOf, why, pl.Count, pl.Accelerator, where)})
	if err := stateRecord(&ch, id, "", Planned, "submitted"); err != nil {
		return nil, false, err
	}
	row, err := toRow(r)
	if err != nil {
		return nil, false, err
	}
	ch.Limits = append(c.limits(w, tenant, row.Hold), c.liveLimit(tenant)...)
	got, created, err := c.cfg.Store.CreateRun(ctx, row, req.IdempotencyKey, ch)
	if row.Hold.Count > 0 {
		c.orderWrites.wroteHolds(tenant) // a run admitted as it is submitted
	} else {
		c.orderWrites.wrote(tenant)
	}
	if err := tooManyRuns(err); err != nil {
		return nil, false, err
	}
	if ce, ok := capacityErr(err); ok {
		// Another run took the room first (or a quota binds): wait.
		return c.submitHeld(ctx, tenant, req, job, plan, fresh, asOf, ln.Rev, u, w, ce)
	}
	return c.createdRun(tenant, got, created, err)
}

// planTries is how many times Submit plans while rules revisions keep
// landing during its plans before it gives up.
const planTries = 3

// planUnderOneRev plans as planFor does and returns the law in force the
// plan was judged under. The planner takes its own snapshot of the law
// while it plans, so the revision read before planning is that snapshot's
// only when no revision was applied meanwhile (revisions only go up): when
// one was, the plan is made again, so that a run never records a revision
// its plan was not judged under.
func (c *Controller) planUnderOneRev(ctx context.Context, tenant string, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, *usage, LawNow, error) {
	for try := 1; ; try++ {
		ln := c.lawNow()
		plan, u, err := c.planFor(ctx, tenant, w, job, asOf, exclude)
		if err != nil {
			return nil, nil, LawNow{}, err
		}
		now := c.lawNow().Rev
		if now == ln.Rev {
			return plan, u, ln, nil
		}
		if try == planTries {
			return nil, nil, LawNow{}, fmt.Errorf("the rules changed during each of %d plans (revision %d to %d); try again: %w", planTries, ln.Rev, now, ErrRulesChanging)
		}
	}
}

// ErrRulesChanging says that rules revisions kept landing while a plan was
// made, so no plan could be tied to one revision: nothing was decided, and
// the same request a moment later is judged under the revision then.
var ErrRulesChanging = errors.New("rules revisions kept landing during the plan")

// submitHeld records a run that waits in the held state for a lawful
// placement to have room (every lawful candidate was full, or the store
// refused the placement's hold with ce); u is the usage plan was made with.
func (c *Controller) submitHeld(ctx context.Context, tenant string, req SubmitRequest, job *catalog.TrainingJob, plan *planner.Plan, fresh []store.Resource, asOf catalog.Date, rev int64, u *usage, w *catalog.World, ce *store.CapacityError) (*Run, bool, error) {
	now := c.cfg.Now()
	id := newID()
	reason, code, rule := holdReason(plan, asOf, rev)
	hold := &Hold{Code: code, Rule: rule, Revision: rev, Since: now, NextTry: now.Add(c.holdBackoff(1)), Tries: 1}
	wants, quota := c.wantsOf(u, w, tenant, plan)
	switch {
	case ce != nil:
		hold.Wait = waitOf(ce)
		wants, _ = c.refusedWants(u, w, tenant, plan, plan.Placements)
		reason = fmt.Sprintf("waiting for %s as of %s: %s", hold.Wait, asOf, ce.Error())
	case len(wants) > 0:
		hold.Wait = WaitCapacity
		if quota != "" {
			hold.Wait = WaitQuota
		}
		reason = roomReason(asOf, hold.Wait, quota, wants, reason)
	}
	hold.Wants, hold.Reason = wants, reason
	r := &Run{ID: id, Tenant: tenant, Job: job.Metadata.Name, State: Held,
		Data: Data{Documents: req.Documents, AsOf: asOf.String(), Submitted: c.cfg.Now(), Rank: 1, Reason: reason, Priority: req.Priority, Hold: hold}}
	var ch store.Change
	ch.Register = fresh
	for _, res := range fresh {
		rec, err := audit.NewRecord(KindRegister, id, map[string]any{"kind": res.Kind, "name": res.Name, "sha256": res.Hash, "by": "tenant " + tenant, "via": "run request"})
		if err != nil {
			return nil, false, err
		}
		ch.Audit = append(ch.Audit, rec)
	}
	sum, err := runDocsDigest(tenant, r.Job, r.Documents)
	if err != nil {
		return nil, false, err
	}
	fields := map[string]any{"reason": "submitted; held", "rules": ruleIDs(plan), runDocsField: sum}
	if err := planField(fields, plan); err != nil {
		return nil, false, err
	}
	p, err := audit.NewRecord(audit.KindPlan, id, fields)
	if err != nil {
		return nil, false, err
	}
	ch.Audit = append(ch.Audit, p)
	ch.Events = append(ch.Events, store.Event{Kind: "created", To: string(Held), Reason: "submitted as of " + asOf.String() + "; held: " + reason})
	if err := stateRecord(&ch, id, "", Held, reason); err != nil {
		return nil, false, err
	}
	row, err := toRow(r)
	if err != nil {
		return nil, false, err
	}
	ch.Limits = c.liveLimit(tenant)
	got, created, err := c.cfg.Store.CreateRun(ctx, row, req.IdempotencyKey, ch)
	c.orderWrites.wrote(tenant)
	if err := tooManyRuns(err); err != nil {
		return nil, false, err
	}
	return c.createdRun(tenant, got, created, err)
}

// DefaultMaxRuns is serve's bound on the runs a tenant may have that have
// not ended (Config.MaxRuns). It is an operator's choice, not a fact:
// each such run is read and weighed by every admission pass, and a
// tenant's own runs are the only ones it may add without bound.
const DefaultMaxRuns = 10000

// ErrTooManyRuns refuses a submission of a tenant that has Config.MaxRuns
// runs not yet ended: nothing was written.
var ErrTooManyRuns = errors.New("too many runs that have not ended")

// liveLimit is the store limit on tenant's runs that have not ended, none
// when Config.MaxRuns sets no bound. The store counts them in the write's
// transaction, serialised with every other limited change, so that two
// submissions at once cannot both take the last one.
func (c *Controller) liveLimit(tenant string) []store.Limit {
	if c.cfg.MaxRuns <= 0 {
		return nil
	}
	return []store.Limit{{Name: "runs of tenant " + tenant, Tenants: []string{tenant}, Live: true, Max: c.cfg.MaxRuns}}
}

// tooManyRuns is err as ErrTooManyRuns when the store refused a new run
// for its tenant's live-run limit, nil otherwise.
func tooManyRuns(err error) error {
	if ce, ok := capacityErr(err); ok && ce.Limit.Live {
		return fmt.Errorf("%w: %s has %d, the most it may (serve --max-runs); cancel one, or wait for one to end", ErrTooManyRuns, strings.TrimPrefix(ce.Limit.Name, "runs of "), ce.Limit.Max)
	}
	return nil
}

// createdRun finishes a Store.CreateRun of tenant's: a resource conflict
// becomes the caller's conflict error, the row a Run (ErrNotFound when an
// idempotency key named another tenant's run); a new run is announced to
// its watchers, and the loop nudged.
func (c *Controller) createdRun(tenant string, got *store.Run, created bool, err error) (*Run, bool, error) {
	var rc *store.ResourceConflict
	if errors.As(err, &rc) {
		return nil, false, conflict(rc)
	}
	if err != nil {
		return nil, false, err
	}
	out, err := fromRow(got)
	if err != nil {
		return nil, false, err
	}
	if out.Tenant != tenant {
		return nil, false, ErrNotFound
	}
	if created {
		c.watch.runChanged(tenant, out.ID)
	}
	c.Nudge()
	return out, created, nil
}

// maxWorkloadBytes bounds a job's command line and environment: what a
// scheduler must carry for every attempt.
const maxWorkloadBytes = 64 << 10

// checkWorkload refuses a job that has nothing to run, whose command and
// environment would not fit a scheduler, or whose environment tries to set
// Meridian's own variables.
func checkWorkload(job *catalog.TrainingJob) error {
	wl := job.Spec.Workload
	if len(wl.Command) == 0 {
		return &InputError{"spec.workload.command", fmt.Errorf("TrainingJob %s has nothing to run", job.Metadata.Name)}
	}
	n := 0
	for i, a := range wl.Command {
		if strings.IndexByte(a, 0) >= 0 {
			return &InputError{fmt.Sprintf("spec.workload.command[%d]", i), errors.New("contains a NUL byte")}
		}
		n += len(a) + 1
	}
	for k, v := range wl.Env {
		if strings.HasPrefix(k, "MERIDIAN_") {
			return &InputError{"spec.workload.env." + k, errors.New("MERIDIAN_* variables are set by Meridian, not by jobs")}
		}
		if strings.IndexByte(k+v, 0) >= 0 {
			return &InputError{"spec.workload.env." + k, errors.New("contains a NUL byte")}
		}
		n += len(k) + len(v) + 2
	}
	if n > maxWorkloadBytes {
		return &InputError{"spec.workload", fmt.Errorf("command and environment are %d bytes, over %d", n, maxWorkloadBytes)}
	}
	return nil
}

// addPlan appends the plan (with every rule id it cites) and the decision
// to ch's audit records. docs, at a submission, is the digest of what the
// run was accepted with (runDocsDigest), which the plan record names.
func addPlan(ch *store.Change, runID, reason string, excluded []string, plan *planner.Plan, pl planner.Placement, why, docs string) error {
	fields := map[string]any{"reason": reason, "excluded": excluded, "rules": ruleIDs(plan)}
	if docs != "" {
		fields[runDocsField] = docs
	}
	if err := planField(fields, plan); err != nil {
		return err
	}
	p, err := audit.NewRecord(audit.KindPlan, runID, fields)
	if err != nil {
		return err
	}
	d, err := audit.NewRecord(audit.KindDecision, runID, map[string]any{
		"placement": pl, "why": why, "asOf": plan.AsOf,
		"lawful": "the placement passed the law checks of the plan as of its date, for the job's datasets and their transfer bases",
	})
	if err != nil {
		return err
	}
	ch.Audit = append(ch.Audit, p, d)
	return nil
}

// maxPlanRecordBytes bounds the plan a plan record holds whole: half of
// what an audit entry may be (store.MaxAuditPayloadBytes), the rest left
// to the record's other fields.
const maxPlanRecordBytes = store.MaxAuditPayloadBytes / 2

// planField sets fields' "plan" to plan. A plan whose JSON is longer than
// maxPlanRecordBytes (a tiny budget against some thousands of sites
// rejects every one, each with its findings: 19 MB at 2,000) is recorded
// without its rejections, which the record counts ("rejectedOmitted"),
// and with the sha256 of the whole plan's JSON ("planSha256"). Recorded
// whole, it was over what an entry may be: the store refused the append,
// and with it the submission (an internal error naming no field), a
// release from hold (tried again every pass) or a migration's new plan.
//
// A plan still over maxPlanRecordBytes without its rejections (a job any
// of some thousands of sites may take: each placement is about a kB) is
// refused as the request's to mend (an InputError naming the job's
// constraints, its placements and the size against the bound), before
// anything is written. Recorded, it went on to fail the audit append,
// again an internal error naming no field.
func planField(fields map[string]any, plan *planner.Plan) error {
	b, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	if len(b) <= maxPlanRecordBytes {
		fields["plan"] = json.RawMessage(b)
		return nil
	}
	short := *plan
	short.Rejected = []planner.Rejection{} // a list, beside rejectedOmitted, not null
	sb, err := json.Marshal(&short)
	if err != nil {
		return err
	}
	if len(sb) > maxPlanRecordBytes {
		sites := make(map[string]bool)
		for _, pl := range plan.Placements {
			sites[pl.Site] = true
		}
		without, holdWithout := "", ""
		if len(plan.Rejected) > 0 {
			without = fmt.Sprintf(" even without its %d rejections", len(plan.Rejected))
			holdWithout = " even without its rejections"
		}
		return &planTooLargeError{
			input: &InputError{"spec.constraints", fmt.Errorf("job %q may run at %d sites (%d placements): its plan is %d bytes%s, over the %d bytes a run's plan record may hold; narrow where it may run with spec.constraints.sites, .countries or .accelerators",
				plan.Job, len(sites), len(plan.Placements), len(sb), without, maxPlanRecordBytes)},
			hold: fmt.Sprintf("spec.constraints: job %q may run at %d sites (%d placements): its plan is over the %d bytes a run's plan record may hold%s; an accepted run's spec cannot be changed: cancel the run and submit it again with narrower spec.constraints (.sites, .countries or .accelerators)",
				plan.Job, len(sites), len(plan.Placements), maxPlanRecordBytes, holdWithout),
		}
	}
	sum := sha256.Sum256(b)
	fields["plan"] = json.RawMessage(sb)
	fields["rejectedOmitted"] = len(plan.Rejected)
	fields["planSha256"] = hex.EncodeToString(sum[:])
	return nil
}

// planTooLargeError is planField's refusal of a plan over what its record
// may hold. A submission answers with the InputError it wraps (a 400
// naming spec.constraints, the plan's size against the bound). A held
// run's release or a moving run's new plan waits held with hold instead:
// the same but for the plan's byte count and its count of rejections,
// which may differ from one try to the next and would then record a new
// held event at each, and saying what the owner of an accepted run can
// do. Matched by its type, not by the field it names: any other error
// naming spec.constraints is not a hold.
type planTooLargeError struct {
	input *InputError
	hold  string
}

func (e *planTooLargeError) Error() string { return e.input.Error() }
func (e *planTooLargeError) Unwrap() error { return e.input }

func stateRecord(ch *store.Change, runID string, from, to State, reason string) error {
	rec, err := audit.NewRecord(audit.KindState, runID, map[string]string{"from": string(from), "to": string(to), "reason": reason})
	if err != nil {
		return err
	}
	ch.Audit = append(ch.Audit, rec)
	return nil
}

// transition moves r to state to, recording the event and the audit entry.
func transition(ch *store.Change, r *Run, to State, reason string) error {
	reason = reasonText(reason)
	from := r.State
	r.State = to
	r.Reason = reason
	ch.Events = append(ch.Events, store.Event{Kind: "state", From: string(from), To: string(to), Reason: reason})
	return stateRecord(ch, r.ID, from, to, reason)
}

func toRow(r *Run) (*store.Run, error) {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return nil, err
	}
	return &store.Run{ID: r.ID, Tenant: r.Tenant, Job: r.Job, State: string(r.State), Site: r.Site,
		Attempt: r.Attempt, Handle: r.Handle, Hold: holdOf(r), Data: data}, nil
}

// maxReason bounds a state's or an event's reason: they carry what sites
// say (a scheduler's reason, a pod's termination message), which is theirs
// to make as long as they like, and each is kept in the run's document and
// its timeline and written to the audit log.
const maxReason = 8 << 10

// reasonText is a reason as a run keeps it: storable and at most
// maxReason bytes (and the mark of the cut).
func reasonText(reason string) string { return truncate(storable(reason), maxReason) }

// storable is s as a timeline keeps it. Reasons carry what sites and
// agents said (a pod's termination message, a scheduler's reason, an
// exit's detail), and PostgreSQL's text refuses a NUL and bytes that are
// not UTF-8: either would fail the write each time it is tried, and the
// run would never record the change.
func storable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// update applies fn to run id in one transaction; a change of state is
// logged once it is committed.
func (c *Controller) update(ctx context.Context, id string, fn func(r *Run, ch *store.Change) error) (*Run, error) {
	var out *Run
	var from State
	// queued says the change can move the admission order GET /v1/queue
	// reads (heldOrder): a held run changed, or a run's hold did. Progress
	// and checkpoints, most of the writes of a busy fleet, cannot.
	var queued bool
	// tenant is the run's: the only tenant whose places in the order a
	// write of the run can move.
	var tenant string
	// holds says the change gave the run a hold, or took its hold away:
	// its tenant's holds changed (orderWrites.wroteHolds).
	var holds bool
	// kept is the run as the call of fn that the store wrote left it
	// (nil after a call that changed nothing): the brief this server
	// keeps of it (keepBrief).
	var kept *Run
	defer func() {
		switch {
		case holds:
			c.orderWrites.wroteHolds(tenant)
		case queued:
			c.orderWrites.wrote(tenant)
		}
	}()
	// A step Tick stopped waiting for writes only onto the row it read
	// (boundedStep).
	guard := stepGuardOf(ctx, id)
	written, err := c.cfg.Store.UpdateRun(ctx, id, func(row *store.Run) (store.Change, error) {
		// The store may call this again (its write lost to another's):
		// nothing of a call before is what it writes.
		queued, holds, kept, out = false, false, nil, nil
		if guard.stale(row.Version) {
			return store.Change{}, errStepLate
		}
		r, err := fromRow(row)
		if err != nil {
			return store.Change{}, err
		}
		from = r.State
		wasN, wasLive := r.Attempt, attemptLive(r, r.Attempt)
		var ch store.Change
		if err := fn(r, &ch); err != nil {
			return store.Change{}, err
		}
		clockAttempt(r, from, c.cfg.Now())
		if wasLive && !attemptLive(r, wasN) {
			markOver(r, wasN, c.cfg.Now())
		}
		for i := range ch.Events {
			ch.Events[i].Reason, ch.Events[i].Data = reasonText(ch.Events[i].Reason), storable(ch.Events[i].Data)
		}
		nr, err := toRow(r)
		if err != nil {
			return store.Change{}, err
		}
		if nr.Hold.Count > 0 && nr.Hold != row.Hold {
			// A new hold (or a bigger one): it must fit what is left.
			w, err := c.capacityWorld()
			if err != nil {
				return store.Change{}, err
			}
			ch.Limits = append(ch.Limits, c.limits(w, r.Tenant, nr.Hold)...)
		}
		holds = nr.Hold != row.Hold
		queued = from == Held || r.State == Held || holds
		tenant = row.Tenant
		row.State, row.Site, row.Attempt, row.Handle, row.Data, row.Hold = nr.State, nr.Site, nr.Attempt, nr.Handle, nr.Data, nr.Hold
		out, kept = r, r
		return ch, nil
	})
	if err == nil && written != nil && out != nil {
		// Only what fn wrote: on no change the store reads the row again
		// after its transaction, and that row may hold a write the step
		// never read (a cancel committed meanwhile).
		guard.wrote(written.Version)
	}
	if err == nil && out != nil {
		c.watch.runChanged(out.Tenant, id)
		c.wakeResumeWaits(out)
		if kept != nil && written != nil {
			c.keepBrief(kept, written)
		}
	}
	if err == nil && out != nil && out.State.Final() && !from.Final() {
		end := c.cfg.Now()
		if written != nil && !written.UpdatedAt.IsZero() {
			end = written.UpdatedAt
		}
		c.outputEnded(out, end)
	}
	if err == nil && out != nil && out.State != from {
		c.cfg.Logger.Info("run state", "run", out.ID, "tenant", out.Tenant, "from", string(from), "to", string(out.State), "site", out.Site, "attempt", out.Attempt, "reason", out.Reason)
	}
	return out, err
}

// Get returns a run of tenant.
func (c *Controller) Get(ctx context.Context, tenant, id string) (*Run, error) {
	// The owner is asked first, as Brief does: another tenant's run is
	// not found without its row read, whose documents may be megabytes
	// (read and decoded, they took milliseconds where a run that does not
	// exist took microseconds, telling one from the other).
	if _, err := c.versionOwnedBy(ctx, tenant, id); err != nil {
		return nil, err
	}
	row, err := c.cfg.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if row.Tenant != tenant {
		return nil, ErrNotFound
	}
	return fromRow(row)
}

// versionOwnedBy is run id's row version where tenant owns it, read
// without its row: another tenant's run and one that does not exist are
// alike ErrNotFound.
func (c *Controller) versionOwnedBy(ctx context.Context, tenant, id string) (int64, error) {
	owner, version, err := c.cfg.Store.RunVersionOf(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && owner != tenant) {
		return 0, ErrNotFound
	}
	return version, err
}

// Brief returns a run of tenant without its request's documents (as the
// lists give runs): for the reads that ask only its owner, state or
// attempts, which a followed stream makes every second, where a run's
// documents may be megabytes. A run unchanged since this server last read
// it (its row's version the same) is not read again: the store is asked
// for the version alone.
func (c *Controller) Brief(ctx context.Context, tenant, id string) (*Run, error) {
	version, err := c.versionOwnedBy(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	r, err := c.briefAt(ctx, id, version)
	if err != nil {
		return nil, err
	}
	if r.Tenant != tenant {
		return nil, ErrNotFound
	}
	return r, nil
}

// briefAt returns run id without its documents as it is at row version
// version, which the store has just given: from what this server keeps
// of the run when that is of the same version, otherwise read whole
// (once a version) and kept. What it returns is a copy of the run, whose
// slices and maps are shared: not to be changed.
func (c *Controller) briefAt(ctx context.Context, id string, version int64) (*Run, error) {
	c.mu.Lock()
	r := c.briefs[id]
	c.mu.Unlock()
	if r == nil || r.version != version {
		row, err := c.cfg.Store.GetRun(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if r, err = fromRow(row); err != nil {
			return nil, &badRow{err}
		}
		r.Documents = nil
		c.mu.Lock()
		if _, ok := c.briefs[id]; !ok && len(c.briefs) >= maxBriefs {
			// One run makes room, the first a map's iteration gives,
			// which starts at a random place: emptying the cache made
			// nearly every poll a whole read once more runs than this
			// were followed in turn, and forgetting the least recently
			// read would too.
			for k := range c.briefs {
				delete(c.briefs, k)
				break
			}
		}
		c.briefs[id] = r
		c.mu.Unlock()
	}
	cp := *r
	return &cp, nil
}

// keepBrief keeps r, as this server has just written it (row, of the
// row's new version), for briefAt, when it keeps the run already (an agent reports
// on it, or a stream follows it): the agent's next request then finds it
// of the version the store gives, and does not read the run whole, its
// documents with it, after each write of a busy run's progress. The
// copy kept is r's own, without documents, shared with nothing.
func (c *Controller) keepBrief(r *Run, row *store.Run) {
	version := row.Version
	c.mu.Lock()
	old, ok := c.briefs[r.ID]
	c.mu.Unlock()
	if !ok || old.version >= version {
		return
	}
	d := r.Data
	d.Documents = nil
	b, err := json.Marshal(d)
	if err != nil {
		return
	}
	cp := &Run{ID: row.ID, Tenant: row.Tenant, Job: row.Job, State: State(row.State), Site: row.Site, Attempt: row.Attempt,
		Handle: row.Handle, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt, version: version}
	if err := json.Unmarshal(b, &cp.Data); err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.briefs[r.ID]; ok && cur.version < version {
		c.briefs[r.ID] = cp
	}
}

// maxBriefs bounds the runs Brief and the agent API keep: about as many
// as streams follow and agents report on.
const maxBriefs = 1024

// List returns tenant's runs, oldest first. Lists carry no documents
// (GET /v1/runs/{id} has them): a run's may be megabytes.
func (c *Controller) List(ctx context.Context, tenant string) ([]*Run, error) {
	return c.list(ctx, store.ListOptions{Tenant: tenant, NoDocuments: true})
}

// ListPage returns at most limit of tenant's runs after run after (from
// the first when after is empty), oldest first: a page of List.
func (c *Controller) ListPage(ctx context.Context, tenant, after string, limit int) ([]*Run, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list runs: limit %d: want 1 or more", limit)
	}
	return c.list(ctx, store.ListOptions{Tenant: tenant, After: after, Limit: limit, NoDocuments: true})
}

// ListVersions returns the id and row version of at most limit of
// tenant's runs after run after (from the first when after is empty),
// oldest first, without reading the runs: a reader that holds them reads
// again only those whose version is not the RowVersion it holds. A
// reader of every run's version reads them a page at a time, however
// many runs the tenant has (ended ones included, never deleted).
func (c *Controller) ListVersions(ctx context.Context, tenant, after string, limit int) ([]store.RunVersion, error) {
	if tenant == "" {
		return nil, errors.New("run versions: no tenant") // as list: never every tenant's
	}
	if limit <= 0 || limit > store.MaxRunVersions {
		return nil, fmt.Errorf("run versions: limit %d: want 1 to %d", limit, store.MaxRunVersions)
	}
	return c.cfg.Store.RunVersionsAfter(ctx, tenant, after, limit)
}

// ListLive returns tenant's runs that have not ended, oldest first: the
// ones that can still change.
func (c *Controller) ListLive(ctx context.Context, tenant string) ([]*Run, error) {
	return c.list(ctx, store.ListOptions{Tenant: tenant, Active: true, Final: FinalStates, NoDocuments: true})
}

func (c *Controller) list(ctx context.Context, o store.ListOptions) ([]*Run, error) {
	if o.Tenant == "" {
		return nil, errors.New("list runs: no tenant") // an empty one would list every tenant's
	}
	rows, err := c.cfg.Store.ListRuns(ctx, o)
	if err != nil {
		return nil, err
	}
	out := make([]*Run, 0, len(rows))
	for _, row := range rows {
		r, err := fromRow(row)
		if err != nil {
			// One run whose stored record does not read (written to the
			// database by other means) failed the tenant's whole list: it
			// is listed by its columns, saying so.
			c.cfg.Logger.Error("list runs: a run's stored record does not read", "run", row.ID, "tenant", row.Tenant, "err", err)
			r = unreadable(row)
		}
		out = append(out, r)
	}
	return out, nil
}

// unreadable is a run whose stored record does not decode, as its
// columns give it, its reason saying so.
func unreadable(row *store.Run) *Run {
	r := columnsOf(row)
	r.Reason = "the run's stored record does not read; the operator must restore it"
	return r
}

// Events returns the timeline of tenant's run id.
func (c *Controller) Events(ctx context.Context, tenant, id string) ([]store.Event, error) {
	if _, err := c.Brief(ctx, tenant, id); err != nil {
		return nil, err
	}
	return c.cfg.Store.Events(ctx, id)
}

// EventsAfter is a page of the timeline of tenant's run id: the events
// after seq after, at most limit of them (0: all).
func (c *Controller) EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error) {
	if _, err := c.Brief(ctx, tenant, id); err != nil {
		return nil, err
	}
	return c.cfg.Store.EventsAfter(ctx, id, after, limit)
}

// Cancel asks the controller to stop tenant's run id.
func (c *Controller) Cancel(ctx context.Context, tenant, id string) (*Run, error) {
	if _, err := c.Brief(ctx, tenant, id); err != nil {
		return nil, err
	}
	r, err := c.update(ctx, id, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.CancelRequested {
			return store.ErrNoChange
		}
		r.CancelRequested = true
		ch.Events = append(ch.Events, store.Event{Kind: "cancel-requested", Reason: "cancel requested by the user"})
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]string{"decision": "cancel", "by": "tenant " + tenant, "state": string(r.State)})
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r == nil {
		return c.Get(ctx, tenant, id)
	}
	c.Nudge()
	return r, nil
}

// Logs returns the output of every attempt of tenant's run id, each after a
// header line: what the attempt's agent sent, or, for an attempt whose
// agent sent nothing, what the site's scheduler kept.
func (c *Controller) Logs(ctx context.Context, tenant, id string) ([]byte, error) {
	b, _, err := c.LogsFrom(ctx, tenant, id, 0, math.MaxInt64)
	return b, err
}

// LogsFrom is at most limit bytes of a run's output (as Logs gives it)
// from byte off on, and the size of the whole output so far: OpenLogs
// read whole.
func (c *Controller) LogsFrom(ctx context.Context, tenant, id string, off, limit int64) ([]byte, int64, error) {
	rc, size, err := c.OpenLogs(ctx, tenant, id, off, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, size, err
}

// Resource is a registered organisation or dataset as the API shows it.
type Resource struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Version   int64           `json:"version"`
	SHA256    string          `json:"sha256"`
	Spec      json.RawMessage `json:"resource"`
	UpdatedAt string          `json:"updatedAt"`
	// ChangedOutsideMeridian, when set, says why the row is not what
	// Meridian registered (resourceWitness): requests over it are refused
	// until it is registered again.
	ChangedOutsideMeridian string `json:"changedOutsideMeridian,omitempty"`
}

// Resources lists a tenant's registered organisations and datasets, each
// confirmed as registered or marked changed outside Meridian (one whose
// row was deleted outright with its kind and name alone).
func (c *Controller) Resources(ctx context.Context, tenant string) ([]Resource, error) {
	rows, err := c.markedRows(ctx, tenant, "")
	if err != nil {
		return nil, err
	}
	out := make([]Resource, 0, len(rows))
	for _, r := range rows {
		res := Resource{Kind: r.Kind, Name: r.Name, Version: r.Version, SHA256: r.Hash, Spec: r.Doc, ChangedOutsideMeridian: r.changed}
		if !r.UpdatedAt.IsZero() {
			res.UpdatedAt = r.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		out = append(out, res)
	}
	return out, nil
}

// Apply registers the Organization and Dataset documents in docs for
// tenant, or, with update, replaces the tenant's registered copies; each
// change is one audited transaction. Other kinds are refused: sites are the
// operator's, jobs are run, not registered.
func (c *Controller) Apply(ctx context.Context, tenant string, docs []Document, update bool) ([]Resource, error) {
	rq, err := decodeRequest(docs)
	if err != nil {
		return nil, err
	}
	if len(rq.jobs) > 0 {
		return nil, &InputError{"documents", fmt.Errorf("TrainingJob %s: jobs are run (`meridian run`), not registered", rq.jobs[0].Metadata.Name)}
	}
	var res []store.Resource
	for _, o := range rq.orgs {
		r, err := resourceOf(catalog.KindOrganization, o.Metadata.Name, o, "")
		if err != nil {
			return nil, err
		}
		res = append(res, r)
	}
	for _, d := range rq.datasets {
		if err := c.checkDatasetStore(d); err != nil {
			return nil, err
		}
		r, err := datasetResource(d)
		if err != nil {
			return nil, err
		}
		res = append(res, r)
	}
	// The documents must make a valid world with what is registered already
	// (left out: what they register again, which may be a row changed
	// outside Meridian that this apply mends).
	if _, _, err := c.applyWorld(ctx, tenant, rq, res); err != nil {
		return nil, err
	}
	// Every resource is checked first and then all are written in one
	// transaction: a request refused for one of them registers none.
	var out []Resource
	var puts []store.ResourcePut
	var at []int // where each put's resource goes in out
	for _, r := range res {
		r.Tenant = tenant
		var ifVersion int64
		// replaces says the put replaces registered contents, so other
		// replicas drop their cached worlds and live runs are judged
		// again by the new facts (docUpdates reads the record's action).
		replaces := false
		got, err := c.cfg.Store.GetResource(ctx, tenant, r.Kind, r.Name)
		switch {
		case err == nil && got.Hash == r.Hash && c.resourceIntact(ctx, tenant, got):
			out = append(out, Resource{Kind: r.Kind, Name: r.Name, Version: got.Version, SHA256: got.Hash, Spec: got.Doc})
			continue
		case err == nil && got.Hash == r.Hash:
			// The same contents over a row Meridian did not write (its
			// document, or its record, changed outside Meridian): the
			// tenant's word registers them again, sealed.
			ifVersion = got.Version
		case err == nil && !update:
			return nil, conflict(&store.ResourceConflict{Kind: r.Kind, Name: r.Name, Registered: got, Detail: fmt.Sprintf("is registered (version %d) with other contents; pass --update to replace it", got.Version)})
		case err == nil:
			ifVersion = got.Version
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		default:
			// No row, while a sealed register record may still name the
			// resource (its row deleted outright; applyWorld read the
			// records on): registered all the same, so other contents
			// replace it only with update, as over a row.
			h, ok := c.resWitness.recorded(tenant, r.Kind, r.Name)
			if ok && h != r.Hash && !update {
				return nil, conflict(&store.ResourceConflict{Kind: r.Kind, Name: r.Name, Detail: fmt.Sprintf("is registered with other contents (its latest sealed register record names %s; its row was deleted outside Meridian); pass --update to replace it", h)})
			}
			// Other contents over the recorded ones are an update though
			// no row is left to name a version: runs and replicas hold
			// the recorded contents.
			replaces = ok && h != r.Hash
		}
		verb := "registered"
		if ifVersion > 0 || replaces {
			verb = "updated"
		}
		rec, err := audit.NewRecord(KindRegister, "", map[string]any{"kind": r.Kind, "name": r.Name, "sha256": r.Hash, "by": "tenant " + tenant, "action": verb, "previousVersion": ifVersion})
		if err != nil {
			return nil, err
		}
		puts = append(puts, store.ResourcePut{Resource: &r, IfVersion: ifVersion, Audit: rec})
		at = append(at, len(out))
		out = append(out, Resource{})
	}
	if len(puts) > 0 {
		saved, err := c.cfg.Store.PutResources(ctx, puts)
		var rc *store.ResourceConflict
		if errors.As(err, &rc) {
			return nil, conflict(rc)
		}
		if err != nil {
			return nil, err
		}
		for i, sv := range saved {
			out[at[i]] = Resource{Kind: sv.Kind, Name: sv.Name, Version: sv.Version, SHA256: sv.Hash, Spec: sv.Doc}
		}
	}
	c.forgetWorlds(ctx, tenant)
	return out, nil
}

// applyWorld checks that docs, over what tenant registered, make a valid
// world (a dataset's location names a catalog site, and so on), and that
// res, their resources, fit in what a tenant may register.
func (c *Controller) applyWorld(ctx context.Context, tenant string, rq *request, res []store.Resource) (*catalog.World, []store.Resource, error) {
	replacing := map[string]bool{}
	for _, r := range res {
		replacing[r.Kind+"/"+r.Name] = true
	}
	reg, err := c.readRegistry(ctx, tenant, replacing)
	if err != nil {
		return nil, nil, err
	}
	if err := reg.room(res); err != nil {
		return nil, nil, err
	}
	for _, o := range rq.orgs {
		reg.orgs[o.Metadata.Name] = o
	}
	for _, d := range rq.datasets {
		reg.datasets[d.Metadata.Name] = d
	}
	set := &catalog.Set{Sites: c.cfg.ExtraSites}
	for _, n := range sortedKeys(reg.orgs) {
		set.Organizations = append(set.Organizations, reg.orgs[n])
	}
	for _, n := range sortedKeys(reg.datasets) {
		set.Datasets = append(set.Datasets, reg.datasets[n])
	}
	cs, err := c.catalog()
	if err != nil {
		return nil, nil, err
	}
	w, err := catalog.Assemble(planner.AssumptionKeys(), cs, set)
	if err != nil {
		return nil, nil, &InputError{"documents", err}
	}
	w.Tenant = catalog.TenantOr(tenant)
	return w, nil, nil
}

// PutKey stores the key of a dataset the tenant registered, so that the
// server can stage it and hand it to the tenant's attempts. The audit entry
// holds the key's fingerprint, never the key.
//
// The change is recorded before the key is stored, so that no stop in
// between (a crash, a kill, a power loss) leaves in the keyring a key the
// log never recorded: every key the server may seal or hand out with is one
// the log names. A stop after the record and before the key is stored
// leaves the log naming a key that was never held (the tenant's request got
// no answer, and is made again); such a key sealed nothing. The keyring is
// what is held; the log, every key that may have been.
func (c *Controller) PutKey(ctx context.Context, tenant, name, keyText string) error {
	if err := c.registeredDataset(ctx, tenant, name); err != nil {
		return err
	}
	key, err := seal.ParseKey(strings.TrimSpace(keyText))
	if err != nil {
		return &InputError{"key", err}
	}
	kr, err := c.keyrings().For(tenant)
	if err != nil {
		return err
	}
	// The record a keyring's witness (dataset.KeyWitness) confirms the
	// key against when it is staged, verified or handed to an attempt.
	rec, err := dataset.KeyRecord(tenant, name, key, "tenant "+tenant)
	if err != nil {
		return err
	}
	// One key change of a dataset at a time here, so that the records
	// keep the order in which the keys were stored.
	l := c.storeLock("key|" + tenant + "|" + name)
	l.Lock()
	defer l.Unlock()
	// And none beside `meridian dataset add` or `dataset key --record`
	// on the same state directory, which hold the keyring's lock over
	// their record and store: interleaved, the key stored could be one
	// the latest record does not name, refused from then on.
	unlock, err := kr.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.cfg.Store.AppendAudit(ctx, rec); err != nil {
		// Not stored: the key held stays, recorded when it was put.
		return fmt.Errorf("dataset %s: the key's change could not be recorded, so it was not kept: %w", name, err)
	}
	if putKeyRecorded != nil {
		putKeyRecorded()
	}
	if err := kr.Put(name, key); err != nil {
		return fmt.Errorf("dataset %s: the key's change was recorded but the key could not be stored (put it again): %w", name, err)
	}
	// The tenant's runs held for this key try again now, not at their
	// next try (up to an hour away). The key is kept either way: a run
	// not brought forward still tries on its own time.
	if n, err := c.retryKeyHolds(ctx, tenant, name); err != nil {
		c.cfg.Logger.Warn("runs held for a dataset key not brought forward", "tenant", tenant, "dataset", name, "brought", n, "err", err)
	}
	return nil
}

// putKeyRecorded, when set (by tests), runs between PutKey's record and its
// storing of the key: a stop there is what it stands for.
var putKeyRecorded func()

// registeredDataset reports whether tenant registered the dataset name, its
// row as Meridian wrote it (confirmed against its sealed register record,
// as the registry read confirms it): a row rewritten outside Meridian, or
// added without a record, is a *changedError (in an InputError), a
// conflict; one deleted outright while a sealed record names it is too. A
// name the tenant did not register is not found, as staging and verifying
// answer: a name another tenant registered is no different from one none
// did.
func (c *Controller) registeredDataset(ctx context.Context, tenant, name string) error {
	notFound := fmt.Errorf("dataset %q is not registered to this tenant (register it first with `meridian apply`): %w", name, store.ErrNotFound)
	// The registry confirmed (from its cache while no register record of
	// the tenant came) holds the dataset or not.
	reg, err := c.registry(ctx, tenant)
	var changed *changedError
	switch {
	case err == nil:
		if reg.rows[catalog.KindDataset+"/"+name] == nil {
			return notFound
		}
		return nil
	case !errors.As(err, &changed):
		return err
	}
	// Another of the tenant's resources, or this one, was refused: this
	// one is confirmed alone, as the tenant's list of datasets does.
	// The row is read before the records sealed since (confirmRow).
	r, err := c.cfg.Store.GetResource(ctx, tenant, catalog.KindDataset, name)
	if rerr := c.resWitness.readOn(ctx, c.cfg.Store); rerr != nil {
		return rerr
	}
	if errors.Is(err, store.ErrNotFound) {
		h, ok := c.resWitness.recorded(tenant, catalog.KindDataset, name)
		if !ok {
			return notFound
		}
		// Registered in between, or deleted outside Meridian.
		if r, err = c.cfg.Store.GetResource(ctx, tenant, catalog.KindDataset, name); errors.Is(err, store.ErrNotFound) {
			return resourceChanged(&store.Resource{Tenant: tenant, Kind: catalog.KindDataset, Name: name}, rowGone(h))
		}
	}
	if err != nil {
		return &storeReadError{err}
	}
	_, err = c.confirmRow(ctx, tenant, r)
	return err
}

// keyrings is where the tenants' dataset keys are.
func (c *Controller) keyrings() dataset.TenantKeyrings {
	if c.cfg.Stager != nil {
		if k, ok := c.cfg.Stager.Keys.(dataset.TenantKeyrings); ok {
			return k
		}
	}
	return dataset.TenantKeyrings{Root: c.cfg.StateDir}
}

// logPath is where an attempt's output, as its agent sent it, is kept.
func (c *Controller) logPath(runID string, attempt int) string {
	return filepath.Join(c.logDir(runID), fmt.Sprintf("attempt-%d.log", attempt))
}

// logDir is the directory of run runID's attempts' output files.
func (c *Controller) logDir(runID string) string {
	return filepath.Join(c.cfg.StateDir, "logs", runID)
}

// ChangedOutsideMeridian says why r, a run of tenant's as Get or a list
// returned it, is not what Meridian wrote: its documents, tenant or job
// against the sealed record of its submission, its site and placement
// against its newest sealed decision ("" when it is as written, or when
// that is not known). With read (one run's GET), what the witness does
// not keep is read from the audit log, a bounded read; without (each row
// of a list), nothing is read, and a run not confirmed since this server
// started is not known.
func (c *Controller) ChangedOutsideMeridian(ctx context.Context, r *Run, read bool) string {
	return c.runWitness.shown(ctx, c.cfg.Store, r, read)
}
