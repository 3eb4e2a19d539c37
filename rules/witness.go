package rules

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// AuditReader reads the audit log a page at a time (the stores'
// AuditSelectPage).
type AuditReader interface {
	AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error)
}

// witness confirms a stored revision against the audit log. A revision's
// row and its audit record are written in one transaction (Apply), and
// only the record is sealed: whoever could write the database without the
// audit key could otherwise change the law in force (edit a revision's
// files, or add a revision) with nothing to show for it, since the log
// still verifies. A revision is loaded only when its files hash to the
// hash on its row and a sealed rules-revision record names that revision
// with that hash.
type witness struct {
	chain *audit.Chain
	log   AuditReader
	// anchors, when set (OpenAnchored), is the anchor the server keeps
	// of the log, and hashAt reads the log's entry at its seq: see
	// reaches.
	anchors *audit.Anchors
	hashAt  func(ctx context.Context, seq int64) (string, bool, error)

	mu sync.Mutex
	// sealed are the revisions' hashes the sealed records read so far
	// name; after is the seq of the last record read, afterHash its hash.
	sealed    map[int64]string
	after     int64
	afterHash string
	// said is what else the first sealed record of each revision says
	// of it, as the history lists it.
	said map[int64]recordSaid
	// key is the anchor key the last sealed audit-anchored record read
	// names ("": none read; read only with anchors set).
	key string
}

// recordSaid is what a revision's record says of who applied it, why and
// which files, each hashed (nil where the record does not say: records
// written before it was kept, or by hand in tests).
type recordSaid struct {
	by, reason, files *[sha256.Size]byte
	// at is when the record was written (zero where its time does not
	// parse): the revision's time as the history lists it.
	at time.Time
}

func digestOf(s string) *[sha256.Size]byte {
	d := sha256.Sum256([]byte(s))
	return &d
}

// fileNames is the names of files, sorted, one a line.
func fileNames(names []string) string {
	names = slices.Clone(names)
	slices.Sort(names)
	return strings.Join(names, "\n")
}

// The pages in which the witness reads rules-revision records: a record
// lists its files' hashes, at most MaxFiles of them.
const (
	witnessPage      = 64
	witnessPageBytes = 1 << 20
)

// confirm says whether revision rev with hash is on the record, reading
// the records written since the last call.
func (w *witness) confirm(ctx context.Context, rev int64, hash string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if got, ok := w.sealed[rev]; ok {
		return w.match(rev, hash, got)
	}
	if err := w.catchUp(ctx); err != nil {
		return readError{fmt.Errorf("rules revision %d: reading its audit record: %w", rev, err)}
	}
	got, ok := w.sealed[rev]
	if !ok {
		return fmt.Errorf("rules revision %d is in the store but the audit log has no sealed record of it: it was written outside Meridian; it is not loaded", rev)
	}
	return w.match(rev, hash, got)
}

// vouch marks each of revs as a sealed record names it with its row's
// hash or not, reading the records written since the last call once.
func (w *witness) vouch(ctx context.Context, revs []*Revision) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.catchUp(ctx); err != nil {
		return readError{fmt.Errorf("rules revisions: reading their audit records: %w", err)}
	}
	for _, r := range revs {
		got, ok := w.sealed[r.Rev]
		switch {
		case !ok:
			r.Unwitnessed = "no sealed audit record of it: written outside Meridian, never loaded"
		case got != r.Hash:
			r.Unwitnessed = fmt.Sprintf("its audit record names hash %s: changed outside Meridian, never loaded", got)
		default:
			// The time on the row is the database's to change: a
			// revision backdated there was listed as applied then,
			// vouched for. Its record's time is the one it was
			// applied at (the row's is the same instant, or on a
			// shared store the transaction's start, moments before).
			if at := w.said[r.Rev].at; !at.IsZero() {
				r.CreatedAt = at
			}
			// The row's hash holds its files to the record when the
			// revision loads; who applied it, why and its files'
			// names, as listed, are held to it here: a genuine
			// revision's author or reason rewritten in the database
			// was listed as vouched for.
			said := w.said[r.Rev]
			names := make([]string, len(r.Files))
			for i, f := range r.Files {
				names[i] = f.Name
			}
			var differ []string
			if said.by != nil && *said.by != *digestOf(r.Who) {
				differ = append(differ, "who applied it")
			}
			if said.reason != nil && *said.reason != *digestOf(r.Reason) {
				differ = append(differ, "its reason")
			}
			if said.files != nil && *said.files != *digestOf(fileNames(names)) {
				differ = append(differ, "its files' names")
			}
			if len(differ) > 0 {
				r.Unwitnessed = "its audit record says otherwise of " + strings.Join(differ, ", ") + ": changed outside Meridian"
				continue
			}
			r.Witnessed = true
		}
	}
	return nil
}

