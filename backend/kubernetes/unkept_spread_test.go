package kubernetes

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// A Job of an attempt split over nodes made by an earlier Submit (an
// older Meridian, or before the API server was upgraded or downgraded)
// whose pod template lacks the matchLabelKeys of its anti-affinity term
// was taken as the attempt's when found again: Submit adopted it and
// Status followed it, though anyone who may create pods in the namespace
// could keep its pods off every node, unseen. Status now reads it lost,
// naming the Job and the field, and marks it; Submit gives the attempt
// up (backend.ErrAttemptUnknown) rather than run it, and creates nothing.
func TestFoundJobWithoutMatchLabelKeysIsNotRun(t *testing.T) {
	for _, via := range []string{"Status", "Submit"} {
		t.Run(via, func(t *testing.T) {
			f := newFakeAPI(t)
			f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
			b := f.start(t)
			ctx := testContext(t)
			spec := gpuSpec(16)
			name, err := b.CreateUnkeyedJobForTest(ctx, spec, 2)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the cache did not take the Job", func() bool { _, ok := b.watch.job(name); return ok })
			if via == "Submit" {
				_, err := b.Submit(ctx, spec)
				if !errors.Is(err, backend.ErrAttemptUnknown) {
					t.Fatalf("Submit: %v; want the attempt given up (ErrAttemptUnknown)", err)
				}
				for _, w := range []string{name, "matchLabelKeys"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Submit's error %q does not say %q", err, w)
					}
				}
				f.mu.Lock()
				jobs := len(f.objs["jobs"])
				f.mu.Unlock()
				if jobs != 1 {
					t.Errorf("%d Jobs; want only the one found", jobs)
				}
			}
			h, found, err := b.Find(ctx, spec.RunID, spec.Attempt)
			if err != nil || !found || h != name {
				t.Fatalf("Find = %q, %v, %v; want %q", h, found, err, name)
			}
			st, err := b.Status(ctx, h)
			if err != nil {
				t.Fatal(err)
			}
			if st.State != backend.Lost || !strings.Contains(st.Reason, name) || !strings.Contains(st.Reason, "matchLabelKeys") {
				t.Errorf("Status = %+v; want Lost naming the Job and matchLabelKeys", st)
			}
			job, _ := f.get("jobs", name)
			if ann, _ := meta(job)["annotations"].(map[string]any); ann[AnnotationLost] == nil {
				t.Error("the Job was not marked lost")
			}
		})
	}
}

// A Job read whole from the API server (not from the watch cache) is
// judged as the cached one is.
func TestUnkeptSpreadReadWhole(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	b := f.start(t)
	ctx := testContext(t)
	name, err := b.CreateUnkeyedJobForTest(ctx, gpuSpec(16), 2)
	if err != nil {
		t.Fatal(err)
	}
	job, err := b.getJob(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if why := b.unkeptSpread(job); !strings.Contains(why, "matchLabelKeys") {
		t.Errorf("unkeptSpread of the Job read whole = %q; want it not trusted", why)
	}
	one, err := b.getJob(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	one.Spec.Template.Spec.Affinity.PodAntiAffinity.Required[0].MatchLabelKeys = []string{controllerUIDLabel}
	if why := b.unkeptSpread(one); why != "" {
		t.Errorf("unkeptSpread of a Job with the field = %q; want none", why)
	}
}

// A Job of an attempt of two pods without the matchLabelKeys of its
// anti-affinity term (made before the key was given) that had already
// completed, its pods succeeded, was read lost all the same, and the run
// was done again: a term without the key can only keep pods waiting,
// which delays a Job's end and cannot change it. Status now reads the
// ended Job by its end, and Submit of the attempt takes it up; a Job
// still running is lost as before.
func TestEndedJobWithoutMatchLabelKeysKeepsItsEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ended bool
		want  backend.State
	}{
		{"complete", true, backend.Succeeded},
		{"running", false, backend.Lost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
			b := f.start(t)
			ctx := testContext(t)
			spec := gpuSpec(16)
			name, err := b.CreateUnkeyedJobForTest(ctx, spec, 2)
			if err != nil {
				t.Fatal(err)
			}
			job, _ := f.get("jobs", name)
			uid := meta(job)["uid"].(string)
			status := map[string]any{"startTime": "2026-01-01T00:00:00Z", "active": 2}
			if tc.ended {
				for i := range 2 {
					p := endedPod(fmt.Sprintf("%s-%d", name, i), fmt.Sprintf("pod-uid-%d", i), name, uid, fmt.Sprint(i), 0, false)
					meta(p)["creationTimestamp"] = "2026-01-01T00:00:01Z"
					f.putWithUID("pods", p)
				}
				waitPodsCached(t, b, name, 2, "the cache did not take the pods")
				status = map[string]any{"startTime": "2026-01-01T00:00:00Z", "succeeded": 2, "completedIndexes": "0-1",
					"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}
			}
			f.changeJob(name, map[string]any{"spec": map[string]any{"suspend": false}, "status": status})
			eventually(t, "the cache did not take the Job's start", func() bool {
				j, ok := b.watch.job(name)
				return ok && j.Status.StartTime != nil
			})
			_, err = b.Submit(ctx, spec)
			if tc.ended && err != nil {
				t.Fatalf("Submit: %v; want the ended Job taken up", err)
			}
			if !tc.ended && !errors.Is(err, backend.ErrAttemptUnknown) {
				t.Fatalf("Submit: %v; want the attempt given up (ErrAttemptUnknown)", err)
			}
			st, err := b.Status(ctx, name)
			if err != nil || st.State != tc.want {
				t.Fatalf("Status = %+v, %v; want %s", st, err, tc.want)
			}
			if !tc.ended && !strings.Contains(st.Reason, "matchLabelKeys") {
				t.Errorf("Status = %+v; want it lost naming matchLabelKeys", st)
			}
		})
	}
}
