package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"meridian.dev/meridian/audit"
)

// ErrAuditGap is the error of a server's lookup of the records of a kind
// (AuditSelectPage and AuditSelect, see checksGaps) over a part of the log
// from which entries are missing.
var ErrAuditGap = errors.New("entries are missing from the audit log")

// ErrAuditRewritten is the error of such a lookup over a part of the log
// in which an entry was rewritten or replaced (its kind changed in place,
// or another row written at its seq): it wraps ErrAuditGap, so that a
// caller that checks for ErrAuditGap takes it, as it is, for a log that
// does not verify.
var ErrAuditRewritten = fmt.Errorf("entries of the audit log were rewritten or replaced outside Meridian (%w)", ErrAuditGap)

// The server's readers of the newest record of a kind (the rules witness,
// the register and placement witnesses) read the records of their kinds
// after the last one they read, each checked against its seal, and take
// the newest sealed one found as the one in force. A seal vouches for its
// record, not for the records around it: whoever writes the database
// without the audit key could delete the newest record of a kind from the
// middle of the log (a revision applied, a resource registered again, a
// run placed anew), and every server that had not read it yet took the
// one before it as the newest, the log's verification at the next start
// alone saying so.
//
// checksGaps says whether the page of q is such a lookup: a read of some
// kinds up to the log's end (no Through), the server's own (AllTenants)
// or a tenant's. A tenant's read of its records of a kind (its ledger's
// totals, a dataset's ledger) left a deleted record of its own out
// without a word, as the server's did; it is counted the same way, from
// where it starts. The count reads the seq index alone, about as much as
// the tenant's read of the index on tenant and kind that it follows, and
// the rest of the check is bounded as the server's (one window of the
// rolling re-check, each entry after the watermark read once per store).
// A tenant's pages of its log (every kind, see the API's audit pages) and
// its reads up to a seq (Through: which of a page of the whole chain are
// its own) showed it its log with a record of its own deleted without a
// word: they are checked too, from where they start up to where they end
// (Through, or the next page), as a tenant's read of a kind is. The
// server's reads of every kind or up to a seq (its verification's
// lookups, the rules witness's look at one revision) are not lookups of a
// kind's newest record: not checked.
func checksGaps(q AuditQuery) bool {
	if !q.AllTenants && q.Tenant != "" {
		return true
	}
	if len(q.Kinds) == 0 || q.Through != 0 {
		return false
	}
	return q.AllTenants && q.Tenant == ""
}

// gapTo is where the gap check of q's selection, read as page, ends: where
// the next page starts (q.Next), else at q.Through when set, else (0) at
// the log's end.
func gapTo(q AuditQuery, page []audit.Entry) int64 {
	if next := q.Next(page); next > 0 || q.Through == 0 {
		return next
	}
	return q.Through
}

// auditHeadMaxBytes bounds the payload of the log's last entry that a
// gap check reads to check its seal: a larger one was not written by
// Meridian, whose appends refuse it (a tenant's page refuses it too).
const auditHeadMaxBytes = MaxAuditPayloadBytes

// maxAcceptedGaps bounds the acceptances a gap check reads when it finds
// entries missing, and maxAcceptanceBytes the payload of each: one that
// Meridian writes (the break, the anchor, who accepted it) is well under
// a kilobyte. Larger rows are left out, unread, so the check holds 16 MiB
// of them at most.
const (
	maxAcceptedGaps    = 1000
	maxAcceptanceBytes = 16 << 10
)

// sealedHead is the seq and hash of the last entry whose seal a gap
// check found good (noGap): the same row again is not read and hashed
// again.
type sealedHead struct {
	mu   sync.Mutex
	seq  int64
	hash string
}

func (h *sealedHead) is(seq int64, hash string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq == seq && h.hash == hash
}

func (h *sealedHead) set(seq int64, hash string) {
	h.mu.Lock()
	h.seq, h.hash = seq, hash
	h.mu.Unlock()
}

