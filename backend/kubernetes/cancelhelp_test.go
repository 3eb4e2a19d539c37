package kubernetes

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// cachedAttempt starts a backend on f, submits an attempt with no Secret
// and waits for the watch cache to hold its Job. It returns the backend,
// the test's context and the attempt's Job name.
func cachedAttempt(t *testing.T, f *fakeAPI) (*Backend, context.Context, string) {
	t.Helper()
	b, _, name := submittedWithoutSecret(t, f)
	ctx := testContext(t)
	waitJobCached(t, b, name, "the attempt's Job")
	return b, ctx, name
}

// refuseDeletes has f answer each delete of resource with code and reason.
func (f *fakeAPI) refuseDeletes(resource string, code int, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onDelete = func(r, _ string) (int, string) {
		if r == resource {
			return code, reason
		}
		return 0, ""
	}
}

// allowDeletes lets every delete through again.
func (f *fakeAPI) allowDeletes() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onDelete = nil
}

// refusePodLists has f answer each list of pods whose label selector
// holds match with 500. It returns the selectors refused so far.
func (f *fakeAPI) refusePodLists(match string) (refused func() []string) {
	var lists []string
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onList = func(resource, selector string) (int, string) {
		if resource == "pods" && strings.Contains(selector, match) {
			lists = append(lists, selector)
			return 500, "InternalError"
		}
		return 0, ""
	}
	return func() []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return append([]string(nil), lists...)
	}
}

// allowLists lets every list through again.
func (f *fakeAPI) allowLists() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onList = nil
}

// jobUID is the UID of the Job named name that f holds.
func (f *fakeAPI) jobUID(name string) string {
	job, _ := f.get("jobs", name)
	return meta(job)["uid"].(string)
}

// hiddenPod is a running pod named name of the Job job whose UID is uid,
// its labels changed by someone who may update Pods: the watch cache,
// which follows LabelManagedBy, never sees it.
func hiddenPod(name, job, uid string) map[string]any {
	p := fakePod(name, job, uid, "n1", podRunning)
	delete(meta(p)["labels"].(map[string]any), LabelManagedBy)
	return p
}

// keepBeingDeleted gives the Job named name the garbage collector's
// finalizer for a foreground deletion: deleted, it stays, being deleted.
func (f *fakeAPI) keepBeingDeleted(name string) {
	f.changeJob(name, map[string]any{"metadata": map[string]any{"finalizers": []any{"foregroundDeletion"}}})
}

// cancelUntilBeingDeleted cancels the attempt name, failing the test if
// Cancel fails, and waits for the watch cache to hold its Job being
// deleted.
func cancelUntilBeingDeleted(t *testing.T, ctx context.Context, b *Backend, name string) {
	t.Helper()
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Job's deletion is not in the cache", func() bool {
		j, ok := b.watch.job(name)
		return ok && j.DeletionTimestamp != nil
	})
}

// waitJobGone waits for the watch cache to hold no Job named name.
func waitJobGone(t *testing.T, b *Backend, name string) {
	t.Helper()
	eventually(t, "the Job's deletion is not in the cache", func() bool {
		_, ok := b.watch.job(name)
		return !ok
	})
}

// waitCancelMarkCached waits for the watch cache to hold the Job named
// name with Cancel's mark on it.
func waitCancelMarkCached(t *testing.T, b *Backend, name string) {
	t.Helper()
	eventually(t, "Cancel's mark is not in the cache", func() bool {
		j, ok := b.watch.job(name)
		return ok && j.Annotations[AnnotationCancelled] != ""
	})
}

// forgetFinals empties b's memory of the attempts' ends: a cancellation
// is then read from the record.
func forgetFinals(b *Backend) {
	b.recMu.Lock()
	clear(b.finals)
	b.recMu.Unlock()
}

// wantStatus fails the test unless Status of name reads state with a
// reason holding reason; scene says what Status was asked in.
func wantStatus(t *testing.T, ctx context.Context, b *Backend, name string, state backend.State, reason, scene string) {
	t.Helper()
	st, err := b.Status(ctx, name)
	if err != nil || st.State != state || !strings.Contains(st.Reason, reason) {
		want := string(state)
		if reason != "" {
			want += ", " + reason
		}
		t.Fatalf("%s = %+v, %v; want %s", scene, st, err, want)
	}
}

// stopPodWaitCancelled has the attempt's pod fail and waits for the
// attempt name to read cancelled.
func stopPodWaitCancelled(t *testing.T, ctx context.Context, f *fakeAPI, b *Backend, name, pod string) {
	t.Helper()
	f.changePod(pod, map[string]any{"status": map[string]any{"phase": podFailed}})
	eventually(t, "the attempt does not read cancelled once its pod stopped", func() bool {
		st, err := b.Status(ctx, name)
		return err == nil && st.State == backend.Cancelled
	})
}
