package run

import (
	"context"
	"sync"

	"meridian.dev/meridian/store"
)

// watchers tells whoever watches a run, or a tenant's runs, that it
// changed: the API's event streams wait on it instead of polling the store.
// A signal says only "read again"; it carries nothing, so a watcher that is
// slow to read costs one pending signal, never a queue.
type watchers struct {
	mu       sync.Mutex
	byID     map[string]map[chan struct{}]struct{}
	byTenant map[string]map[chan struct{}]struct{}
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
	return c.watch.addRun(id)
}

// WatchTenant is WatchRun for every run of tenant, new ones included.
func (c *Controller) WatchTenant(tenant string) (<-chan struct{}, func()) {
	return c.watch.add(&c.watch.byTenant, tenant)
}

func (w *watchers) addRun(id string) (<-chan struct{}, func()) {
	return w.add(&w.byID, id)
}

// add registers a watcher of key in *m (byID or byTenant).
func (w *watchers) add(m *map[string]map[chan struct{}]struct{}, key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if *m == nil {
		*m = map[string]map[chan struct{}]struct{}{}
	}
	if (*m)[key] == nil {
		(*m)[key] = map[chan struct{}]struct{}{}
	}
	(*m)[key][ch] = struct{}{}
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.mu.Lock()
			delete((*m)[key], ch)
			if len((*m)[key]) == 0 {
				delete(*m, key)
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
		Changed: c.watch.runChanged,
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
	for _, m := range []map[string]map[chan struct{}]struct{}{w.byID, w.byTenant} {
		for _, chs := range m {
			signal(chs)
		}
	}
}

// runChanged signals the watchers of run id and of its tenant without
// blocking.
func (w *watchers) runChanged(tenant, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	signal(w.byID[id])
	signal(w.byTenant[tenant])
}

func signal(chs map[chan struct{}]struct{}) {
	for ch := range chs {
		select {
		case ch <- struct{}{}:
		default: // one signal is pending already
		}
	}
}