// noGap checks, in s's snapshot, that no entry is missing from the log
// after seq lo, up to seq hi (0: up to the log's last entry), other than
// those of gaps the operator accepted, and that none after w's watermark
// up to hi was rewritten or replaced (sealedThrough). chain is the
// store's: it checks the seals of the entries, of the last entry and of
// the acceptances. uniqueSeq is the store's query that finds a unique
// index on seq.
//
// Why this finds a deleted entry: seqs are unique (the primary key, or
// another unique index on seq alone, checked to be there: a table rebuilt
// without one fails), only whole ones are counted, and Meridian writes
// them from 1 with no gaps, so (lo, hi] holds hi-lo entries exactly when
// none is missing. An entry deleted leaves one fewer. Closing the gap by
// moving the later entries down a seq each breaks their seals, each
// entry's hash covering its seq, and the last entry's seal is checked:
// moving only some of them down leaves the gap further on, unless another
// entry is written at the seq freed (below). The last entry's seal is
// checked once for its seq and hash (seen), or by sealedThrough: each
// server's read of a kind that ends at the log's end reads the last
// entry's seq and hash, and its payload (up to 16 MiB, hashed) only when
// they changed. The count reads the seq index, not the entries: its cost
// is that of the range, one index entry each, whatever their size.
//
// An entry whose kind was changed in place (a modified entry, not a
// missing one), or an entry deleted and another written at its seq, is
// found by sealedThrough when it lies after the watermark: each entry is
// read and its seal checked once per store. One rewritten after the
// watermark passed it is found by the rolling re-check of the entries up
// to the watermark that each gap check makes first (recheck), within the
// number of checks it says. Entries cut from the end of the log leave a shorter log
// that counts whole: the anchor finds those (audit.VerifyAnchored).
func (s auditSource) noGap(chain *audit.Chain, seen *sealedHead, w *sealedTo, uniqueSeq string, lo, hi int64) error {
	if err := s.recheck(chain, w); err != nil {
		return err
	}
	var last struct {
		seq  int64
		hash string
	}
	if hi == 0 {
		if err := s.lastEntry(&last.seq, &last.hash); err != nil {
			return err
		}
		if last.seq <= lo {
			// Nothing after lo: the end of the log is the anchor's.
			return nil
		}
		hi = last.seq
	}
	if hi <= lo {
		return nil
	}
	var one int
	ok, err := s.one(&one, uniqueSeq)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the audit table has no unique index on seq alone: its primary key was dropped and the table written outside Meridian (%w); verify the log", ErrAuditGap)
	}
	n, err := s.countSeqs(lo, hi)
	if err != nil {
		return err
	}
	if n != hi-lo && last.seq == 0 {
		// A read up to a seq (Through) past the log's end counts up to
		// the last entry, whose seal is then checked as at the log's end.
		if err := s.lastEntry(&last.seq, &last.hash); err != nil {
			return err
		}
		if last.seq < hi {
			if hi = last.seq; hi <= lo {
				return nil
			}
			if n, err = s.countSeqs(lo, hi); err != nil {
				return err
			}
		} else {
			last.seq, last.hash = 0, ""
		}
	}
	if n != hi-lo {
		missing, err := s.acceptedMissing(chain, lo, hi)
		if err != nil {
			return err
		}
		if missing < 0 || n != hi-lo-missing {
			return fmt.Errorf("audit log entries %d to %d: %d entries there, want %d: %w (deleted outside Meridian, or moved); the newest record of a kind read from it cannot be trusted; verify the log", lo+1, hi, n, hi-lo, ErrAuditGap)
		}
	}
	if err := s.sealedThrough(chain, w, hi); err != nil {
		return err
	}
	if last.seq == 0 || seen.is(last.seq, last.hash) || w.is(last.seq, last.hash) {
		// The last entry was checked, by sealedThrough or before.
		if last.seq != 0 {
			seen.set(last.seq, last.hash)
		}
		return nil
	}
	// The watermark is past the log's last entry: entries checked before
	// were deleted from the end, or moved down a seq each to close a gap.
	// The last one must be sealed at its seq.
	rows, done, err := s.query("SELECT "+payloadUpTo(s.cols, auditHeadMaxBytes)+" FROM audit WHERE seq = "+s.ph(1), last.seq)
	if err != nil {
		return err
	}
	head, err := scanAudit(rows, 0, auditHeadMaxBytes)
	done()
	if err != nil {
		return fmt.Errorf("audit log's last entry: %w", err)
	}
	if len(head) == 0 || !chain.Sealed(head[0]) {
		return fmt.Errorf("audit log's last entry, %d, is not sealed at its seq: entries were moved or written outside Meridian (%w); verify the log", last.seq, ErrAuditGap)
	}
	seen.set(last.seq, last.hash)
	return nil
}

