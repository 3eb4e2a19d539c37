package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// With a queue the attempt's Job waits suspended. Someone who may create
// Pods in the namespace makes one with every mark of the Job's that
// succeeds at once, which the Job controller counts, and deletes it once
// counted; the queue then admits the Job, which completes at once with no
// pod of the attempt's run. With the copy gone no pod was left made
// before the Job was started, and the attempt read Succeeded. The backend
// keeps, in the attempt's record, when such a pod was made: the attempt
// is lost, by the same server or by one restarted on its state directory
// after the copy went.
func TestQueuedJobEndedByACopyDeletedSinceIsLost(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "same server"
		if restart {
			name = "restarted"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeAPI(t)
			dir := t.TempDir()
			queued := func(s *catalog.BackendSpec) { s.QueueName = "q" }
			b, h, uid := submitted(t, f, dir, queued)
			ctx := testContext(t)
			if st, err := b.Status(ctx, h); err != nil || st.State != backend.Pending {
				t.Fatalf("Status = %+v, %v; want Pending, queued", st, err)
			}
			pod := endedPod(h+"-copy", "copy-uid", h, uid, "", 0, false)
			meta(pod)["creationTimestamp"] = "2025-12-31T23:59:00Z"
			f.putWithUID("pods", pod)
			eventually(t, "the cache did not take the pod", func() bool {
				j, ok := b.watch.job(h)
				return ok && len(b.watch.podsOf(j)) == 1
			})
			// The pods' handlers run in order: once the deletion's has
			// run, so has every earlier one.
			seen := make(chan string, 16)
			b.Notify(func(handle string) { seen <- handle })
			f.drop("pods", h+"-copy")
			select {
			case <-seen:
			case <-ctx.Done():
				t.Fatal("the copy's deletion never reached the backend")
			}
			b.Notify(nil)
			if restart {
				b.Close()
				b = f.startIn(t, dir, queued)
			}
			endJob(t, f, b, h, map[string]any{"spec": map[string]any{"suspend": false},
				"status": map[string]any{"startTime": "2026-01-01T00:00:00Z", "succeeded": 1,
					"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}})
			st, err := b.Status(ctx, h)
			if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "made before the Job was started") || !strings.Contains(st.Reason, h+"-copy") {
				t.Fatalf("Status = %+v, %v; want Lost, its pod %s-copy made before the Job was started", st, err, h)
			}
		})
	}
}
