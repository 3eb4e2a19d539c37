package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/catalog"
)

// An API server of Kubernetes 1.31 or 1.32 with the
// MatchLabelKeysInPodAffinity feature gate off (or one behind a webhook
// that strips the field) passes the version check and still drops the
// matchLabelKeys of the anti-affinity term that keeps an attempt's pods
// apart as it stores the Job, without an error: the term is the run's
// and attempt's labels alone, which anyone who may create pods in the
// namespace can satisfy to keep the attempt waiting for good. Submit now
// reads what the create answered, deletes the Job with its pods (not
// orphaning them), its Secret and its record, and refuses, naming the
// site and the field; later Submits create nothing there and the site
// check fails.
func TestSubmitRefusesAnAPIServerThatDropsMatchLabelKeys(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	f.version = map[string]any{"major": "1", "minor": "32", "gitVersion": "v1.32.3"}
	f.onCreate = func(resource string, obj map[string]any) (int, string) {
		if resource == "jobs" {
			dropMatchLabelKeys(obj)
		}
		return 0, ""
	}
	var mu sync.Mutex
	var jobCreates int
	var deletes []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/jobs") {
			switch r.Method {
			case http.MethodPost:
				mu.Lock()
				jobCreates++
				mu.Unlock()
			case http.MethodDelete:
				var opts map[string]any
				if err := json.NewDecoder(r.Body).Decode(&opts); err != nil {
					t.Errorf("delete of a Job without options: %v", err)
				}
				mu.Lock()
				deletes = append(deletes, opts)
				mu.Unlock()
				raw, _ := json.Marshal(opts)
				r.Body = io.NopCloser(bytes.NewReader(raw))
			}
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := testContext(t)

	spec := gpuSpec(16) // two pods of 8 on nodes of 8
	spec.Secret = map[string]string{"TOKEN": "credential"}
	name := JobName(spec.RunID, spec.Attempt)
	_, err = b.Submit(ctx, spec)
	if err == nil {
		t.Fatal("Submit succeeded on an API server that dropped matchLabelKeys; want it refused")
	}
	for _, w := range []string{srv.URL, "matchLabelKeys", "MatchLabelKeysInPodAffinity", "backend.kubeconfig", "deleted"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Submit's error %q does not say %q", err, w)
		}
	}
	if _, ok := f.get("jobs", name); ok {
		t.Error("the Job the API server stored without matchLabelKeys is still there")
	}
	if _, ok := f.get("secrets", name); ok {
		t.Error("the attempt's Secret is still there")
	}
	if _, ok := b.record(name); ok {
		t.Error("the record of the refused attempt is still there")
	}
	mu.Lock()
	if len(deletes) != 1 {
		t.Errorf("%d deletes of the Job; want 1", len(deletes))
	} else if p := deletes[0]["propagationPolicy"]; p != "Foreground" && p != "Background" {
		// A batch/v1 Job's default propagation orphans its pods.
		t.Errorf("the Job was deleted with propagationPolicy %v; want its pods deleted with it", p)
	}
	creates := jobCreates
	mu.Unlock()

	// The refusal stands: nothing more is created there, and the site
	// check names it.
	spec.Attempt = 2
	if _, err := b.Submit(ctx, spec); err == nil || !strings.Contains(err.Error(), "matchLabelKeys") {
		t.Errorf("a later Submit: %v; want it refused", err)
	}
	mu.Lock()
	if jobCreates != creates {
		t.Errorf("%d Jobs created after the refusal; want none", jobCreates-creates)
	}
	mu.Unlock()
	var refused *versionRefusedError
	if err := b.Check(ctx); !errors.As(err, &refused) || !strings.Contains(err.Error(), "matchLabelKeys") {
		t.Errorf("Check: %v; want the site refused for dropping matchLabelKeys", err)
	}
}

// dropMatchLabelKeys removes the matchLabelKeys of each required pod
// anti-affinity term of a Job's pod template, as an API server with the
// feature gate off does as it stores it.
func dropMatchLabelKeys(job map[string]any) {
	spec, _ := job["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pspec, _ := tmpl["spec"].(map[string]any)
	aff, _ := pspec["affinity"].(map[string]any)
	anti, _ := aff["podAntiAffinity"].(map[string]any)
	terms, _ := anti["requiredDuringSchedulingIgnoredDuringExecution"].([]any)
	for _, t := range terms {
		if m, ok := t.(map[string]any); ok {
			delete(m, "matchLabelKeys")
		}
	}
}