// lastEntry reads the seq and hash of the log's last entry into seq and
// hash (0 and "" when the log is empty).
func (s auditSource) lastEntry(seq *int64, hash *string) error {
	rows, done, err := s.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
	if err != nil {
		return err
	}
	if rows.Next() {
		err = rows.Scan(seq, hash)
	}
	if err == nil {
		err = rows.Err()
	}
	done()
	if err != nil {
		return fmt.Errorf("audit log's last entry: %w", err)
	}
	return nil
}

// sealedTo is a store's watermark: every entry up to seq (hash its hash)
// was read, in one snapshot or in turn, and found sealed at its seq and
// linked to the one before it, by the log's verification (the server's
// at start, see watchVerified) or by a gap check (sealedThrough). A gap
// check reads the entries after it once, and moves it on.
type sealedTo struct {
	// off: the gap checks do not read the entries (Options.GapChecksCountOnly).
	off  bool
	mu   sync.Mutex
	seq  int64
	hash string // "" at seq 0: the log's start (audit.Genesis)
	// refused is the break at which a gap check's verification last
	// failed, and the acceptances the log held then: the same break
	// again, with no acceptance written since, fails without verifying
	// the whole log again.
	refused refusal
	// re is the rolling re-check of the entries up to seq (recheck),
	// under reMu: a re-check does not hold mu while it reads.
	reMu sync.Mutex
	re   rechecked
}

// rechecked is where the rolling re-check of the entries up to the
// watermark stands (recheck).
type rechecked struct {
	// seq is the last entry re-checked, hash its hash as read: the next
	// window starts after it, its first entry naming hash (0 and "": the
	// log's start).
	seq  int64
	hash string
	// accepted holds the breaks (recheckKey) that a verification of the
	// whole log passed, the operator having accepted them: met again,
	// they pass without another. At most maxAcceptedGaps are kept.
	accepted map[string]bool
	// refused is the break at which the last re-check's verification of
	// the whole log failed, the acceptances the log held then and what
	// the verification said: the same break again, with no acceptance
	// written since, fails without verifying the log again.
	refused struct {
		key     string
		accepts int64
		detail  string
	}
}

type refusal struct {
	seq, accepts int64
	hash         string
}

func (w *sealedTo) is(seq int64, hash string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq == seq && w.hash == hash
}

// verified moves the watermark to seq and hash, which a verification of
// the whole log ended at, when that is not behind it.
func (w *sealedTo) verified(seq int64, hash string) {
	w.mu.Lock()
	if seq >= w.seq {
		w.seq, w.hash = seq, hash
	}
	w.mu.Unlock()
}

// watchVerified is snap with its reads of the whole log watched: after a
// verification of it (VerifyAuditAnchored) that found it whole, done
// moves w to the last entry read. A server verifies its log at start:
// its first gap check then reads only what was written since.
func (w *sealedTo) watchVerified(snap audit.Snapshot) (audit.Snapshot, func(audit.Result)) {
	var seen *lastRead
	watched := func(fn func(audit.Source) error) error {
		return snap(func(src audit.Source) error {
			seen = &lastRead{Source: src}
			return fn(seen)
		})
	}
	done := func(r audit.Result) {
		if r.OK && !r.Unkeyed && seen != nil && seen.seq > 0 && seen.hash == r.Head {
			w.verified(seen.seq, seen.hash)
		}
	}
	return watched, done
}

