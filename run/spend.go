package run

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/store"
)

// What a run's attempts used, and the job a re-plan plans: after a move the
// budget and the deadline are what the attempts before it left, and the work
// is what the checkpoint it resumes from did not do. Without this a run that
// spent most of its budget would be placed again against the whole of it,
// and one nearly done would be held because the whole job no longer fits
// its deadline.

// holdsPool says an attempt in state s holds its pool: its workload runs.
func holdsPool(s State) bool { return s == Running || s == Checkpointed }

// clockAttempt stamps the attempts' times after an update of r that found
// it in state from: the current attempt starts when the run first holds its
// pool, and an attempt ends when the run no longer does (a drain ends it
// only once drained: the workload runs until then) or when a later attempt
// has taken its place.
func clockAttempt(r *Run, from State, now time.Time) {
	draining := r.State == Migrating && r.Migration != nil && r.Migration.Drain
	for i := range r.Attempts {
		a := &r.Attempts[i]
		current := a.N == r.Attempt
		if current && a.Started.IsZero() && holdsPool(r.State) && !holdsPool(from) {
			a.Started = now
		}
		if a.Started.IsZero() || !a.Ended.IsZero() {
			continue
		}
		if !current || (!holdsPool(r.State) && !draining) {
			a.Ended = now
		}
	}
}

// siteClock takes into r's current attempt, numbered n, the times its
// site reported that the attempt's job started and ended (zero where it
// did not say), in the same write as the state change it reported, which
// clockAttempt then leaves alone. It counts the time of a job that ran
// between two looks of the controller (queued, then ended), and the part
// of a job's run that the controller missed while it was down.
//
// A site is not trusted with the bill: a start is taken only between the
// attempt's submission (or the previous attempt's end, if later) and now,
// an end only between the start and now, both on the controller's clock,
// and either only ever moves a stamp the controller made earlier, never
// later. So nothing a site says makes an attempt count more than the wall
// time since it was submitted. An attempt without a submission stamp
// (recorded before there were any) has no lower bound and takes nothing.
//
// A site whose start is later than now, or than its own end, has a clock
// that is off (or says nothing true): neither of its times is taken, and
// the attempt counts by the controller's own stamps (clockAttempt: from
// when it saw the run hold its pool to when it saw it stop). Taking such a
// start as now, as a start in the future was before, stamped a job that
// ended between two looks as having run no time at all, and cut an end
// the controller would have stamped back to the start. siteClock then
// returns a note for the run's events saying so; else "".
func siteClock(r *Run, n int, started, ended, now time.Time) string {
	if r.Attempt != n {
		return ""
	}
	for i := range r.Attempts {
		a := &r.Attempts[i]
		if a.N != n {
			continue
		}
		if a.Submitted.IsZero() {
			return ""
		}
		lo := a.Submitted
		if i > 0 && r.Attempts[i-1].Ended.After(lo) {
			lo = r.Attempts[i-1].Ended
		}
		if lo.After(now) {
			return ""
		}
		if !started.IsZero() && (started.After(now) || (!ended.IsZero() && started.After(ended))) {
			after := "the server's clock (" + now.UTC().Format(time.RFC3339) + ")"
			if !started.After(now) {
				after = "its end (" + ended.UTC().Format(time.RFC3339) + ")"
			}
			return fmt.Sprintf("site %s says attempt %d's job started at %s, after %s: its clock is off, so its times are not taken and the attempt counts by the server's clock",
				a.Site, n, started.UTC().Format(time.RFC3339), after)
		}
		if !started.IsZero() {
			if t := clamp(started, lo, now); a.Started.IsZero() || t.Before(a.Started) {
				a.Started = t
			}
		}
		if !ended.IsZero() && !a.Started.IsZero() && !holdsPool(r.State) {
			if t := clamp(ended, a.Started, now); a.Ended.IsZero() || t.Before(a.Ended) {
				a.Ended = t
			}
		}
		return ""
	}
	return ""
}

// siteClockEvent records siteClock's note, if any, in the run's events.
func siteClockEvent(ch *store.Change, note string) {
	if note != "" {
		ch.Events = append(ch.Events, store.Event{Kind: "site-clock", Reason: note})
	}
}

// clamp is t within [lo, hi].
func clamp(t, lo, hi time.Time) time.Time {
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}

