package kubernetes

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// TestWatcherMapsBoundedInBytes: what the watcher keeps beside its caches
// (down by Node name, unfinished and gone by Job UID with the pods' UIDs
// and names, suspendedPods by pod UID) was bounded by count alone, each
// entry's names and UIDs up to maxKeptString: a hostile API server's
// Nodes not Ready and pods deleted, each named at 4 KiB, had the maps
// hold some 200 MiB each past the caches' bound, and the entries of Jobs
// gone outlive them. Each map now holds at most maxSideBytes, measured
// here on the heap.
func TestWatcherMapsBoundedInBytes(t *testing.T) {
	h, b := newHostile(t, nil)
	w := b.watch
	old := maxSideBytes
	maxSideBytes = 256 << 10
	t.Cleanup(func() { maxSideBytes = old })

	// A Job the queue suspended, whose pods are being deleted.
	h.f.changeJob(hostileJob, map[string]any{"spec": map[string]any{"suspend": true}})
	eventually(t, "the cache did not take the Job's suspension", func() bool { return w.jobSuspended(hostileJob, "job-uid") })

	long := func(i int, what string) string {
		return fmt.Sprintf("%s-%06d-", what, i) + strings.Repeat("x", maxKeptString-16)
	}
	decode := func(obj k8sruntime.Object, v map[string]any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, obj); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name, uid, job, jobUID, phase string) *apiPod {
		p := &apiPod{}
		decode(p, map[string]any{"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": name, "namespace": "ns", "uid": uid,
				"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: jobUID, jobNameLabel: job},
				"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": jobUID, "controller": true}}},
			"status": map[string]any{"phase": phase}})
		return p
	}
	feed := func(from, to int) {
		for i := from; i < to; i++ {
			// A pod of a Job the cache never held, gone unfinished.
			w.podGone(pod(long(i, "pod"), long(i, "poduid"), long(i, "job"), long(i, "jobuid"), podFailed))
			// A pod of the suspended Job whose deletion began.
			w.podEnding(pod(hostileJob+"-x", long(i, "suspended"), hostileJob, "job-uid", podRunning))
			// A Node not Ready.
			n := &apiNode{}
			decode(n, map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": long(i, "node")},
				"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": long(i, "reason")}}}})
			w.nodeSeen(n)
		}
	}
	feed(0, 1) // first uses (the decoder's caches, the maps' first buckets)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	const entries = 1000
	start := time.Now()
	feed(1, entries)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	w.mu.Lock()
	held := w.downBytes + w.unfinishedBytes + w.goneBytes + w.suspendedBytes
	counts := fmt.Sprintf("down %d, unfinished %d, gone %d, suspended %d",
		len(w.down), len(w.unfinished), w.goneCount, len(w.suspendedPods))
	w.mu.Unlock()
	t.Logf("%d deleted pods, suspended pods' deletions and Nodes not Ready, names and UIDs of %d KiB, in %s: "+
		"the heap grew by %.1f MiB; the maps count %.1f MiB (%s)",
		entries, maxKeptString>>10, time.Since(start).Round(time.Millisecond),
		float64(grown)/(1<<20), float64(held)/(1<<20), counts)
	if bound := 4 * maxSideBytes; grown > 2*bound {
		t.Errorf("the watcher's maps hold %.1f MiB of heap; want at most about %.1f MiB (4 maps of %d KiB)",
			float64(grown)/(1<<20), float64(bound)/(1<<20), maxSideBytes>>10)
	}
	for what, n := range map[string]int64{"down": w.downBytes, "unfinished": w.unfinishedBytes, "gone": w.goneBytes, "suspendedPods": w.suspendedBytes} {
		if n > maxSideBytes || n <= 0 {
			t.Errorf("%s counts %d bytes; want some, at most %d", what, n, maxSideBytes)
		}
	}
}
