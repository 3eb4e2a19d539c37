package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/store"
)

// runWitness confirms a run's stored documents against the audit log. A
// run's row and the plan record of its submission are written in one
// transaction, and only the record is sealed: whoever could write the
// database without the audit key could otherwise rewrite a live run's
// documents (its job's datasets, organisation, method, workload), or the
// tenant or job its row names, and every later law check, plan, staging
// and attempt would judge and start the rewritten job. The submission's
// plan record names a digest of them (runDocsField, runDocsDigest); a
// run's world is built only from documents that hash to it.
//
// The record is read once per run (one page of the run's plan records, on
// the audit log's run index) and what it names kept while the run is
// live (prune): a world built again from the row is hashed, not read
// from the log again.
type runWitness struct {
	chain *audit.Chain
	log   *slog.Logger

	mu sync.Mutex
	// sums is, per run confirmed so far, the digest its submission's
	// sealed plan record names; "" for a run recorded before the records
	// named one (taken as stored, logged once).
	sums map[string]string
	// ended is sums for runs read once ended (as a GET of one reads
	// them), which prune does not drop: the record a digest comes from is
	// sealed and never changes, so a run's is read from the log once and
	// its row (ended, so no longer changed by Meridian) hashed against it
	// at each GET. At most maxEndedKept, one dropped for each past it.
	ended map[string]string
	// places is, per run whose placement was confirmed, the placement
	// its newest sealed decision record names (confirmPlace).
	places map[string]*placeSeen
	// changed is, per run a confirmation found changed outside Meridian,
	// why (its documents' reason and its placement's): what a list of
	// runs says of a run without reading the log (shown). Unlike sums and
	// places it is kept past the run's end, since a run failed for it
	// keeps its changed row, for at most maxChangedKept runs.
	changed map[string]changedSeen

	// placeMu lets one readOnPlaces read at a time. placeCalls counts its
	// calls, placeDone the calls the last read covered (those made before
	// it began); placeAfter is the seq of the last decision record it
	// read, placeStarted says it has read (or set placeAfter at the log's
	// head). placeEpoch counts the times places was forgotten whole.
	placeMu      sync.Mutex
	placeCalls   atomic.Uint64
	placeDone    uint64
	placeAfter   int64
	placeStarted bool
	placeEpoch   uint64
	// newest is, per live run, the seq of its newest sealed decision
	// record that readOnPlaces read: a placement kept in places that was
	// read through an earlier seq may be stale.
	newest map[string]int64
}

// changedSeen is why a run was found changed outside Meridian: its
// documents, tenant or job (docs), its site or placement (place).
type changedSeen struct{ docs, place string }

// maxChangedKept bounds the runs found changed that the witness keeps
// saying so of: past it, one is forgotten (and a list says nothing of it
// until it is confirmed again: its GET, or its step).
const maxChangedKept = 4096

// maxEndedKept bounds the ended runs whose submission's digest the
// witness keeps: past it, one is dropped, and its next GET reads its
// record again.
const maxEndedKept = 4096

// runDocsField is the plan record's field that holds runDocsDigest.
const runDocsField = "documentsSha256"

// The plan records of one run read per page: the submission's is its
// first. Pages past the first are read only past records not sealed
// under the key (rows added by hand), and runWitnessPages bounds them.
const (
	runWitnessPage      = 8
	runWitnessPageBytes = 4 << 20
	runWitnessPages     = 16
)

