package run

import (
	"cmp"
	"context"
	"strings"
	"time"
)

// QueueKey marks where a page of a tenant's queue ended: the page's last
// run, and what places it among its tenant's held runs in the admission
// order: the accelerator it waits for (whose share of the tenant's quota
// orders it before or after the tenant's runs for other families), its
// priority and its arrival. Among one tenant's runs the admission order
// is exactly that: share, then priority (highest first), then arrival.
//
// The page after a key is the tenant's held runs that come after the
// place the key names, in the order as it is when that page is read,
// whether or not the key's run is still held. A run admitted, cancelled
// or newly held between two pages moves no other run across the mark:
// no run held throughout is skipped or shown twice, where a page
// starting after a position was shifted by one for each such run ahead
// of it. What still moves runs across the mark is the order itself
// changing: a run admitted for one family raises the tenant's share of
// that family, and its other runs for it may then come after the
// tenant's runs for another.
type QueueKey struct {
	Run         string    `json:"r"`
	Accelerator string    `json:"a,omitempty"`
	Priority    int       `json:"p,omitempty"`
	Arrived     time.Time `json:"t"`
}

// queueKeyOf is r's QueueKey.
func queueKeyOf(r *Run) QueueKey {
	k := QueueKey{Run: r.ID, Priority: r.Priority, Arrived: r.CreatedAt}
	if r.Hold != nil && len(r.Hold.Wants) > 0 {
		k.Accelerator = r.Hold.Wants[0].Accelerator
	}
	return k
}

// QueueAfter is the part of the tenant's queue after key after (nil: from
// the first), at most limit entries (a negative limit: all of them); last
// is the key of the page's last entry (each entry's is its Key), and more
// says entries follow it.
// Positions are the entries' places as of this call.
func (c *Controller) QueueAfter(ctx context.Context, tenant string, after *QueueKey, limit int) (page []QueueEntry, last QueueKey, more bool, err error) {
	held, u, q, err := c.heldOrder(ctx, tenant)
	if err != nil {
		return nil, QueueKey{}, false, err
	}
	// The share of the family of each accelerator, as the order was
	// computed: a run's share depends on its tenant and the accelerator
	// it waits for alone (shareIn), and the quotas the order was computed
	// with (q), not those loaded now: shares by quotas reloaded since
	// compared keys in another order than held's, and a page could skip
	// or repeat entries.
	shares := map[string]float64{}
	shareOf := func(acc string) float64 {
		s, ok := shares[acc]
		if !ok {
			r := &Run{Tenant: tenant}
			if acc != "" {
				r.Hold = &Hold{Wants: []Want{{Accelerator: acc}}}
			}
			s = shareIn(q, u, r)
			shares[acc] = s
		}
		return s
	}
	// compare orders two keys of the tenant's runs as the admission
	// order does.
	compare := func(a, b QueueKey) int {
		if n := cmp.Compare(shareOf(a.Accelerator), shareOf(b.Accelerator)); n != 0 {
			return n
		}
		if a.Priority != b.Priority {
			return cmp.Compare(b.Priority, a.Priority)
		}
		if n := a.Arrived.Compare(b.Arrived); n != 0 {
			return n
		}
		return strings.Compare(a.Run, b.Run)
	}
	pos := 0
	for _, r := range held {
		if r.Tenant != tenant {
			continue
		}
		pos++
		k := queueKeyOf(r)
		if after != nil && compare(k, *after) <= 0 {
			continue
		}
		if limit >= 0 && len(page) == limit {
			return page, last, true, nil
		}
		page = append(page, queueEntry(r, pos))
		last = k
	}
	return page, last, false, nil
}

// queueEntry is held run r's entry at position pos of its tenant's queue.
func queueEntry(r *Run, pos int) QueueEntry {
	e := QueueEntry{Run: r.ID, Tenant: r.Tenant, Job: r.Job, Priority: r.Priority, Reason: r.Reason, Position: pos, Wait: "law", Key: queueKeyOf(r)}
	if r.Hold != nil {
		e.Since, e.Wants = r.Hold.Since, r.Hold.Wants
		if r.Hold.Wait != "" {
			e.Wait = r.Hold.Wait
		}
		e.Reason = r.Hold.Reason
	}
	return e
}
