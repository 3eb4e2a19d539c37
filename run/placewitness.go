package run

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// A run's site and placement (accelerator, count, pool) on its row change
// as it moves, and only the decision records written with each change are
// sealed: whoever could write the database without the audit key could
// otherwise point a run about to start at another site, or give it more
// accelerators than it was placed with, and its staging would send the
// job's datasets there and its attempt start there. Every placement is
// named by a sealed decision record of the run (addPlan: at submission, at
// a re-plan after a move, at a release from hold), written before the run
// takes it; a run that stages or starts an attempt (Planned, Staging) is
// held to the newest of them (confirmPlace).
//
// What the newest record names is kept per run while it is live (prune),
// with the last seq read: a row that still matches costs no read, and one
// that does not (the run moved since) reads only the run's decision
// records sealed since.

// placeSeen is what the decision records of a run read so far say.
type placeSeen struct {
	// after is the seq of the last decision record of the run read.
	after int64
	// have says a sealed decision record named a placement, pl: the
	// newest, at seq.
	have bool
	seq  int64
	pl   placeOf
	// attempt is the attempt the newest record names the placement of
	// (0: one written before a run's first attempt, or at a re-plan).
	attempt int
	// cancelled says a sealed decision record of the run is its
	// cancellation (Cancel's): a run is cancelled once.
	cancelled bool
	// sites are the sites the run's sealed placements named, each once,
	// in order (at most maxSealedSites): those it may have left.
	sites []string
	// owed are the sites a sealed move of the run left (its decision
	// record's from, one of sites) that no sealed record since says were
	// swept of its checkpoints (KindCheckpointsSwept, or
	// KindCheckpointsLeft: given up): each must be on its row's sweep
	// list (at most maxSealedSites).
	owed []string
	// lost are the sites a sealed state record of the run says it lost
	// (lose: "site S lost: ..."), each once (at most maxSealedSites): the
	// only sites its row may exclude from its plans (Excluded).
	lost []string
	// lossOf is, for each site of lost (same index), the latest end of
	// its exclusion from the run's plans that its sealed state records
	// set (zero: none sealed one): the end its row must keep
	// (lossesTimed).
	lossOf []time.Time
	// sub is the run's newest attempt submitted, as the sealed state
	// record that queued it names it (submit): its attempt, site and the
	// site's handle of its job. A moving or held run's is the attempt it
	// left (or drains), at the site it leaves.
	sub submission
}

// submission is an attempt's submission, as a sealed state record names it.
type submission struct {
	attempt int
	site    string
	handle  string
}

// maxSealedSites bounds the sites kept per run (placeSeen.sites): a site
// past it is not kept, and a row naming it is taken for changed.
const maxSealedSites = 256

// placeOf is what of a placement is confirmed.
type placeOf struct {
	Site        string `json:"site"`
	Accelerator string `json:"accelerator"`
	Count       int    `json:"count"`
	Pool        int    `json:"pool"`
}

func (p placeOf) String() string {
	return fmt.Sprintf("site %q, %d %q (pool %d)", p.Site, p.Count, p.Accelerator, p.Pool)
}

// The decision records of one run read per page, and the pages one
// confirmation reads at most: a run writes one at each placement, move,
// preemption and cancellation.
const (
	placeWitnessPage      = 64
	placeWitnessPageBytes = 4 << 20
	placeWitnessPages     = 64
	// placeRecordBytes bounds a decision record read: one that names a
	// placement holds its findings (obligations, advisories), kilobytes;
	// a longer one, written by hand, is not read.
	placeRecordBytes = 1 << 20
)

// placeConfirmed says which of a run's states are held to its newest
// placement decision: those in which it stages or starts an attempt. A
// moving or held run's row keeps the site it left while its newest
// decision names where it goes.
func placeConfirmed(s State) bool { return s == Planned || s == Staging }

// placeWatched says which of a run's states are held to its newest
// placement decision at each of its steps (confirmSite): those of
// placeConfirmed, and those whose step asks its site's backend about its
// attempt, or cancels it (Queued, Running, Checkpointed). No decision
// record names a placement while a run is in them: the one that placed
// its attempt is the newest until it moves.
func placeWatched(s State) bool {
	return placeConfirmed(s) || s == Queued || s == Running || s == Checkpointed
}