// latest is the highest revision a sealed record names (0: none), reading
// the records written since the last call.
//
// With an anchor kept (OpenAnchored), the log must reach it: a tail cut
// from the log (the latest revision's row and its record deleted
// together) leaves a log whose latest record names the revision before
// it, and that would be loaded as the law in force.
func (w *witness) latest(ctx context.Context) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The anchor is read before the log: others append and move it on
	// meanwhile, and an anchor read after the log could cover entries
	// written since. Entries up to the anchored one are never appended
	// again, so the log read after holds them.
	var an audit.Anchor
	anchored := false
	if w.anchors != nil {
		var err error
		if an, anchored, err = w.anchors.Read(); err != nil {
			return 0, readError{fmt.Errorf("rules revisions: %w; the log cannot be held to it", err)}
		}
	}
	if err := w.catchUp(ctx); err != nil {
		return 0, readError{fmt.Errorf("rules revisions: reading their audit records: %w", err)}
	}
	var hi int64
	for rev := range w.sealed {
		hi = max(hi, rev)
	}
	if anchored {
		if err := w.reaches(ctx, an); err != nil {
			return hi, err
		}
	}
	return hi, nil
}

// reaches checks that the log holds the entry the anchor an records, with
// its hash. A log that ends before it was cut; one whose entry there is
// another was cut and written again. An anchor that lags the log is
// normal (it follows the log in the background). An anchor whose key is
// not the one the log last names (a sealed audit-anchored record) is
// another log's, or a replaced one: it says nothing of this log, and a
// server refuses to start on it (audit.AnchorReplaced). w.mu is held.
func (w *witness) reaches(ctx context.Context, an audit.Anchor) error {
	if an.Seq <= 0 || w.key != "" && w.key != an.Key {
		return nil
	}
	h, found, err := w.hashAt(ctx, an.Seq)
	if err != nil {
		return readError{fmt.Errorf("rules revisions: reading the audit log's entry %d, its anchor's: %w", an.Seq, err)}
	}
	where := fmt.Sprintf("its anchor (entry %d, hash %s, of %s)", an.Seq, an.Head, an.Time)
	if w.key == "" {
		where += ", which no record of the log names (a log cut back to before its anchor key was recorded, or the anchor is another log's)"
	}
	switch {
	case !found:
		return fmt.Errorf("the audit log ends before %s: records were removed from its end, and the latest rules revision they recorded cannot be known", where)
	case h != an.Head:
		return fmt.Errorf("the audit log's entry %d hashes to %q, not to the hash of %s: the log was cut and written again, and the latest rules revision it recorded cannot be known", an.Seq, h, where)
	}
	return nil
}

