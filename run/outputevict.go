package run

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/store"
)

// Making room under Config.TenantLogLimit. When an append of a tenant's
// output would pass the bound, the output of the tenant's oldest ended
// runs is removed, oldest end first, until the append fits or none is
// left (takeOutput); only then is the append cut. A post that cannot
// be given room now while removable runs remain is answered 503, to be
// posted again, never cut.
//
// Which runs: each tenant's count (tenantOutput) holds its ended runs
// whose output may be kept, in a heap by end: found when the tenant is
// counted (the runs the store lists in a final state, with output files),
// and added as its runs end on this server (outputEnded) or, ended, are
// first given output (a last post within logGrace). A post's cost is
// bounded: a heap pop (O(log n) in the tenant's ended runs with output)
// and, for each run removed, one store write, one rename, a directory
// sync and the unlinking of its files, at most maxRemovalsPerPost runs a
// post. The heap takes some 100 bytes a run, and only runs with output.
//
// Each entry is a hint: a run is removed only once the store, in the
// write that records the removal on its timeline, says it is the
// tenant's and ended. A run ended on another server sharing the store is
// not in this server's heap until it next lists the tenant's ended runs:
// at its count, and when its heap is empty and room is needed
// (refillEnded, at most every refillEvery).
//
// A removal is one rename of the run's output directory (logs/<run>) into
// logs/.removed, then the removal of what was renamed: the count at a
// start reads logs/<run> only, so a crash at any point leaves output
// either counted where it is or gone from the count, and logs/.removed is
// emptied at the next count (sweepRemoved). The removal's event is
// written before the rename: a crash between the two leaves the output
// in place and counted, removed again (and told again) when room is
// next needed.

// maxRemovalsPerPost bounds the runs one post of output removes to make
// room: a tenant whose old runs kept a few bytes each would otherwise
// have one post remove thousands, holding its attempt's file lock (and
// its agent) through a store write for each. A post that reaches it with
// removable runs left is answered 503 (errMakingRoom), nothing of it
// kept: the agent posts it again, and that post goes on removing. Only a
// post that finds no removable run left is cut.
const maxRemovalsPerPost = 32

// removalWriteTimeout bounds the store write that records one removal:
// it is made under the attempt's file lock, and a store that hangs would
// otherwise hold the lock, the request and the agent for as long as it
// hangs. A write that runs out is a removal that failed (errMakingRoom).
// Tests set it.
var removalWriteTimeout = 5 * time.Second

// refillEvery bounds how often one tenant's ended runs are listed again
// from the store when none is left to remove (refillEnded): a replica
// that saw none of them end holds none, and the store has them.
const refillEvery = 5 * time.Second

// removalHoldOff is how long a run whose output files could not be read
// or renamed for its removal (errOutputFiles: a retry at once would meet
// the same) is passed by: the next oldest is
// removed in its place, and once only such runs are left a post is cut as
// when none is left. Held first in line instead, it failed every post of
// the tenant's (503) for as long as it stayed so, and wrote its removal
// event again at each.
const removalHoldOff = 10 * time.Minute

// errMakingRoom says a post's output could not be given room now,
// though the tenant has ended runs whose output could be removed for it:
// the post was answered 503, nothing of it kept, to be posted again.
var errMakingRoom = errors.New("room is being made for it under the tenant's output bound")

// removedDir is the directory, under the state directory's logs/, that a
// run's output directory is renamed into to be removed: no run's id
// starts with a dot (newID), and it is on the same filesystem as the
// output it takes.
const removedDir = ".removed"

// endedOutput is an ended run of a tenant's whose output may be kept,
// and when it ended (by the store's clock where the store said so).
type endedOutput struct {
	id  string
	end time.Time
}

// endedHeap orders endedOutputs oldest end first (then by id).
type endedHeap []endedOutput

