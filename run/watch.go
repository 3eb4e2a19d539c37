package run

import (
	"context"
	"slices"
	"sync"

	"meridian.dev/meridian/store"
)

// watchers tells whoever watches a run, or a tenant's runs, that it
// changed: the API's event streams wait on it instead of polling the store.
// A run's signal says only "read again"; it carries nothing, so a watcher
// that is slow to read costs one pending signal, never a queue. A tenant's
// watch also keeps which of its runs changed, up to maxTenantChanges.
type watchers struct {
	mu       sync.Mutex
	byID     map[string]map[chan struct{}]struct{}
	byTenant map[string]map[*TenantWatch]struct{}
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

func (w *watchers) addRun(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	return ch, register(w, &w.byID, id, ch)
}

// register adds v to the watchers of key in *m (byID or byTenant) and
// returns the function that removes it, once.
func register[T comparable](w *watchers, m *map[string]map[T]struct{}, key string, v T) func() {
	w.mu.Lock()
	if *m == nil {
		*m = map[string]map[T]struct{}{}
	}
	if (*m)[key] == nil {
		(*m)[key] = map[T]struct{}{}
	}
	(*m)[key][v] = struct{}{}
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			delete((*m)[key], v)
			if len((*m)[key]) == 0 {
				delete(*m, key)
			}
			w.mu.Unlock()
		})
	}
}

// maxTenantChanges is how many changed runs a TenantWatch remembers
// between two Takes; past it, Take says that all may have changed.
const maxTenantChanges = 256

// TenantWatch watches every run of a tenant, new ones included: Changed
// receives a signal after changes (coalesced, as WatchRun's), and Take
// says which runs changed since the last Take.
type TenantWatch struct {
	ch  chan struct{}
	mu  sync.Mutex
	ids map[string]struct{}
	all bool
}

// Changed receives a signal after changes to the tenant's runs.
func (tw *TenantWatch) Changed() <-chan struct{} { return tw.ch }

// Take returns the runs that changed since the last Take, or all when
// it cannot say which (more than maxTenantChanges, or after the store's
// announcements were lost for a while): then the caller reads them all.
func (tw *TenantWatch) Take() (ids []string, all bool) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	all = tw.all
	if !all {
		for id := range tw.ids {
			ids = append(ids, id)
		}
		slices.Sort(ids)
	}
	clear(tw.ids)
	tw.all = false
	return ids, all
}

// note records a change to run id ("" for any run) and signals.
func (tw *TenantWatch) note(id string) {
	tw.mu.Lock()
	if id == "" || len(tw.ids) >= maxTenantChanges {
		tw.all = true
	} else {
		tw.ids[id] = struct{}{}
	}
	tw.mu.Unlock()
	select {
	case tw.ch <- struct{}{}:
	default: // one signal is pending already
	}
}

// WatchTenant watches every run of tenant (see TenantWatch), until the
// function it returns is called. Like WatchRun, it sees other replicas'
// changes only while ListenStore runs.
func (c *Controller) WatchTenant(tenant string) (*TenantWatch, func()) {
	return c.watch.addTenant(tenant)
}

func (w *watchers) addTenant(tenant string) (*TenantWatch, func()) {
	tw := &TenantWatch{ch: make(chan struct{}, 1), ids: map[string]struct{}{}}
	return tw, register(w, &w.byTenant, tenant, tw)
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

// changedAll signals every watcher without blocking; tenant watches
// take all.
func (w *watchers) changedAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, chs := range w.byID {
		signal(chs)
	}
	for _, tws := range w.byTenant {
		for tw := range tws {
			tw.note("")
		}
	}
}

// runChanged signals the watchers of run id and of its tenant without
// blocking.
func (w *watchers) runChanged(tenant, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	signal(w.byID[id])
	for tw := range w.byTenant[tenant] {
		tw.note(id)
	}
}

func signal(chs map[chan struct{}]struct{}) {
	for ch := range chs {
		select {
		case ch <- struct{}{}:
		default: // one signal is pending already
		}
	}
}