// Spend is what a run's attempts used of their pools: wall hours,
// accelerator-hours and their price at the pools' planned hourly prices.
// Data moves are not in it. Elapsed is the wall time since the run was
// submitted (since its first attempt started, for a run recorded before
// the controller stamped its submission), which is what the run used of
// its deadline: it counts the waits too (for room, held by the law,
// staging, moving a checkpoint), which cost nothing but delay the end all
// the same.
type Spend struct {
	Hours            float64 `json:"hours"`
	AcceleratorHours float64 `json:"acceleratorHours"`
	USD              float64 `json:"usd"`
	Elapsed          float64 `json:"elapsedHours"`
}

// Spent sums the attempts' use up to now (an attempt still running counts
// to now). Attempts recorded before the controller stamped them count 0.
func (r *Run) Spent(now time.Time) Spend {
	var s Spend
	var first time.Time
	for _, a := range r.Attempts {
		if a.Started.IsZero() {
			continue
		}
		if first.IsZero() || a.Started.Before(first) {
			first = a.Started
		}
		end := a.Ended
		if end.IsZero() {
			end = now
		}
		h := end.Sub(a.Started).Hours()
		if h <= 0 {
			continue
		}
		s.Hours += h
		s.AcceleratorHours += h * float64(a.Count)
		s.USD += h * float64(a.Count) * a.PricePerHour
	}
	if !r.Submitted.IsZero() {
		first = r.Submitted
	}
	if !first.IsZero() {
		// Never below the attempts' own hours, which a clock stepped back
		// (now before an attempt's end) would otherwise undercut.
		s.Elapsed = max(s.Hours, now.Sub(first).Hours())
	}
	return s
}

// doneShare is the share of the job that the run's checkpoint holds, from
// the step it was taken at and the run's length in steps (runSteps): 0
// without both, or when the re-plan is to start over. It is below 1 by at
// least one step, so that a re-plan always plans some work. The workload
// is the tenant's own, so a share it overstates misleads only its own
// run's plan; the law is judged on the whole job either way.
func doneShare(r *Run) float64 {
	ck := r.Checkpoint
	restart := (r.Migration != nil && r.Migration.Restart) || (r.Hold != nil && r.Hold.Restart)
	if ck == nil || ck.Name == "" || runSteps(r) <= 0 || ck.Step <= 0 || restart {
		return 0
	}
	return stepShare(r, ck.Step)
}

// stepShare is the share of run r's job done at step (of runSteps; 0 when
// that is none), capped by the step a failed move's fallback left the run
// at (resumeStep).
func stepShare(r *Run, step int64) float64 {
	n := runSteps(r)
	if n <= 0 || step <= 0 {
		return 0
	}
	step = min(resumedAt(r, step), n-1)
	return float64(step) / float64(n)
}

// runSteps is run r's length in steps that a checkpoint's share is
// measured against: as the workload had reported it when the run's
// checkpoint was recorded (Checkpoint.Steps; 0 when it had reported none),
// not as it reports it since. A workload that, its checkpoint taken,
// claimed a length of one step more had its run's re-plan take the job
// as all but done; one that claimed a length past any step had it
// planned whole again. A checkpoint recorded before the length was
// recorded with it is measured against the length last reported.
func runSteps(r *Run) int64 {
	if ck := r.Checkpoint; ck != nil && ck.Steps != nil {
		return *ck.Steps
	}
	if r.Progress != nil {
		return r.Progress.Steps
	}
	return 0
}

// resumedAt is step, or the older step a failed move's fallback left run
// r at (resumeStep) when that is earlier.
func resumedAt(r *Run, step int64) int64 {
	if at := resumeStep(r); at > 0 {
		return min(step, at)
	}
	return step
}

// resumeStep is the step of the older checkpoint a failed move's
// fallback left run r at, moving (Migration.ResumeStep) or held since
// (Hold.ResumeStep); 0 when none.
func resumeStep(r *Run) int64 {
	switch {
	case r.Migration != nil:
		return r.Migration.ResumeStep
	case r.Hold != nil:
		return r.Hold.ResumeStep
	}
	return 0
}

// spentError says the attempts used up the job's budget or deadline: no
// placement can meet what is left, so the run ends rather than wait.
type spentError struct{ msg string }

