package kubernetes

import (
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"
)

// A pod event that shows a pod both ended and being deleted reads the
// attempt's record once (podSucceeded), as one that shows it ended only:
// each pod event of an ended pod (a relist delivers one for each pod the
// cache holds) reads the record.
func TestPodEndedAndDeletingReadsRecordOnce(t *testing.T) {
	f := newFakeAPI(t)
	b, h, uid := submitted(t, f, t.TempDir())
	onFile := func() record {
		var r record
		if data, err := os.ReadFile(b.recordPath(h)); err == nil {
			_ = json.Unmarshal(data, &r)
		}
		return r
	}
	eventually(t, "the record does not hold the Job's UID", func() bool { return string(onFile().UID) == uid })

	pod := func(name, podUID, phase string) map[string]any {
		o := fakePod(name, h, uid, "n1", phase)
		meta(o)["uid"] = podUID
		meta(o)["creationTimestamp"] = "2026-01-01T00:00:00Z"
		return o
	}
	f.putWithUID("pods", pod(h+"-a", "uid-a", "Running"))
	eventually(t, "the cache does not hold the pod", func() bool {
		j, ok := b.watch.job(h)
		return ok && len(b.watch.podsOf(j)) == 1
	})

	var reads atomic.Int64
	read := readRecordFile
	readRecordFile = func(path string) ([]byte, error) {
		reads.Add(1)
		return read(path)
	}
	t.Cleanup(func() { readRecordFile = read })
	f.changePod(h+"-a", map[string]any{"metadata": map[string]any{"deletionTimestamp": "2026-01-01T00:01:00Z"},
		"status": map[string]any{"phase": podSucceeded}})
	// Handled after the event above: once it is on record, so is that one.
	f.putWithUID("pods", pod(h+"-b", "uid-b", podSucceeded))
	eventually(t, "the record does not hold the two pods seen succeed", func() bool { return len(onFile().Succeeded) == 2 })
	if n := reads.Load(); n != 2 {
		t.Errorf("two pod events, of a pod succeeded and being deleted and of a pod succeeded, read the record %d times; want 2", n)
	}
}
