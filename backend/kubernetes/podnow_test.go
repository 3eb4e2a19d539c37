package kubernetes

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// noPodGets answers 403, as the API server does to a user with the rights
// docs/kubernetes-rbac.md lists (list, watch and delete on pods, not get),
// to a get of one pod; the rest goes to f.
func noPodGets(f *fakeAPI) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		// api/v1/namespaces/NS/pods/NAME
		if r.Method == http.MethodGet && len(parts) == 6 && parts[4] == "pods" {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.status(w, http.StatusForbidden, "Forbidden", `pods "`+parts[5]+`" is forbidden: User "meridian" cannot get resource "pods"`)
			return
		}
		f.ServeHTTP(w, r)
	})
}

// TestCompleteWhileItsPodRunsIsLostWithTheDocumentedRights: a Job set
// Complete while the attempt's pod runs had the pod asked of the API
// server by a get, which the documented rights do not allow: the answer
// was always an error, and the attempt read Running ("its pods' ends are
// not yet confirmed") for as long as the pod ran, and Succeeded once it
// ended, where it is lost. The pod is now asked by a list by its name,
// which they allow.
func TestCompleteWhileItsPodRunsIsLostWithTheDocumentedRights(t *testing.T) {
	f := newFakeAPI(t)
	f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	srv := httptest.NewServer(noPodGets(f))
	t.Cleanup(srv.Close)
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := testContext(t)
	name, err := b.Submit(ctx, gpuSpec(4))
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.get("jobs", name)
	uid := meta(job)["uid"].(string)
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
