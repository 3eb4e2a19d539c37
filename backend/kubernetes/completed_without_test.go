package kubernetes

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// A retry limit set at the site lets the Job controller delete the
// attempt's own pod (as surplus beside a copy of it that someone made, or
// for any other reason) and count it failed, and then complete by another
// pod, which the backend's watch may never have seen live. The Job's
// success is then not the attempt's pods': the attempt is lost, not
// Succeeded, though no pod in the cache failed.
func TestCompleteWithAFailureCountedIsLost(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.objs["jobs"][name]["status"] = map[string]any{"failed": 1,
		"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}
	f.rv++
	meta(f.objs["jobs"][name])["resourceVersion"] = fmt.Sprint(f.rv)
	f.notify("jobs", "MODIFIED", f.objs["jobs"][name])
	f.mu.Unlock()
	eventually(t, "the cache did not take the Job's end", func() bool {
		j, ok := b.watch.job(name)
		return ok && b.jobFinished(j)
	})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "1 failed") {
		t.Fatalf("Status = %+v, %v; want Lost, the Job having counted 1 failed pod", st, err)
	}
}

// Whoever may write a Job's status can set it Complete while the
// attempt's pod still runs. The pod is asked of the API server (the
// watch cache of pods may trail that of Jobs): one still running did not
// succeed, and the attempt is lost, not Succeeded.
func TestCompleteWhileItsPodRunsIsLost(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	f.put("pods", gpuPod(name+"-p", name, uid, "4"))
	eventually(t, "the cache did not take the pod", func() bool {
		j, ok := b.watch.job(name)
		return ok && len(b.watch.podsOf(j)) == 1
	})
	setJobConditions(f, name, map[string]any{"type": jobComplete, "status": "True"})
	eventually(t, "the cache did not take the Job's end", func() bool {
		j, ok := b.watch.job(name)
		return ok && b.jobFinished(j)
	})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, name+"-p") {
		t.Fatalf("Status = %+v, %v; want Lost, its pod still running", st, err)
	}
}

// A pod the watch cache still shows running, which the API server has
// Succeeded (the cache trails), is no reason: the attempt succeeds.
func TestCompleteWithThePodsCacheBehindSucceeds(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	f.put("pods", gpuPod(name+"-p", name, uid, "4"))
	eventually(t, "the cache did not take the pod", func() bool {
		j, ok := b.watch.job(name)
		return ok && len(b.watch.podsOf(j)) == 1
	})
	// The API server's pod succeeds; no event of it reaches the cache.
	f.mu.Lock()
	f.objs["pods"][name+"-p"]["status"] = map[string]any{"phase": podSucceeded}
	f.mu.Unlock()
	setJobConditions(f, name, map[string]any{"type": jobComplete, "status": "True"})
	eventually(t, "the cache did not take the Job's end", func() bool {
		j, ok := b.watch.job(name)
		return ok && b.jobFinished(j)
	})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Succeeded {
		t.Fatalf("Status = %+v, %v; want Succeeded", st, err)
	}
}
