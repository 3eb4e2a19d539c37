package kubernetes

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/textsafe"
)

// TestSiteNamesInErrorsAreSafe: the names of Nodes and Pods are the API
// server's words, and the errors of Capacity (a Node's allocatable count
// or a Pod's request it cannot read) and of Logs (a pod's log not sent)
// repeated them as sent, to the operator's terminal and the server's log:
// a hostile server's escape sequences and line breaks with them. A name
// no real API server gives is now quoted and escaped (siteName).
func TestSiteNamesInErrorsAreSafe(t *testing.T) {
	for _, w := range hostileWords {
		t.Run(strings.ToValidUTF8(w, "?"), func(t *testing.T) {
			f := newFakeAPI(t)
			f.objs["nodes"][w] = map[string]any{"apiVersion": "v1", "kind": "Node",
				"metadata": map[string]any{"name": w, "uid": "node-uid-2", "resourceVersion": "1"},
				"status": map[string]any{"allocatable": map[string]any{DefaultGPUResource: "-1"},
					"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}}
			b := f.start(t)
			_, err := b.Capacity(testContext(t))
			if err == nil || !strings.Contains(err.Error(), "allocatable") {
				t.Fatalf("Capacity with a node's allocatable count of -1: %v; want an error naming it", err)
			}
			if !textsafe.Safe(err.Error()) {
				t.Errorf("Capacity's error repeats the node's name as sent: %q", err)
			}

			// A pod on a Node the backend reads, whose request it cannot, with a
			// container of the name.
			f = newFakeAPI(t)
			f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
			p := fakePod(w, "other", "other-uid", "n1", "Running")
			p["spec"].(map[string]any)["containers"] = []any{map[string]any{"name": w,
				"resources": map[string]any{"limits": map[string]any{DefaultGPUResource: "-1"}}}}
			f.objs["pods"][w] = p
			b = f.start(t)
			_, err = b.Capacity(testContext(t))
			if err == nil || !strings.Contains(err.Error(), "negative") {
				t.Fatalf("Capacity with a pod's request of -1: %v; want an error naming it", err)
			}
			if !textsafe.Safe(err.Error()) {
				t.Errorf("Capacity's error repeats the pod's or its container's name as sent: %q", err)
			}

			// The attempt's pod, named so, whose log is not sent.
			h, hb := newHostile(t, nil)
			h.f.drop("pods", hostileJob+"-x")
			pod := fakePod(w, hostileJob, "job-uid", "n1", "Running")
			meta(pod)["uid"] = "pod-uid-2"
			h.f.putWithUID("pods", pod)
			eventually(t, "the cache did not take the pod", func() bool {
				j, ok := hb.watch.job(hostileJob)
				return ok && len(hb.watch.podsOf(j)) == 1 && hb.watch.podsOf(j)[0].Name == w
			})
			h.set(func(rw http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/log") {
					return false
				}
				h.f.status(rw, 500, "InternalError", "no log")
				return true
			})
			rc, err := hb.Logs(testContext(t), hostileJob)
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "logs of pod") {
				t.Fatalf("Logs of a pod whose log is not sent: %v; want an error naming the pod", err)
			}
			if !textsafe.Safe(err.Error()) {
				t.Errorf("Logs' error repeats the pod's name as sent: %q", err)
			}
		})
	}
}