func (h endedHeap) Len() int { return len(h) }
func (h endedHeap) Less(i, j int) bool {
	if !h[i].end.Equal(h[j].end) {
		return h[i].end.Before(h[j].end)
	}
	return h[i].id < h[j].id
}
func (h endedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *endedHeap) Push(x any)   { *h = append(*h, x.(endedOutput)) }
func (h *endedHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// endedOutputs is a tenant's ended runs with output, oldest end first.
// Two posts that take from it at once each take another run: no run is
// removed twice. A run taken is held back (removing) until its removal
// is done: a listing from the store (refillEnded) that finds its output
// not yet renamed does not hold it again, to be removed (and told) twice.
type endedOutputs struct {
	mu       sync.Mutex
	heap     endedHeap
	queued   map[string]bool // the ids in heap
	removing map[string]bool // the ids taken and not yet done
	// heldOff is when each run whose removal failed may be taken again
	// (removalHoldOff); such a run stays in heap meanwhile.
	heldOff map[string]time.Time
}

// holdOff holds run id, ended at end, again, passed by until until.
func (e *endedOutputs) holdOff(id string, end, until time.Time) {
	e.mu.Lock()
	if e.heldOff == nil {
		e.heldOff = map[string]time.Time{}
	}
	e.heldOff[id] = until
	e.mu.Unlock()
	e.add(id, end)
}

// passedBy says whether run id is held off at now; e.mu is held.
func (e *endedOutputs) passedBy(id string, now time.Time) bool {
	until, ok := e.heldOff[id]
	if ok && !now.Before(until) {
		delete(e.heldOff, id)
		return false
	}
	return ok
}

// add holds run id, ended at end, unless it is held already.
func (e *endedOutputs) add(id string, end time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.queued[id] || e.removing[id] {
		return
	}
	if e.queued == nil {
		e.queued = map[string]bool{}
	}
	e.queued[id] = true
	heap.Push(&e.heap, endedOutput{id: id, end: end})
}

// take takes the run that ended first, other than except (the run a
// post is for: its own output is not removed under it); ok false when
// there is none.
func (e *endedOutputs) take(except string) (endedOutput, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var skipped []endedOutput
	defer func() {
		for _, s := range skipped {
			heap.Push(&e.heap, s)
		}
	}()
	now := time.Now()
	for e.heap.Len() > 0 {
		o := heap.Pop(&e.heap).(endedOutput)
		if o.id == except || e.passedBy(o.id, now) {
			skipped = append(skipped, o)
			continue
		}
		delete(e.queued, o.id)
		if e.removing == nil {
			e.removing = map[string]bool{}
		}
		e.removing[o.id] = true
		return o, true
	}
	return endedOutput{}, false
}

// done ends the removal of run id, taken: a listing may hold it again.
func (e *endedOutputs) done(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.removing, id)
}

// has says whether a run other than except is held and not held off.
func (e *endedOutputs) has(except string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.heldOff) == 0 {
		return e.heap.Len() > 1 || e.heap.Len() == 1 && e.heap[0].id != except
	}
	now := time.Now()
	for _, o := range e.heap {
		if o.id != except && !e.passedBy(o.id, now) {
			return true
		}
	}
	return false
}

// len is how many runs are held.
func (e *endedOutputs) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.heap.Len()
}

