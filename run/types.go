package run

import (
	"encoding/json"
	"slices"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// State is where a run is in its lifecycle.
type State string

// States of a run.
const (
	Planned      State = "planned"
	Staging      State = "staging"
	Queued       State = "queued"
	Running      State = "running"
	Checkpointed State = "checkpointed"
	Migrating    State = "migrating"
	// Held waits for a lawful placement (or capacity) to appear; Hold says
	// why and which rule or fact it waits on.
	Held      State = "held"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// FinalStates are the states a run never leaves.
var FinalStates = []string{string(Succeeded), string(Failed), string(Cancelled)}

// Final reports whether s is a final state.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Document is one resource file sent with a submission.
type Document struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Checkpoint is the latest checkpoint an attempt's agent reported: sealed
// with the run's key in the tenant's part of Site's store.
type Checkpoint struct {
	Step int64 `json:"step"`
	// Name is the sealed checkpoint's name in the store; Path is the name
	// the workload gave it in its checkpoint directory.
	Name   string `json:"name"`
	Path   string `json:"path"`
	Site   string `json:"site"`
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	// Steps is the run's length in steps as the workload had reported it
	// when the checkpoint was recorded (0: it had reported none), which
	// the share of the job the checkpoint holds is measured against
	// (stepShare); nil for a checkpoint recorded before the length was
	// recorded with it, whose share reads the length last reported.
	Steps *int64 `json:"steps,omitempty"`
}

// Progress is the last progress line parsed from the workload's output.
type Progress struct {
	Step int64 `json:"step"`
	// Steps is the run's whole length in steps as the workload reported it
	// (0: not reported); a re-plan reads Step/Steps of the checkpoint it
	// resumes from as the share of the job already done.
	Steps      int64   `json:"steps,omitempty"`
	Loss       float64 `json:"loss"`
	TokensPerS float64 `json:"tokensPerS"`
}

// SiteLoss is how often a run lost a site, and until when its plans leave
// the site out.
type SiteLoss struct {
	Count int       `json:"count"`
	Until time.Time `json:"until"`
}

// Migration is a move in progress: after a site was lost, or because the
// law no longer allows the run where it is (or will not from a known day).
type Migration struct {
	From   string    `json:"from"`
	Reason string    `json:"reason"`
	LostAt time.Time `json:"lostAt"`
	// Target is set once the re-plan is recorded.
	Target *planner.Placement `json:"target,omitempty"`
	AsOf   string             `json:"asOf,omitempty"`
	// Drain: the attempt still runs and is asked to checkpoint and stop
	// (through its agent) before the move; past DrainBy it is stopped.
	Drain   bool      `json:"drain,omitempty"`
	DrainBy time.Time `json:"drainBy,omitempty"`
	// Rule and Revision name what moved the run, for a move the law made.
	Rule     string `json:"rule,omitempty"`
	Revision int64  `json:"revision,omitempty"`
	// Until is the day from which the old placement is unlawful: the new one
	// must be lawful then too.
	Until string `json:"until,omitempty"`
	// Done is the share of the job the target's plan took as done (the
	// checkpoint's, doneShare); when the checkpoint then cannot move there
	// the run plans the whole job again (Restart).
	Done float64 `json:"done,omitempty"`
	// Restart says the re-plan plans the whole job again: the checkpoint
	// could not move to the target chosen for the work left after it.
	Restart bool `json:"restart,omitempty"`
	// ResumeStep, when set, is the step of the older checkpoint the last
	// move could use in place of the latest (which could not go to the
	// target): the re-plan plans the work left after it, not after the
	// latest (doneShare), so that no target is judged for work the run
	// has not kept.
	ResumeStep int64 `json:"resumeStep,omitempty"`
	// PreemptedBy names the run whose higher priority moved this one, or
	// that reclaimed the quota this one borrowed (Reclaimed).
	PreemptedBy string `json:"preemptedBy,omitempty"`
	// Reclaimed says the move gave lent quota back to another tenant of the
	// run's cohort, whose run is then not named to this run's tenant.
	Reclaimed bool `json:"reclaimed,omitempty"`
	// MoveTries counts the tries of the checkpoint's copy to Target that
	// a store's passing failure stopped (dataset.Transient); the next is
	// not before MoveNext. Past maxMoveTries the run waits held with its
	// checkpoint (moveFailed).
	MoveTries int       `json:"moveTries,omitempty"`
	MoveNext  time.Time `json:"moveNext,omitempty"`
	// Unreserved says the run gave its target's pool up while it waits
	// for MoveNext (a wait longer than reserveWait): the next try takes
	// it again, or plans the move again when it is gone (reacquire).
	Unreserved bool `json:"unreserved,omitempty"`
}

// setTarget gives the move a new target (or none), and starts its
// counts of failed tries afresh: they were of the copy to, and the
// stagings at, the target given up, and would otherwise send the run
// held after fewer tries at the new one, or make it wait for a time set
// for the old.
func (m *Migration) setTarget(pl *planner.Placement) {
	m.Target = pl
	m.MoveTries, m.MoveNext, m.Unreserved = 0, time.Time{}, false
}

// Sweep is a site the run left whose store may hold its checkpoints, and
// the day from which the law is asked about them there (AsOf, when a move
// ahead of a rule's date left the site; else the day the sweep runs).
type Sweep struct {
	Site string `json:"site"`
	AsOf string `json:"asOf,omitempty"`
	// Fails counts the sweeps in a row that the site's store failed (not
	// reachable, refusing, out of time); at maxSweepFails the sweep is
	// given up and the checkpoints left there are recorded
	// (sweepAbandoned).
	Fails int `json:"fails,omitempty"`
	// Next is when the site is next tried after its store failed
	// (sweepWaitAfter Fails): on the record, so that a server that
	// restarts does not try it, and count a failure, at each start.
	Next time.Time `json:"next,omitzero"`
	// Pending says why the last sweep could not judge the site (the run's
	// documents or the site unreadable, a fact the law needs missing):
	// its checkpoints there are not taken as lawful, and the site stays
	// on the list until a sweep judges it. PendingKey is the law, rules
	// revision and registered facts it was judged under (sweepKey): it is
	// judged again once they change.
	Pending    string `json:"pending,omitempty"`
	PendingKey string `json:"pendingKey,omitempty"`
}

// Hold says why a run waits and when it next tries.
type Hold struct {
	Reason string `json:"reason"`
	// Code is policy.CodeDenied, CodeUndetermined or CodeNotNow.
	Code     string    `json:"code"`
	Rule     string    `json:"rule,omitempty"`
	Revision int64     `json:"revision,omitempty"`
	Since    time.Time `json:"since"`
	NextTry  time.Time `json:"nextTry"`
	Tries    int       `json:"tries,omitempty"`
	// Wait is WaitCapacity or WaitQuota for a run that has lawful places
	// but no room in them now (empty: held by the law or a missing fact);
	// Wants are those places, with the room each had at the last try. The
	// admission loop, not the hold's retry timer, releases such a run.
	Wait  string `json:"wait,omitempty"`
	Wants []Want `json:"wants,omitempty"`
	// Restart carries Migration.Restart through the hold: the checkpoint
	// could not follow a plan of the work left after it, so the run's
	// next plans are of the whole job. Without it each release would plan
	// the work left again, place the run where its checkpoint cannot go,
	// and hold it again, without end.
	Restart bool `json:"restart,omitempty"`
	// MoveTries is how many tries of the checkpoint's copy failed before
	// the hold, StageTries how many of a staging: a release counts its
	// own tries afresh.
	MoveTries  int `json:"moveTries,omitempty"`
	StageTries int `json:"stageTries,omitempty"`
	// Until and UntilRule carry Migration.Until and Migration.Rule through
	// a hold that a move ahead of a rule's date ran into: a release then
	// places the run only where it is lawful on that day too, not only
	// today.
	Until     string `json:"until,omitempty"`
	UntilRule string `json:"untilRule,omitempty"`
	// ResumeStep carries Migration.ResumeStep through the hold: the run
	// can resume only from its older checkpoint at that step, and its
	// retries plan the work left after it, not after its latest.
	ResumeStep int64 `json:"resumeStep,omitempty"`
	// KeyDataset names the dataset whose key the run waits for, on a hold
	// keyHeld wrote: a key sent for it (PutKey) brings the run's next try
	// forward. Empty on every other hold, and on key holds written before
	// the field (heldForKey reads their reason instead).
	KeyDataset string `json:"keyDataset,omitempty"`
}

// LawStatus is what the controller found about the law for the run's
// placement, under the revision and on the day it last found something
// different (each re-check of every run is one law-check audit entry; a
// run's status is rewritten only when its horizon changes).
type LawStatus struct {
	Revision  int64  `json:"revision"`
	CheckedOn string `json:"checkedOn"`
	// LawfulUntil is the first UTC day on which the placement is not
	// lawful under the rules already loaded (empty: none ends it), and
	// UntilRule the rule that ends it; MoveBy is when the controller moves
	// the run so that it runs elsewhere before then.
	LawfulUntil string    `json:"lawfulUntil,omitempty"`
	UntilRule   string    `json:"untilRule,omitempty"`
	MoveBy      time.Time `json:"moveBy,omitempty"`
}

// Attempt is one submission of the run to a site.
type Attempt struct {
	N      int    `json:"n"`
	Site   string `json:"site"`
	Handle string `json:"handle,omitempty"`
	// Nonce makes the attempt's credential (see Controller.credential)
	// unique; it is not a secret by itself.
	Nonce string `json:"nonce,omitempty"`
	// Exit is the workload's exit code as the agent reported it; a
	// report of a stop or a loss (Fenced) after it clears it.
	Exit *int `json:"exit,omitempty"`
	// OwnCheckpointNames says the attempt seals its checkpoints under
	// names of its own (checkpointName); attempts begun before that used
	// one name per step for the whole run (legacyCheckpointName), which
	// the server still takes from them and from no other.
	OwnCheckpointNames bool `json:"ownCheckpointNames,omitempty"`
	// Fenced says the agent reported stopping the workload itself, for its
	// lease, or that it could not end every process the workload started
	// (agent.Exit's Lost): that exit is on the timeline, not in Exit (it is
	// not the workload's own end), and is recorded once, over a plain
	// exit reported before it.
	Fenced bool `json:"fenced,omitempty"`
	// StagedBytes is how many sealed dataset bytes were sent to Site for
	// this attempt (0 when they were all there already).
	StagedBytes int64 `json:"stagedBytes,omitempty"`
	// Manifests holds, per dataset staged for this attempt, the hex
	// SHA-256 of the manifest staged: the agent unseals that version only,
	// so that a site cannot hand the job another genuine version of the
	// dataset (an older one, say) in its place.
	Manifests map[string]string `json:"manifests,omitempty"`
	// Count and PricePerHour are the attempt's pool as planned; Started and
	// Ended bound the time it held the pool (running or checkpointed, and a
	// drain): when the site says its job started and ended, where it says
	// so, within the controller's own bounds, else when the controller saw
	// it (see clockAttempt and siteClock). They are what a re-plan
	// subtracts from the job's budget and deadline (see Run.Spent).
	Count        int       `json:"count,omitempty"`
	PricePerHour float64   `json:"pricePerHour,omitempty"`
	Started      time.Time `json:"started,omitzero"`
	Ended        time.Time `json:"ended,omitzero"`
	// Submitted is when the controller submitted the attempt's job, by its
	// clock, just before it asked the site: the job cannot have started
	// before it, so no start the site reports counts from earlier.
	Submitted time.Time `json:"submitted,omitzero"`
	// Over is when, by the controller's clock, the attempt stopped being
	// the run's live one (attemptLive): the run moved past it or ended.
	// An ended attempt's agent may send its last output and exit code
	// until logGrace after it (lastWords), whatever is written to the run
	// later.
	Over time.Time `json:"over,omitzero"`
}

// Data is the run's durable document (store.Run.Data).
type Data struct {
	Documents []Document `json:"documents"`
	// AsOf is the date the run was planned: the day it was submitted.
	AsOf string `json:"asOf"`
	// Submitted is when the controller accepted the run, by its clock: the
	// job's deadline counts from it (Spend.Elapsed).
	Submitted time.Time         `json:"submitted,omitzero"`
	Rank      int               `json:"rank"`
	Placement planner.Placement `json:"placement"`
	// Excluded are the sites the run lost, sorted; Losses says how often
	// and until when each stays out of its plans (excludedNow).
	Excluded []string            `json:"excluded,omitempty"`
	Losses   map[string]SiteLoss `json:"losses,omitempty"`
	WorkDir  string              `json:"workDir,omitempty"`
	Attempts []Attempt           `json:"attempts,omitempty"`
	// Staged is the attempt whose datasets are at its site; submit waits
	// for it to equal the current attempt.
	Staged int `json:"staged,omitempty"`
	// StageTries counts the current attempt's stagings in a row that a
	// passing failure stopped (a store's or the ledger's:
	// transfer.Transient); the next is not before StageNext. Past
	// maxStageTries the run waits held (stageFailed).
	StageTries int       `json:"stageTries,omitempty"`
	StageNext  time.Time `json:"stageNext,omitzero"`
	// StageUnreserved says the run gave its pool up while it waits for
	// StageNext (a wait longer than reserveWait); the next try takes it
	// again first, or waits held for room (reacquire).
	StageUnreserved bool        `json:"stageUnreserved,omitempty"`
	Checkpoint      *Checkpoint `json:"checkpoint,omitempty"`
	// Older are earlier checkpoints of the run that may still be in their
	// stores, newest first (setCheckpoint bounds them): a move falls back
	// to them when the latest cannot go where the run goes
	// (moveCheckpoint).
	Older []Checkpoint `json:"olderCheckpoints,omitempty"`
	// Swept are sites the run has left (a move's source, and where its
	// checkpoint was) whose stores may still hold its checkpoints: each
	// is judged as a checkpoint copy is, and where the law no longer lets
	// the run's data be, the run's checkpoints there are removed and the
	// withdrawals recorded (sweepCheckpoints); then the site leaves the
	// list.
	Swept           []Sweep    `json:"swept,omitempty"`
	Progress        *Progress  `json:"progress,omitempty"`
	CancelRequested bool       `json:"cancelRequested,omitempty"`
	Migration       *Migration `json:"migration,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	// RecoveredIn is the time from the last move's start (a site lost, or the
	// law no longer allowing it there) to running elsewhere.
	RecoveredIn catalog.Duration `json:"recoveredIn,omitempty"`
	Hold        *Hold            `json:"hold,omitempty"`
	Law         *LawStatus       `json:"law,omitempty"`
	// Priority orders a tenant's waiting runs (higher first); a higher one
	// may preempt a lower one of the same tenant at a checkpoint.
	Priority int `json:"priority,omitempty"`
}

// Run is a run as the API shows it.
type Run struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Job       string    `json:"job"`
	State     State     `json:"state"`
	Site      string    `json:"site"`
	Attempt   int       `json:"attempt"`
	Handle    string    `json:"handle,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Data
	// version is the row version this was decoded from.
	version int64
}

// columnsOf is the run as row's columns give it, without its document.
func columnsOf(r *store.Run) *Run {
	return &Run{ID: r.ID, Tenant: r.Tenant, Job: r.Job, State: State(r.State), Site: r.Site, Attempt: r.Attempt,
		Handle: r.Handle, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, version: r.Version}
}

// RowVersion is the version of the stored run this was read from (0 for
// a run not read from the store): a later read with the same version is
// the same run (Controller.ListVersions).
func (r *Run) RowVersion() int64 { return r.version }

func fromRow(r *store.Run) (*Run, error) {
	out := columnsOf(r)
	if err := json.Unmarshal(r.Data, &out.Data); err != nil {
		return nil, err
	}
	return out, nil
}

// maxOlder bounds Data.Older, and maxOlderAt the entries of it at one
// site: a workload that checkpoints every second would otherwise keep
// only checkpoints seconds apart in one store, and none at the sites the
// run ran at before, which are what a move the law refuses from the
// latest's site falls back to.
const (
	maxOlder   = 6
	maxOlderAt = 2
)

// setCheckpoint makes ck the run's latest checkpoint and keeps the one it
// replaces among the older ones (Older), within their bounds, oldest
// dropped first.
func (r *Run) setCheckpoint(ck *Checkpoint) {
	prev := r.Checkpoint
	r.Checkpoint = ck
	same := func(a, b *Checkpoint) bool { return a != nil && b != nil && a.Site == b.Site && a.Name == b.Name }
	if ck == nil || same(prev, ck) {
		return
	}
	older := make([]Checkpoint, 0, len(r.Older)+1)
	if prev != nil && prev.Name != "" {
		older = append(older, *prev)
	}
	for _, o := range r.Older {
		if !same(&o, ck) && !same(&o, prev) {
			older = append(older, o)
		}
	}
	at := map[string]int{}
	kept := older[:0]
	for _, o := range older {
		if at[o.Site] < maxOlderAt && len(kept) < maxOlder {
			at[o.Site]++
			kept = append(kept, o)
		}
	}
	r.Older = slices.Clip(kept)
	if len(r.Older) == 0 {
		r.Older = nil
	}
}
