package transfer

import (
	"context"
	"fmt"
	"slices"

	"meridian.dev/meridian/store"
)

// logHead is the seq and hash of the log's last entry, as a catch-up read
// it (ok false: not read).
type logHead struct {
	seq  int64
	hash string
	ok   bool
}

// auditHeadAt is what the indexes ask of a store that has it: the seq and
// hash of the log's last entry, and the hash of the entry at a seq, read
// in one statement (store.Store.AuditHeadAt).
type auditHeadAt interface {
	AuditHeadAt(ctx context.Context, seq int64) (store.AuditHeadRead, error)
}

// auditAppended is what the indexes ask of a store that has it: the seq
// and hash of the last entry it appended (store.SQLite.AuditAppended).
type auditAppended interface {
	AuditAppended() (seq int64, hash string, ok bool)
}

// logWatch spares an index's catch-up its read of the log when nothing
// was written since the last one. Each catch-up made the store's
// gap-checked read of the ledger's kinds, which finds no row but checks
// the log for deleted entries, re-reading and re-hashing a window of old
// entries (up to 256 KiB) each time, and counting the seqs from where the
// read starts to the log's end: some milliseconds, on every plan, law
// check, staging and read of a tenant's ledger.
type logWatch struct {
	// head, when set, returns the seq and hash of the log's last entry, of
	// any kind, and the hash of the entry at a seq, in one read: without
	// it every catch-up reads.
	head func(ctx context.Context, seq int64) (store.AuditHeadRead, error)
	// at is the log's head as read before the last catch-up that read the
	// log (ok false: none yet): what the index holds is the log's records
	// up to it, or, when unsure, some of them (a read that failed may have
	// folded part of what it read), or a cut was refused (notCut): the
	// next catch-up reads whatever the head.
	at     logHead
	unsure bool
	// chained is whether high covers at: at was high, or high was raised
	// from it through heads each checked in the log of the next (see
	// highHead.raise), so the entry at high's seq unchanged means at's is.
	// notCut then checks high alone.
	chained bool
	// high is the highest head any catch-up of the index read, shared by
	// the copies of its watch (each tenant's view holds one): see notCut.
	high *highHead
	// appended, when set, returns the last entry the store appended, in
	// this process (see catchUp).
	appended func() (seq int64, hash string, ok bool)
}

// watchOf is a logWatch over st's head, when st reads it with the hash at
// a seq. A head alone would spare reads but not tell a rewound log: the
// index would read on after the last record folded, passing by a record
// written again at a seq read before, so without both each catch-up
// reads, as before there was a head.
func watchOf(st any) logWatch {
	var w logWatch
	if h, ok := st.(auditHeadAt); ok {
		w.head, w.high = h.AuditHeadAt, &highHead{}
		if a, ok := st.(auditAppended); ok {
			w.appended = a.AuditAppended
		}
	}
	return w
}

// within is recs, in seq order, up to the head h (all of them when h was
// not read). A record past the head was written after it was read; folded,
// it would lie past the entry a later catch-up checks for a rewind, and a
// log cut back to between them would go unseen. The next catch-up reads
// it, its head changed.
func (h logHead) within(recs []Record) []Record {
	if !h.ok {
		return recs
	}
	if i := slices.IndexFunc(recs, func(r Record) bool { return r.Seq > h.seq }); i >= 0 {
		return recs[:i]
	}
	return recs
}

// catchUp runs read unless the log's head is what it was before the last
// read, and that read succeeded. The same seq and hash means no entry was
// written since, and that read, which began after the head was read, saw
// every entry up to it (a store gives seqs in the order entries commit).
// A head written since has read run, given the head as read before it
// (now: read folds no record past it, see within). A log that no longer
// holds a head read before (entries cut from its end, and perhaps others
// written in their place, or another log put in its place) fails the
// catch-up (notCut), and every later one while it does, without a read:
// folded again from its start, the shorter log dropped what was cut from
// the totals. A head that cannot be read fails the catch-up and changes
// nothing; a read notCut makes past the head's (the hash at a seq the
// head's read did not give) that fails leaves the index unsure, as a
// refused cut does. A read that fails leaves the index unsure: it keeps
// now as its head, which what it holds does not pass, and the next
// catch-up reads whatever the head.
func (w *logWatch) catchUp(ctx context.Context, read func(now logHead) error) error {
	var now logHead
	if w.head != nil {
		high := w.high.get()
		// The last entry the store appended, taken before the head is
		// read: see notCut.
		var appended logHead
		if w.appended != nil {
			if seq, hash, ok := w.appended(); ok && (!high.ok || seq > high.seq) {
				appended = logHead{seq, hash, true}
			}
		}
		// One read gives the head and the entry at the seq of the highest
		// head read before (or this watch's own, where none is higher), the
		// one notCut checks first.
		ask := w.at.seq
		if high.ok && high.seq > ask {
			ask = high.seq
		}
		r, err := w.head(ctx, ask)
		if err != nil {
			return fmt.Errorf("ledger: the audit log's head: %w", err)
		}
		now = logHead{r.Seq, r.Hash, true}
		covered, err := w.notCut(ctx, high, appended, now, ask, r)
		if err != nil {
			// Unsure too, so that no question answers from the index
			// without a catch-up (an ExportIndex's Batch) while the log
			// stays cut.
			w.unsure = true
			return err
		}
		if now == w.at && !w.unsure {
			// high covered at before, or covers it now.
			w.chained = w.chained || covered
			return nil
		}
		defer func() { w.chained = covered }()
	}
	err := read(now)
	w.at, w.unsure = now, err != nil
	return err
}
