package audit

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// maxAcceptances bounds the acceptances (KindBrokenAccepted entries) a
// verification holds at once, maxAcceptancePayload the size of one it
// reads, and maxAcceptedListed the accepted breaks a result lists
// (Result.Accepted; Result.AcceptedCount counts them all). An operator's
// acceptance is a few hundred bytes, written once per start told to
// accept a broken log; without the key every acceptance in the log
// counts, forged ones too, as many and as large as whoever writes the
// database cared to store.
//
// maxAcceptancePasses bounds how many times one verification reads the
// log's acceptances (each read is a read of the whole table: acceptances
// have no index of their own). Held maxAcceptances at a time, they were
// read again whenever a break fell past those held, and once more for
// every break that more than maxAcceptances of them named: without the
// key, whoever writes the database could write n breaks, each accepted,
// and make one verification (a server's start, a tenant's request, the
// CLI's) read n*n/1024 entries. A verification that would read them
// again past the bound fails at that break, saying its acceptances were
// not read. An operator accepts a break per start told to; a log of more
// than maxAcceptancePasses*maxAcceptances accepted breaks is not one an
// operator wrote.
const (
	maxAcceptances       = 1024
	maxAcceptancePayload = 16 << 10
	maxAcceptedListed    = 1024
	maxAcceptancePasses  = 8
)

// acceptIndex finds the acceptances of a break, holding at most
// maxAcceptances of them: those of the breaks (by entry, then kind) from
// a lower bound on, read from the source (Source.Read of the kind alone)
// when a break falls past the ones held. Verify finds breaks in log
// order, so each read holds acceptances of later breaks than the last
// one held; a log whose acceptances fit in maxAcceptances is read once.
// Every acceptance counts however many the log holds: holding only the
// first maxAcceptances of them made every break that a later one
// accepted fail, and a verification without the key, which counts forged
// acceptances too, could be made to fail so by writing them.
// They are read at most maxAcceptancePasses times in one verification;
// a break that would need them read again fails (see unreadWhy).
//
// An acceptance counts only when its own entry is sound under the
// chain's key (one forged without the key accepts nothing); without the
// key (NewUnkeyedChain) none can be told sound, and all count, as the
// result then proves nothing of any entry's contents.
//
// Checked against an anchor, an acceptance counts only when the anchor
// covers it (its entry at or before the anchored one, see bounded): the
// start that writes an operator's acceptance moves the anchor onto it
// before it serves. One appended past the anchor, sealed by whoever holds
// the audit key but not the anchor's, accepted the break left by any
// anchored entry they rewrote and resealed, and the log verified. One over
// maxAcceptancePayload bytes accepts nothing, and a break it would have
// accepted says it was not read.
type acceptIndex struct {
	c   *Chain
	src Source

	loaded bool
	// lo is the least break held; win the acceptances held, by break and
	// then in log order.
	lo  acceptKey
	win []acceptance
	// complete says win holds every acceptance of a break from lo on;
	// otherwise those of breaks from dropped on may be missing.
	complete bool
	dropped  acceptKey
	// oversized counts the acceptances over maxAcceptancePayload.
	oversized int
	// passes counts the reads of the acceptances (each).
	passes int
	// bounded: only acceptances at or before maxAt count (the anchored
	// entry); unanchored counts those after it.
	bounded    bool
	maxAt      int64
	unanchored int
}

// unreadWhy is added to the detail of a break whose acceptances were not
// read because the verification had read them maxAcceptancePasses times.
var unreadWhy = fmt.Sprintf("; not accepted: its acceptances were not read (a verification reads the log's %s entries at most %d times, holding %d at a time, and the breaks before this one took every read: the log holds more accepted breaks, or more acceptances of one break, than an operator writes)", KindBrokenAccepted, maxAcceptancePasses, maxAcceptances)

// spent says whether the verification has read the acceptances as many
// times as it may.
func (x *acceptIndex) spent() bool { return x.passes >= maxAcceptancePasses }

func (a acceptance) key() acceptKey { return acceptKey{a.p.Seq, a.p.Kind} }

func keyLess(a, b acceptKey) bool {
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.kind < b.kind
}

// acceptLess orders acceptances by the break they accept, then in log order.
func acceptLess(a, b acceptance) bool {
	if a.key() != b.key() {
		return keyLess(a.key(), b.key())
	}
	return a.at < b.at
}

