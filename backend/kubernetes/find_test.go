package kubernetes

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

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

// cutOffSubmit submits spec to a backend started on f as a Submit cut off
// before its Job was created: the API server answers the Job's create with
// 503 and does not keep the Job. It fails the test if Submit succeeds, and
// returns the backend, with f creating Jobs again.
func cutOffSubmit(t *testing.T, f *fakeAPI, spec backend.Spec) *Backend {
	t.Helper()
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
	if _, err := b.Submit(testContext(t), spec); err == nil {
		t.Fatal("Submit succeeded; the fake did not create its Job")
	}
	f.setOnCreate(nil)
	return b
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
	b := cutOffSubmit(t, f, spec)
	ctx := testContext(t)
	f.put("jobs", lookAlike(spec))
	again := restarted(t, f, b)
	waitJobCached(t, again, name, "the look-alike")
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
	waitJobCached(t, b, name, "the look-alike")
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
	b := cutOffSubmit(t, f, spec)
	ctx := testContext(t)
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
	b, spec, name := submittedWithoutSecret(t, f)
	ctx := testContext(t)
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
	res, sec := sweepBesideLookAlike(t, func(b *Backend, spec backend.Spec) {
		if _, err := b.createRecord(JobName(spec.RunID, spec.Attempt), record{RunID: spec.RunID, Attempt: spec.Attempt,
			Namespace: b.ns, Nonce: newNonce(), Submitted: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	})
	if res.Owned != 0 || meta(sec)["ownerReferences"] != nil {
		t.Errorf("sweep %+v gave the attempt's Secret to the look-alike: owners %v", res, meta(sec)["ownerReferences"])
	}
}

// A Job of the attempt's name with no record in the state directory (an
// older version's whose create timed out but was carried out, or one left
// from before a state directory was restored from a backup) is not taken
// for the attempt's: Submit refuses, naming the Job's UID, creation time
// and labels, so that the run's timeline tells an operator which Job to
// clean up. The labels are anyone's to write (and a hostile API server's
// to send): each is shown quoted and cut, and only so many of them.
func TestSubmitRefusalNamesTheJobWithoutARecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		// cached: the Job carries Meridian's label, so the watch cache
		// holds it (and keeps only some of its labels); otherwise it is
		// met by the create (AlreadyExists).
		cached bool
	}{{"in the watch cache", true}, {"met by the create", false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			spec := secretSpec()
			name := JobName(spec.RunID, spec.Attempt)
			old := lookAlike(spec)
			lbl := meta(old)["labels"].(map[string]any)
			if !tc.cached {
				delete(lbl, LabelManagedBy)
			}
			lbl["evil"] = "\x1b[2J\u202eraw" + strings.Repeat("v", 4<<10)
			for i := range 20 {
				lbl["z-pad-"+strconv.Itoa(i)] = "p"
			}
			meta(old)["creationTimestamp"] = "2026-03-04T05:06:07Z"
			f.put("jobs", old)
			b := f.start(t)
			// Asked again (the run controller retries a site that
			// refuses), it says the same: the refused Submit left no
			// record of its own.
			for try := 1; try <= 2; try++ {
				refusedNamingTheJob(t, b, spec, lbl)
			}
			if _, ok := f.get("jobs", name); !ok {
				t.Error("the refused Submit deleted the Job")
			}
		})
	}
}

// refusedNamingTheJob checks that Submit of spec refuses the Job of its
// name whose labels are lbl, naming it as TestSubmitRefusalNamesTheJobWithoutARecord says.
func refusedNamingTheJob(t *testing.T, b *Backend, spec backend.Spec, lbl map[string]any) {
	t.Helper()
	_, err := b.Submit(testContext(t), spec)
	if err == nil {
		t.Fatal("Submit took a Job of the attempt's name that its state directory has no record of")
	}
	msg := err.Error()
	t.Logf("%d bytes: %s", len(msg), msg)
	for _, want := range []string{"not this attempt's", "no record", `uid "planted-uid"`, "created 2026-03-04T05:06:07Z",
		strconv.Quote(LabelRun) + ": " + strconv.Quote(runLabel(spec.RunID)),
		strconv.Quote(LabelAttempt) + ": " + strconv.Quote(strconv.Itoa(spec.Attempt)),
		`"evil": "\x1b[2J\u202eraw` + strings.Repeat("v", shownBytes-len("\x1b[2J\u202eraw")) + `"...`,
		fmt.Sprintf("and %d more", len(lbl)-shownLabels)} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not say %q", want)
		}
	}
	if strings.ContainsAny(msg, "\x1b\u202e") {
		t.Error("the refusal carries a label's control characters as they are")
	}
	if len(msg) > 2<<10 {
		t.Errorf("the refusal is %d bytes; want at most 2 KiB", len(msg))
	}
}

// However long and many a Job's labels and however odd their bytes, what
// Submit's refusal names of them stays within a few KiB (the run's
// timeline keeps 8 KiB of a reason), and ASCII.
func TestNotAttemptsJobIsBounded(t *testing.T) {
	odd := strings.Repeat("\xff\U0001F600\x00", 4<<10)
	job := &apiJob{}
	job.UID = types.UID(odd)
	job.Labels = map[string]string{}
	for i := range 100 {
		job.Labels[strconv.Itoa(i)+odd] = odd
	}
	msg := notAttemptsJob(job, false, secretSpec()).Error()
	if len(msg) > 5<<10 {
		t.Errorf("the refusal is %d bytes; want at most 5 KiB", len(msg))
	}
	for i := range len(msg) {
		if msg[i] < 0x20 || msg[i] > 0x7e {
			t.Fatalf("the refusal has byte %#x at %d: %.200q", msg[i], i, msg)
		}
	}
	if !strings.Contains(msg, "and 92 more") {
		t.Errorf("the refusal does not say how many labels it leaves out: %.300s", msg)
	}
	t.Logf("%d bytes", len(msg))
}
