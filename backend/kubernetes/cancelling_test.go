package kubernetes

import (
	"testing"

	"meridian.dev/meridian/backend"
)

// A cancellation on record and Meridian's own mark on the Job say only
// that no new pod of the attempt is to start: not that its pods stopped.
// A Cancel whose delete the API server refuses (failing, throttling, an
// admission policy) leaves the Job and its pod running; a drain, which
// asks Status first, took the attempt for ended from the mark alone and
// moved the run on while the old attempt wrote its checkpoint. Until the
// Job is deleted the attempt reads Running, cancelling.
func TestCancelWhoseDeleteFailsIsNoEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		reason string
	}{
		{"failing", 500, "InternalError"},
		{"throttled", 429, "TooManyRequests"},
		{"refused by admission", 403, "Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			b, _, name := submittedWithoutSecret(t, f)
			ctx := testContext(t)
			f.putPodOf(name, map[string]any{"phase": podRunning})
			waitPodsCached(t, b, name, 1, "the attempt's pod is not in the cache")
			f.refuseDeletes("jobs", tc.code, tc.reason)
			if err := b.Cancel(ctx, name); err == nil {
				t.Fatal("Cancel succeeded; the fake refused the Job's delete")
			}
			waitCancelMarkCached(t, b, name)
			wantStatus(t, ctx, b, name, backend.Running, "cancelling", "Status with the Job not deleted and its pod running")
			// Forgotten from memory, the cancellation is read from the
			// record: still no end.
			forgetFinals(b)
			wantStatus(t, ctx, b, name, backend.Running, "", "Status, the end read from the record")
			// Cancel again, the delete let through: the Job goes, its
			// foreground deletion taking its pod first (the fake has no
			// garbage collector), and the attempt is cancelled.
			f.allowDeletes()
			f.drop("pods", name+"-p")
			// A Job gone is the end once its pods are: the pod's
			// deletion is waited for in the cache, which Status looks
			// at first.
			waitPodsCached(t, b, name, 0, "the pod's deletion is not in the cache")
			if err := b.Cancel(ctx, name); err != nil {
				t.Fatal(err)
			}
			waitJobGone(t, b, name)
			wantStatus(t, ctx, b, name, backend.Cancelled, "", "Status with the Job gone")
		})
	}
}

// A Job deleted with foreground propagation stays, being deleted, until
// its pods are gone, and they take their grace period to stop (or stay
// Terminating for good on a node that does not answer). A cancellation is
// not the end while a pod labelled with the Job's UID has not finished,
// in the watch cache or, relabelled out of its sight, on the API server.
//
// Status listed the pods by the label the Job's selector matches alone,
// Cancel by both controller-uid labels: a pod labelled with the older one
// only (as the Job controller labelled them before Kubernetes 1.27) and
// relabelled out of the cache's sight was missed, and the attempt read
// cancelled while it ran.
func TestCancelledJobBeingDeletedWithPodsIsNoEnd(t *testing.T) {
	for _, how := range []string{"seen", "relabelled", "older label only"} {
		t.Run(how, func(t *testing.T) {
			f := newFakeAPI(t)
			b, ctx, name := cachedAttempt(t, f)
			f.keepBeingDeleted(name)
			pod := name + "-p"
			switch how {
			case "relabelled":
				f.put("pods", hiddenPod(pod, name, f.jobUID(name)))
			case "older label only":
				f.put("pods", fakeLegacyPod(pod, name, f.jobUID(name), "n1", podRunning))
			default:
				f.putPodOf(name, map[string]any{"phase": podRunning})
				waitPodsCached(t, b, name, 1, "the attempt's pod is not in the cache")
			}
			cancelUntilBeingDeleted(t, ctx, b, name)
			f.changePod(pod, map[string]any{"metadata": map[string]any{"deletionTimestamp": "2026-01-01T00:00:00Z"}})
			wantStatus(t, ctx, b, name, backend.Running, "cancelling: 1 pod", "Status with the Job being deleted and its pod terminating")
			stopPodWaitCancelled(t, ctx, f, b, name, pod)
		})
	}
}

// Being deleted, with no pod in the watch cache, the cancellation is the
// end only once a list of the Job's pods says so: a list the API server
// refuses is no word that they stopped.
func TestCancelledJobBeingDeletedUnlistedIsNoEnd(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	f.keepBeingDeleted(name)
	cancelUntilBeingDeleted(t, ctx, b, name)
	f.refusePodLists("")
	wantStatus(t, ctx, b, name, backend.Running, "", "Status with the list of the Job's pods refused")
	f.allowLists()
	wantStatus(t, ctx, b, name, backend.Cancelled, "", "Status with no pod of the Job left")
}

// Cancel of an attempt whose Job was deleted and made again under its name
// after the backend last saw it: the delete, by the attempt's Job's UID,
// is refused (409 Conflict), and Cancel returned nil, the attempt's pods,
// orphaned by the deletion, running on. They are deleted now, and only
// they: the other Job's pod is left alone.
func TestCancelOfAJobMadeAgainStopsTheAttemptsPods(t *testing.T) {
	f := newFakeAPI(t)
	b, _, name := submittedWithoutSecret(t, f)
	ctx := testContext(t)
	f.putPodOf(name, map[string]any{"phase": podRunning})
	waitPodsCached(t, b, name, 1, "the attempt's pod is not in the cache")
	other := f.swapUnseen("jobs", name)
	f.put("pods", fakePod("others-pod", name, other, "n1", podRunning))
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if _, ok := f.get("pods", name+"-p"); ok {
		t.Errorf("Cancel left the attempt's pod running, its Job replaced under its name")
	}
	if _, ok := f.get("pods", "others-pod"); !ok {
		t.Errorf("Cancel deleted the pod of the other Job made under the attempt's name")
	}
	if job, ok := f.get("jobs", name); !ok || meta(job)["uid"] != other {
		t.Errorf("Cancel deleted the other Job made under the attempt's name")
	}
}

// The watch cache holds only the pods labelled managed by Meridian, and
// anyone who may update Pods in the namespace can take the label off a
// running pod of the attempt's. Cancel found the pods of a Job deleted
// with orphan propagation in the cache alone, and missed such a pod,
// which ran on. It now lists the pods carrying the Job's UID in a
// controller-uid label from the API server too.
func TestCancelStopsARelabelledPodOfAJobDeletedWithOrphans(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	f.put("pods", hiddenPod(name+"-hidden", name, f.jobUID(name)))
	f.put("pods", hiddenPod("not-the-attempts", name, "another-uid"))
	// Deleted with orphan propagation: the pods stay (the fake keeps them).
	f.drop("jobs", name)
	waitJobGone(t, b, name)
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if _, ok := f.get("pods", name+"-hidden"); ok {
		t.Errorf("Cancel left the attempt's relabelled pod running")
	}
	if _, ok := f.get("pods", "not-the-attempts"); !ok {
		t.Errorf("Cancel deleted a pod that carries another Job's UID")
	}
}
