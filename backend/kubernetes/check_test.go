package kubernetes

import (
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// answerCheck answers what only Check asks, and reports whether it did:
// an access review (allowed: the fake's user may do anything) and a
// namespace, which exists only as "ns".
func (f *fakeAPI) answerCheck(w http.ResponseWriter, r *http.Request, parts []string) bool {
	switch {
	case r.Method == http.MethodPost && parts[len(parts)-1] == resourceAccessCheck:
		f.reply(w, 201, map[string]any{"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
			"status": map[string]any{"allowed": true}})
		return true
	case r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "api" && parts[2] == resourceNamespaces:
		if parts[3] != "ns" {
			f.status(w, 404, "NotFound", "namespaces "+parts[3]+" not found")
			return true
		}
		f.reply(w, 200, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "ns"}})
		return true
	}
	return false
}

// Check asked the API server for a dry-run create of a Job before it asked
// for the namespace: with backend.namespace naming none, it failed with
// the dry run's "not found", not saying that the namespace does not exist.
// The namespace is now asked first.
func TestCheckOfAMissingNamespaceSaysSo(t *testing.T) {
	f := newFakeAPI(t)
	// An API server answers a create in a namespace that does not exist,
	// dry run or not, with a 404.
	f.onDryRun = func(string, map[string]any) (int, string) { return 404, "NotFound" }
	b := f.start(t, func(s *catalog.BackendSpec) { s.Namespace = "gone" })
	err := b.Check(testContext(t))
	if err == nil || !strings.Contains(err.Error(), `backend.namespace: namespace "gone" does not exist`) {
		t.Fatalf("Check: %v; want it to say the namespace of backend.namespace does not exist", err)
	}
	f.mu.Lock()
	dryRuns := f.dryRuns
	f.mu.Unlock()
	if dryRuns != 0 {
		t.Errorf("%d dry runs asked of a namespace that does not exist; want none", dryRuns)
	}
	g := newFakeAPI(t)
	g.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
	good := g.start(t)
	if err := good.Check(testContext(t)); err != nil {
		t.Errorf("Check of the fake's own namespace: %v", err)
	}
}
