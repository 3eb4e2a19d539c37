package kubernetes

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// An API server of Kubernetes 1.29 or 1.30 with the
// MatchLabelKeysInPodAffinity feature gate on keeps the matchLabelKeys of
// the attempt's anti-affinity term, and was refused by the version check
// all the same. Whether the field is kept is now asked of the API server
// itself (a dry-run create): one of 1.30 that keeps it is submitted to.
func TestSubmitAcceptsA130ThatKeepsMatchLabelKeys(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	f.version = map[string]any{"major": "1", "minor": "30", "gitVersion": "v1.30.4"}
	b := f.start(t)
	ctx := testContext(t)
	name, err := b.Submit(ctx, gpuSpec(16))
	if err != nil {
		t.Fatalf("Submit on a 1.30 that keeps matchLabelKeys: %v", err)
	}
	if _, ok := f.get("jobs", name); !ok {
		t.Fatal("no Job created")
	}
	f.mu.Lock()
	dry := f.dryRuns
	f.mu.Unlock()
	if dry != 1 {
		t.Errorf("%d dry runs; want the one probe", dry)
	}
}

// An API server that drops the field (the feature gate off, or a webhook
// that strips it) was found out only by the Job it stored: a Job was
// created, then deleted. The probe finds it out before any Job is made:
// Submit and Check refuse it, naming the field, and nothing is created.
func TestSubmitRefusesAnAPIServerWhoseDryRunDropsMatchLabelKeys(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	drop := func(resource string, obj map[string]any) (int, string) {
		if resource == "jobs" {
			dropMatchLabelKeys(obj)
		}
		return 0, ""
	}
	f.onDryRun, f.onCreate = drop, drop
	b := f.start(t)
	ctx := testContext(t)
	spec := gpuSpec(16)
	spec.Secret = map[string]string{"TOKEN": "credential"}
	_, err := b.Submit(ctx, spec)
	var refused *versionRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("Submit: %v; want the site refused", err)
	}
	for _, w := range []string{"matchLabelKeys", "MatchLabelKeysInPodAffinity", "dry-run"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Submit's error %q does not say %q", err, w)
		}
	}
	f.mu.Lock()
	secrets := len(f.objs["secrets"])
	f.mu.Unlock()
	if _, ok := b.record(JobName(spec.RunID, spec.Attempt)); ok || secrets != 0 {
		t.Errorf("a record or %d Secrets left by a refused Submit; want none", secrets)
	}
	if created := jobsCreated(f); created != 0 {
		t.Errorf("%d Jobs created; want none", created)
	}
	if err := b.Check(ctx); !errors.As(err, &refused) || !strings.Contains(err.Error(), "matchLabelKeys") {
		t.Errorf("Check: %v; want the site refused naming matchLabelKeys", err)
	}
}

// jobsCreated counts the Jobs the fake was asked to create and stored
// (the history of its watch events).
func jobsCreated(f *fakeAPI) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, h := range f.history["jobs"] {
		if h.ev.Type == "ADDED" {
			n++
		}
	}
	return n
}

// The probe's answer is kept for spreadProbeEvery: Submits within it ask
// nothing more; past it, the next asks again, and a refusal found then
// stands (a server downgraded, or its feature gate turned off). A probe
// that is not answered is not kept.
func TestSpreadProbeIsKeptForItsPeriod(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	b := f.start(t)
	ctx := testContext(t)
	spec := gpuSpec(16)
	for a := 1; a <= 3; a++ {
		spec.Attempt = a
		if _, err := b.Submit(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	dryRuns := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.dryRuns
	}
	if n := dryRuns(); n != 1 {
		t.Fatalf("%d dry runs for three Submits; want one", n)
	}
	f.mu.Lock()
	f.onDryRun = func(string, map[string]any) (int, string) { return 500, "InternalError" }
	f.mu.Unlock()
	age := func() {
		b.probe.mu.Lock()
		b.probe.at = b.probe.at.Add(-spreadProbeEvery - time.Second)
		b.probe.mu.Unlock()
	}
	age()
	spec.Attempt = 4
	var refused *versionRefusedError
	if _, err := b.Submit(ctx, spec); err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), "dry-run") {
		t.Fatalf("Submit while the probe fails: %v; want that error, not a refusal", err)
	}
	f.mu.Lock()
	f.onDryRun = func(resource string, obj map[string]any) (int, string) {
		dropMatchLabelKeys(obj)
		return 0, ""
	}
	f.mu.Unlock()
	if _, err := b.Submit(ctx, spec); !errors.As(err, &refused) {
		t.Fatalf("Submit once the API server drops the field: %v; want the site refused", err)
	}
	if n := dryRuns(); n != 3 {
		t.Errorf("%d dry runs; want 3 (the first, the failed one, the refusing one)", n)
	}
}
