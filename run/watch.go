package run

import "sync"

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
// changes the channel holds one. Changes another replica records are not
// signalled; a watcher that must see them also reads again now and then.
// WatchRun does not check who owns the run: the caller has done so.
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
