package kubernetes

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// lookAlike is the Job that anyone who may write Jobs in the namespace can
// make under the name of spec's attempt, with everything that names the
// attempt (and Meridian's labels, so that the watch takes it in).
func lookAlike(spec backend.Spec) map[string]any {
	name := JobName(spec.RunID, spec.Attempt)
	return map[string]any{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": name, "namespace": "ns",
			"labels": map[string]any{LabelManagedBy: managedBy, LabelRun: runLabel(spec.RunID),
				LabelAttempt: strconv.Itoa(spec.Attempt)},
			"annotations": map[string]any{AnnotationRunID: spec.RunID}},
		"spec":   map[string]any{"parallelism": 1},
		"status": map[string]any{"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}}
}

func (f *fakeAPI) setOnCreate(h func(resource string, obj map[string]any) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCreate = h
}

// A Submit cut off before its Job was created (the API server did not
// create it, and the controller stopped) leaves the attempt's record; a Job
// made under the attempt's name afterwards, with all that names the
// attempt, is not the attempt's for the controller started again: Find
// does not find it, and Submit does not take it.
func TestFindAfterACutOffSubmitTakesNoLookAlike(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.onCreate = func(resource string, obj map[string]any) (int, string) {
		if resource != "jobs" {
			return 0, ""
		}
		delete(f.objs["jobs"], name)
		f.notify("jobs", "DELETED", obj)
		return http.StatusServiceUnavailable, "ServiceUnavailable"
	}
	b := f.start(t)
	ctx := testContext(t)
	if _, err := b.Submit(ctx, spec); err == nil {
		t.Fatal("Submit succeeded; the fake did not create its Job")
	}
	f.setOnCreate(nil)
	f.put("jobs", lookAlike(spec))
	again := restarted(t, f, b)
	eventually(t, "the look-alike is not in the cache", func() bool {
		_, ok := again.watch.job(name)
		return ok
	})
	if h, ok, err := again.Find(ctx, spec.RunID, spec.Attempt); err != nil || ok {
		t.Errorf("Find = %q, %v, %v; want the look-alike not found", h, ok, err)
	}
	if _, err := again.Submit(ctx, spec); err == nil || !strings.Contains(err.Error(), "not this attempt's") {
		t.Errorf("Submit beside the look-alike: %v; want it refused", err)
	}
}

// A Job made under the name of an attempt not yet submitted (the next
// attempt of a run is known from its first) is not taken by the Submit of
// that attempt, and its Secret does not stay.
func TestSubmitTakesNoJobMadeBeforeIt(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.put("jobs", lookAlike(spec))
	b := f.start(t)
	ctx := testContext(t)
	eventually(t, "the look-alike is not in the cache", func() bool {
		_, ok := b.watch.job(name)
		return ok
	})
	if h, err := b.Submit(ctx, spec); err == nil || !strings.Contains(err.Error(), "not this attempt's") {
		t.Fatalf("Submit = %q, %v; want the Job made before it refused", h, err)
	}
	if sec, ok := f.get("secrets", name); ok {
		t.Errorf("the refused Submit left a Secret: %v", meta(sec))
	}
	if h, ok, err := b.Find(ctx, spec.RunID, spec.Attempt); err != nil || ok {
		t.Errorf("Find = %q, %v, %v; want nothing", h, ok, err)
	}
}

// The API server created the attempt's Job but its answer was lost (a
// timeout) and the controller stopped: started again, it finds the Job,
// which carries the record's submission value, and keeps its UID, so that
// a copy of it made later under the name is not the attempt's.
func TestFindAfterTheCreatesAnswerWasLost(t *testing.T) {
	f := newFakeAPI(t)
	f.onCreate = func(resource string, _ map[string]any) (int, string) {
		if resource == "jobs" {
			return http.StatusGatewayTimeout, "Timeout"
		}
		return 0, ""
	}
	b := f.start(t)
	ctx := testContext(t)
	spec := secretSpec()
	spec.Secret = nil
	name := JobName(spec.RunID, spec.Attempt)
	if _, err := b.Submit(ctx, spec); err == nil {
		t.Fatal("Submit succeeded; the fake answered with a timeout")
	}
	f.setOnCreate(nil)
	again := restarted(t, f, b)
	h, ok, err := again.Find(ctx, spec.RunID, spec.Attempt)
	if err != nil || !ok || h != name {
		t.Fatalf("Find = %q, %v, %v; want %q", h, ok, err, name)
	}
	if st, err := again.Status(ctx, h); err != nil || st.State != backend.Pending {
		t.Fatalf("Status = %+v, %v; want Pending", st, err)
	}
	job, _ := f.get("jobs", name)
	if rec, _ := again.record(name); rec.UID == "" || meta(job)["uid"] != string(rec.UID) {
		t.Errorf("record UID %q; want the Job's %v", rec.UID, meta(job)["uid"])
	}
	replaceJob(t, f, again, name) // copies everything, the submission value too
	if st, err := again.Status(ctx, h); err != nil || st.State != backend.Lost || st.Reason != replacedReason {
		t.Errorf("a copy of the Job made under its name: Status = %+v, %v; want Lost: %s", st, err, replacedReason)
	}
}

// A Submit cut off before its Job was created, submitted again by the
// controller started again, creates the Job, which is the attempt's.
func TestSubmitAgainAfterACutOffSubmit(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.onCreate = func(resource string, obj map[string]any) (int, string) {
		if resource != "jobs" {
			return 0, ""
		}
		delete(f.objs["jobs"], name)
		f.notify("jobs", "DELETED", obj)
		return http.StatusServiceUnavailable, "ServiceUnavailable"
	}
	b := f.start(t)
	ctx := testContext(t)
	if _, err := b.Submit(ctx, spec); err == nil {
		t.Fatal("Submit succeeded; the fake did not create its Job")
	}
	f.setOnCreate(nil)
	again := restarted(t, f, b)
	if h, ok, err := again.Find(ctx, spec.RunID, spec.Attempt); err != nil || ok {
		t.Fatalf("Find before the Job exists = %q, %v, %v; want nothing", h, ok, err)
	}
	h, err := again.Submit(ctx, spec)
	if err != nil || h != name {
		t.Fatalf("Submit again = %q, %v", h, err)
	}
	if st, err := again.Status(ctx, h); err != nil || st.State != backend.Pending {
		t.Errorf("Status = %+v, %v; want Pending", st, err)
	}
}

// An attempt whose Job was created (its UID on record) and deleted at the
// site while the controller was stopped is found, and reads lost: it is
// not submitted again under a record that names the deleted Job.
func TestFindOfAnAttemptWhoseJobWasDeleted(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	f.drop("jobs", name)
	again := restarted(t, f, b)
	h, ok, err := again.Find(ctx, spec.RunID, spec.Attempt)
	if err != nil || !ok || h != name {
		t.Fatalf("Find = %q, %v, %v; want %q", h, ok, err, name)
	}
	if st, err := again.Status(ctx, h); err != nil || st.State != backend.Lost {
		t.Errorf("Status = %+v, %v; want Lost", st, err)
	}
}

// A Submit cut off after writing the attempt's Secret and before creating
// its Job leaves the Secret without an owner; the sweep gives it to the
// attempt's Job, but not to a Job that someone else made under the name.
func TestSweepGivesNoLookAlikeTheSecret(t *testing.T) {
	f := newFakeAPI(t)
	spec := secretSpec()
	name := JobName(spec.RunID, spec.Attempt)
	f.put("jobs", lookAlike(spec))
	b := f.start(t)
	ctx := testContext(t)
	if _, err := b.createRecord(name, record{RunID: spec.RunID, Attempt: spec.Attempt, Namespace: b.ns,
		Nonce: newNonce(), Submitted: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteSecretForTest(ctx, spec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the look-alike is not in the cache", func() bool {
		_, ok := b.watch.job(name)
		return ok
	})
	res, err := b.SweepSecrets(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sec, _ := f.get("secrets", name); res.Owned != 0 || meta(sec)["ownerReferences"] != nil {
		t.Errorf("sweep %+v gave the attempt's Secret to the look-alike: owners %v", res, meta(sec)["ownerReferences"])
	}
}
