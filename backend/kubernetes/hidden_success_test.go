package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// With a queue the attempt's Job waits suspended. Someone who may create
// Pods in the namespace makes one that claims the Job as the Job
// controller selects its pods (controller reference and controller-uid
// label) but without Meridian's labels, which the watch cache follows:
// the backend never sees it. It succeeds at once and the Job controller
// counts it; the queue admits the Job, which completes with no pod of
// the attempt's run, and the attempt read Succeeded. A Job that counts
// more successes than the backend saw of its own pods since it started is
// lost, naming the Job, whether the pod is still there or gone.
func TestQueuedJobCompletedByAnUnlabelledPodIsLost(t *testing.T) {
	testQueuedJobEndedByAnUnlabelledPod(t, 0)
}

// The same with a pod that fails at once: the Job, which runs no retries,
// failed, and the attempt read Failed with none of its pods run.
func TestQueuedJobFailedByAnUnlabelledPodIsLost(t *testing.T) {
	testQueuedJobEndedByAnUnlabelledPod(t, 3)
}

func testQueuedJobEndedByAnUnlabelledPod(t *testing.T, exit int) {
	for _, gone := range []bool{false, true} {
		name := "pod kept"
		if gone {
			name = "pod deleted"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeAPI(t)
			queued := func(s *catalog.BackendSpec) { s.QueueName = "q" }
			b, h, uid := submitted(t, f, t.TempDir(), queued)
			ctx := testContext(t)
			if st, err := b.Status(ctx, h); err != nil || st.State != backend.Pending {
				t.Fatalf("Status = %+v, %v; want Pending, queued", st, err)
			}
			pod := endedPod(h+"-hidden", "hidden-uid", h, uid, "", exit, false)
			meta(pod)["labels"] = map[string]any{controllerUIDLabel: uid}
			meta(pod)["creationTimestamp"] = "2025-12-31T23:59:00Z"
			f.putWithUID("pods", pod)
			if gone {
				// A watch selecting Meridian's labels is told nothing of
				// the pod's deletion by a real API server.
				f.mu.Lock()
				delete(f.objs["pods"], h+"-hidden")
				f.mu.Unlock()
			}
			end, count, counted := jobComplete, "succeeded", "counted 1 succeeded pods"
			if exit != 0 {
				end, count, counted = jobFailed, "failed", "counted 1 failed and 0 succeeded pods"
			}
			endJob(t, f, b, h, map[string]any{"spec": map[string]any{"suspend": false},
				"status": map[string]any{"startTime": "2026-01-01T00:00:00Z", count: 1,
					"conditions": []any{map[string]any{"type": end, "status": "True"}}}})
			if j, _ := b.watch.job(h); len(b.watch.podsOf(j)) != 0 {
				t.Fatal("the cache holds a pod without Meridian's labels")
			}
			st, err := b.Status(ctx, h)
			if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, counted) || !strings.Contains(st.Reason, h) {
				t.Fatalf("Status = %+v, %v; want Lost, the Job %s counting a success not seen", st, err, h)
			}
			if !gone && !strings.Contains(st.Reason, h+"-hidden") {
				t.Fatalf("Status = %+v; want the pod %s-hidden named", st, h)
			}
		})
	}
}

// The attempt's own pod, which succeeded, deleted (pod garbage
// collection) before the Job's end was read, by a server restarted on the
// state directory: its success is on record, and the attempt succeeded.
func TestCompletedJobWhosePodWentSucceedsAfterARestart(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	b, h, uid := submitted(t, f, dir)
	ctx := testContext(t)
	f.changeJob(h, map[string]any{"status": map[string]any{"startTime": "2026-01-01T00:00:00Z"}})
	eventually(t, "the cache did not take the Job's start", func() bool {
		j, ok := b.watch.job(h)
		return ok && j.Status.StartTime != nil
	})
	pod := endedPod(h+"-own", "own-uid", h, uid, "", 0, false)
	meta(pod)["creationTimestamp"] = "2026-01-01T00:00:01Z"
	f.putWithUID("pods", pod)
	eventually(t, "the pod's success was not recorded", func() bool {
		r, ok := b.record(h)
		return ok && len(r.Succeeded) == 1
	})
	b.Close()
	f.drop("pods", h+"-own")
	b = f.startIn(t, dir)
	endJob(t, f, b, h, map[string]any{"status": map[string]any{"succeeded": 1,
		"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}})
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Succeeded {
		t.Fatalf("Status = %+v, %v; want Succeeded", st, err)
	}
}

// The same for a failure: the attempt's own pod, which failed, deleted
// before the Job's end was read by a server restarted on the state
// directory, is on record as ended, and the attempt failed, not lost.
func TestFailedJobWhosePodWentFailsAfterARestart(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	b, h, uid := submitted(t, f, dir)
	ctx := testContext(t)
	f.changeJob(h, map[string]any{"status": map[string]any{"startTime": "2026-01-01T00:00:00Z"}})
	pod := endedPod(h+"-own", "own-uid", h, uid, "", 3, false)
	meta(pod)["creationTimestamp"] = "2026-01-01T00:00:01Z"
	f.putWithUID("pods", pod)
	eventually(t, "the pod's end was not recorded", func() bool {
		r, ok := b.record(h)
		return ok && len(r.Ended) == 1
	})
	b.Close()
	f.drop("pods", h+"-own")
	b = f.startIn(t, dir)
	endJob(t, f, b, h, map[string]any{"status": map[string]any{"failed": 1,
		"conditions": []any{map[string]any{"type": jobFailed, "status": "True", "reason": "BackoffLimitExceeded"}}}})
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Failed {
		t.Fatalf("Status = %+v, %v; want Failed", st, err)
	}
}

// submitted is a backend started on state directory dir and API server f
// with settings, an attempt it submitted (its handle), and the UID of
// the attempt's Job.
func submitted(t *testing.T, f *fakeAPI, dir string, settings ...func(*catalog.BackendSpec)) (b *Backend, h, uid string) {
	t.Helper()
	b = f.startIn(t, dir, settings...)
	spec := secretSpec()
	spec.Secret = nil
	h, err := b.Submit(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.get("jobs", h)
	return b, h, meta(job)["uid"].(string)
}

// endJob changes the Job h as patch says, an end, and waits until b's
// cache holds the Job ended.
func endJob(t *testing.T, f *fakeAPI, b *Backend, h string, patch map[string]any) {
	t.Helper()
	f.changeJob(h, patch)
	eventually(t, "the cache did not take the Job's end", func() bool {
		j, ok := b.watch.job(h)
		return ok && b.jobFinished(j)
	})
}