// rowPlace is what r's row says of its placement, and a reason when its
// parts disagree with each other (the current attempt's site or count
// with the run's).
func rowPlace(r *Run) (placeOf, string) {
	p := placeOf{Site: r.Placement.Site, Accelerator: r.Placement.Accelerator, Count: r.Placement.Count, Pool: r.Placement.Pool}
	if r.Site != p.Site {
		return p, fmt.Sprintf("its row names site %q, but its placement site %q", r.Site, p.Site)
	}
	for _, a := range r.Attempts {
		// An attempt recorded before attempts kept their count has none.
		if a.N == r.Attempt && r.Attempt > 0 && (a.Site != r.Site || (a.Count != 0 && a.Count != p.Count)) {
			return p, fmt.Sprintf("its attempt %d is at site %q with %d accelerators, but its placement is %s", a.N, a.Site, a.Count, p)
		}
	}
	return p, ""
}

// samePlace says whether the row's placement got is the one sealed in
// seen. A move that falls back to an older checkpoint may judge its
// target again for the work left and take another count of the same pool
// (migrate); the move's own decision record names the attempt it places
// and that count. The count is compared for a run's first attempt, and
// for a later one when the record names that attempt: a move sealed
// before moves wrote their record names none, and only its site,
// accelerator and pool are the target's.
func samePlace(r *Run, seen placeSeen, got placeOf) bool {
	want := seen.pl
	if r.Attempt > 1 && seen.attempt != r.Attempt {
		want.Count, got.Count = 0, 0
	}
	return want == got
}

// confirmPlace reports whether r's site and placement, as its row holds
// them, are those of the newest sealed decision record of r, for a run
// about to stage or start an attempt. A failure to read the log is a
// storeReadError: the step is tried again.
func (w *runWitness) confirmPlace(ctx context.Context, log store.Store, r *Run) error {
	if w == nil || w.chain == nil || !placeConfirmed(r.State) {
		return nil
	}
	err := w.checkPlace(ctx, log, r, true)
	w.note(r.ID, true, err)
	return err
}

// confirmSite is confirmPlace at a step of r, r's row read before it, for
// each state placeWatched names: a running run's site and placement are
// those its step asks the backend about (and cancels at). It first reads
// the decision records of every run sealed since the last read
// (readOnPlaces: one query, which the steps waiting for it share), so that
// a row put back to a placement kept here from before a move (by this
// server or another) is held to the move's record; the run's own records
// are read again only when one of them came since its placement was read.
func (w *runWitness) confirmSite(ctx context.Context, log store.Store, r *Run) error {
	if w == nil || w.chain == nil || !placeWatched(r.State) {
		return nil
	}
	current, err := w.readOnPlaces(ctx, log)
	if err != nil {
		return err
	}
	err = w.checkPlace(ctx, log, r, current)
	w.note(r.ID, true, err)
	return err
}

// checkPlace confirms r's placement. With current, what readOnPlaces read
// (newest) says whether the placement kept for r may be taken; without,
// r's records are read since the kept one.
func (w *runWitness) checkPlace(ctx context.Context, log store.Store, r *Run, current bool) error {
	got, bad := rowPlace(r)
	if bad != "" {
		return changedPlace(r, bad)
	}
	next, err := w.sealedPlace(ctx, log, r, current, true, func(cur placeSeen) bool { return samePlace(r, cur, got) })
	if err != nil {
		return err
	}
	if !next.have {
		return changedPlace(r, "no sealed decision record of the audit log names its placement")
	}
	if !samePlace(r, next, got) {
		return changedPlace(r, fmt.Sprintf("its row places it at %s, but its newest sealed decision record (seq %d) names %s", got, next.seq, next.pl))
	}
	return nil
}