// lastRead is a Source that notes the last entry of the last page a
// read of the whole log handed on.
type lastRead struct {
	audit.Source
	seq  int64
	hash string
}

// Read implements audit.Source.
func (l *lastRead) Read(kind string, fn func([]audit.Entry) error) error {
	if kind != "" {
		return l.Source.Read(kind, fn)
	}
	l.seq, l.hash = 0, ""
	return l.Source.Read("", func(page []audit.Entry) error {
		if len(page) > 0 {
			l.seq, l.hash = page[len(page)-1].Seq, page[len(page)-1].Hash
		}
		return fn(page)
	})
}

// sealedThrough checks, in s's snapshot, that every entry after w's
// watermark up to seq hi is sealed at its seq and names the hash of the
// one before it, and moves the watermark on. The count of noGap finds an
// entry missing; this finds one rewritten in place (its kind changed, so
// that a lookup of its kind passes it by: the count is the same) or
// deleted and another row written at its seq. Each entry is read once per
// store, whatever the lookups, a page at a time (verifyPage entries, cut
// after verifyPageBytes); an entry longer than auditHeadMaxBytes, which
// Meridian does not write, is not read, and fails the check.
//
// At a break, the whole log is verified in the snapshot, as at start
// (audit.Chain.VerifySource): a break the operator accepted passes, and
// the watermark moves to the log's end. One not accepted fails the check
// with ErrAuditRewritten, whatever part of the log the lookup covers: one
// that starts after the break (a run's lookup counts from the run's first
// record) reads entries that, each sealed and linked to the next, may be
// another history of the log spliced in at the break (see recheckBreak),
// so it is refused too, naming the break and the remedy. The verification
// is not made again for the same break until an acceptance is written
// (w.refused).
//
// An entry rewritten after the watermark passed it is not read again
// here: the rolling re-check (recheck) finds it.
func (s auditSource) sealedThrough(chain *audit.Chain, w *sealedTo, hi int64) error {
	if w.off {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seq, prev := w.seq, w.hash
	if prev == "" {
		prev = audit.Genesis
	}
	for seq < hi {
		page, err := s.sealPage(seq, hi)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return s.verifyAtBreak(chain, w, hi, refusal{seq: seq + 1}, seq+1, "is missing", "")
		}
		for _, e := range page {
			if at, why := linkBreak(chain, e, seq, prev); why != "" {
				return s.verifyAtBreak(chain, w, hi, refusal{seq: e.Seq, hash: e.Hash}, at, why, readThere(e))
			}
			seq, prev = e.Seq, e.Hash
		}
		w.seq, w.hash = seq, prev
	}
	return nil
}

// sealPage is the page of entries after seq after up to hi that
// sealedThrough and rangeSealed check: at most verifyPage entries, cut
// after verifyPageBytes, an entry longer than auditHeadMaxBytes, or one
// a field of which is NULL or bytes (a BLOB) where Meridian writes text
// or an integer, failing it with ErrAuditRewritten, naming the entry's seq
// and the column.
func (s auditSource) sealPage(after, hi int64) ([]audit.Entry, error) {
	return s.sealPageOf(after, hi, verifyPage, verifyPageBytes)
}

// sealPageOf is sealPage with at most n entries, cut after maxBytes.
func (s auditSource) sealPageOf(after, hi int64, n int, maxBytes int64) ([]audit.Entry, error) {
	q := "SELECT " + payloadUpTo(s.cols, auditHeadMaxBytes) + " FROM audit WHERE seq > " + s.ph(1) + " AND seq <= " + s.ph(2) +
		" ORDER BY seq LIMIT " + strconv.Itoa(n)
	if s.cutInDB {
		q = byteBounded(q, s.cols, maxBytes)
	}
	rows, done, err := s.query(q, after, hi)
	if err != nil {
		return nil, err
	}
	page, err := scanAudit(rows, maxBytes, auditHeadMaxBytes)
	done()
	if errors.Is(err, ErrAuditEntryTooLarge) || errors.Is(err, errAuditNotText) {
		return nil, fmt.Errorf("%w: %w", err, ErrAuditRewritten)
	}
	return page, err
}

