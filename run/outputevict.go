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
// left (takeOutput); only then is the append cut.
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
// not in this server's heap until its next count (its start): until
// then its output stays, and the tenant's appends are cut sooner.
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
// its agent) through a store write for each. A post that reaches it is
// cut as one that found nothing left to remove; the next post goes on.
const maxRemovalsPerPost = 32

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
// removed twice.
type endedOutputs struct {
	mu     sync.Mutex
	heap   endedHeap
	queued map[string]bool // the ids in heap
}

// add holds run id, ended at end, unless it is held already.
func (e *endedOutputs) add(id string, end time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.queued[id] {
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
	for e.heap.Len() > 0 {
		o := heap.Pop(&e.heap).(endedOutput)
		if o.id == except {
			skipped = append(skipped, o)
			continue
		}
		delete(e.queued, o.id)
		return o, true
	}
	return endedOutput{}, false
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
// returns how many it reserved: n, or fewer once nothing more could be
// removed (the append is then cut).
func (c *Controller) takeOutput(ctx context.Context, r *Run, t *tenantOutput, n int64) int64 {
	if t == nil {
		return n
	}
	limit := c.cfg.TenantLogLimit
	for range maxRemovalsPerPost {
		if t.takeAll(limit, n) {
			return n
		}
		if !c.removeOldest(ctx, r, t) {
			break
		}
	}
	return t.take(limit, n)
}

// removeOldest removes the output of the ended run of r's tenant's that
// ended first (not r's own), and lowers t by what it removed. It says
// whether to go on: false when no run is left to take, or when one could
// not be removed now (it is kept for a later post).
func (c *Controller) removeOldest(ctx context.Context, r *Run, t *tenantOutput) bool {
	o, ok := t.ended.take(r.ID)
	if !ok {
		return false
	}
	n, err := c.removeOutput(ctx, r.Tenant, o.id)
	if errors.Is(err, errNotEnded) {
		// Not the tenant's ended run, by the store: never removed.
		return true
	}
	if err != nil {
		t.ended.add(o.id, o.end)
		c.cfg.Logger.Warn("removing an ended run's output to make room under serve --tenant-output-limit", "run", o.id, "tenant", r.Tenant, "err", err)
		return false
	}
	t.give(n)
	return true
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
	if err != nil || kept == 0 {
		// None left (removed by another server sharing the state
		// directory, or by the operator): nothing to tell.
		return 0, err
	}
	reason := fmt.Sprintf("this run's output kept by the server (%d bytes) was removed to make room for newer output of tenant %s's runs: the output kept for them is bounded at %d bytes (serve --tenant-output-limit), and this was the oldest ended run with output; the site's own log may have it",
		kept, tenant, c.cfg.TenantLogLimit)
	_, err = c.update(ctx, id, func(r *Run, ch *store.Change) error {
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
		return 0, err
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
// state and that have output files, a page at a time; a run's end is
// taken to be its row's last write (UpdatedAt).
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
				return fmt.Errorf("listing tenant %s's ended runs: %w", tenant, err)
			}
			if n > 0 {
				t.ended.add(row.ID, row.UpdatedAt)
			}
		}
		if len(rows) < outputScanPage {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
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