// catchUp reads the rules-revision records written since the last call
// into sealed. w.mu is held.
func (w *witness) catchUp(ctx context.Context) error {
	kinds := []string{KindRevision}
	if w.anchors != nil {
		kinds = append(kinds, audit.KindAnchored)
	}
	if w.after > 0 {
		// The log is read on from the last record read, which must still
		// be there as it was read. A log cut back and written on again
		// (accepted with --accept-broken-audit) holds other records at
		// the seqs already read: read on, the records written there since
		// were never read (a revision applied by another server was taken
		// for one written outside Meridian) and those removed were still
		// counted. Such a log is read again from its start, as a server
		// starting on it would: once per rewrite, at the cost of a start.
		same, err := w.stillThere(ctx, kinds)
		if err != nil {
			return err
		}
		if !same {
			w.sealed, w.said, w.key = map[int64]string{}, nil, ""
			w.after, w.afterHash = 0, ""
		}
	}
	q := store.AuditQuery{Kinds: kinds, AllTenants: true, After: w.after, Limit: witnessPage, MaxBytes: witnessPageBytes}
	for {
		page, next, err := w.log.AuditSelectPage(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page {
			if e.Seq >= w.after {
				w.after, w.afterHash = e.Seq, e.Hash
			}
			if !w.chain.Sealed(e) {
				continue
			}
			if e.Kind == audit.KindAnchored {
				var p audit.AnchoredPayload
				if json.Unmarshal(e.Payload, &p) == nil {
					w.key = p.Key
				}
				continue
			}
			var p struct {
				Revision int64             `json:"revision"`
				SHA256   string            `json:"sha256"`
				By       *string           `json:"by"`
				Reason   *string           `json:"reason"`
				Files    map[string]string `json:"files"`
			}
			if json.Unmarshal(e.Payload, &p) != nil || p.Revision <= 0 {
				continue
			}
			if _, seen := w.sealed[p.Revision]; !seen {
				// The first sealed record of a revision is the one its
				// transaction wrote.
				w.sealed[p.Revision] = p.SHA256
				var said recordSaid
				if at, err := time.Parse(audit.TimeLayout, e.Time); err == nil {
					said.at = at
				}
				if p.By != nil {
					said.by = digestOf(*p.By)
				}
				if p.Reason != nil {
					said.reason = digestOf(*p.Reason)
				}
				if p.Files != nil {
					said.files = digestOf(fileNames(slices.Collect(maps.Keys(p.Files))))
				}
				if w.said == nil {
					w.said = map[int64]recordSaid{}
				}
				w.said[p.Revision] = said
			}
		}
		if next == 0 {
			return nil
		}
		q.After = next
	}
}

// stillThere says whether the last record read is still in the log at
// its seq, with its hash. w.mu is held.
func (w *witness) stillThere(ctx context.Context, kinds []string) (bool, error) {
	q := store.AuditQuery{Kinds: kinds, AllTenants: true, After: w.after - 1, Through: w.after, Limit: 1, MaxBytes: witnessPageBytes}
	page, _, err := w.log.AuditSelectPage(ctx, q)
	if err != nil {
		return false, err
	}
	return len(page) == 1 && page[0].Seq == w.after && page[0].Hash == w.afterHash, nil
}

func (w *witness) match(rev int64, hash, recorded string) error {
	if hash != recorded {
		return fmt.Errorf("rules revision %d in the store has hash %s, but its audit record says %s: it was changed outside Meridian; it is not loaded", rev, hash, recorded)
	}
	return nil
}

// checkRevision checks that a stored revision's files are the ones its row
// and its audit record name (witness nil: its row only).
func (s *State) checkRevision(ctx context.Context, r *store.RuleRevision) error {
	if got := Hash(r.Files); got != r.Hash {
		return fmt.Errorf("rules revision %d in the store: its files hash to %s, not to the %s it records: they were changed outside Meridian; it is not loaded", r.Rev, got, r.Hash)
	}
	if s.witness == nil {
		return nil
	}
	return s.witness.confirm(ctx, r.Rev, r.Hash)
}

// checkLatest says whether last, the store's latest revision, is the latest
// the audit log records, and returns the store's latest. The store is not
// trusted with which revision is the latest any more than with a
// revision's files: the latest revision's row deleted (or all of them)
// put the one before it (or no applied files at all) in force on every
// server that started next, each revision it loaded confirmed by its
// record, while the servers running went on under the deleted one.
func (s *State) checkLatest(ctx context.Context, last int64) (int64, error) {
	hi, err := s.witness.latest(ctx)
	if err != nil && !errors.As(err, new(readError)) {
		return last, fmt.Errorf("it cannot be confirmed as the latest revision: %w", err)
	}
	if err != nil || hi <= last {
		return last, err
	}
	// A revision's row and its record are written in one transaction:
	// another server's may have been written after last was read.
	now, err := s.st.LastRuleRevision(ctx)
	if err != nil {
		return last, readError{err}
	}
	if now >= hi {
		return now, nil
	}
	return now, fmt.Errorf("the audit log records rules revision %d, but the store's latest is %d: revisions were removed outside Meridian; the law in force is not loaded from it", hi, now)
}

// OpenWitnessed is Open for a server: every revision it loads from the
// store (the law in force, and the older ones a diff or a what-if reads)
// must have a sealed audit record under chain naming it and its hash,
// read from log.
func OpenWitnessed(ctx context.Context, st Store, dirs []string, chain *audit.Chain, log AuditReader) (*State, error) {
	s := &State{st: st, dirs: dirs, witness: &witness{chain: chain, log: log, sealed: map[int64]string{}}}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// AnchoredLog is an AuditReader that also reads the hash of the log's
// entry at a seq (the stores' AuditHashAt).
type AnchoredLog interface {
	AuditReader
	AuditHashAt(ctx context.Context, seq int64) (string, bool, error)
}

// OpenAnchored is OpenWitnessed that also holds the log to anchors, the
// anchor the server keeps of it (audit.Anchors): the latest revision is
// loaded only when the log it is read from reaches the anchor. Whoever
// can write the database can delete the latest revision's row and its
// record at the log's end together; the log left is internally sound and
// its latest record names the revision before, which every server that
// started next put in force, saying nothing. A directory with no anchor
// yet (a server's first start) holds the log to nothing.
func OpenAnchored(ctx context.Context, st Store, dirs []string, chain *audit.Chain, log AnchoredLog, anchors *audit.Anchors) (*State, error) {
	w := &witness{chain: chain, log: log, sealed: map[int64]string{}}
	if anchors != nil {
		w.anchors, w.hashAt = anchors, log.AuditHashAt
	}
	s := &State{st: st, dirs: dirs, witness: w}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// readError is a witness that could not read the log: the store's
// failure, not the revision's, so the next refresh tries again.
type readError struct{ error }

func (e readError) Unwrap() error { return e.error }