// verifyAtBreak verifies the whole log in s's snapshot after sealedThrough
// found it broken at seq at (why; key names the entry read there, read
// shows it); w's lock is held.
func (s auditSource) verifyAtBreak(chain *audit.Chain, w *sealedTo, hi int64, key refusal, at int64, why, read string) error {
	if _, err := s.one(&key.accepts, "SELECT COUNT(*) FROM audit WHERE kind = "+s.ph(1), audit.KindBrokenAccepted); err != nil {
		return err
	}
	detail := ""
	if w.refused != key {
		seen := &lastRead{Source: s}
		r, err := chain.VerifySource(seen)
		if err != nil {
			return err
		}
		if r.OK && !r.Unkeyed && seen.hash == r.Head && seen.seq >= hi {
			w.seq, w.hash = seen.seq, seen.hash
			return nil
		}
		w.refused = key
		if r.Problem != nil {
			detail = " (the log's verification: " + r.Problem.Error() + ")"
		}
	}
	return fmt.Errorf("audit log entry %d %s%s%s: %w; %s", at, why, read, detail, ErrAuditRewritten, auditBreakRemedy)
}

// countSeqs counts the whole seqs in (lo, hi], which noGap has found
// unique, from the seq index alone. A seq that is not a whole number
// (SQLite keeps a REAL in an integer column as it is) does not count: it
// would otherwise stand in for one deleted.
func (s auditSource) countSeqs(lo, hi int64) (int64, error) {
	var n int64
	_, err := s.one(&n, "SELECT COUNT(*) FROM audit WHERE seq > "+s.ph(1)+" AND seq <= "+s.ph(2)+" AND seq = CAST(seq AS BIGINT)", lo, hi)
	return n, err
}

// The queries that find a unique index on the audit table's seq alone
// (its primary key's, or any other): a row when there is one. With one,
// no two entries share a seq, and noGap counts rows. A partial index (WHERE) or one on an expression is not one. Counting
// distinct seqs instead, on a table that may hold two rows at one seq,
// cost SQLite three times as much (a sort of the range).
const (
	sqliteUniqueSeq = `SELECT 1 FROM pragma_index_list('audit') AS il
		WHERE il."unique" AND NOT il.partial
		AND (SELECT COUNT(*) FROM pragma_index_info(il.name)) = 1
		AND (SELECT name FROM pragma_index_info(il.name)) = 'seq' LIMIT 1`
	postgresUniqueSeq = `SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = 'audit'::regclass AND i.indisunique AND i.indisvalid AND i.indnatts = 1
		AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = 'seq' LIMIT 1`
)

// acceptedMissing is how many seqs of (lo, hi] lie in gaps that sealed
// acceptances written after them accept (audit.KindBrokenAccepted), or -1
// when an entry stands in one of them: an accepted gap that shrank is a
// new break. The gaps are merged, so one accepted twice counts once.
func (s auditSource) acceptedMissing(chain *audit.Chain, lo, hi int64) (int64, error) {
	q := AuditQuery{AllTenants: true, Kinds: []string{audit.KindBrokenAccepted}, Limit: maxAcceptedGaps, MaxEntryBytes: maxAcceptanceBytes}
	query, args, err := auditSelect(q, s.ph)
	if err != nil {
		return 0, err
	}
	rows, done, err := s.query(query, args...)
	if err != nil {
		return 0, err
	}
	es, err := scanAudit(rows, 0, 0)
	done()
	if err != nil {
		return 0, err
	}
	type span struct{ a, b int64 }
	var gaps []span
	for _, e := range es {
		if !chain.Sealed(e) {
			continue
		}
		var p audit.BrokenAccepted
		if json.Unmarshal(e.Payload, &p) != nil || p.Problem == nil {
			continue
		}
		a, b, ok := p.Problem.Gap()
		if !ok || b >= e.Seq {
			continue
		}
		a, b = max(a, lo+1), min(b, hi)
		if a <= b {
			gaps = append(gaps, span{a, b})
		}
	}
	// The union of the gaps, each seq of it counted once.
	slices.SortFunc(gaps, func(x, y span) int { return cmp.Compare(x.a, y.a) })
	var missing int64
	end := lo
	for _, g := range gaps {
		a := max(g.a, end+1)
		if a > g.b {
			continue
		}
		n, err := s.countSeqs(a-1, g.b)
		if err != nil {
			return 0, err
		}
		if n != 0 {
			return -1, nil
		}
		missing += g.b - a + 1
		end = g.b
	}
	return missing, nil
}

