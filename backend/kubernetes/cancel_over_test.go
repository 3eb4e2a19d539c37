package kubernetes

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// Cancel's delete of the attempt's Job with foreground propagation, once
// accepted, is every Cancel's path (a law move drains each of its runs).
// It listed the namespace's pods by both controller-uid labels, two lists
// sharing the client's request rate with every other call, and failed,
// the delete accepted, where a list failed: under load the Cancels of a
// drain failed and went unconfirmed. It now lists by the label the Job's
// selector matches alone, and at best effort.
func TestAcceptedCancelListsOnceAtBestEffort(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	refused := f.refusePodLists("controller-uid")
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatalf("Cancel whose Job's delete was accepted, a list of its pods refused: %v; want nil", err)
	}
	if _, ok := f.get("jobs", name); ok {
		t.Fatal("the attempt's Job was not deleted")
	}
	got := refused()
	if len(got) != 1 || !strings.HasPrefix(got[0], controllerUIDLabel+"=") {
		t.Errorf("Cancel listed the pods by %q; want one list, by %s", got, controllerUIDLabel)
	}
}

// cancelRefused submits an attempt with a running pod (pod, whose labels
// hide it from the watch cache where hidden) and cancels it with the
// Job's delete refused: the cancellation is on record and the Job marked,
// the Job and its pod still there.
func cancelRefused(t *testing.T, f *fakeAPI, hidden bool) (b *Backend, name, pod string) {
	t.Helper()
	b, ctx, name := cachedAttempt(t, f)
	pod = name + "-p"
	if hidden {
		f.put("pods", hiddenPod(pod, name, f.jobUID(name)))
	} else {
		f.put("pods", fakePod(pod, name, f.jobUID(name), "n1", podRunning))
		waitPodsCached(t, b, name, 1, "the attempt's pod is not in the cache")
	}
	f.refuseDeletes("jobs", 500, "InternalError")
	if err := b.Cancel(ctx, name); err == nil {
		t.Fatal("Cancel succeeded; the fake refused the Job's delete")
	}
	f.allowDeletes()
	waitCancelMarkCached(t, b, name)
	return b, name, pod
}

// A cancelled attempt whose Job was deleted (with orphan propagation) and
// another made under its name was taken for stopped at once, without a
// look at its pods, which ran on: a drain moved the run on beside them.
// Its pods, labelled with its Job's UID, are now looked for (in the watch
// cache, then on the API server) as for its own Job being deleted.
func TestCancelledAttemptOfAReplacedJobWithPodsIsNoEnd(t *testing.T) {
	for _, hidden := range []bool{false, true} {
		t.Run(map[bool]string{false: "seen", true: "relabelled"}[hidden], func(t *testing.T) {
			f := newFakeAPI(t)
			b, name, pod := cancelRefused(t, f, hidden)
			ctx := testContext(t)
			orig, _ := f.get("jobs", name)
			f.drop("jobs", name)
			other := clone(orig)
			delete(meta(other), "uid")
			f.put("jobs", other)
			eventually(t, "the cache does not hold the other Job", func() bool {
				j, ok := b.watch.job(name)
				return ok && j.UID == "planted-uid"
			})
			wantStatus(t, ctx, b, name, backend.Running, "cancelling: 1 pod", "Status with the Job replaced and the attempt's pod running")
			// Forgotten from memory, the cancellation is read from the
			// record: still no end.
			forgetFinals(b)
			wantStatus(t, ctx, b, name, backend.Running, "", "Status, the end read from the record")
			stopPodWaitCancelled(t, ctx, f, b, name, pod)
		})
	}
}

// A Complete or Failed condition ended a cancellation at once; but before
// Kubernetes 1.31 Failed is set while the Job's pods still terminate, and
// anyone who may update jobs/status can set either on a running Job. A
// pod of the attempt unfinished in the watch cache now keeps it running.
func TestCancelledJobFailedWithPodsIsNoEnd(t *testing.T) {
	f := newFakeAPI(t)
	b, name, pod := cancelRefused(t, f, false)
	ctx := testContext(t)
	f.changeJob(name, map[string]any{"status": map[string]any{"conditions": []any{
		map[string]any{"type": jobFailed, "status": "True", "reason": "BackoffLimitExceeded"}}}})
	eventually(t, "the Job's Failed condition is not in the cache", func() bool {
		j, ok := b.watch.job(name)
		return ok && jobEnded(j)
	})
	wantStatus(t, ctx, b, name, backend.Running, "cancelling: 1 pod", "Status with the Job Failed and its pod running")
	stopPodWaitCancelled(t, ctx, f, b, name, pod)
}

// A 409 Conflict answer to the delete of the attempt's Job (by its UID)
// was taken to mean that the Job under the name is another's; Cancel
// deleted the pods it found and returned nil. An admission webhook, or an
// API server that does not answer as Kubernetes does, can answer so while
// the attempt's Job stays: the Job is now read again, and Cancel fails
// while it is still the attempt's.
func TestCancelRefusedWithAConflictOnItsOwnJobFails(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	f.refuseDeletes("jobs", 409, "Conflict")
	err := b.Cancel(ctx, name)
	if err == nil || !strings.Contains(err.Error(), "still there") {
		t.Fatalf("Cancel with the attempt's Job's delete refused (409) = %v; want an error, the Job still there", err)
	}
	if _, ok := f.get("jobs", name); !ok {
		t.Fatal("the attempt's Job is gone")
	}
}

// A cancellation found over was looked at again at every Status: a list
// of the pods (by each controller-uid label) per poll of each cancelled
// attempt whose Job stays, being deleted, and an attempt that had stopped
// read running again whenever a list failed. It is now remembered.
func TestStoppedCancellationIsRemembered(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	f.keepBeingDeleted(name)
	cancelUntilBeingDeleted(t, ctx, b, name)
	wantStatus(t, ctx, b, name, backend.Cancelled, "", "Status with no pod of the Job left")
	refused := f.refusePodLists("controller-uid")
	wantStatus(t, ctx, b, name, backend.Cancelled, "", "Status again, a list of the pods refused")
	if n := len(refused()); n != 0 {
		t.Errorf("Status of a cancellation found over listed the pods %d times; want none", n)
	}
}

// Cancel keeps of the pods it finds only their names and UIDs, the first
// maxCancelPods+1, and deletes at most maxCancelPods a call: the rest are
// left to a Cancel called again, which its error asks for.
func TestCancelDeletesAtMostMaxCancelPods(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	uid := f.jobUID(name)
	n := maxCancelPods + 3
	for i := range n {
		f.put("pods", hiddenPod(fmt.Sprintf("%s-h%03d", name, i), name, uid))
	}
	f.drop("jobs", name)
	waitJobGone(t, b, name)
	left := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.objs["pods"])
	}
	err := b.Cancel(ctx, name)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d pods", maxCancelPods)) || !strings.Contains(err.Error(), "cancel again") {
		t.Fatalf("Cancel of an attempt with %d pods = %v; want an error asking to cancel again", n, err)
	}
	if got := left(); got != n-maxCancelPods {
		t.Fatalf("%d pods left after one Cancel; want %d", got, n-maxCancelPods)
	}
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatalf("Cancel again: %v", err)
	}
	if got := left(); got != 0 {
		t.Errorf("%d pods left after the second Cancel; want none", got)
	}
}
