package transfer

import (
	"context"
	"fmt"
)

// logHead is the seq and hash of the log's last entry, as a catch-up read
// it (ok false: not read).
type logHead struct {
	seq  int64
	hash string
	ok   bool
}

// auditHead is what the indexes ask of a store that has it: the seq and
// hash of the log's last entry (store.Store.AuditHead).
type auditHead interface {
	AuditHead(ctx context.Context) (int64, string, error)
}

// auditHashAt is what an Index asks of a store that has it: the hash of
// the entry at a seq (store.Store.AuditHashAt).
type auditHashAt interface {
	AuditHashAt(ctx context.Context, seq int64) (string, bool, error)
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
	// any kind; hashAt, when set, the hash of the entry at a seq. Without
	// head every catch-up reads.
	head   func(ctx context.Context) (int64, string, error)
	hashAt func(ctx context.Context, seq int64) (string, bool, error)
	// at is the log's head as read before the last catch-up that read and
	// folded the log without error (ok false: none yet).
	at logHead
}

// watchOf is a logWatch over st's head, when st has one.
func watchOf(st any) logWatch {
	var w logWatch
	if h, ok := st.(auditHead); ok {
		w.head = h.AuditHead
	}
	if h, ok := st.(auditHashAt); ok {
		w.hashAt = h.AuditHashAt
	}
	return w
}

// catchUp runs read unless the log's head is what it was before the last
// read that succeeded. The same seq and hash means no entry was written
// since, and that read, which began after the head was read, saw every
// entry up to it (a store gives seqs in the order entries commit). A head
// written since has read run, given the head as read before it (now) and
// whether the log was rewound: it no longer holds, at the seq of the head
// as last read, the entry it held (entries cut from its end, and perhaps
// others written in their place, or another log put in its place), which
// hashAt tells when set. A read that fails, or a head that cannot be read,
// fails the catch-up and keeps the head as it was, so the next reads
// again.
func (w *logWatch) catchUp(ctx context.Context, read func(now logHead, rewound bool) error) error {
	var now logHead
	rewound := false
	if w.head != nil {
		seq, hash, err := w.head(ctx)
		if err != nil {
			return fmt.Errorf("ledger: the audit log's head: %w", err)
		}
		now = logHead{seq, hash, true}
		if now == w.at {
			return nil
		}
		if rewound, err = w.rewound(ctx); err != nil {
			return err
		}
	}
	if err := read(now, rewound); err != nil {
		return err
	}
	w.at = now
	return nil
}

// rewound is whether the log no longer holds the entry that was its head
// at the last catch-up (cut, or another in its place); false when it
// cannot tell (no head read before, or no hashAt).
func (w *logWatch) rewound(ctx context.Context) (bool, error) {
	if !w.at.ok || w.at.seq == 0 || w.hashAt == nil {
		return false, nil
	}
	hash, ok, err := w.hashAt(ctx, w.at.seq)
	if err != nil {
		return false, fmt.Errorf("ledger: the audit log's entry %d: %w", w.at.seq, err)
	}
	return !ok || hash != w.at.hash, nil
}
