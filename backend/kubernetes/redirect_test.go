package kubernetes

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"meridian.dev/meridian/catalog"
)

// An API server (or whoever answers in its place: a proxy on the way, a
// site's operator) that answers with a redirect had the backend follow it
// with the cluster's credential: client-go's bearer round tripper sets the
// Authorization header on every request the HTTP client makes, redirected
// ones too, whatever host they go to, and a 307 or 308 keeps the method and
// the body (a Secret's keys, on a create). The backend now follows no
// redirect, and says so.
func TestRedirectIsNotFollowedWithTheCredential(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" Authorization="+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Success"}`))
	}))
	t.Cleanup(elsewhere.Close)

	f := newFakeAPI(t)
	h := &hostileAPI{f: f}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL, BearerToken: "cluster-credential", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := testContext(t)
	name := submitWithoutSecret(t, b)
	waitJobCached(t, b, name, "the attempt's Job")

	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		h.set(func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.HasSuffix(r.URL.Path, "/jobs/"+name) || r.Method == http.MethodPatch {
				return false
			}
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, code)
			return true
		})
		_, err := b.getJob(ctx, name)
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("%d: getJob = %v; want an error saying the answer was a redirect, not followed", code, err)
		}
		err = b.Cancel(ctx, name)
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("%d: Cancel = %v; want an error saying the answer was a redirect, not followed", code, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Fatalf("the backend followed the API server's redirect to another server: %q", seen)
	}
}

// RESTConfig hands tools the backend's client configuration: a client
// made from it (a clientset, as bench/kubescale makes, or a bare HTTP
// client) followed the API server's redirects, carrying the cluster's
// credential to wherever they pointed, the body of a 307 or 308 with it.
// The configuration carries the backend's refusal: such a client follows
// no redirect either, and says so.
func TestRESTConfigRefusesRedirects(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" Authorization="+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Success"}`))
	}))
	t.Cleanup(elsewhere.Close)
	f := newFakeAPI(t)
	h := &hostileAPI{f: f}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL, BearerToken: "cluster-credential", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	const probe = "/apis/batch/v1/namespaces/ns/jobs/tool-probe"
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		h.set(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != probe {
				return false
			}
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, code)
			return true
		})
		cs, err := k8s.NewForConfig(b.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		_, err = cs.BatchV1().Jobs("ns").Get(testContext(t), "tool-probe", metav1.GetOptions{})
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("%d: a clientset's Get = %v; want an error saying the answer was a redirect, not followed", code, err)
		}
		hc, err := rest.HTTPClientFor(b.RESTConfig())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, srv.URL+probe, bytes.NewReader([]byte(`{"data":"a Secret's keys"}`)))
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("%d: an HTTP client's POST = %v; want an error saying the answer was a redirect, not followed", code, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Fatalf("a client made from RESTConfig followed the API server's redirect to another server: %q", seen)
	}
}
