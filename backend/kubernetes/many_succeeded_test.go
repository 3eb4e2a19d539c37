package kubernetes

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
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