// acceptHeap keeps the least acceptances seen (acceptLess): the greatest
// held is on top, to make room.
type acceptHeap []acceptance

func (h acceptHeap) Len() int           { return len(h) }
func (h acceptHeap) Less(i, j int) bool { return acceptLess(h[j], h[i]) }
func (h acceptHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *acceptHeap) Push(x any)        { *h = append(*h, x.(acceptance)) }
func (h *acceptHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// each calls fn with every acceptance that counts, in log order, keeping
// of each only the fields a match compares.
func (x *acceptIndex) each(fn func(acceptance)) error {
	x.passes++
	oversized, unanchored := 0, 0
	err := x.src.Read(KindBrokenAccepted, func(page []Entry) error {
		for _, e := range page {
			if e.Kind != KindBrokenAccepted || !x.c.unkeyed && x.c.sum(e, e.Seq) != e.Hash {
				continue
			}
			if x.bounded && e.Seq > x.maxAt {
				unanchored++
				continue
			}
			if len(e.Payload) > maxAcceptancePayload {
				oversized++
				continue
			}
			var p BrokenAccepted
			if json.Unmarshal(e.Payload, &p) != nil || p.Problem == nil {
				continue
			}
			a := acceptance{at: e.Seq, p: *p.Problem}
			// Of the detail only an older acceptance's gap is ever read
			// (matchAcceptance).
			if a.p.Found != nil {
				a.p.Detail = ""
			} else if _, _, ok := parseGap(a.p.Detail); !ok {
				a.p.Detail = ""
			}
			fn(a)
		}
		return nil
	})
	x.oversized, x.unanchored = oversized, unanchored
	return err
}

// load holds the least maxAcceptances acceptances of breaks from lo on.
func (x *acceptIndex) load(lo acceptKey) error {
	var h acceptHeap
	complete := true
	var dropped acceptKey
	drop := func(k acceptKey) {
		if complete || keyLess(k, dropped) {
			dropped = k
		}
		complete = false
	}
	err := x.each(func(a acceptance) {
		if keyLess(a.key(), lo) {
			return
		}
		if len(h) < maxAcceptances {
			heap.Push(&h, a)
			return
		}
		if top := h[0]; acceptLess(a, top) {
			h[0] = a
			heap.Fix(&h, 0)
			drop(top.key())
			return
		}
		drop(a.key())
	})
	if err != nil {
		return err
	}
	slices.SortFunc(h, func(a, b acceptance) int {
		switch {
		case acceptLess(a, b):
			return -1
		case acceptLess(b, a):
			return 1
		}
		return 0
	})
	x.loaded, x.lo, x.win, x.complete, x.dropped = true, lo, h, complete, dropped
	return nil
}

// covered says whether the acceptances held are all those of break k.
func (x *acceptIndex) covered(k acceptKey) bool {
	return x.loaded && !keyLess(k, x.lo) && (x.complete || keyLess(k, x.dropped))
}

// accepted returns the first entry after the broken one (seq) that accepts
// p exactly, or 0 and why none does (see the function accepted).
func (x *acceptIndex) accepted(p Problem, seq int64) (int64, string, error) {
	k := acceptKey{p.Seq, p.Kind}
	if !x.covered(k) {
		if x.spent() {
			return 0, unreadWhy, nil
		}
		if err := x.load(k); err != nil {
			return 0, "", err
		}
	}
	if x.covered(k) {
		i := sort.Search(len(x.win), func(i int) bool { return !keyLess(x.win[i].key(), k) })
		j := i
		for j < len(x.win) && x.win[j].key() == k {
			j++
		}
		at, why := accepted(x.win[i:j], p, seq)
		return at, why, nil
	}
	// More acceptances name this break's entry and kind than are held at
	// once: they are matched as they are read, in log order, as accepted
	// does.
	if x.spent() {
		return 0, unreadWhy, nil
	}
	var at int64
	why := ""
	err := x.each(func(a acceptance) {
		if at != 0 || a.key() != k || a.at <= seq {
			return
		}
		if ok, w := matchAcceptance(a, p); ok {
			at = a.at
		} else {
			why = w
		}
	})
	if err != nil {
		return 0, "", err
	}
	if at != 0 {
		why = ""
	}
	return at, why, nil
}
