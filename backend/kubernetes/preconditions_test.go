package kubernetes

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"meridian.dev/meridian/backend"
)

// swapUnseen deletes the object and makes another under its name, with the
// same labels and annotations and a new UID, as anyone who may write such
// objects in the namespace can, without telling the watchers yet: the
// backend's cache still holds the first when it acts. f.mu must not be
// held. It returns the new UID.
func (f *fakeAPI) swapUnseen(resource, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.swapUnseenLocked(resource, name)
}

func (f *fakeAPI) swapUnseenLocked(resource, name string) string {
	o, ok := f.objs[resource][name]
	if !ok {
		f.t.Fatalf("no %s %s to swap", resource, name)
	}
	other := clone(o)
	delete(meta(other), "ownerReferences")
	f.rv++
	uid := "swapped-" + resource + "-uid"
	meta(other)["uid"] = uid
	meta(other)["resourceVersion"] = strconv.Itoa(f.rv)
	f.objs[resource][name] = other
	return uid
}

func annotations(o map[string]any) map[string]any {
	a, _ := meta(o)["annotations"].(map[string]any)
	return a
}

// submittedWithoutSecret starts a backend on f and submits an attempt with
// no Secret (what is tested is its Job), failing the test if Submit fails.
// It returns the backend, the spec and the attempt's Job name.
func submittedWithoutSecret(t *testing.T, f *fakeAPI) (*Backend, backend.Spec, string) {
	t.Helper()
	b := f.start(t)
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	return b, spec, name
}

// waitPodsCached waits for b's watch cache to hold the Job named name
// with n pods; what is the failure's message.
func waitPodsCached(t testing.TB, b *Backend, name string, n int, what string) {
	t.Helper()
	eventually(t, what, func() bool {
		j, ok := b.watch.job(name)
		return ok && len(b.watch.podsOf(j)) == n
	})
}

// waitJobCached waits for b's watch cache to hold a Job named name; what
// names that Job in the failure.
func waitJobCached(t testing.TB, b *Backend, name, what string) {
	t.Helper()
	eventually(t, what+" is not in the cache", func() bool {
		_, ok := b.watch.job(name)
		return ok
	})
}

// The attempt is lost (its pod disrupted); by the time the verdict is
// written on its Job, the Job has been deleted and another made under its
// name. The verdict is the attempt's: it must not land on the other Job.
func TestLostVerdictLandsOnlyOnTheAttemptsJob(t *testing.T) {
	f := newFakeAPI(t)
	b, _, name := submittedWithoutSecret(t, f)
	ctx := testContext(t)
	f.putPodOf(name, map[string]any{"phase": "Running", "conditions": []any{map[string]any{"type": disruptionTarget, "status": "True",
		"reason": "EvictionByEvictionAPI", "message": "evicted"}}})
	waitPodsCached(t, b, name, 1, "the Job's disrupted pod is not in the cache")
	other := f.swapUnseen("jobs", name)
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost {
		t.Fatalf("Status = %+v, %v; want Lost", st, err)
	}
	job, _ := f.get("jobs", name)
	if meta(job)["uid"] != other {
		t.Fatalf("the Job under the name is %v, not the other one", meta(job)["uid"])
	}
	if v, ok := annotations(job)[AnnotationLost]; ok {
		t.Errorf("the attempt's lost verdict landed on the other Job made under its name: %s=%v", AnnotationLost, v)
	}
}

// Cancel of an attempt whose Job was deleted and made again under its name
// after the backend last saw it neither marks nor deletes the other Job.
func TestCancelLeavesAJobMadeAgainUnseen(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	other := f.swapUnseen("jobs", name)
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	job, ok := f.get("jobs", name)
	if !ok || meta(job)["uid"] != other {
		t.Fatalf("Cancel deleted the other Job made under the attempt's name")
	}
	if v, ok := annotations(job)[AnnotationCancelled]; ok {
		t.Errorf("Cancel marked the other Job cancelled: %s=%v", AnnotationCancelled, v)
	}
}

// A Submit whose Job the API server refuses deletes the Secret it wrote,
// and only that one: a Secret made under the name meanwhile (the attempt's
// deleted and another made by someone who may write Secrets there) is not
// the Submit's to delete.
func TestRefusedSubmitDeletesOnlyItsOwnSecret(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	var other string
	f.onCreate = func(resource string, obj map[string]any) (int, string) {
		if resource != "jobs" {
			return 0, ""
		}
		delete(f.objs["jobs"], name)
		other = f.swapUnseenLocked("secrets", name)
		return http.StatusForbidden, "Forbidden"
	}
	b := f.start(t)
	if _, err := b.Submit(context.Background(), spec); err == nil {
		t.Fatal("Submit succeeded; the fake refused its Job")
	}
	sec, ok := f.get("secrets", name)
	if !ok || meta(sec)["uid"] != other {
		t.Fatalf("the refused Submit deleted a Secret it did not write (%v)", ok)
	}
}

// The Secret the Submit wrote is given to its Job only if it is still that
// Secret: one made under its name meanwhile must not become the Job's (and
// go with it).
func TestSubmitGivesItsJobOnlyItsOwnSecret(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	var other string
	f.onCreate = func(resource string, obj map[string]any) (int, string) {
		if resource == "jobs" {
			other = f.swapUnseenLocked("secrets", name)
		}
		return 0, ""
	}
	b := f.start(t)
	b.Submit(context.Background(), spec) //nolint:errcheck // the outcome is the Secret's owners
	sec, ok := f.get("secrets", name)
	if !ok || meta(sec)["uid"] != other {
		t.Fatalf("the other Secret is gone (%v)", ok)
	}
	if owners := meta(sec)["ownerReferences"]; owners != nil {
		t.Errorf("the Submit gave its Job a Secret it did not write: owners %v", owners)
	}
}

// TestCancelDeletesAJobItCannotMark: a 422 to Cancel's "cancelled"
// annotation does not say the Job was made again under the attempt's name:
// an admission policy refusing updates of Jobs, or annotations padded past
// their bound by someone who may write Jobs, answer it too. Cancel still
// deletes the attempt's Job (by its UID); before, it took any 422 for a
// Job made again and returned success with the workload still running.
func TestCancelDeletesAJobItCannotMark(t *testing.T) {
	f := newFakeAPI(t)
	b, ctx, name := cachedAttempt(t, f)
	f.mu.Lock()
	f.onPatch = func(resource string, _ map[string]any) (int, string) {
		if resource == "jobs" {
			return 422, "Invalid"
		}
		return 0, ""
	}
	f.mu.Unlock()
	if err := b.Cancel(ctx, name); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if job, ok := f.get("jobs", name); ok && meta(job)["deletionTimestamp"] == nil {
		t.Fatalf("Cancel returned with the attempt's Job neither deleted nor being deleted")
	}
}