// The rolling re-check (recheck) reads at most recheckEntries entries a
// gap check, cut after the entry that brings their payloads to
// recheckBytes (the first entry of a window is read whatever its size, up
// to auditHeadMaxBytes, as sealedThrough reads it).
const (
	recheckEntries = 64
	recheckBytes   = 256 << 10
)

// recheck re-checks, in s's snapshot, a window of the entries up to w's
// watermark, which a verification or sealedThrough found sealed and
// linked before: the recheckEntries entries (fewer when their payloads
// pass recheckBytes) after the last one the previous re-check read, each
// sealed at its seq and naming the hash of the one before it, the window
// wrapping to the log's start once it has read the watermark's entry.
// Whoever writes the database without the audit key and rewrites an entry
// the watermark has passed (its payload or kind changed, its seal kept,
// or another row written at its seq) is found by a gap check, not only by
// the next start's verification.
//
// How long a rewrite goes unseen: with W entries up to the watermark, the
// window comes back to each of them within ceil(W/recheckEntries)+1 gap
// checks while no recheckEntries entries in a row hold recheckBytes of
// payload (4 KiB an entry on average), and within W+1 checks whatever
// their sizes (a window reads one entry at least); 100,000 entries of a
// few hundred bytes: 1,564 checks. Each check reads one window, whatever
// the log's length. Lookups made at once re-check in turn (reMu).
//
// A break met is handled as sealedThrough's: the whole log is verified in
// the snapshot (audit.Chain.VerifySource), and a break the operator
// accepted passes, noted (rechecked.accepted) so that it is not verified
// again at each wrap. One not accepted fails this gap check, and every
// later one while it is there and no acceptance was written (the window
// stays before it, rechecked.refused sparing the verification), with
// ErrAuditRewritten, whatever part of the log the lookup covers: the log
// no longer verifies, as it did, and the next start would refuse it. A
// window that finds no entry (entries cut from the log's end, which noGap
// checks) starts again at the log's start.
func (s auditSource) recheck(chain *audit.Chain, w *sealedTo) error {
	if w.off {
		return nil
	}
	w.mu.Lock()
	hi := w.seq
	w.mu.Unlock()
	if hi <= 0 {
		return nil
	}
	w.reMu.Lock()
	defer w.reMu.Unlock()
	r := &w.re
	if r.seq >= hi {
		r.seq, r.hash = 0, ""
	}
	seq, prev := r.seq, r.hash
	if seq == 0 {
		prev = audit.Genesis
	}
	page, err := s.sealPageOf(seq, hi, recheckEntries, recheckBytes)
	if err != nil {
		return err
	}
	if len(page) == 0 {
		r.seq, r.hash = 0, ""
		return nil
	}
	for _, e := range page {
		if at, why := linkBreak(chain, e, seq, prev); why != "" {
			if err := s.recheckBreak(chain, r, e, recheckKey(e, prev), at, why); err != nil {
				r.seq, r.hash = seq, prev
				return err
			}
		}
		seq, prev = e.Seq, e.Hash
	}
	r.seq, r.hash = seq, prev
	return nil
}