// takeAll reserves n more bytes under limit, all of them or none.
func (t *tenantOutput) takeAll(limit, n int64) bool {
	for {
		used := t.used.Load()
		if used+n > limit {
			return false
		}
		if t.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// takeOutput reserves n bytes of run r's tenant's bound (t; nil: no
// bound) for an append of r's output, removing the output of the
// tenant's oldest ended runs to make room while they do not fit, and
// returns how many it reserved: n, or fewer once no ended run is left to
// remove (the append is then cut). errMakingRoom, nothing reserved, when
// removable runs remain but this post could not remove enough of them
// (maxRemovalsPerPost, or a removal that failed).
func (c *Controller) takeOutput(ctx context.Context, r *Run, t *tenantOutput, n int64) (int64, error) {
	if t == nil {
		return n, nil
	}
	limit := c.cfg.TenantLogLimit
	for range maxRemovalsPerPost {
		if t.takeAll(limit, n) {
			return n, nil
		}
		left, err := c.removeOldest(ctx, r, t)
		if err != nil {
			return 0, err
		}
		if !left {
			return t.take(limit, n), nil
		}
	}
	if t.takeAll(limit, n) {
		return n, nil
	}
	if left, err := c.anyEnded(ctx, r, t); err != nil || left {
		return 0, errMakingRoom
	}
	return t.take(limit, n), nil
}

// removeOldest removes the output of the ended run of r's tenant's that
// ended first (not r's own), and lowers t by what it removed. left is
// false when no run is left to take (after refillEnded); an error
// (errMakingRoom) when one could not be removed now: it is kept for a
// later post.
func (c *Controller) removeOldest(ctx context.Context, r *Run, t *tenantOutput) (left bool, err error) {
	o, ok := t.ended.take(r.ID)
	if !ok {
		if ok, err := c.refillEnded(ctx, r, t); err != nil || !ok {
			return false, err
		}
		if o, ok = t.ended.take(r.ID); !ok {
			return false, nil
		}
	}
	n, err := c.removeOutput(ctx, r.Tenant, o.id)
	t.ended.done(o.id)
	if errors.Is(err, errNotEnded) {
		// Not the tenant's ended run, by the store: never removed.
		return true, nil
	}
	if err != nil && !errors.Is(err, errOutputFiles) {
		// The store's failure, or out of time (the request's, or the
		// write's own bound): the run stays first in line for the post
		// asked again.
		t.ended.add(o.id, o.end)
		c.cfg.Logger.Warn("removing an ended run's output to make room under serve --tenant-output-limit", "run", o.id, "tenant", r.Tenant, "err", err)
		return false, fmt.Errorf("%w: %w", errMakingRoom, err)
	}
	if err != nil {
		// Its files could not be read or renamed, which a retry at
		// once would meet again: the next oldest is removed in its
		// place.
		t.ended.holdOff(o.id, o.end, time.Now().Add(removalHoldOff))
		c.cfg.Logger.Warn("removing an ended run's output to make room under serve --tenant-output-limit: passed by for a while", "run", o.id, "tenant", r.Tenant, "for", removalHoldOff, "err", err)
		return true, nil
	}
	t.give(n)
	return true, nil
}

// anyEnded says whether r's tenant has an ended run other than r whose
// output may be removed, listing them again from the store where none is
// held (refillEnded).
func (c *Controller) anyEnded(ctx context.Context, r *Run, t *tenantOutput) (bool, error) {
	if t.ended.has(r.ID) {
		return true, nil
	}
	if _, err := c.refillEnded(ctx, r, t); err != nil {
		return false, err
	}
	return t.ended.has(r.ID), nil
}

// refillEnded lists r's tenant's ended runs with output from the store
// into t, where t holds none other than r, at most once every
// refillEvery; it says whether any other than r is held after. A replica
// that saw none of the tenant's runs end would otherwise cut its posts
// while the other replicas' ended runs kept their output. A listing that
// failed is kept for refillEvery: posts in that time are answered 503
// (errMakingRoom) rather than cut, or than each listing the tenant.
func (c *Controller) refillEnded(ctx context.Context, r *Run, t *tenantOutput) (bool, error) {
	if t.ended.has(r.ID) {
		return true, nil
	}
	t.refillMu.Lock()
	defer t.refillMu.Unlock()
	now := time.Now()
	if !t.refilled.IsZero() && now.Sub(t.refilled) < refillEvery {
		if t.refillErr != nil {
			return false, fmt.Errorf("%w: %w", errMakingRoom, t.refillErr)
		}
		return false, nil
	}
	// Bounded as a removal's write is: it is made under the attempt's
	// file lock.
	lctx, cancel := context.WithTimeout(ctx, removalWriteTimeout)
	defer cancel()
	t.refilled, t.refillErr = now, c.listEnded(lctx, r.Tenant, t)
	if t.ended.has(r.ID) {
		// Some found, though the listing may not have ended.
		return true, nil
	}
	if t.refillErr != nil {
		c.cfg.Logger.Warn("listing a tenant's ended runs to make room under serve --tenant-output-limit", "tenant", r.Tenant, "err", t.refillErr)
		return false, fmt.Errorf("%w: %w", errMakingRoom, t.refillErr)
	}
	return t.ended.has(r.ID), nil
}

// give lowers the count by n bytes removed, to no less than 0: a replica
// sharing the state directory may have appended some of them, which this
// server never counted.
func (t *tenantOutput) give(n int64) {
	for {
		used := t.used.Load()
		if t.used.CompareAndSwap(used, max(used-n, 0)) {
			return
		}
	}
}

// errOutputFiles says a run's output files could not be read or renamed
// for its removal (removalHoldOff).
var errOutputFiles = errors.New("its output files could not be read or moved")

// errNotEnded says a run taken to have its output removed is not, by the
// store, an ended run of the tenant's.
var errNotEnded = errors.New("not an ended run of the tenant's")

// removeOutput removes ended run id's output, tenant's, and returns the
// bytes removed. The store says it is tenant's and ended (errNotEnded
// otherwise) in the write that records the removal on its timeline; the
// output is then renamed out of where it is counted, in one step, and
// removed.
func (c *Controller) removeOutput(ctx context.Context, tenant, id string) (int64, error) {
	kept, err := c.runOutput(id)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errOutputFiles, err)
	}
	if kept == 0 {
		// None left (removed by another server sharing the state
		// directory, or by the operator): nothing to tell.
		return 0, nil
	}
	reason := fmt.Sprintf("this run's output kept by the server (%d bytes) was removed to make room for newer output of tenant %s's runs: the output kept for them is bounded at %d bytes (serve --tenant-output-limit), and this was the oldest ended run with output; the site's own log may have it",
		kept, tenant, c.cfg.TenantLogLimit)
	wctx, cancel := context.WithTimeout(ctx, removalWriteTimeout)
	defer cancel()
	_, err = c.update(wctx, id, func(r *Run, ch *store.Change) error {
		if r.Tenant != tenant || !r.State.Final() {
			return errNotEnded
		}
		ch.Events = append(ch.Events, store.Event{Kind: "output-removed", Reason: reason})
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, errNotEnded
	}
	if err != nil {
		return 0, err
	}
	n, err := c.renameOutput(id)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errOutputFiles, err)
	}
	c.cfg.Logger.Info("removed an ended run's output to make room under serve --tenant-output-limit",
		"run", id, "tenant", tenant, "bytes", n, "limit", c.cfg.TenantLogLimit)
	return n, nil
}

