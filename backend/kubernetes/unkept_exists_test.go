package kubernetes

import (
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// Submit that finds the attempt's Job only as the answer to its create
// (AlreadyExists: the watch cache has not taken it) judges it as one found
// in the cache: a Job without the matchLabelKeys of its anti-affinity
// term still running gives the attempt up, and the Secret this Submit
// wrote goes, as no Job of it will own it; one that has ended is taken up.
func TestSubmitFindingAnUnkeyedJobByItsCreate(t *testing.T) {
	for _, ended := range []bool{false, true} {
		t.Run(map[bool]string{false: "running", true: "ended"}[ended], func(t *testing.T) {
			f := newFakeAPI(t)
			f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
			b := f.start(t)
			ctx := testContext(t)
			f.mute("jobs")
			spec := gpuSpec(16)
			spec.Secret = map[string]string{"TOKEN": "s3cret"}
			name, err := b.CreateUnkeyedJobForTest(ctx, spec, 2)
			if err != nil {
				t.Fatal(err)
			}
			if ended {
				f.mu.Lock()
				f.objs["jobs"][name]["status"] = map[string]any{"conditions": []any{map[string]any{"type": jobFailed, "status": "True"}}}
				f.mu.Unlock()
			}
			if _, ok := b.watch.job(name); ok {
				t.Fatal("the watch cache took the Job; want it found by the create's answer")
			}
			_, err = b.Submit(ctx, spec)
			_, hasSecret := f.get("secrets", name)
			if ended {
				if err != nil || !hasSecret {
					t.Fatalf("Submit: %v (Secret kept: %v); want the ended Job taken up with its Secret", err, hasSecret)
				}
				return
			}
			if !errors.Is(err, backend.ErrAttemptUnknown) || !strings.Contains(err.Error(), "matchLabelKeys") {
				t.Fatalf("Submit: %v; want the attempt given up (ErrAttemptUnknown) naming matchLabelKeys", err)
			}
			if hasSecret {
				t.Error("the Secret written for the attempt was left, though no Job of it will own it")
			}
			f.mu.Lock()
			jobs := len(f.objs["jobs"])
			f.mu.Unlock()
			if jobs != 1 {
				t.Errorf("%d Jobs; want only the one found", jobs)
			}
		})
	}
}
