package kubernetes

import (
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// dropJobOnPatch has f, at the next patch of the Job named name, delete it
// (as with orphan propagation: its pods stay) without telling the
// watchers, and answer 404: the Job went after the watch cache last saw
// it, before Cancel's mark reached it.
func (f *fakeAPI) dropJobOnPatch(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onPatch = func(resource string, _ map[string]any) (int, string) {
		if resource != "jobs" {
			return 0, ""
		}
		// f.mu is held while onPatch runs.
		delete(f.objs["jobs"], name)
		return 404, "NotFound"
	}
}

// tellDeleted tells the watchers of resource that o, already gone from f,
// was deleted.
func (f *fakeAPI) tellDeleted(resource string, o map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	meta(o)["resourceVersion"] = fmt.Sprint(f.rv)
	f.notify(resource, "DELETED", o)
}

// Cancel of an attempt whose Job the watch cache still held, deleted with
// orphan propagation before Cancel's mark reached it: the mark's 404 was
// taken for "gone, nothing to stop" and Cancel returned nil, the orphaned
// pods running on (and Status then read Cancelled). Cancel now deletes the
// attempt's pods, by its Job's UID, as for a Job it finds gone.
func TestCancelWhoseMarkFindsTheJobGoneStopsItsPods(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	pod := name + "-hidden"
	f.put("pods", hiddenPod(pod, name, f.jobUID(name)))
	f.dropJobOnPatch(name)
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if _, ok := f.get("pods", pod); ok {
		t.Errorf("Cancel left the attempt's orphaned pod running, its Job gone before the mark")
	}
}

// A cancellation on record whose Job is gone (deleted with orphan
// propagation, its pods left running) read Cancelled without a look at
// the attempt's pods: a drain took the attempt for ended and moved the
// run on beside them. It now reads Running, cancelling, until no pod
// labelled with the attempt's UID is unfinished, then Cancelled, and is
// remembered so.
func TestCancelledAttemptOfAGoneJobWithPodsIsNoEnd(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	pod := name + "-hidden"
	f.put("pods", hiddenPod(pod, name, f.jobUID(name)))
	// The Cancel whose pods' deletes were refused: the cancellation is on
	// record, the Job gone and its pod running.
	f.refuseDeletes("pods", 500, "InternalError")
	job, _ := f.get("jobs", name)
	f.dropJobOnPatch(name)
	_ = b.Cancel(ctx, name)
	if _, ok := f.get("pods", pod); !ok {
		t.Fatal("the attempt's pod is gone; the fake refused its delete")
	}
	f.tellDeleted("jobs", job)
	waitJobGone(t, b, name)
	wantStatus(t, ctx, b, name, backend.Running, "cancelling: 1 pod", "Status with the Job gone and its pod running")
	forgetFinals(b)
	wantStatus(t, ctx, b, name, backend.Running, "cancelling: 1 pod", "Status, the end read from the record")
	stopPodWaitCancelled(t, ctx, f, b, name, pod)
	if !b.knownOver(name) {
		t.Errorf("the cancellation found over is not remembered")
	}
}

// A UID on record that is no label value (a record changed by hand, or an
// API server's answer that no Kubernetes gives) makes every list of the
// attempt's pods fail: a cancellation whose Job is gone then read Running,
// "whether the attempt's pods still run could not be read", at every poll
// for good, with no word why. The reason now names the UID and the label.
func TestCancelledAttemptWithAnUnlistableUIDSaysWhy(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	name := JobName("unlistable", 1)
	cancelled := backend.Status{State: backend.Cancelled, ExitCode: 128 + 15, Reason: "cancelled"}
	if err := b.writeRecord(name, record{RunID: "unlistable", Attempt: 1, Namespace: "ns", UID: "a,app=other",
		Submitted: time.Now().UTC(), Final: &cancelled}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, testContext(t), b, name, backend.Running, `the attempt's Job UID "a,app=other" is no label value`,
		"Status of a cancellation whose UID is no label value")
}
