package kubernetes

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// An attempt of more pods than its record keeps as seen succeeded
// (maxSeenSucceeded), whose succeeded pods were deleted (pod garbage
// collection, or by hand) before its Job's end was read, counted only
// the pods on record: the Job's count of successes was more than the
// backend had seen, and the attempt read lost. The pods that left the
// cache Succeeded are now counted too, from the watcher's memory of pods
// gone, and the attempt succeeds.
func TestCompletedJobOfMoreThanTheRecordKeepsWhosePodsWentSucceeds(t *testing.T) {
	const pods = maxSeenSucceeded + 44
	s := submitOnGPUNode(t, "1", gpuSpec(pods), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	f.changeJob(name, map[string]any{"status": map[string]any{"startTime": "2026-01-01T00:00:00Z"}})
	eventually(t, "the cache did not take the Job's start", func() bool {
		j, ok := b.watch.job(name)
		return ok && j.Status.StartTime != nil
	})
	// In batches the fake's watch channels hold (it drops what they do
	// not).
	for i := range pods {
		p := endedPod(fmt.Sprintf("%s-%d", name, i), fmt.Sprintf("pod-uid-%d", i), name, uid, fmt.Sprint(i), 0, false)
		meta(p)["creationTimestamp"] = "2026-01-01T00:00:01Z"
		f.putWithUID("pods", p)
		if (i+1)%50 == 0 || i == pods-1 {
			waitPodsCached(t, b, name, i+1, "the cache did not take the pods")
		}
	}
	eventually(t, "the pods' successes were not recorded", func() bool {
		r, ok := b.record(name)
		return ok && len(r.Succeeded) == maxSeenSucceeded
	})
	for i := range pods {
		f.drop("pods", fmt.Sprintf("%s-%d", name, i))
		if (i+1)%50 == 0 || i == pods-1 {
			waitPodsCached(t, b, name, pods-i-1, "the cache did not let the pods go")
		}
	}
	// The cache's handlers see a pod go after the cache has let it go.
	eventually(t, "the watcher did not see every pod go", func() bool { return len(b.watch.goneUIDs(types.UID(uid))) == pods })
	endJob(t, f, b, name, map[string]any{"status": map[string]any{"startTime": "2026-01-01T00:00:00Z", "succeeded": pods,
		"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}})
	if st, err := b.Status(ctx, name); err != nil || st.State != backend.Succeeded {
		t.Fatalf("Status = %+v, %v; want Succeeded", st, err)
	}
}

// After a restart, the watcher's memory of the pods gone is empty: an
// attempt of more pods than its record keeps as seen succeeded, whose
// succeeded pods were deleted, counted only the 256 on record against the
// Job's count of successes and read lost. The record now also keeps the
// completion index of every pod of the attempt's own seen to succeed, and
// a restarted backend reads the Job's counters (status.completedIndexes,
// status.succeeded) against it: the attempt succeeds where each index the
// Job counts is one at which an own pod was seen to succeed, and is lost
// where they disagree (an index no own pod succeeded at, counters that do
// not agree with each other, none given).
func TestCompletedJobOfMoreThanTheRecordKeepsSucceedsAfterARestart(t *testing.T) {
	const pods = maxSeenSucceeded + 44
	for _, tc := range []struct {
		name      string
		skip      int // the index whose pod is never seen; -1 for none
		indexes   string
		succeeded int
		want      backend.State
	}{
		{"as counted", -1, fmt.Sprintf("0-%d", pods-1), pods, backend.Succeeded},
		{"an index no own pod succeeded at", 7, fmt.Sprintf("0-%d", pods-1), pods, backend.Lost},
		{"counters that disagree", -1, fmt.Sprintf("0-%d", pods-2), pods, backend.Lost},
		{"no indexes", -1, "", pods, backend.Lost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := submitOnGPUNode(t, "1", gpuSpec(pods), nil)
			f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
			f.changeJob(name, map[string]any{"status": map[string]any{"startTime": "2026-01-01T00:00:00Z"}})
			eventually(t, "the cache did not take the Job's start", func() bool {
				j, ok := b.watch.job(name)
				return ok && j.Status.StartTime != nil
			})
			put := 0
			for i := range pods {
				if i == tc.skip {
					continue
				}
				p := endedPod(fmt.Sprintf("%s-%d", name, i), fmt.Sprintf("pod-uid-%d", i), name, uid, fmt.Sprint(i), 0, false)
				meta(p)["creationTimestamp"] = "2026-01-01T00:00:01Z"
				f.putWithUID("pods", p)
				put++
				if put%50 == 0 || i == pods-1 {
					waitPodsCached(t, b, name, put, "the cache did not take the pods")
				}
			}
			eventually(t, "the pods' successes were not recorded", func() bool {
				r, ok := b.record(name)
				return ok && len(r.Succeeded) == maxSeenSucceeded && r.SucceededIndexes != "" &&
					(tc.skip >= 0 || r.SucceededIndexes == fmt.Sprintf("0-%d", pods-1))
			})
			left := put
			for i := range pods {
				if i == tc.skip {
					continue
				}
				f.drop("pods", fmt.Sprintf("%s-%d", name, i))
				left--
				if left%50 == 0 {
					waitPodsCached(t, b, name, left, "the cache did not let the pods go")
				}
			}
			// The restart: a backend on the same state directory, with no
			// memory of the pods gone.
			b.Close()
			status := map[string]any{"startTime": "2026-01-01T00:00:00Z", "succeeded": tc.succeeded,
				"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}
			if tc.indexes != "" {
				status["completedIndexes"] = tc.indexes
			}
			f.changeJob(name, map[string]any{"status": status})
			again, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
				b.stateDir, &rest.Config{Host: b.host, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { again.Close() })
			eventually(t, "the restarted backend's cache did not take the Job's end", func() bool {
				j, ok := again.watch.job(name)
				return ok && again.jobFinished(j)
			})
			st, err := again.Status(ctx, name)
			if err != nil || st.State != tc.want {
				t.Fatalf("Status = %+v, %v; want %s", st, err, tc.want)
			}
			if tc.want == backend.Lost && !strings.Contains(st.Reason, "succeeded pods") {
				t.Errorf("Status = %+v; want it lost for the Job's count of successes", st)
			}
		})
	}
}
