package kubernetes

import (
	"strconv"
	"testing"
)

// The fake API server, as a real one, sends a watch from a version the
// changes made since, first: the reflector's watch after its list, or
// after a watch was cut (the client's request timeout cuts every watch),
// misses no change made while no watch was open. Changes that reached no
// watch were lost, and tests that waited for the cache to take them
// failed now and then under load (the watch of a backend just started, or
// restarted, not yet open).
func TestFakeAPIWatchResumesFromItsVersion(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	name := submitWithoutSecret(t, b)
	eventually(t, "the cache did not take the Job", func() bool { _, ok := b.watch.job(name); return ok })
	// The watches cut, and the Job ended before the reflector watches
	// again (f.mu held throughout, as endWatches and changeJob take it).
	f.mu.Lock()
	for r, cs := range f.watchers {
		for _, c := range cs {
			close(c)
		}
		delete(f.watchers, r)
	}
	o := clone(f.objs["jobs"][name])
	applyMergePatch(o, map[string]any{"status": map[string]any{"failed": 1,
		"conditions": []any{map[string]any{"type": jobFailed, "status": "True"}}}})
	f.rv++
	meta(o)["resourceVersion"] = strconv.Itoa(f.rv)
	f.objs["jobs"][name] = o
	f.notify("jobs", "MODIFIED", o)
	f.mu.Unlock()
	eventually(t, "the cache did not take the Job's end, made while no watch was open", func() bool {
		j, ok := b.watch.job(name)
		return ok && b.jobFinished(j)
	})
}
