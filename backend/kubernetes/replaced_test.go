package kubernetes

import (
	"fmt"
	"io"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// replaceJob deletes the attempt's Job and makes another under its name
// with the same annotation and labels, as anyone who may delete and create
// Jobs in the namespace can, finished (Complete), with a Pod that ran on n1,
// and waits for the cache to hold it.
func replaceJob(t *testing.T, f *fakeAPI, b *Backend, name string) {
	t.Helper()
	orig, ok := f.get("jobs", name)
	if !ok {
		t.Fatalf("no Job %s to replace", name)
	}
	f.drop("jobs", name)
	eventually(t, "the deleted Job is still in the cache", func() bool {
		_, ok := b.watch.job(name)
		return !ok
	})
	other := clone(orig)
	delete(meta(other), "uid")
	other["status"] = map[string]any{"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}
	f.put("jobs", other)
	f.put("pods", fakePod(name+"-other", name, "planted-uid", "n1", podSucceeded))
	eventually(t, "the cache does not hold the other Job and its Pod", func() bool {
		j, ok := b.watch.job(name)
		return ok && j.UID == "planted-uid" && len(b.watch.podsOf(j)) == 1
	})
}

// A Job deleted and made again under the attempt's name, with its
// annotation and label copied, is not the attempt's: its end is not the
// attempt's, nor its Pods' output, whether the attempt's record was
// written with the Job's UID or, by an older version, without it.
func TestReplacedJobWithCopiedAnnotationsIsNotTheAttempts(t *testing.T) {
	for _, older := range []bool{false, true} {
		t.Run(fmt.Sprintf("older record %v", older), func(t *testing.T) {
			f := newFakeAPI(t)
			b := f.start(t)
			spec := secretSpec()
			spec.Secret = nil
			name, err := b.Submit(testContext(t), spec)
			if err != nil {
				t.Fatal(err)
			}
			if older {
				// What an older version wrote: no UID, no submission
				// value; read by a controller started again.
				if err := b.writeRecord(name, record{RunID: spec.RunID, Attempt: spec.Attempt, Namespace: b.ns,
					Submitted: time.Now().Add(-time.Minute).UTC()}); err != nil {
					t.Fatal(err)
				}
				b = restarted(t, f, b)
			}
			eventually(t, "the attempt's Job is not in the cache", func() bool {
				_, ok := b.watch.job(name)
				return ok
			})
			st, err := b.Status(testContext(t), name)
			if err != nil || st.State.Final() {
				t.Fatalf("the attempt's own Job: Status = %+v, %v; want unfinished", st, err)
			}

			replaceJob(t, f, b, name)
			rc, err := b.Logs(testContext(t), name)
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 0 {
				t.Errorf("Logs handed over %d bytes of the other Job's pod: %.80q", len(out), out)
			}
			st, err = b.Status(testContext(t), name)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != backend.Lost || st.Reason != replacedReason {
				t.Errorf("Status = %+v; want Lost: %s", st, replacedReason)
			}
		})
	}
}

// The attempt's end, once on record, stays its end when its Job is
// replaced by one that says otherwise; and a record without the Job's UID
// still tells a Job of another run's annotation from the attempt's.
func TestReplacedJobAfterTheEndAndWithoutUID(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.objs["jobs"][name]["status"] = map[string]any{"conditions": []any{
		map[string]any{"type": jobFailed, "status": "True", "reason": "BackoffLimitExceeded"}}}
	f.rv++
	meta(f.objs["jobs"][name])["resourceVersion"] = fmt.Sprint(f.rv)
	f.notify("jobs", "MODIFIED", f.objs["jobs"][name])
	f.mu.Unlock()
	var st backend.Status
	eventually(t, "the attempt's Job did not fail", func() bool {
		st, err = b.Status(testContext(t), name)
		return err == nil && st.State == backend.Failed
	})
	replaceJob(t, f, b, name)
	if st, err = b.Status(testContext(t), name); err != nil || st.State != backend.Failed {
		t.Errorf("after its Job was replaced by a Complete one: Status = %+v, %v; want Failed, as on record", st, err)
	}

	// A record as an older version wrote it, never matched to its Job.
	spec.Attempt++
	name, err = b.Submit(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.writeRecord(name, record{RunID: spec.RunID, Attempt: spec.Attempt, Namespace: b.ns,
		Submitted: time.Now().Add(-time.Minute).UTC()}); err != nil {
		t.Fatal(err)
	}
	b = restarted(t, f, b)
	orig, _ := f.get("jobs", name)
	meta(orig)["annotations"].(map[string]any)[AnnotationRunID] = "another-run"
	f.drop("jobs", name)
	delete(meta(orig), "uid")
	f.put("jobs", orig)
	eventually(t, "the cache does not hold the other Job", func() bool {
		j, ok := b.watch.job(name)
		return ok && j.UID == "planted-uid"
	})
	if st, err = b.Status(testContext(t), name); err != nil || st.State != backend.Lost || st.Reason != replacedReason {
		t.Errorf("a Job of another run under the name, the record without a UID: Status = %+v, %v; want Lost: %s", st, err, replacedReason)
	}
}
