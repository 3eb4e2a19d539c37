package kubernetes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// hugePod is a Pod of hostileJob's, pod i, with about size bytes in each of
// an annotation, a label, its status message and its container's
// termination message: what anyone who may write Pods in the namespace
// (or a hostile API server) can send, within maxObjectBytes.
func hugePod(i, size int) map[string]any {
	pad := strings.Repeat("x", size)
	name := fmt.Sprintf("%s-huge-%d", hostileJob, i)
	return map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "ns",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: "job-uid", jobNameLabel: hostileJob, "pad": pad},
			"annotations":     map[string]any{"pad": pad},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": hostileJob, "uid": "job-uid", "controller": true}}},
		"spec": map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": ContainerName}}},
		"status": map[string]any{"phase": "Failed", "message": pad, "containerStatuses": []any{map[string]any{"name": ContainerName,
			"state": map[string]any{"terminated": map[string]any{"exitCode": 3, "message": pad}}}}}}
}

func TestWatchCacheKeepsOnlyWhatItReads(t *testing.T) {
	// A few Pods of megabytes each (annotations, labels, status): the
	// cache keeps what the backend reads of them, each string cut, not
	// the megabytes, which would stay in memory as long as the Pods exist.
	const pods, size = 8, 3 << 20 / 4
	h, b := newHostile(t, nil)
	for i := range pods {
		h.f.put("pods", hugePod(i, size))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		job, ok := b.watch.job(hostileJob)
		if ok && len(b.watch.podsOf(job)) == 1+pods {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache did not take the %d pods within 30 s", pods)
		}
		time.Sleep(10 * time.Millisecond)
	}
	job, _ := b.watch.job(hostileJob)
	kept := 0
	for _, p := range b.watch.podsOf(job) {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		kept += len(data)
	}
	t.Logf("%d pods of %.1f MiB sent: the cache's pods are %d bytes of JSON", pods, float64(4*size)/(1<<20), kept)
	if want := (1 + pods) * 4 * (maxKeptString + 1024); kept > want {
		t.Errorf("the cache's pods are %d bytes of JSON; want at most %d", kept, want)
	}
	// What the backend reads of them is still there: the exit code, and
	// the start of the termination message.
	for _, p := range b.watch.podsOf(job) {
		if !strings.Contains(p.Name, "-huge-") {
			continue
		}
		if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil {
			t.Fatalf("pod %s: the cache lost its container's state: %+v", p.Name, p.Status.ContainerStatuses)
		}
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term.ExitCode != 3 || term.Message != strings.Repeat("x", maxKeptString) {
			t.Errorf("pod %s: kept exit code %d and a message of %d bytes; want 3 and its first %d bytes",
				p.Name, term.ExitCode, len(term.Message), maxKeptString)
		}
	}
}