// recheckBreak verifies the whole log in s's snapshot after recheck found
// it broken at seq at (why) on reading e, key naming the break; r's lock
// is held.
//
// A break not accepted refuses every gap-checked lookup, whatever part of
// the log it reads, those of entries written after the break too: each
// of them is sealed and linked to the one before it, but a break is where
// another history of the log (a backup of the database that went on
// otherwise, sealed with the same key) may have been spliced in, every
// entry after it that history's (a rules revision never applied, a
// placement the log's own history replaced). What ties the entries after
// a break to the log the server wrote is the chain through it, or the
// operator's acceptance, which the start that records it anchors. So the
// refusal names the break and that remedy.
func (s auditSource) recheckBreak(chain *audit.Chain, r *rechecked, e audit.Entry, key string, at int64, why string) error {
	if r.accepted[key] {
		return nil
	}
	var accepts int64
	if _, err := s.one(&accepts, "SELECT COUNT(*) FROM audit WHERE kind = "+s.ph(1), audit.KindBrokenAccepted); err != nil {
		return err
	}
	if r.refused.key != key || r.refused.accepts != accepts {
		res, err := chain.VerifySource(s)
		if err != nil {
			return err
		}
		if res.OK && !res.Unkeyed {
			if r.accepted == nil {
				r.accepted = map[string]bool{}
			}
			if len(r.accepted) < maxAcceptedGaps {
				r.accepted[key] = true
			}
			return nil
		}
		r.refused.key, r.refused.accepts, r.refused.detail = key, accepts, ""
		if res.Problem != nil {
			r.refused.detail = " (the log's verification: " + res.Problem.Error() + ")"
		}
	}
	return fmt.Errorf("audit log entry %d %s, found on checking again entries checked before%s%s: %w; %s", at, why, readThere(e), r.refused.detail, ErrAuditRewritten, auditBreakRemedy)
}

// auditBreakRemedy ends the refusal of a lookup at a break of the log that
// no acceptance covers: what it means, and what the operator does.
const auditBreakRemedy = "every lookup of the log is refused until the break is accepted, as the next start would refuse to serve it: " +
	"the entries after a break may be another history of the log spliced in, so none of them is trusted; " +
	"check the log (meridian audit verify --state DIR names the first break), then accept it by starting the server with meridian serve --accept-broken-audit, which records the acceptance in the log"

// readThere shows e, the entry read at a break, for its refusal.
func readThere(e audit.Entry) string {
	return fmt.Sprintf(" (entry %d read there: kind %s, hash %s)", e.Seq, shownField(e.Kind), shownField(e.Hash))
}

// shownField is a field of an entry read from the database, for an error:
// quoted, control characters escaped, cut to 64 bytes (whoever wrote the
// row chose it).
func shownField(f string) string {
	if len(f) > 64 {
		return strconv.QuoteToASCII(f[:64]) + "..."
	}
	return strconv.QuoteToASCII(f)
}

// recheckKey names a break recheck met: the entry read there as read, and
// the hash it should have named. It is a plain hash, kept in memory only.
func recheckKey(e audit.Entry, prev string) string {
	h := sha256.New()
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), prev, e.Time, e.Kind, e.RunID, e.Tenant, e.PrevHash, e.Hash, strconv.Itoa(e.Version), string(e.Payload)} {
		fmt.Fprintf(h, "%d:%s", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// linkBreak says why e, read after the entry seq whose hash is prev,
// breaks the chain, and at which seq the break lies; why is "" when e
// follows on as written.
func linkBreak(chain *audit.Chain, e audit.Entry, seq int64, prev string) (at int64, why string) {
	switch {
	case e.Seq != seq+1:
		return seq + 1, fmt.Sprintf("is missing (entry %d follows entry %d)", e.Seq, seq)
	case e.PrevHash != prev:
		return e.Seq - 1, fmt.Sprintf("or %d was replaced (entry %d does not name the hash of the one before it)", e.Seq, e.Seq)
	case !chain.Sealed(e):
		return e.Seq, "is not sealed at its seq (rewritten, or another entry written there)"
	}
	return e.Seq, ""
}
