package kubernetes

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// The record's list of completion indexes seen succeeded was bounded at
// 16 KiB, and an index that would have taken it past that was not kept:
// an honest Indexed attempt of thousands of pods whose pods succeed out
// of order (the list is longest half way through, "0-1,3-4,…") lost
// indexes for good, and, its succeeded pods deleted, read lost after a
// restart. The bound is now the longest list of indexes an Indexed Job
// can have (maxIndexedCompletions), so no success seen is left off, and
// the attempt succeeds. The Job's own status.completedIndexes is still
// only what is judged, never what it is judged by.
func TestScatteredSuccessesOfAnIndexedAttemptAreKeptAcrossARestart(t *testing.T) {
	const pods = 6000
	s := submitOnGPUNode(t, "1", gpuSpec(pods), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, types.UID(s.uid)
	f.changeJob(name, map[string]any{"status": map[string]any{"startTime": "2026-01-01T00:00:00Z"}})
	made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	// As the watch's pod handler keeps them: first the indexes of two
	// pods in three, then the rest. No pod is left in the fake, as after
	// pod garbage collection.
	see := func(i int) {
		if err := b.keepSucceeded(name, uid, types.UID(fmt.Sprintf("pod-uid-%d", i)), made, true, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range pods {
		if i%3 != 2 {
			see(i)
		}
	}
	_ = b.flushIndexes(name)
	if r, _ := b.record(name); len(r.SucceededIndexes) <= 16<<10 {
		t.Errorf("the record's list is %d bytes half way; want the scattered list past 16 KiB", len(r.SucceededIndexes))
	}
	for i := range pods {
		if i%3 == 2 {
			see(i)
		}
	}
	// The restart: Close writes what is pending; a backend on the same
	// state directory has no memory of the pods gone.
	b.Close()
	f.changeJob(name, map[string]any{"status": map[string]any{"startTime": "2026-01-01T00:00:00Z", "succeeded": pods,
		"completedIndexes": fmt.Sprintf("0-%d", pods-1),
		"conditions":       []any{map[string]any{"type": jobComplete, "status": "True"}}}})
	again, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		b.stateDir, &rest.Config{Host: b.host, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	eventually(t, "the restarted backend's cache did not take the Job's end", func() bool {
		j, ok := again.watch.job(name)
		return ok && again.jobFinished(j)
	})
	if st, err := again.Status(ctx, name); err != nil || st.State != backend.Succeeded {
		t.Fatalf("Status = %+v, %v; want Succeeded", st, err)
	}
}

// A list of indexes below maxIndexedCompletions as long as the longest
// within a few bytes (scatteredIndexes) is kept whole,
// and a record that holds it, with its pods kept (maxSeenSucceeded each
// of them seen succeeded and ended, of the longest UIDs kept), is read
// back within maxRecordBytes.
func TestTheLongestListOfIndexesFitsTheRecord(t *testing.T) {
	be := newFakeAPI(t).start(t)
	made := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	name, uid := JobName("longest", 1), types.UID("job-uid")
	var pods []seenPod
	for i := range maxSeenSucceeded {
		pods = append(pods, seenPod{UID: sideUID(types.UID(strings.Repeat("u", maxUIDBytes) + fmt.Sprint(i))), Made: made})
	}
	rec := record{RunID: "longest", Attempt: 1, Namespace: be.ns, Nonce: newNonce(), Submitted: made, UID: uid,
		Succeeded: pods, Ended: pods}
	if _, err := be.createRecord(name, rec); err != nil {
		t.Fatal(err)
	}
	want := formatIndexes(scatteredIndexes(maxIndexedCompletions))
	p := &pendingIndexes{uid: uid, made: made}
	for _, r := range scatteredIndexes(maxIndexedCompletions) {
		p.indexes = append(p.indexes, r.lo, r.hi)
	}
	be.recMu.Lock()
	be.pending = map[string]*pendingIndexes{name: p}
	p.timer = time.NewTimer(time.Hour)
	err := be.flushIndexesLocked(name)
	be.recMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := be.record(name)
	if !ok || got.SucceededIndexes != want {
		t.Fatalf("record read %v, holding %d bytes of indexes; want the %d-byte list whole", ok, len(got.SucceededIndexes), len(want))
	}
}
