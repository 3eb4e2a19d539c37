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
	// emptied the index for a fresh fold, or folded part of what it read).
	at     logHead
	unsure bool
}

// watchOf is a logWatch over st's head, when st reads it with the hash at
// a seq. A head alone would spare reads but not tell a rewound log: the
// index would read on after the last record folded, passing by a record
// written again at a seq read before, so without both each catch-up
// reads, as before there was a head.
func watchOf(st any) logWatch {
	var w logWatch
	if h, ok := st.(auditHeadAt); ok {
		w.head = h.AuditHeadAt
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
// (now: read folds no record past it, see within) and whether the log was
// rewound: it no longer holds, at the seq of the head as last read, the
// entry it held (entries cut from its end, and perhaps others written in
// their place, or another log put in its place). The head and that entry
// are read together, in one query and one snapshot of the log. A head
// that cannot be read fails the catch-up and changes nothing. A read
// that fails leaves the index unsure: it keeps now as its head, which
// what it holds does not pass, and the next catch-up reads whatever the
// head, checking that head for a rewind. Kept as it was, a head the log
// came back to (entries cut, the read of a fresh fold failed, the entries
// put back) had the next catch-up read nothing and serve an emptied
// index.
func (w *logWatch) catchUp(ctx context.Context, read func(now logHead, rewound bool) error) error {
	var now logHead
	rewound := false
	if w.head != nil {
		r, err := w.head(ctx, w.at.seq)
		if err != nil {
			return fmt.Errorf("ledger: the audit log's head: %w", err)
		}
		now = logHead{r.Seq, r.Hash, true}
		if now == w.at && !w.unsure {
			return nil
		}
		// The log is rewound when it no longer holds the entry that was
		// its head at the last catch-up (cut, or another in its place);
		// it cannot tell with no head read before.
		rewound = w.at.ok && w.at.seq != 0 && (!r.AtOK || r.At != w.at.hash)
	}
	err := read(now, rewound)
	w.at, w.unsure = now, err != nil
	return err
}
