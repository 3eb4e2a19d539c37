package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// runSpans keeps, per run, where its records begin in the audit log: the
// seq before its submission's sealed plan record. A server's read of one
// run's records whole (AuditSelect with RunID and AllTenants: the ledger
// of its checkpoint copies at each move, at each step of the sweep of the
// sites it left, at each withdrawal found gone) has the store check that
// no entry is missing from the part of the log it read, from the query's
// After to the log's end. From After 0 that was the whole log (about
// 12 ms at 100,000 entries) at each of these reads; from the run's
// submission it is the entries written since the run began. No record of
// a run precedes its submission's, which is written with its row, so
// an entry deleted before it is none of the run's: the check still
// covers each record of the run.
//
// Where the span begins is taken from the sealed record itself, its seal
// checked under the audit key, never from the run's row: whoever writes
// the database without the key could set a seq on the row past a ledger
// record of the run and delete that record, and the check, starting after
// it, would not see it gone. A seal covers its record's seq, run and
// payload, so the record found is the run's submission at that seq.
// Deleting the submission's record itself (or its seal broken, or unsealed
// plan records of the run written before it) leaves the run's first sealed
// plan record another one, or none: the span then began at the log's start
// (After 0), and each of these reads counted the whole log, its cost the
// log's length, as often as the run's sweep, withdrawals and moves read
// it. The read is now refused (errNoSealedSubmission), at the cost of one
// page of the run's plan records: the run's records cannot be told whole
// without where they begin, and the run witness refuses the run's steps
// alike. Records are read once per run and the start kept (sealed records
// do not change), for at most maxRunSpansKept runs, one dropped for each
// past it (it is read again at its next read); a refusal is not kept, and
// read again.
type runSpans struct {
	mu    sync.Mutex
	after map[string]int64
}

// maxRunSpansKept bounds the runs whose span's start runSpans keeps.
const maxRunSpansKept = 4096

// errNoSealedSubmission refuses a server's read of one run's records
// whole when the run's first sealed plan record in the audit log is not
// its submission's, or there is none: a record of the run was deleted or
// rewritten outside Meridian, and where its records begin is not known.
var errNoSealedSubmission = errors.New("the run's first sealed plan record in the audit log is not its submission's (deleted or rewritten outside Meridian): its records are not read")

// runRecordsAfter is the After for a server's read of run id's records
// whole: the seq before its submission's sealed plan record, or 0 (the
// whole log checked) when the server holds no audit key. When that record
// is not the run's first sealed plan record, the read is refused
// (errNoSealedSubmission). A failure to read the log is the caller's read
// failing.
func (c *Controller) runRecordsAfter(ctx context.Context, id string) (int64, error) {
	chain := c.cfg.AuditChain
	if chain == nil || id == "" {
		return 0, nil
	}
	s := &c.runSpans
	s.mu.Lock()
	after, ok := s.after[id]
	s.mu.Unlock()
	if ok {
		return after, nil
	}
	// One page of the run's plan records, as the run witness reads them
	// (its gap check counts from the first of them found, not from the
	// log's start): its submission's is the first sealed one.
	q := store.AuditQuery{RunID: id, Kinds: []string{audit.KindPlan}, AllTenants: true, Limit: runWitnessPage, MaxBytes: runWitnessPageBytes}
	page, _, err := c.cfg.Store.AuditSelectPage(ctx, q)
	if err != nil {
		return 0, err
	}
	after, found := int64(0), false
	for _, e := range page {
		if e.RunID != id || e.Kind != audit.KindPlan || !chain.Sealed(e) {
			continue
		}
		var p struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(e.Payload, &p) == nil && strings.HasPrefix(p.Reason, "submitted") && e.Seq > 0 {
			after, found = e.Seq-1, true
		}
		break
	}
	if !found {
		return 0, fmt.Errorf("run %s: %w", id, errNoSealedSubmission)
	}
	s.mu.Lock()
	if s.after == nil {
		s.after = map[string]int64{}
	}
	if _, ok := s.after[id]; !ok && len(s.after) >= maxRunSpansKept {
		for k := range s.after {
			delete(s.after, k)
			break
		}
	}
	s.after[id] = after
	s.mu.Unlock()
	return after, nil
}

// runRecordsQuery is q, a read of one run's records whole by the server,
// reading from the run's submission on (runRecordsAfter) rather than the
// log's start. Other reads are left as they are.
func (c *Controller) runRecordsQuery(ctx context.Context, q store.AuditQuery) (store.AuditQuery, error) {
	if q.RunID == "" || !q.AllTenants || q.Tenant != "" || q.After != 0 {
		return q, nil
	}
	after, err := c.runRecordsAfter(ctx, q.RunID)
	if err != nil {
		return q, err
	}
	q.After = after
	return q, nil
}