func (e *spentError) Error() string { return e.msg }

// remaining returns job as a re-plan of r sees it at now, with done of the
// work taken as done: its tokens less that share, its budget less what the
// attempts cost and its deadline less the time since the run was submitted
// (Spend.Elapsed). The job is a copy; the law still reads the whole
// job's datasets and purpose. It says what it took off, and returns a
// *spentError when the budget or the deadline has nothing left.
func remaining(job *catalog.TrainingJob, r *Run, now time.Time, done float64) (*catalog.TrainingJob, string, error) {
	s := r.Spent(now)
	left := *job
	var notes []string
	if done > 0 {
		// At least the loader's least: a share reported near enough to 1
		// (a length in steps past what a float64 tells apart from one
		// step less) would leave no work, which no estimate expects.
		left.Spec.Tokens = max(job.Spec.Tokens*(1-done), 1)
		left.Spec.LawFLOPs = max(job.Spec.LawFLOPs, estimate.TrainingFLOPs(&job.Spec))
		notes = append(notes, fmt.Sprintf("%.0f %% of the work is left after the checkpoint at step %d of %d", 100*(1-done), resumedAt(r, r.Checkpoint.Step), runSteps(r)))
	}
	if b := job.Spec.BudgetUSD; b > 0 && s.USD > 0 {
		if s.USD >= b {
			return nil, "", &spentError{fmt.Sprintf("the budget of %s is spent: the attempts so far cost %s (%.2f accelerator-hours at their pools' prices)", usd(b), usd(s.USD), s.AcceleratorHours)}
		}
		left.Spec.BudgetUSD = b - s.USD
		notes = append(notes, fmt.Sprintf("budget %s of %s left", usd(left.Spec.BudgetUSD), usd(b)))
	}
	if d := job.Spec.Deadline; d > 0 && s.Elapsed > 0 {
		// Compared as hours first: hours past what a time.Duration holds
		// would wrap around in the conversion. What is left must be above
		// 0, which a plan would read as no deadline at all.
		var rest time.Duration
		if s.Elapsed < d.D().Hours() {
			rest = d.D() - time.Duration(s.Elapsed*float64(time.Hour))
		}
		if rest <= 0 {
			return nil, "", &spentError{fmt.Sprintf("the deadline of %s is used up: %.1f hours have passed since the run was submitted (%.1f of them running)", d, s.Elapsed, s.Hours)}
		}
		left.Spec.Deadline = catalog.Duration(rest)
		notes = append(notes, fmt.Sprintf("deadline %.1f hours of %s left", left.Spec.Deadline.Hours(), d))
	}
	return &left, strings.Join(notes, "; "), nil
}

// jobLeft is the world of run r and the job its next plan plans: the job
// less what its attempts did and used (remaining, with the checkpoint's
// share as done), and what was taken off. Every re-plan of a run that has
// run reads it; the law, which judges the whole job, reads worldJob.
func (c *Controller) jobLeft(r *Run) (*catalog.World, *catalog.TrainingJob, string, error) {
	w, job, err := c.worldJob(r)
	if err != nil {
		return nil, nil, "", err
	}
	left, why, err := remaining(job, r, c.cfg.Now(), doneShare(r))
	if err != nil {
		return nil, nil, "", err
	}
	return w, left, why, nil
}

// leftErr is the reason a run ends when jobLeft fails for it: a used-up
// budget or deadline with what the run leaves behind, or the error.
func leftErr(r *Run, err error) string {
	var se *spentError
	if !errors.As(err, &se) {
		return err.Error()
	}
	return fmt.Sprintf("not planned again: %s (last checkpoint: %s)", se.msg, ckText(r.Checkpoint))
}

// leftNote is what a placement's reason says of the work, budget and
// deadline a re-plan took off (left as jobLeft returns it), added to note.
func leftNote(note, left string) string {
	if left == "" {
		return note
	}
	if note != "" {
		note += "; "
	}
	return note + "planned for what is left: " + left
}

// usd writes an amount of dollars to the cent, or to two significant
// digits below a cent, and whole above $100.
func usd(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("$%.0f", x)
	case x >= 0.01:
		return fmt.Sprintf("$%.2f", x)
	}
	return fmt.Sprintf("$%.2g", x)
}