// renameOutput renames run id's output directory into logs/.removed and
// removes it there; it returns the size of the output renamed (0 when
// there was none).
func (c *Controller) renameOutput(id string) (int64, error) {
	logs := filepath.Dir(c.logDir(id))
	trash := filepath.Join(logs, removedDir)
	if err := atomicfile.MkdirAll(trash, 0o700); err != nil {
		return 0, err
	}
	to := filepath.Join(trash, id+"."+newNonce()[:12])
	if err := os.Rename(c.logDir(id), to); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	// What this process made durable there is gone: an output file or
	// directory made again there (by a post of the run's, a late one, or
	// one of another server's killed before its sync) may have a freed
	// inode number of the removed ones, and is synced again, not taken as
	// the old one.
	atomicfile.Forget(c.logDir(id))
	// So is what this server synced of its files: a file made again
	// there with a removed one's inode number is not the removed one, and
	// its bytes are not taken as on disk for the old one's length
	// (outputFloor). The records of what was synced beside the files
	// (floorPath) went with the directory.
	c.forgetOutputSynced(id)
	// Synced so that the output does not come back after a power loss
	// to contradict the event; were it to, it is counted at the start.
	if err := atomicfile.SyncDir(logs); err != nil {
		return 0, err
	}
	// Measured after the rename: what left the count. A post that had
	// the file open appends to the renamed one, which the count took and
	// is now removed: the count errs high, never low.
	n, err := dirOutput(to)
	if err != nil {
		return 0, err
	}
	if err := os.RemoveAll(to); err != nil {
		// Gone from the count all the same; the next start's count
		// empties logs/.removed.
		c.cfg.Logger.Warn("removing an ended run's renamed output", "path", to, "err", err)
	}
	return n, nil
}