// runDocsDigest is the hex SHA-256 of what a run was accepted with: its
// tenant, its job's name and its documents, as JSON (which a run's row
// holds them as, so the digest of a row read back is the same).
func runDocsDigest(tenant, job string, docs []Document) (string, error) {
	b, err := json.Marshal(struct {
		Tenant    string     `json:"tenant"`
		Job       string     `json:"job"`
		Documents []Document `json:"documents"`
	}{tenant, job, docs})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// runChangedError is a run whose row is not what Meridian wrote: it is
// not judged, planned, staged or started; the run's step fails it with
// this reason, as it fails a run whose world cannot be built.
type runChangedError struct{ msg string }

func (e *runChangedError) Error() string { return e.msg }

// Is makes a run changed outside Meridian an ErrRunChanged.
func (e *runChangedError) Is(target error) bool { return target == ErrRunChanged }

// ErrRunChanged is a run whose stored row is not what Meridian wrote (its
// documents, tenant, job, site or placement): it is neither judged nor
// run, and a request over it is a conflict the error names, not a fault
// of the server's.
var ErrRunChanged = errors.New("run changed outside Meridian")

func runChanged(r *Run, why string) error {
	return runChangedWhat(r, why, "its documents were changed outside Meridian, and are neither judged nor run")
}

func runChangedWhat(r *Run, why, what string) error {
	return &runChangedError{fmt.Sprintf("run %s (job %s of tenant %s): %s: %s",
		r.ID, r.Job, catalog.TenantOr(r.Tenant), why, what)}
}

// confirm reports whether docs, r's documents as read, are the ones r was
// accepted with. A failure to read the log is a storeReadError: the run
// is not judged this time, and not held for it.
func (w *runWitness) confirm(ctx context.Context, log store.Store, r *Run, docs []Document) error {
	if w == nil || w.chain == nil {
		return nil
	}
	err := w.confirmDocs(ctx, log, r, docs)
	w.note(r.ID, false, err)
	return err
}

func (w *runWitness) confirmDocs(ctx context.Context, log store.Store, r *Run, docs []Document) error {
	got, err := runDocsDigest(r.Tenant, r.Job, docs)
	if err != nil {
		return err
	}
	w.mu.Lock()
	want, ok := w.sums[r.ID]
	if !ok {
		want, ok = w.ended[r.ID]
	}
	w.mu.Unlock()
	if !ok {
		if want, err = w.read(ctx, log, r); err != nil {
			return err
		}
		w.mu.Lock()
		if r.State.Final() {
			if w.ended == nil {
				w.ended = map[string]string{}
			}
			if _, ok := w.ended[r.ID]; !ok && len(w.ended) >= maxEndedKept {
				for k := range w.ended {
					delete(w.ended, k)
					break
				}
			}
			w.ended[r.ID] = want
		} else {
			if w.sums == nil {
				w.sums = map[string]string{}
			}
			w.sums[r.ID] = want
		}
		w.mu.Unlock()
		if want == "" && w.log != nil {
			w.log.Info("run recorded before its submission's plan record named its documents' digest: its documents are taken as stored", "run", r.ID, "tenant", r.Tenant)
		}
	}
	if want != "" && want != got {
		return runChanged(r, fmt.Sprintf("its tenant, job and documents hash to %s, but the sealed plan record of its submission names %s", got, want))
	}
	return nil
}

// read returns the digest the sealed plan record of r's submission names
// ("" when it names none: a run recorded before the field), or the
// refusal when no such record is found.
func (w *runWitness) read(ctx context.Context, log store.Store, r *Run) (string, error) {
	q := store.AuditQuery{RunID: r.ID, Kinds: []string{audit.KindPlan}, AllTenants: true, Limit: runWitnessPage, MaxBytes: runWitnessPageBytes}
	for range runWitnessPages {
		page, next, err := log.AuditSelectPage(ctx, q)
		if err != nil {
			return "", &storeReadError{fmt.Errorf("read the plan records of run %s: %w", r.ID, err)}
		}
		for _, e := range page {
			if e.RunID != r.ID || e.Kind != audit.KindPlan || !w.chain.Sealed(e) {
				continue // the log's verification names a record not sealed
			}
			var p struct {
				Reason string `json:"reason"`
				Sum    string `json:"documentsSha256"`
			}
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				return "", runChanged(r, fmt.Sprintf("its first sealed plan record (seq %d) does not read: %v", e.Seq, err))
			}
			// Every run's first plan record is its submission's, written
			// with its row: another one first means that one was removed.
			if !strings.HasPrefix(p.Reason, "submitted") {
				return "", runChanged(r, fmt.Sprintf("its first sealed plan record (seq %d) is not its submission's", e.Seq))
			}
			return p.Sum, nil
		}
		if next == 0 {
			return "", runChanged(r, "no sealed plan record of the audit log names its submission")
		}
		q.After = next
	}
	return "", runChanged(r, fmt.Sprintf("over %d of its plan records precede its submission's sealed one", runWitnessPages*runWitnessPage))
}