// sealedPlace is what r's sealed decision records say of its placement:
// the one kept, when current (readOnPlaces read every record sealed so
// far), no record of r came since and ok takes it; else read from r's
// records sealed since the kept one, and kept when keep says so.
func (w *runWitness) sealedPlace(ctx context.Context, log store.Store, r *Run, current, keep bool, ok func(placeSeen) bool) (placeSeen, error) {
	w.mu.Lock()
	seen := w.places[r.ID]
	var cur placeSeen
	if seen != nil {
		cur = *seen
	}
	newer := w.newest[r.ID] > cur.after
	epoch := w.placeEpoch
	w.mu.Unlock()
	if seen != nil && cur.have && current && !newer && ok(cur) {
		return cur, nil
	}
	// Not yet read, a record of the run came since, or the row names
	// another placement: the records sealed since the last read say
	// whether the run moved.
	next, err := w.readPlace(ctx, log, r, cur)
	if !keep {
		return next, err
	}
	w.mu.Lock()
	if w.places == nil {
		w.places = map[string]*placeSeen{}
	}
	// Not kept when readOnPlaces forgot the placements meanwhile: what
	// was read may miss a record readOnPlaces passed over.
	if old := w.places[r.ID]; w.placeEpoch == epoch && (old == nil || old.after <= next.after) {
		w.places[r.ID] = &next
	}
	w.mu.Unlock()
	return next, err
}

// confirmMove holds a held or moving run, at each of its steps, to its
// sealed placements: a move's target (Migration.Target, which the move
// takes, copies the checkpoint to, and seals as the placement of the next
// attempt) must be the newest sealed placement, the one its re-plan or its
// release from hold sealed; and the site its row says it left (the
// attempt stopped there, the site swept of its checkpoints once it moves)
// must be one a sealed placement named; and each site its row excludes
// from its next plan (Excluded, which steers where it goes) must be one a
// sealed state record says it lost (lostSite), and each such site must be
// on it (the list only grows). A run that does not match
// is left as it is, its step refused, and marked changed outside Meridian.
func (w *runWitness) confirmMove(ctx context.Context, log store.Store, r *Run, lc lossClock) error {
	if w == nil || w.chain == nil || (r.State != Held && r.State != Migrating) {
		return nil
	}
	current, err := w.readOnPlaces(ctx, log)
	if err != nil {
		return err
	}
	err = w.checkMove(ctx, log, r, current, lc)
	w.note(r.ID, true, err)
	return err
}

func (w *runWitness) checkMove(ctx context.Context, log store.Store, r *Run, current bool, lc lossClock) error {
	var target *placeOf
	if m := r.Migration; r.State == Migrating && m != nil && m.Target != nil {
		target = &placeOf{Site: m.Target.Site, Accelerator: m.Target.Accelerator, Count: m.Target.Count, Pool: m.Target.Pool}
	}
	ok := func(seen placeSeen) bool {
		return (target == nil || seen.pl == *target) && (r.Site == "" || slices.Contains(seen.sites, r.Site)) && excludedLost(r, seen) && lossesTimed(r, seen, lc) == ""
	}
	// Not kept for a run about to move: its move seals its next
	// placement, which a confirmation of its staging (confirmPlace, not
	// after readOnPlaces) would not know to read past what was kept.
	seen, err := w.sealedPlace(ctx, log, r, current, target == nil, ok)
	if err != nil {
		return err
	}
	if target != nil {
		if !seen.have {
			return changedMove(r, fmt.Sprintf("its move's target is %s, but no sealed decision record of the audit log names a placement of it", *target))
		}
		if seen.pl != *target {
			return changedMove(r, fmt.Sprintf("its move's target is %s, but its newest sealed decision record (seq %d) names %s", *target, seen.seq, seen.pl))
		}
	}
	if r.Site != "" && !slices.Contains(seen.sites, r.Site) {
		return changedMove(r, fmt.Sprintf("its row names site %q, which no sealed decision record of it placed it at", r.Site))
	}
	// The sites its next plan leaves out (excludedNow) steer where it
	// goes: each must be one it lost, as a sealed state record says.
	for _, s := range r.Excluded {
		if !slices.Contains(seen.lost, s) {
			return changedMove(r, fmt.Sprintf("its row excludes site %q from its plans, which no sealed state record says it lost", s))
		}
	}
	for _, s := range seen.lost {
		if !slices.Contains(r.Excluded, s) {
			return changedMove(r, fmt.Sprintf("its row no longer excludes site %q from its plans, which a sealed state record says it lost", s))
		}
	}
	if why := lossesTimed(r, seen, lc); why != "" {
		return changedMove(r, why)
	}
	return nil
}

// lostPrefix and lostInfix frame the reason of the state record a run
// that lost its site moves with (lose): "site S lost (excluded until T):
// why", T the end of the site's exclusion from the run's plans that the
// loss set (Losses[S].Until), or, as written before losses sealed it,
// "site S lost: why".
const (
	lostPrefix = "site "
	lostInfix  = " lost: "
	lostUntil  = " lost (excluded until "
	lostClose  = "): "
)