func TestWatchCacheBytesBounded(t *testing.T) {
	// Many Pods, each within every other bound, that together hold more
	// than the cache keeps: the watch is refused and Status says so.
	old := maxCachedBytes
	maxCachedBytes = 256 << 10
	t.Cleanup(func() { maxCachedBytes = old })
	h, b := newHostile(t, nil)
	for i := 0; i < 64; i++ {
		h.f.put("pods", hugePod(i, 64<<10))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := b.Status(testContext(t), hostileJob)
		if err != nil {
			wantTooLarge(t, err, "pods", "objects of more than 256 KiB in all")
			t.Logf("Status: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error within 30 s; the cache holds %d bytes of pods", b.watch.ledgers[resourcePods].bytes.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := b.watch.ledgers[resourcePods].bytes.Load(); n > maxCachedBytes {
		t.Errorf("the cache holds %d bytes of pods; want at most %d", n, maxCachedBytes)
	}
}

func TestWatchCacheKeepsTheNodesGPUResource(t *testing.T) {
	// A Node offering many resources: the cache keeps the site's GPU
	// resource of them, which placement reads, and only that.
	f := newFakeAPI(t)
	alloc := map[string]any{DefaultGPUResource: "8"}
	for i := range 64 {
		alloc[fmt.Sprintf("example.com/device-%d", i)] = "1"
	}
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = alloc
	b := f.start(t)
	spec := secretSpec()
	spec.Accelerators = 8
	if _, err := b.Submit(testContext(t), spec); err != nil {
		t.Fatalf("Submit of 8 GPUs on a node of 8: %v", err)
	}
	nodes := b.watch.nodes()
	if len(nodes) != 1 || len(nodes[0].Status.Allocatable) != 1 {
		t.Fatalf("the cache's nodes: %+v; want n1 with its GPU resource alone", nodes)
	}
	if q := nodes[0].Status.Allocatable[DefaultGPUResource]; q.Value() != 8 {
		t.Errorf("the cache's n1 offers %s of %s; want 8", q.String(), DefaultGPUResource)
	}
}

func TestWatchCacheListBytesBounded(t *testing.T) {
	// The same Pods there before the backend starts: its first list of
	// them, page by page, is refused once they hold more than the cache
	// keeps, and Status says so.
	old := maxCachedBytes
	maxCachedBytes = 256 << 10
	t.Cleanup(func() { maxCachedBytes = old })
	f := newFakeAPI(t)
	for i := 0; i < 64; i++ {
		f.put("pods", hugePod(i, 32<<10)) // a page of 8 MiB
	}
	b := f.start(t)
	_, err := b.Status(testContext(t), hostileJob)
	wantTooLarge(t, err, "list of pods", "objects of more than 256 KiB in all")
	t.Logf("Status: %v", err)
}

func TestWatchCacheBytesComeBackAfterDeletes(t *testing.T) {
	// Pods of the label with big annotations, made and deleted: the cache
	// counted what it kept of each, and a Deleted event carries the whole
	// object. What the counters hold after the deletes is what they held
	// before, not less (each cycle would lower the bound of what the cache
	// may hold by the difference). A Deleted event for a Pod the cache never
	// held (as a hostile API server may send) takes nothing off either.
	const pods, size = 8, 256 << 10
	h, b := newHostile(t, nil)
	w := b.watch
	count, bytes := &w.ledgers[resourcePods].count, &w.ledgers[resourcePods].bytes
	beforeCount, beforeBytes := count.Load(), bytes.Load()
	for i := range pods {
		h.f.put("pods", hugePod(i, size))
	}
	eventually(t, "the huge pods are not all counted", func() bool { return count.Load() == beforeCount+pods })
	t.Logf("%d pods of %d KiB: the cache counts %d bytes of pods, %d before", pods, 4*size>>10, bytes.Load(), beforeBytes)
	for i := range pods {
		h.f.drop("pods", fmt.Sprintf("%s-huge-%d", hostileJob, i))
	}
	eventually(t, "the deleted pods are still counted", func() bool { return count.Load() == beforeCount })
	if n := bytes.Load(); n != beforeBytes {
		t.Fatalf("after the pods were made and deleted, the cache counts %d bytes of pods; want %d, as before", n, beforeBytes)
	}

	// A deletion of a Pod never sent, then one Pod made: the count is one
	// more than before, and the bytes what that Pod counts. The deletion
	// has a version, as every event of an API server: the reflector resumes
	// a watch cut (by the client's request timeout) from the version of
	// the last event, and from none it would miss the Pod made.
	h.f.mu.Lock()
	never := hugePod(pods, size)
	meta(never)["name"] = hostileJob + "-never"
	h.f.rv++
	meta(never)["resourceVersion"] = strconv.Itoa(h.f.rv)
	h.f.notify("pods", "DELETED", never)
	h.f.mu.Unlock()
	h.f.put("pods", fakePod(hostileJob+"-marker", hostileJob, "job-uid", "n1", podRunning))
	eventually(t, fmt.Sprintf("the cache counts %d pods; want %d", count.Load(), beforeCount+1),
		func() bool { return count.Load() == beforeCount+1 })
	// Counted as the watch passes it on: the cache may take it a moment later.
	var obj any
	eventually(t, "the marker pod is not in the cache", func() bool {
		o, ok, err := w.pods.GetStore().GetByKey("ns/" + hostileJob + "-marker")
		obj = o
		return err == nil && ok
	})
	if n, want := bytes.Load(), beforeBytes+keptBytes(obj); n != want {
		t.Errorf("after a deletion of a pod never sent and one pod made, the cache counts %d bytes of pods; want %d", n, want)
	}
}

func TestWatchPassesOnNoMoreThanTheCacheKeeps(t *testing.T) {
	// What a watch passes on to its cache is weighed against what it has
	// passed on before, event by event, not against what the cache's event
	// handlers have counted so far, which trails the watch by however many
	// events the informer has queued (here, all of them: nothing takes
	// them). Pods sent in a burst are refused once they would hold more
	// than the cache keeps.
	old := maxCachedBytes
	maxCachedBytes = 256 << 10
	t.Cleanup(func() { maxCachedBytes = old })
	b := newFakeAPI(t).start(t)
	w := newWatcher(b)
	t.Cleanup(w.stop)
	in := watch.NewFakeWithChanSize(64, false)
	for i := range 64 {
		data, err := json.Marshal(hugePod(i, 64<<10))
		if err != nil {
			t.Fatal(err)
		}
		p := &apiPod{}
		if err := json.Unmarshal(data, p); err != nil {
			t.Fatal(err)
		}
		in.Add(p)
	}
	bw := w.boundWatch(resourcePods, in)
	defer bw.Stop()
	var passed int64
	refused := false
	for n := 0; n < 64 && !refused; n++ {
		ev, ok := <-bw.ResultChan()
		if !ok {
			break
		}
		if ev.Type == watch.Error {
			refused = true
			continue
		}
		passed += keptBytes(ev.Object)
	}
	if !refused {
		t.Errorf("the watch passed on all 64 pods (%d bytes) unrefused", passed)
	}
	if passed > maxCachedBytes {
		t.Errorf("the watch passed on %d bytes of pods; want at most %d", passed, maxCachedBytes)
	}
}

func TestWatchChangesOfUnheldObjectsCountAsNew(t *testing.T) {
	// A watch that sends changes of Nodes the cache never held (which the
	// cache takes as new ones): past maxCachedObjects of them, the watch is
	// refused as one of as many additions would be.
	b := newFakeAPI(t).start(t)
	w := newWatcher(b)
	t.Cleanup(w.stop)
	in := watch.NewFakeWithChanSize(maxCachedObjects+1, false)
	for i := range maxCachedObjects + 1 {
		in.Modify(&apiNode{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("changed-%d", i), ResourceVersion: "1"}})
	}
	bw := w.boundWatch(resourceNodes, in)
	defer bw.Stop()
	for n := 0; n <= maxCachedObjects; n++ {
		ev, ok := <-bw.ResultChan()
		if !ok {
			t.Fatalf("the watch ended after %d events, unrefused", n)
		}
		if ev.Type == watch.Error {
			if n != maxCachedObjects {
				t.Errorf("the watch was refused after %d changed nodes; want %d", n, maxCachedObjects)
			}
			return
		}
	}
	t.Errorf("the watch passed on %d changes of nodes the cache did not hold; want at most %d", maxCachedObjects+1, maxCachedObjects)
}
