package kubernetes

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/catalog"
)

// TestHostileHugeResponseHeaders: the transport client-go makes reads an
// answer's headers whole, up to Go's default of 10 MiB, before the
// backend's bounds on its body apply: an API server could have each of
// the backend's requests hold 10 MiB of headers (and more as Go keeps
// them). An answer's headers are now read within maxResponseHeaderBytes,
// over HTTP/1.1 and HTTP/2, with the CA given inline or as a file (which
// client-go reloads, through a transport of its own), and the answers
// that follow, of normal headers, still work.
func TestHostileHugeResponseHeaders(t *testing.T) {
	for _, mode := range []string{"http", "https", "https-cafile"} {
		t.Run(mode, func(t *testing.T) {
			var huge, proto2 atomic.Bool
			h := &hostileAPI{f: newFakeAPI(t)}
			h.f.objs["jobs"][hostileJob] = map[string]any{"apiVersion": "batch/v1", "kind": "Job",
				"metadata": map[string]any{"name": hostileJob, "namespace": "ns", "uid": "job-uid", "resourceVersion": "1",
					"labels": map[string]any{LabelManagedBy: managedBy}, "annotations": map[string]any{AnnotationRunID: hostileRun}},
				"spec": hostileJobSpec()}
			h.set(func(w http.ResponseWriter, r *http.Request) bool {
				if r.ProtoMajor == 2 {
					proto2.Store(true)
				}
				if huge.Load() && strings.HasSuffix(r.URL.Path, "/jobs/"+hostileJob) {
					// 2.5 MiB of headers: within Go's default, over the bound.
					pad := strings.Repeat("a", 64<<10)
					for i := range 40 {
						w.Header().Set(fmt.Sprintf("X-Pad-%d", i), pad)
					}
				}
				return false
			})
			srv := httptest.NewUnstartedServer(h)
			rc := &rest.Config{Timeout: 30 * time.Second}
			if mode == "http" {
				srv.Start()
			} else {
				srv.EnableHTTP2 = true
				srv.StartTLS()
				ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
				if mode == "https-cafile" {
					path := filepath.Join(t.TempDir(), "ca.crt")
					if err := os.WriteFile(path, ca, 0o600); err != nil {
						t.Fatal(err)
					}
					rc.TLSClientConfig.CAFile = path
				} else {
					rc.TLSClientConfig.CAData = ca
				}
			}
			t.Cleanup(srv.Close)
			rc.Host = srv.URL
			b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"}, t.TempDir(), rc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			if err := b.writeRecord(hostileJob, record{RunID: hostileRun, Attempt: 1, Namespace: "ns", UID: "job-uid", Submitted: time.Now().UTC()}); err != nil {
				t.Fatal(err)
			}
			if st, err := b.Status(testContext(t), hostileJob); err != nil {
				t.Fatalf("before any hostile answer: Status = %+v, %v", st, err)
			}
			if mode != "http" && !proto2.Load() {
				t.Fatal("the backend's requests were not HTTP/2: the test shows nothing of it")
			}
			huge.Store(true)
			_, err = b.getJob(testContext(t), hostileJob)
			if err == nil {
				t.Fatalf("an answer of 2.5 MiB of headers was read; want it refused past %d bytes", maxResponseHeaderBytes)
			}
			t.Logf("refused: %v", err)
			huge.Store(false)
			if _, err := b.getJob(testContext(t), hostileJob); err != nil {
				t.Fatalf("get of a Job with normal headers after the refusal: %v", err)
			}
		})
	}
}

// A transport of the caller's own (rest.Config.Transport) is not the
// backend's to change: one that would read headers past
// maxResponseHeaderBytes is refused, naming the bound.
func TestCallersTransportMustBoundHeaders(t *testing.T) {
	site := catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"}
	for _, max := range []int64{0, 2 << 20} {
		_, err := NewFromConfig(site, t.TempDir(), &rest.Config{Host: "http://127.0.0.1:1", Transport: &http.Transport{MaxResponseHeaderBytes: max}})
		if err == nil || !strings.Contains(err.Error(), "at most 1 MiB") {
			t.Errorf("transport reading headers up to %d bytes (0: Go's default): NewFromConfig error %v; want one naming the bound", max, err)
		}
	}
	b, err := NewFromConfig(site, t.TempDir(), &rest.Config{Host: "http://127.0.0.1:1", Transport: &http.Transport{MaxResponseHeaderBytes: 64 << 10}})
	if err != nil {
		t.Fatalf("transport bound within the backend's: %v", err)
	}
	b.Close()
}
