package transfer

import (
	"context"
	"fmt"
	"sync"

	"meridian.dev/meridian/store"
)

// highHead is the highest head of the log that an index's catch-ups read
// (ok false: none yet). A nil one holds none.
type highHead struct {
	mu sync.Mutex
	at logHead
}

func (h *highHead) get() logHead {
	if h == nil {
		return logHead{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at
}

// raise moves h from prev, the head got before now was read and checked
// in the log that now heads, to now, and reports whether h is now: so
// each head h holds was read in a log that held the one before it, and
// the entry at h's seq unchanged (entries are hash-chained) means every
// head h held is still in the log. Where another catch-up moved h since
// prev was got, its head was not checked in now's log, nor now in its:
// h stays, and raise reports false unless h is now already.
func (h *highHead) raise(prev, now logHead) bool {
	if h == nil || !now.ok {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at == prev && (!h.at.ok || now.seq > h.at.seq) {
		h.at = now
	}
	return h.at == now
}

// cutRemedy ends the refusal of a ledger read over a log cut back: what
// it means, and what the operator does.
const cutRemedy = "the ledger's totals are not read from it, since they would leave out what was cut; " +
	"check the log (meridian audit verify (offline: --state DIR)), then put the entries back or start the server again, " +
	"whose start verifies the log against its anchor (a cut it finds is served only once accepted, meridian serve --accept-broken-audit)"

// notCut checks that the log, whose head was read as now, still holds
// the heads read before: high, the highest any catch-up of the index read
// (read before now was, so that no catch-up made in the meantime stands
// for one made later), and w.at, this watch's own. A log that ends before
// one, or holds another entry at its seq, was cut from its end (and
// perhaps written on again, or another log put in its place) by someone
// who writes the database: the ledger's records cut are gone from what a
// fresh fold would count, and a plan over a volume threshold was judged
// on totals that left them out. Nothing in a running server finds it
// otherwise: the store's gap check counts the entries of what it reads,
// which a cut at the end leaves whole; the anchor, checked at start,
// finds it. So the catch-up fails (store.ErrAuditGap, or
// store.ErrAuditRewritten for another entry at the seq), and every later
// one while the log does not hold those heads: planner.ErrLedgerUnread
// then refuses plans, as for any ledger that cannot be read.
//
// What a cut is not: an empty index's first catch-up (a fresh store, or
// a server just started, whose start verified the log and accepted what
// the operator accepted) has no head before it. The same seq and hash as
// w.at, and high no further, needs no read of the log: nothing was
// written since. Otherwise the head's own read checks one of them, and
// one more read the other where they differ
// and high does not cover w.at.
//
// w.at needs no check of its own where high covers it (w.chained: high
// was w.at, or was raised from it through heads each checked in the log
// of the next, see raise): high, its entry unchanged, means every entry
// before it is, w.at's too. Most catch-ups of a tenant's view behind high
// (another tenant's catch-up raised it) would otherwise read the log once
// more. A w.at whose raise found high moved by another catch-up is not
// covered, and is checked.
//
// read is the head's read, which gave the hash of the entry at seq asked
// with it: the head checked at that seq needs no read of its own.
//
// It returns whether high is now, w.at once the catch-up sets it: covered.
//
// appended, when set, is the last entry the store appended in this
// process, past high (taken before now was read): the log must hold it
// too. Entries appended after the last catch-up (a staging's transfer
// records) and cut before the next one leave the log's head where that
// catch-up read it, and high alone passes a log that never showed them to
// the index: the totals were judged without them. It is most often the
// head itself, which needs no read; otherwise (another process appended
// since) one more read checks it. Entries other processes append (other
// replicas over one PostgreSQL) are not known here: a cut of those made
// before this process's indexes read them is not found while it runs.
func (w *logWatch) notCut(ctx context.Context, high, appended, now logHead, asked int64, read store.AuditHeadRead) (bool, error) {
	if appended.ok && appended != now {
		// -1: its hash is not taken from the head's read.
		if err := w.holds(ctx, now, appended, -1, read, "the last this server appended", "this server appended there"); err != nil {
			return false, err
		}
	}
	heads := []logHead{high, w.at}
	if w.chained && high.ok && high.seq >= w.at.seq {
		heads = heads[:1]
	}
	for _, h := range heads {
		if !h.ok || h.seq == 0 || h == now {
			continue
		}
		if err := w.holds(ctx, now, h, asked, read, "its last entry when the ledger was read before", "read there before, when it was the log's last"); err != nil {
			return false, err
		}
		if high == w.at {
			break
		}
	}
	return w.high.raise(high, now), nil
}

// holds checks that the log, whose head was read as now, still holds h,
// named in its errors as what (the entry at h's seq as the one there):
// it ends before h, or holds no entry or another at h's seq, and it fails.
// read, the head's read, gave the hash at seq asked: h there needs no
// read of its own.
func (w *logWatch) holds(ctx context.Context, now, h logHead, asked int64, read store.AuditHeadRead, what, there string) error {
	if now.seq < h.seq {
		return fmt.Errorf("ledger: the audit log ends at entry %d, before entry %d, %s: entries were cut from its end outside Meridian (%w); %s", now.seq, h.seq, what, store.ErrAuditGap, cutRemedy)
	}
	hash, ok := now.hash, true
	if now.seq > h.seq {
		if h.seq == asked {
			hash, ok = read.At, read.AtOK
		} else {
			r, err := w.head(ctx, h.seq)
			if err != nil {
				return fmt.Errorf("ledger: the audit log's entry %d: %w", h.seq, err)
			}
			hash, ok = r.At, r.AtOK
		}
	}
	if !ok {
		return fmt.Errorf("ledger: the audit log no longer holds entry %d, %s (%w); %s", h.seq, what, store.ErrAuditGap, cutRemedy)
	}
	if hash != h.hash {
		return fmt.Errorf("ledger: the audit log's entry %d is not the one %s: the log was cut and written again, or replaced, outside Meridian (%w); %s", h.seq, there, store.ErrAuditRewritten, cutRemedy)
	}
	return nil
}
