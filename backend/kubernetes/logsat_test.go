package kubernetes

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// changePod applies a merge patch to the Pod name as the kubelet does,
// telling the watchers.
func (f *fakeAPI) changePod(name string, patch map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs["pods"][name]
	if !ok {
		f.t.Fatalf("no Pod %s to change", name)
	}
	o = clone(o)
	applyMergePatch(o, patch)
	f.rv++
	meta(o)["resourceVersion"] = strconv.Itoa(f.rv)
	f.objs["pods"][name] = o
	f.notify("pods", "MODIFIED", o)
}

func containerStarted(id string, restarts int) map[string]any {
	return map[string]any{"status": map[string]any{"containerStatuses": []any{map[string]any{
		"name": ContainerName, "containerID": id, "restartCount": restarts,
		"state": map[string]any{"running": map[string]any{"startedAt": "2026-01-01T00:00:00Z"}}}}}}
}

// TestLogsAtTellsRestartedContainer: a pod's log has no offset, so LogsAt
// reads it from its start and drops what comes before the offset; it names
// the output by the pod and its container, so that a follower sees the
// log of the container started again (whose log starts anew) as output
// replaced, not as the old output grown, and output grown as the same.
func TestLogsAtTellsRestartedContainer(t *testing.T) {
	var mu sync.Mutex
	log := "first\n"
	h, b := newHostile(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/log") {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, log)
		return true
	})
	setLog := func(s string) { mu.Lock(); log = s; mu.Unlock() }
	pod := hostileJob + "-x"
	open := func(off int64) (backend.LogInfo, string) {
		t.Helper()
		rc, info, err := b.LogsAt(testContext(t), hostileJob, off)
		if err != nil {
			t.Fatalf("LogsAt(%d): %v", off, err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("LogsAt(%d): read: %v", off, err)
		}
		return info, string(got)
	}
	// waitID opens the output until the backend has seen the pod change.
	waitID := func(not string) (backend.LogInfo, string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, got := open(0)
			if info.ID != not || time.Now().After(deadline) {
				return info, got
			}
			time.Sleep(10 * time.Millisecond) // polling the watch cache
		}
	}
	h.f.changePod(pod, containerStarted("containerd://one", 0))
	first, _ := waitID("") // its container not started yet
	if _, got := open(2); got != "rst\n" {
		t.Errorf("LogsAt(2): %q, want the log from byte 2", got)
	}
	setLog("first\nmore\n")
	grown, got := open(int64(len("first\n")))
	if got != "more\n" || first.Replaced(grown) {
		t.Errorf("a log grown: read %q, replaced %v (%q, was %q); want what was added, the same output", got, first.Replaced(grown), grown.ID, first.ID)
	}
	setLog("again\n")
	h.f.changePod(pod, containerStarted("containerd://two", 1))
	again, got := waitID(first.ID)
	if !first.Replaced(again) || got != "again\n" {
		t.Errorf("the pod's container started again: replaced %v (%q, was %q), read %q; want another output", first.Replaced(again), again.ID, first.ID, got)
	}
}
