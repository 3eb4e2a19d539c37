package kubernetes

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/catalog"
)

// An API server before Kubernetes 1.29 does not know the matchLabelKeys
// of the anti-affinity term that keeps the pods of an attempt split over
// nodes apart from pods others make, and drops it without an error.
// Submit and Check refuse it by its version alone, naming it and why,
// and neither create nor probe anything.
func TestSubmitRefusesAnAPIServerBefore129(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	f.version = map[string]any{"major": "1", "minor": "28+", "gitVersion": "v1.28.15-gke.1000"}
	b := f.start(t)
	ctx := testContext(t)
	_, err := b.Submit(ctx, gpuSpec(16))
	if err == nil {
		t.Fatal("Submit succeeded on Kubernetes 1.28; want it refused")
	}
	for _, w := range []string{"v1.28.15-gke.1000", "1.29", "matchLabelKeys", "backend.kubeconfig"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Submit's error %q does not say %q", err, w)
		}
	}
	f.mu.Lock()
	jobs, secrets, dry := len(f.objs["jobs"]), len(f.objs["secrets"]), f.dryRuns
	f.mu.Unlock()
	if jobs != 0 || secrets != 0 || dry != 0 {
		t.Errorf("%d Jobs, %d Secrets and %d dry runs on a refused API server; want none", jobs, secrets, dry)
	}
	var refused *versionRefusedError
	if err := b.Check(ctx); !errors.As(err, &refused) || !strings.Contains(err.Error(), "v1.28.15-gke.1000") {
		t.Errorf("Check: %v; want the version refused", err)
	}
}

// The version is read once: the Submits and Checks after the first
// answer do not ask again. A request that failed is not an answer: the
// next call asks again, and until one answers nothing is submitted.
func TestServerVersionReadOnce(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	var asked, failing atomic.Int64
	failing.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/version" {
			asked.Add(1)
			if failing.Load() == 1 {
				f.status(w, http.StatusInternalServerError, "InternalError", "etcd is down")
				return
			}
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := testContext(t)
	eventually(t, "the backend did not ask the version as it started", func() bool { return asked.Load() > 0 })
	var refused *versionRefusedError
	if _, err := b.Submit(ctx, gpuSpec(1)); err == nil || !strings.Contains(err.Error(), "asking its version") || errors.As(err, &refused) {
		t.Fatalf("Submit while /version fails: %v; want that error, not a refusal", err)
	}
	f.mu.Lock()
	jobs := len(f.objs["jobs"])
	f.mu.Unlock()
	if jobs != 0 {
		t.Fatal("a Job was created while the API server's version was not known")
	}
	failing.Store(0)
	spec := gpuSpec(1)
	if _, err := b.Submit(ctx, spec); err != nil {
		t.Fatalf("Submit once /version answers: %v", err)
	}
	before := asked.Load()
	spec.Attempt = 2
	if _, err := b.Submit(ctx, spec); err != nil {
		t.Fatal(err)
	}
	_ = b.Check(ctx) // the fake answers no access review: only its version is of interest
	if after := asked.Load(); after != before {
		t.Errorf("/version asked %d times after it answered; want none", after-before)
	}
}

// versionRefusal reads the version by gitVersion, or by the major and
// minor fields (which some providers end with "+") where gitVersion reads
// as none; an answer that names no version is refused, as its server may
// be one that drops the term.
func TestVersionRefusal(t *testing.T) {
	for _, c := range []struct {
		info map[string]any
		ok   bool
	}{
		{map[string]any{"major": "1", "minor": "31", "gitVersion": "v1.31.0"}, true},
		{map[string]any{"major": "1", "minor": "37", "gitVersion": "v1.37.2"}, true},
		{map[string]any{"major": "1", "minor": "31+", "gitVersion": "v1.31.2-eks-7f9249a"}, true},
		{map[string]any{"major": "2", "minor": "0", "gitVersion": "v2.0.0"}, true},
		{map[string]any{"major": "1", "minor": "31+"}, true},
		// 1.29 and 1.30 keep the field with the feature gate on, which
		// the probe asks (spreadErr).
		{map[string]any{"major": "1", "minor": "30", "gitVersion": "v1.30.14"}, true},
		{map[string]any{"major": "1", "minor": "29", "gitVersion": "v1.29.0-alpha.1"}, true},
		{map[string]any{"major": "1", "minor": "30+"}, true},
		{map[string]any{"major": "1", "minor": "28", "gitVersion": "v1.28.15"}, false},
		{map[string]any{"major": "1", "minor": "28+"}, false},
		{map[string]any{"major": "0", "minor": "99"}, false},
		// What it says of itself outweighs the fields beside it.
		{map[string]any{"major": "1", "minor": "40", "gitVersion": "v1.28.3"}, false},
		{map[string]any{"gitVersion": "unknown"}, false},
		{map[string]any{}, false},
	} {
		raw, _ := json.Marshal(c.info)
		err := versionRefusal("https://site", raw)
		if (err == nil) != c.ok {
			t.Errorf("versionRefusal(%s) = %v; want ok %v", raw, err, c.ok)
		}
	}
	if err := versionRefusal("https://site", []byte(`["v1.31.0"]`)); err == nil {
		t.Error("versionRefusal of an array succeeded; want it refused")
	}
}