// note keeps what a confirmation of run id's documents (or, with place,
// of its placement) found: why it was changed outside Meridian, or that
// it was not. A failure to read the log says nothing.
func (w *runWitness) note(id string, place bool, err error) {
	var ch *runChangedError
	bad := errors.As(err, &ch)
	if err != nil && !bad {
		return
	}
	why := ""
	if bad {
		why = ch.msg
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	cur, ok := w.changed[id]
	if place {
		cur.place = why
	} else {
		cur.docs = why
	}
	if cur == (changedSeen{}) {
		delete(w.changed, id)
		return
	}
	if w.changed == nil {
		w.changed = map[string]changedSeen{}
	}
	if !ok && len(w.changed) >= maxChangedKept {
		for k := range w.changed {
			delete(w.changed, k)
			break
		}
	}
	w.changed[id] = cur
}

// shown says why r, a run as read for the API, is not what Meridian
// wrote ("" when it is, or when that is not known). With read (one run's
// GET) it is confirmed as a step confirms it, reading from the log what
// the witness does not keep (a bounded read, as at a step). Without (a
// list, which holds no documents), nothing is read: what the row alone
// shows (its placement's parts disagreeing), its placement against the
// sealed one kept when they are the same, and otherwise what the last
// confirmation of the run found.
func (w *runWitness) shown(ctx context.Context, log store.Store, r *Run, read bool) string {
	if w == nil || w.chain == nil {
		return ""
	}
	var why []string
	if read {
		var docs error
		if len(r.Documents) > 0 { // a run read without them is not judged by them
			docs = w.confirm(ctx, log, r, r.Documents)
		}
		for _, err := range []error{docs, w.confirmSite(ctx, log, r), w.confirmSwept(ctx, log, r)} {
			var ch *runChangedError
			if errors.As(err, &ch) {
				why = append(why, ch.msg)
			}
		}
		if !placeWatched(r.State) {
			// Its placement is confirmed only while it stages, starts or runs:
			// what was found then (a run failed for it keeps its row).
			w.mu.Lock()
			place := w.changed[r.ID].place
			w.mu.Unlock()
			if place != "" {
				why = append(why, place)
			}
		}
		return strings.Join(why, "; ")
	}
	w.mu.Lock()
	seen := w.changed[r.ID]
	var pl placeSeen
	if p := w.places[r.ID]; p != nil {
		pl = *p
	}
	w.mu.Unlock()
	if seen.docs != "" {
		why = append(why, seen.docs)
	}
	place := seen.place
	if placeWatched(r.State) {
		if got, bad := rowPlace(r); bad != "" {
			place = changedPlace(r, bad).Error()
		} else if pl.have && samePlace(r, pl, got) && sweptPlaced(r, pl) {
			place = ""
		}
	}
	if place != "" {
		why = append(why, place)
	}
	return strings.Join(why, "; ")
}

// prune forgets the runs keep does not name.
func (w *runWitness) prune(keep map[string]bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.sums {
		if !keep[id] {
			delete(w.sums, id)
		}
	}
	for id := range w.places {
		if !keep[id] {
			delete(w.places, id)
		}
	}
	for id := range w.newest {
		if !keep[id] {
			delete(w.newest, id)
		}
	}
}
