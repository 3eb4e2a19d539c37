package run

import (
	"context"
	"sync"

	"meridian.dev/meridian/store"
)

// watchers tells whoever watches a run that it changed: the API's event
// streams wait on it instead of polling the store. A signal says only
// "read again"; it carries nothing, so a watcher that is slow to read
// costs one pending signal, never a queue.
type watchers struct {
	mu   sync.Mutex
	byID map[string]map[chan struct{}]struct{}
}

// WatchRun returns a channel that receives a signal after each change to
// run id that this controller records (a state change, an event, progress),
// and a function that stops the watch. Signals coalesce: after several
// changes the channel holds one. Changes another replica records are
// signalled only while ListenStore runs, over a store that announces them
// (PostgreSQL), and only as fast as it does; a watcher that must see them
// also reads again now and then. WatchRun does not check who owns the run:
// the caller has done so.
func (c *Controller) WatchRun(id string) (<-chan struct{}, func()) {
	return c.watch.add(id)
}

func (w *watchers) add(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.byID == nil {
		w.byID = map[string]map[chan struct{}]struct{}{}
	}
	if w.byID[id] == nil {
		w.byID[id] = map[chan struct{}]struct{}{}
	}
	w.byID[id][ch] = struct{}{}
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.mu.Lock()
			delete(w.byID[id], ch)
			if len(w.byID[id]) == 0 {
				delete(w.byID, id)
			}
			w.mu.Unlock()
		})
	}
}

// ListenStore signals the watchers of each run whose change any replica
// commits, for as long as ctx lasts, when the store announces such changes
// (store.RunListener); with any other store it returns at once. While its
// connection is lost, watchers fall back on their own reads; when it is
// back, every watcher is signalled once, for what it may have missed.
func (c *Controller) ListenStore(ctx context.Context) {
	l, ok := c.cfg.Store.(store.RunListener)
	if !ok {
		return
	}
	l.ListenRuns(ctx, store.RunChanges{
		Changed: c.watch.changed,
		Resync:  c.watch.changedAll,
		Lost: func(err error) {
			c.cfg.Logger.Warn("listening for other replicas' run changes", "err", err)
		},
	})
}

// changedAll signals every watcher without blocking.
func (w *watchers) changedAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, chs := range w.byID {
		for ch := range chs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// changed signals run id's watchers without blocking.
func (w *watchers) changed(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.byID[id] {
		select {
		case ch <- struct{}{}:
		default: // one signal is pending already
		}
	}
}
