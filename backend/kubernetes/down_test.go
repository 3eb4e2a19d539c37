package kubernetes

import (
	"fmt"
	"testing"
	"time"
)

// drop deletes an object as the API server does, telling the watchers.
func (f *fakeAPI) drop(resource, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objs[resource][name]
	if !ok {
		f.t.Fatalf("no %s %s to delete", resource, name)
	}
	delete(f.objs[resource], name)
	f.rv++
	meta(o)["resourceVersion"] = fmt.Sprint(f.rv)
	f.notify(resource, "DELETED", o)
}

func fakeNode(name, ready string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": name},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": ready}}}}
}

func fakePod(name, job, jobUID, node, phase string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "ns",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: jobUID, jobNameLabel: job},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": jobUID, "controller": true}}},
		"spec":   map[string]any{"nodeName": node, "containers": []any{map[string]any{"name": ContainerName, "image": "img"}}},
		"status": map[string]any{"phase": phase}}
}

// fakeLegacyPod is fakePod as the Job controller made it before Kubernetes
// 1.27, labelled with the Job's UID by the older controller-uid label
// alone, and without the label managed by Meridian (taken off by someone
// who may update Pods), out of the watch cache's sight.
func fakeLegacyPod(name, job, jobUID, node, phase string) map[string]any {
	p := fakePod(name, job, jobUID, node, phase)
	lbl := meta(p)["labels"].(map[string]any)
	delete(lbl, controllerUIDLabel)
	delete(lbl, LabelManagedBy)
	lbl[legacyControllerUIDLabel] = jobUID
	return p
}

// eventuallyWait is how long eventually waits for its condition:
// generous, since a loaded machine (a race detector's build, other tests
// beside) takes seconds over what an idle one takes a moment for, and a
// condition met returns at once.
const eventuallyWait = 60 * time.Second

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventuallyWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", eventuallyWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// What the watcher keeps of Nodes that are down (w.down) goes with the
// last unfinished Pod on them: the names of Nodes an autoscaler made and
// removed, and of Nodes outside the site's selector that Pods ran on, were
// kept for good. While a Pod runs on a deleted Node, the time it went is
// kept, so that the Pod is lost NodeLostAfter from then.
func TestDownForgetsNodesNoPodIsOn(t *testing.T) {
	f := newFakeAPI(t)
	// An attempt of 9 GPUs on a node of 8: three pods, two of which run.
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	b := f.start(t)
	b.NodeLostAfter = time.Hour
	w := b.watch
	spec := secretSpec()
	spec.Secret = nil
	spec.Accelerators = 9
	job, err := b.Submit(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	jobObj, _ := f.get("jobs", job)
	uid := fmt.Sprint(meta(jobObj)["uid"])

	// Nodes that came up, never got Ready and were removed, no Pod on them.
	const scaled = 40
	for i := range scaled {
		f.put("nodes", fakeNode(fmt.Sprint("scaled-", i), "False"))
	}
	eventually(t, "the NotReady nodes are not all marked down", func() bool { return w.downCount() == scaled })
	for i := range scaled {
		f.drop("nodes", fmt.Sprint("scaled-", i))
	}

	// A Pod on a Node the site's selector does not pick, and one on a
	// Node deleted under it.
	f.put("nodes", fakeNode("gone", "True"))
	f.put("pods", fakePod(job+"-a", job, uid, "elsewhere", podRunning))
	f.put("pods", fakePod(job+"-b", job, uid, "gone", podRunning))
	eventually(t, "the pods did not reach the cache", func() bool {
		j, ok := w.job(job)
		return ok && len(w.podsOf(j)) == 2 && w.nodeInCache("gone")
	})
	if _, err := b.Status(testContext(t), job); err != nil {
		t.Fatal(err)
	}
	f.drop("nodes", "gone")
	eventually(t, "the deleted node under a running pod is not marked down", func() bool {
		_, why, down := w.nodeDown("gone")
		return !w.nodeInCache("gone") && down && why == "was deleted"
	})
	since, _, _ := w.nodeDown("gone")
	eventually(t, fmt.Sprintf("w.down holds %d nodes; want the 2 under running pods", w.downCount()),
		func() bool { return w.downCount() == 2 })
	time.Sleep(50 * time.Millisecond)
	if again, _, _ := w.nodeDown("gone"); !again.Equal(since) {
		t.Errorf("the deleted node's down time moved from %v to %v while its pod runs", since, again)
	}
	if _, _, down := w.nodeDown("elsewhere"); !down {
		t.Error("the node outside the selector under a running pod is not down")
	}

	// The one Pod ends, the other goes: nothing is left.
	f.put("pods", fakePod(job+"-a", job, uid, "elsewhere", podSucceeded))
	f.drop("pods", job+"-b")
	eventually(t, "nodes no unfinished pod is on are still held", func() bool { return w.downCount() == 0 })
}