// lostReason is the reason of the state record with which a run that
// lost site (why) moves, its exclusion ending at until.
func lostReason(site string, until time.Time, why string) string {
	return lostPrefix + site + lostUntil + until.UTC().Format(time.RFC3339Nano) + lostClose + why
}

// lostSite is the site a state record's payload says the run lost, or "",
// and the end of the site's exclusion it sealed (zero: none, a record
// written before losses sealed it). The site's words (why) come last: the
// site and the end are read before them, up to the first " lost", which
// no site's name holds.
func lostSite(payload []byte) (string, time.Time) {
	var s struct {
		To     string `json:"to"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(payload, &s) != nil || s.To != string(Migrating) {
		return "", time.Time{}
	}
	rest, ok := strings.CutPrefix(s.Reason, lostPrefix)
	if !ok {
		return "", time.Time{}
	}
	i := strings.Index(rest, " lost")
	if i < 0 {
		return "", time.Time{}
	}
	site, tail := rest[:i], rest[i:]
	if strings.HasPrefix(tail, lostInfix) {
		return site, time.Time{}
	}
	at, ok := strings.CutPrefix(tail, lostUntil)
	if !ok {
		return "", time.Time{}
	}
	at, _, ok = strings.Cut(at, lostClose)
	if !ok {
		return "", time.Time{}
	}
	until, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		// Sealed, so Meridian's: a site lost, its end unread.
		return site, time.Time{}
	}
	return site, until
}

// lostAgain notes a sealed state record that says the run lost site,
// its exclusion to end at until: the site joins lost (up to
// maxSealedSites), the latest end of its exclusion in lossOf. The arrays
// are copied: the placeSeen read from shares them.
func (p *placeSeen) lostAgain(site string, until time.Time) {
	i := slices.Index(p.lost, site)
	if i < 0 {
		if len(p.lost) >= maxSealedSites {
			return
		}
		p.lost = append(slices.Clip(p.lost), site)
		i = len(p.lost) - 1
	}
	if until.IsZero() {
		return
	}
	// Kept in step with lost: a site whose records sealed no end has
	// the zero time.
	p.lossOf = slices.Clone(p.lossOf)
	for len(p.lossOf) < len(p.lost) {
		p.lossOf = append(p.lossOf, time.Time{})
	}
	if until.After(p.lossOf[i]) {
		p.lossOf[i] = until
	}
}

// lossClock is what a run's sealed losses are timed by: now, by the
// controller's clock (Config.Now), the one its losses were timed by.
type lossClock struct {
	now time.Time
}

func (c *Controller) lossClock() lossClock {
	return lossClock{now: c.cfg.Now()}
}

// lossesTimed says why r's row ends a site's exclusion from its plans
// (Losses[site].Until, which excludedNow reads) before the run's sealed
// state records do, or "": each sealed loss names the end its exclusion
// was given, by the controller's clock and the backoff of its time
// (lostSiteBackoff of the site's losses), and a row can only keep a site
// out longer. A row whose entry for a site is gone, or ends early, would
// bring a site the run lost back into its plans sooner. Once the sealed
// end has passed, the row's says nothing more.
func lossesTimed(r *Run, seen placeSeen, lc lossClock) string {
	for i, s := range seen.lost {
		if i >= len(seen.lossOf) {
			break
		}
		end := seen.lossOf[i]
		if end.IsZero() || !lc.now.Before(end) {
			continue
		}
		row, ok := r.Losses[s]
		if ok && !row.Until.Before(end) {
			continue
		}
		until := "no time"
		if ok {
			until = row.Until.UTC().Format(time.RFC3339Nano)
		}
		return fmt.Sprintf("its row keeps site %q out of its plans until %s, but a sealed state record of its loss keeps it out until %s",
			s, until, end.UTC().Format(time.RFC3339Nano))
	}
	return ""
}

// forgetPlace drops what was kept of run id's sealed records, when a
// record of it that readOnPlaces does not follow (a state record: a
// loss) was sealed: its next confirmation reads its records again. A read
// under way when it is forgotten is not kept.
func (w *runWitness) forgetPlace(id string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	delete(w.places, id)
	w.placeEpoch++
	w.mu.Unlock()
}

// excludedLost says whether the sites r's row excludes from its plans are
// those seen says it lost: the list only grows (lose), whatever each
// loss's time.
func excludedLost(r *Run, seen placeSeen) bool {
	for _, s := range r.Excluded {
		if !slices.Contains(seen.lost, s) {
			return false
		}
	}
	for _, s := range seen.lost {
		if !slices.Contains(r.Excluded, s) {
			return false
		}
	}
	return true
}

// confirmExcluded holds the sites r's row excludes from its plans
// (Excluded) to those a sealed state record says it lost, whatever its
// state, for a plan made outside its step: admission's (enter), a
// preemption's of the waiting run and of its victim (tryPreempt), and
// what-if's. A list taken as written would let a row whose list was cut
// short outside Meridian bring a site the run lost back into its choice,
// where a step of the run (confirmMove) refuses it. Only a refusal is
// noted, as confirmSwept's.
func (w *runWitness) confirmExcluded(ctx context.Context, log store.Store, r *Run, lc lossClock) error {
	if w == nil || w.chain == nil {
		return nil
	}
	current, err := w.readOnPlaces(ctx, log)
	if err != nil {
		return err
	}
	// Not kept for a run about to move (as checkMove) nor for one that
	// ended.
	moving := r.State == Migrating && r.Migration != nil && r.Migration.Target != nil
	seen, err := w.sealedPlace(ctx, log, r, current, !moving && !r.State.Final(), func(seen placeSeen) bool {
		return excludedLost(r, seen) && lossesTimed(r, seen, lc) == ""
	})
	if err != nil {
		return err
	}
	timed := lossesTimed(r, seen, lc)
	if excludedLost(r, seen) && timed == "" {
		return nil
	}
	why := "its row's sites excluded from its plans are not those its sealed state records say it lost"
	if timed != "" {
		why = timed
	}
	for _, s := range seen.lost {
		if !slices.Contains(r.Excluded, s) {
			why = fmt.Sprintf("its row no longer excludes site %q from its plans, which a sealed state record says it lost", s)
			break
		}
	}
	for _, s := range r.Excluded {
		if !slices.Contains(seen.lost, s) {
			why = fmt.Sprintf("its row excludes site %q from its plans, which no sealed state record says it lost", s)
			break
		}
	}
	err = runChangedWhat(r, why, "the sites excluded from its plans were changed outside Meridian, and it is not planned")
	w.note(r.ID, true, err)
	return err
}

// excludedConfirmed is excludedNow(r), its row's list confirmed first
// (confirmExcluded).
func (c *Controller) excludedConfirmed(ctx context.Context, r *Run) ([]string, error) {
	if err := c.runWitness.confirmExcluded(ctx, c.cfg.Store, r, c.lossClock()); err != nil {
		return nil, err
	}
	c.stepWarn(excludedWarnKey+r.ID, nil)
	return c.excludedNow(r), nil
}

// excludedWarnKey keys, in what stepWarn keeps, the refusals of runs'
// excluded sites outside their steps (excludedWarn).
const excludedWarnKey = "excluded|"

// excludedWarn says whether err, a confirmation of run id's excluded
// sites outside its step (admission, preemption), is logged: a refusal
// once, as a step's (stepWarn), not at every admission pass; a running
// victim's steps, which do not confirm its list, do not reset it.
func (c *Controller) excludedWarn(id string, err error) bool {
	return c.stepWarn(excludedWarnKey+id, err)
}

func changedMove(r *Run, why string) error {
	return runChangedWhat(r, why, "its site or its move's target was changed outside Meridian, and it is neither moved nor released")
}

// confirmSwept holds the sites r's row lists to sweep of its checkpoints
// (Swept: the sites a move left, judged and cleared at its next steps) to
// the sites its sealed placements named: a site the run was never placed
// at was never its to leave, and a row naming one (written outside
// Meridian) would have Meridian judge and delete data there as the run's.
// Only a refusal is noted (its placement's reason): the step's other
// confirmations say when it matches.
func (w *runWitness) confirmSwept(ctx context.Context, log store.Store, r *Run) error {
	if len(r.Swept) == 0 {
		return nil
	}
	_, err := w.checkSwept(ctx, log, r)
	return err
}

// checkSwept is confirmSwept for a run's step and its sweep, whatever its
// row lists: it also returns the sites the run's sealed records say it
// owes a sweep (placeSeen.owed) that its row does not list, taken off it
// outside Meridian. The sweep puts them back and sweeps them
// (restoreSwept): left off, the checkpoints there were never judged.
func (w *runWitness) checkSwept(ctx context.Context, log store.Store, r *Run) ([]string, error) {
	if w == nil || w.chain == nil {
		return nil, nil
	}
	current, err := w.readOnPlaces(ctx, log)
	if err != nil {
		return nil, err
	}
	// Not kept for a run about to move (as checkMove) nor for one that
	// ended: the loop prunes only the live runs' placements.
	moving := r.State == Migrating && r.Migration != nil && r.Migration.Target != nil
	seen, err := w.sealedPlace(ctx, log, r, current, !moving && !r.State.Final(), func(seen placeSeen) bool {
		return sweptPlaced(r, seen) && len(sweptMissing(r, seen)) == 0
	})
	if err != nil {
		return nil, err
	}
	for _, sw := range r.Swept {
		if !slices.Contains(seen.sites, sw.Site) {
			err := runChangedWhat(r, fmt.Sprintf("its row lists site %q to sweep of its checkpoints, which no sealed decision record of it placed it at", sw.Site),
				"the sites it lists to sweep were changed outside Meridian, and none is swept")
			w.note(r.ID, true, err)
			return nil, err
		}
	}
	return sweptMissing(r, seen), nil
}

// sweptPlaced says whether every site r lists to sweep is one that seen's
// sealed placements named.
func sweptPlaced(r *Run, seen placeSeen) bool {
	for _, sw := range r.Swept {
		if !slices.Contains(seen.sites, sw.Site) {
			return false
		}
	}
	return true
}

// sweptMissing is the sites seen says r owes a sweep that its row does
// not list.
func sweptMissing(r *Run, seen placeSeen) []string {
	var out []string
	for _, s := range seen.owed {
		if !slices.ContainsFunc(r.Swept, func(sw Sweep) bool { return sw.Site == s }) {
			out = append(out, s)
		}
	}
	return out
}

// readPlace reads r's decision records after from.after and returns what
// they leave: the newest sealed one that names a placement.
func (w *runWitness) readPlace(ctx context.Context, log store.Store, r *Run, from placeSeen) (placeSeen, error) {
	out := from
	// The records of its sweeps come in the same read, in order: a site
	// left, swept, and left again is owed a sweep again.
	q := store.AuditQuery{RunID: r.ID, Kinds: []string{audit.KindDecision, KindCheckpointsSwept, KindCheckpointsLeft, audit.KindState}, AllTenants: true, After: from.after,
		Limit: placeWitnessPage, MaxBytes: placeWitnessPageBytes, MaxEntryBytes: placeRecordBytes}
	for range placeWitnessPages {
		page, next, err := log.AuditSelectPage(ctx, q)
		if err != nil {
			return from, &storeReadError{fmt.Errorf("read the decision records of run %s: %w", r.ID, err)}
		}
		for _, e := range page {
			if e.RunID != r.ID || !w.chain.Sealed(e) {
				continue // not the run's, or not sealed under the key
			}
			if e.Kind == KindCheckpointsSwept || e.Kind == KindCheckpointsLeft {
				var sw struct {
					Site string `json:"site"`
				}
				if json.Unmarshal(e.Payload, &sw) == nil && slices.Contains(out.owed, sw.Site) {
					// A copy: the placeSeen read from shares its array.
					out.owed = slices.DeleteFunc(slices.Clone(out.owed), func(s string) bool { return s == sw.Site })
				}
				continue
			}
			if e.Kind == audit.KindState {
				if site, until := lostSite(e.Payload); site != "" {
					out.lostAgain(site, until)
				}
				if n, site, h, ok := submittedOf(e.Payload); ok && slices.Contains(out.sites, site) {
					out.sub = submission{attempt: n, site: site, handle: h}
				}
				continue
			}
			if e.Kind != audit.KindDecision {
				continue
			}
			var d struct {
				Decision  string   `json:"decision"`
				Placement *placeOf `json:"placement"`
				Attempt   int      `json:"placesAttempt"`
				From      string   `json:"from"`
			}
			if err := json.Unmarshal(e.Payload, &d); err != nil {
				return out, changedPlace(r, fmt.Sprintf("its sealed decision record (seq %d) does not read: %v", e.Seq, err))
			}
			if d.Decision == "move" && d.Placement != nil && d.From != "" && d.From != d.Placement.Site &&
				slices.Contains(out.sites, d.From) && !slices.Contains(out.owed, d.From) && len(out.owed) < maxSealedSites {
				// The site a sealed move left: its sweep is owed until a
				// sealed record says it was done.
				out.owed = append(slices.Clip(out.owed), d.From)
			}
			if d.Placement != nil {
				out.have, out.pl, out.seq, out.attempt = true, *d.Placement, e.Seq, d.Attempt
				if site := d.Placement.Site; site != "" && !slices.Contains(out.sites, site) && len(out.sites) < maxSealedSites {
					// A copy: the placeSeen read from shares its array.
					out.sites = append(slices.Clip(out.sites), site)
				}
			}
			if d.Decision == "cancel" {
				out.cancelled = true
			}
		}
		if len(page) > 0 {
			out.after = max(out.after, page[len(page)-1].Seq)
		}
		if next == 0 {
			return out, nil
		}
		q.After = next
	}
	// Not all read: what was read is kept, and the rest read at the
	// run's next step.
	return out, &storeReadError{fmt.Errorf("run %s: over %d decision records to read; the rest are read at its next step", r.ID, placeWitnessPages*placeWitnessPage)}
}

// placeCatchUpPages bounds the pages of decision records one readOnPlaces
// reads: past it, the rest are read at the next call, and the steps
// meanwhile read their run's own records.
const placeCatchUpPages = 16

// maxNewestKept bounds the runs readOnPlaces keeps the newest record of
// between the loop's prunes (a variable for the tests).
var maxNewestKept = 1 << 16

// readOnPlaces reads the sealed decision records of every run sealed since
// its last read, noting per run the seq of its newest (newest), and reports
// whether it read them all. A call made after another read began (and so
// after that read's records were sealed) waits for it and reads nothing.
// Its first read begins at the log's head, forgetting the placements kept
// so far: those read before may miss a record sealed between their read
// and the head.
func (w *runWitness) readOnPlaces(ctx context.Context, log store.Store) (bool, error) {
	ticket := w.placeCalls.Add(1)
	w.placeMu.Lock()
	defer w.placeMu.Unlock()
	if w.placeDone >= ticket {
		return true, nil
	}
	cover := w.placeCalls.Load()
	if !w.placeStarted {
		head, _, err := log.AuditHead(ctx)
		if err != nil {
			return false, &storeReadError{fmt.Errorf("read the audit log's head: %w", err)}
		}
		w.mu.Lock()
		w.places, w.newest = nil, nil
		w.placeEpoch++
		w.mu.Unlock()
		w.placeAfter, w.placeStarted, w.placeDone = head, true, cover
		return true, nil
	}
	q := store.AuditQuery{Kinds: []string{audit.KindDecision}, AllTenants: true, After: w.placeAfter,
		Limit: placeWitnessPage, MaxBytes: placeWitnessPageBytes, MaxEntryBytes: placeRecordBytes}
	for range placeCatchUpPages {
		page, next, err := log.AuditSelectPage(ctx, q)
		if err != nil {
			return false, &storeReadError{fmt.Errorf("read the decision records sealed since seq %d: %w", w.placeAfter, err)}
		}
		w.mu.Lock()
		for _, e := range page {
			if e.RunID == "" || e.Kind != audit.KindDecision || !w.chain.Sealed(e) {
				continue
			}
			if _, ok := w.newest[e.RunID]; !ok && len(w.newest) >= maxNewestKept {
				// Past the bound (a server whose loop does not prune,
				// answering GETs): every placement kept is forgotten, and
				// read again when next confirmed.
				w.places, w.newest = nil, nil
				w.placeEpoch++
			}
			if w.newest == nil {
				w.newest = map[string]int64{}
			}
			w.newest[e.RunID] = max(w.newest[e.RunID], e.Seq)
		}
		w.mu.Unlock()
		if len(page) > 0 {
			w.placeAfter = max(w.placeAfter, page[len(page)-1].Seq)
		}
		if next == 0 {
			w.placeDone = cover
			return true, nil
		}
		q.After = next
	}
	return false, nil
}

func changedPlace(r *Run, why string) error {
	return runChangedWhat(r, why, "its site and placement were changed outside Meridian, and nothing is staged or started for it")
}

// sealedJob is where a run's current attempt runs as the audit log's
// sealed records say: the site its newest sealed placement decision
// names, and, when a sealed state record since names its submission
// there, the attempt and the site's handle of its job.
type sealedJob struct {
	site    string
	attempt int
	handle  string
	// cancelled says a sealed decision record is the run's cancellation.
	cancelled bool
	// left is the run's newest attempt submitted (placeSeen.sub): for a
	// moving or held run, the one at the site it leaves; leftLost says a
	// sealed state record says the run lost that site.
	left     submission
	leftLost bool
}

// submittedOf reads an attempt's submission from the payload of a state
// record: one that queued the run.
func submittedOf(payload []byte) (attempt int, site, handle string, ok bool) {
	var s struct {
		To     string `json:"to"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(payload, &s) != nil || s.To != string(Queued) {
		return 0, "", "", false
	}
	return parseSubmitted(s.Reason)
}

// submittedPrefix and submittedAs frame the reason of the state record a
// run's attempt is queued with (submit): "attempt N submitted to SITE as
// HANDLE".
const (
	submittedPrefix = "attempt "
	submittedTo     = " submitted to "
	submittedAs     = " as "
)

// parseSubmitted reads an attempt's submission from the reason of the
// state record that queued it.
func parseSubmitted(reason string) (attempt int, site, handle string, ok bool) {
	rest, ok := strings.CutPrefix(reason, submittedPrefix)
	if !ok {
		return 0, "", "", false
	}
	n, rest, ok := strings.Cut(rest, submittedTo)
	if !ok {
		return 0, "", "", false
	}
	attempt, err := strconv.Atoi(n)
	if err != nil || attempt < 1 {
		return 0, "", "", false
	}
	site, handle, ok = strings.Cut(rest, submittedAs)
	if !ok || site == "" || handle == "" {
		return 0, "", "", false
	}
	return attempt, site, handle, true
}

// sealedJobOf reads where r's current attempt runs from the sealed
// records alone, for a run whose row was changed outside Meridian: its
// newest sealed placement (as kept, and the run's decision records
// sealed since), then its state records sealed since that placement, the
// newest submission to the placement's site naming the job. A site that
// no sealed record names is "". Reads are bounded as readPlace's.
func (w *runWitness) sealedJobOf(ctx context.Context, log store.Store, r *Run) (sealedJob, error) {
	if w == nil || w.chain == nil {
		return sealedJob{}, nil
	}
	w.mu.Lock()
	var cur placeSeen
	if p := w.places[r.ID]; p != nil {
		cur = *p
	}
	w.mu.Unlock()
	seen, err := w.readPlace(ctx, log, r, cur)
	if err != nil {
		return sealedJob{}, err
	}
	out := sealedJob{cancelled: seen.cancelled, left: seen.sub, leftLost: seen.sub.site != "" && slices.Contains(seen.lost, seen.sub.site)}
	if !seen.have || seen.pl.Site == "" {
		return out, nil
	}
	out.site, out.attempt = seen.pl.Site, seen.attempt
	q := store.AuditQuery{RunID: r.ID, Kinds: []string{audit.KindState}, AllTenants: true, After: seen.seq,
		Limit: placeWitnessPage, MaxBytes: placeWitnessPageBytes, MaxEntryBytes: placeRecordBytes}
	for range placeWitnessPages {
		page, next, err := log.AuditSelectPage(ctx, q)
		if err != nil {
			return sealedJob{}, &storeReadError{fmt.Errorf("read the state records of run %s: %w", r.ID, err)}
		}
		for _, e := range page {
			if e.RunID != r.ID || e.Kind != audit.KindState || !w.chain.Sealed(e) {
				continue
			}
			if n, site, h, ok := submittedOf(e.Payload); ok && site == out.site && (seen.attempt == 0 || n == seen.attempt) {
				out.attempt, out.handle = n, h
			}
		}
		if next == 0 {
			return out, nil
		}
		q.After = next
	}
	return sealedJob{}, &storeReadError{fmt.Errorf("run %s: over %d state records to read since its placement", r.ID, placeWitnessPages*placeWitnessPage)}
}
