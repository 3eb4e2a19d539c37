package kubernetes

import (
	"fmt"
	"testing"

	"meridian.dev/meridian/backend"
)

// setJobConditions has the fake API server say the Job name's conditions
// are conds, as a watch event, the Job's UID unchanged.
func setJobConditions(f *fakeAPI, name string, conds ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objs["jobs"][name]["status"] = map[string]any{"conditions": conds}
	f.rv++
	meta(f.objs["jobs"][name])["resourceVersion"] = fmt.Sprint(f.rv)
	f.notify("jobs", "MODIFIED", f.objs["jobs"][name])
}

// failedThenComplete submits an attempt whose Job fails, waits for Status
// to record the failure, then has the cluster say the same Job Complete
// and waits for the watch cache to hold that.
func failedThenComplete(t *testing.T) (*fakeAPI, *Backend, string) {
	t.Helper()
	f := newFakeAPI(t)
	b := f.start(t)
	name := submitWithoutSecret(t, b)
	setJobConditions(f, name, map[string]any{"type": jobFailed, "status": "True", "reason": "BackoffLimitExceeded"})
	eventually(t, "the attempt's Job did not fail", func() bool {
		st, err := b.Status(testContext(t), name)
		return err == nil && st.State == backend.Failed
	})
	setJobConditions(f, name, map[string]any{"type": jobComplete, "status": "True"})
	eventually(t, "the Job's change is not in the cache", func() bool {
		j, ok := b.watch.job(name)
		return ok && b.jobFinished(j) && j.Status.Conditions[0].Type == jobComplete
	})
	return f, b, name
}

// Once the attempt's end is on record, Status answers it, whatever the
// cluster says of the same Job since (a Failed Job that a writer of Jobs'
// status later marks Complete), and after the controller starts again.
func TestFinalStateOnRecordIsKept(t *testing.T) {
	f, b, name := failedThenComplete(t)
	if got, err := b.Status(testContext(t), name); err != nil || got.State != backend.Failed {
		t.Errorf("the same Job said Complete after its failure was recorded: Status = %+v, %v; want Failed, as on record", got, err)
	}
	b = restarted(t, f, b)
	if got, err := b.Status(testContext(t), name); err != nil || got.State != backend.Failed {
		t.Errorf("after a restart: Status = %+v, %v; want Failed, as on record", got, err)
	}
}

// A cancellation on record whose Job was neither marked nor deleted (the
// API server refused both) is not the attempt's end while the Job runs.
func TestRecordedCancelOfARunningJobIsNotItsEnd(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	name := submitWithoutSecret(t, b)
	// The Job in the cache (TestRecordedCancelOfAJobNotYetInTheCacheIsNotItsEnd
	// has one it lacks).
	eventually(t, "the watch cache did not take the attempt's Job", func() bool {
		_, ok := b.watch.job(name)
		return ok
	})
	rec, _ := b.record(name)
	if err := b.saveFinal(name, rec, backend.Status{State: backend.Cancelled, ExitCode: 128 + 15, Reason: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Status(testContext(t), name); err != nil || got.State == backend.Cancelled {
		t.Errorf("Status = %+v, %v; want the running Job's state, not the cancellation on record", got, err)
	}
}

// An end on record that memory has let go of (maxFinals) is still the
// attempt's end: the same Job said Complete after its failure was recorded
// reads Failed, as on record, not what the cluster says now.
func TestFinalStateOnRecordIsKeptOnceForgottenFromMemory(t *testing.T) {
	_, b, name := failedThenComplete(t)
	b.recMu.Lock()
	clear(b.finals) // as when more than maxFinals ends are held
	b.recMu.Unlock()
	if got, err := b.Status(testContext(t), name); err != nil || got.State != backend.Failed {
		t.Errorf("the same Job said Complete after its failure was recorded and forgotten from memory: Status = %+v, %v; want Failed, as on record", got, err)
	}
}

// A cancellation on record whose Job the watch cache has not taken yet (an
// instant after Submit, or under load) is not the attempt's end while the
// Job runs: the Job is read from the API server, and only its being gone
// or finished makes the cancellation the end. Before, the end on record
// was answered for any Job the cache lacked, so a run read Cancelled while
// its Job ran, and a scheduler would start another attempt beside it.
func TestRecordedCancelOfAJobNotYetInTheCacheIsNotItsEnd(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	f.mute("jobs")
	name := submitWithoutSecret(t, b)
	if _, ok := b.watch.job(name); ok {
		t.Fatal("the cache has the Job; the test needs one it lacks")
	}
	rec, _ := b.record(name)
	if err := b.saveFinal(name, rec, backend.Status{State: backend.Cancelled, ExitCode: 128 + 15, Reason: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Status(testContext(t), name); err != nil || got.State == backend.Cancelled || got.State.Final() {
		t.Errorf("a running Job the cache lacks: Status = %+v, %v; want its state, not the cancellation on record", got, err)
	}
	// Once the Job is gone, the cancellation on record is the end.
	f.drop("jobs", name)
	if got, err := b.Status(testContext(t), name); err != nil || got.State != backend.Cancelled {
		t.Errorf("the cancelled attempt's Job gone: Status = %+v, %v; want Cancelled, as on record", got, err)
	}
}