// sweepRemoved empties logs/.removed of what a removal left there (a
// crash between its rename and its removal), once on each server: at its
// first count of a tenant's output.
func (c *Controller) sweepRemoved() {
	c.removedSwept.Do(func() {
		trash := filepath.Join(c.cfg.StateDir, "logs", removedDir)
		ents, err := os.ReadDir(trash)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.cfg.Logger.Warn("emptying removed output", "path", trash, "err", err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(trash, e.Name())); err != nil {
				c.cfg.Logger.Warn("emptying removed output", "path", trash, "err", err)
			}
		}
	})
}

// listEnded holds in t the tenant's runs that the store lists in a final
// state and that have output files, a page at a time, each at its end
// (runEnd): not its row's last write, which a later event on an old
// ended run (a sweep's, a removal's) moves to now, making it the newest.
func (c *Controller) listEnded(ctx context.Context, tenant string, t *tenantOutput) error {
	after := ""
	for {
		rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Tenant: tenant, States: FinalStates, NoDocuments: true, After: after, Limit: outputScanPage})
		if err != nil {
			return fmt.Errorf("listing tenant %s's ended runs: %w", tenant, err)
		}
		for _, row := range rows {
			n, err := c.runOutput(row.ID)
			if err != nil {
				// One run's output that cannot be read is passed by, not
				// the end of the listing: otherwise every later listing
				// stopped at it, and the tenant's posts with it.
				c.cfg.Logger.Warn("listing a tenant's ended runs to make room under serve --tenant-output-limit: a run's output passed by", "run", row.ID, "tenant", tenant, "err", err)
				continue
			}
			if n > 0 {
				t.ended.add(row.ID, rowEnd(row))
			}
		}
		if len(rows) < outputScanPage {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// rowEnd is when the run of row ended (runEnd), its row's last write
// where its data cannot be read.
func rowEnd(row *store.Run) time.Time {
	r, err := fromRow(row)
	if err != nil {
		return row.UpdatedAt
	}
	return runEnd(r)
}

// runEnd is when run r, ended, ended: the latest end of its attempts
// (overAt), its row's last write (UpdatedAt) where none is recorded.
func runEnd(r *Run) time.Time {
	var end time.Time
	for _, a := range r.Attempts {
		if at, ok := overAt(r, a.N); ok && at.After(end) {
			end = at
		}
	}
	if end.IsZero() {
		return r.UpdatedAt
	}
	return end
}

// outputEnded holds run r, just ended at end (or given output once
// ended), among its tenant's ended runs with output, where this server
// counts the tenant's output and r has some. A tenant not counted yet
// finds r when it is.
func (c *Controller) outputEnded(r *Run, end time.Time) {
	if c.cfg.TenantLogLimit <= 0 || !r.State.Final() {
		return
	}
	c.outputMu.Lock()
	t := c.outputs[r.Tenant]
	c.outputMu.Unlock()
	if t == nil {
		return
	}
	if _, err := os.Lstat(c.logDir(r.ID)); err != nil {
		return
	}
	t.ended.add(r.ID, end)
}
