package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"meridian.dev/meridian/internal/textsafe"
)

// TestAPIServerWordsInErrorsAreSafe: what the API server says in an
// error (a Status's message, or a body that is not one) was repeated as
// sent in the backend's errors, which are logged at each try and kept as
// a run's reason: a hostile API server put terminal escapes, line breaks
// and bidirectional overrides there as themselves, and up to the 4 MiB of
// an answer. They are now escaped as textsafe escapes a site's text, and
// the error is cut; what the error is (apierrors.IsInternalError) stays.
func TestAPIServerWordsInErrorsAreSafe(t *testing.T) {
	for _, w := range hostileWords {
		for _, status := range []bool{true, false} {
			msg := w + strings.Repeat("x", 1<<20)
			h, b := newHostile(t, nil)
			h.set(func(rw http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost {
					return false
				}
				hostileFailure(rw, msg, status)
				return true
			})
			spec := gpuSpec(0)
			spec.Secret = map[string]string{"MERIDIAN_TOKEN": "t"}
			_, err := b.Submit(testContext(t), spec)
			if err == nil {
				t.Fatal("Submit succeeded; want the API server's error")
			}
			text := err.Error()
			if !textsafe.Safe(text) {
				t.Errorf("Submit's error holds what textsafe flags: %.200q", text)
			}
			if len(text) > 4<<10 {
				t.Errorf("Submit's error is %d bytes; want it cut", len(text))
			}
			if status && !apierrors.IsInternalError(err) {
				t.Errorf("Submit's error %.200q is no longer an internal error", text)
			}
		}
	}
}

// hostileFailure answers rw with a failure of the API server carrying msg:
// a Status (as JSON) or, with status false, a plain body.
func hostileFailure(rw http.ResponseWriter, msg string, status bool) {
	if !status {
		rw.Header().Set("Content-Type", "text/plain")
		rw.WriteHeader(http.StatusInternalServerError)
		rw.Write([]byte(msg))
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusInternalServerError)
	json.NewEncoder(rw).Encode(map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure",
		"message": msg, "reason": "InternalError", "code": 500})
}

// The API server's words reached Check's and Capacity's errors as sent:
// the answer to the version asked (Check), to an access review (Check),
// and to a paged list (Capacity's of the site's nodes and of each node's
// pods), which the server logs and the operator's terminal shows. They
// go through siteError now, as the others' do. So does a pod's UID, the
// API server's too, that a log read names (samePod).
func TestAPIServerWordsInCheckAndCapacityErrorsAreSafe(t *testing.T) {
	// Past the bound of an error's text, within that of an answer.
	msg := strings.Join(hostileWords, " ") + strings.Repeat("x", 16<<10)
	for _, tc := range []struct {
		name  string
		early bool // answered so from the backend's start
		match func(r *http.Request) bool
		call  func(b *Backend) error
	}{
		{"version", true, func(r *http.Request) bool { return r.URL.Path == "/version" },
			func(b *Backend) error { return b.Check(testContext(t)) }},
		{"access review", false, func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/"+resourceAccessCheck) },
			func(b *Backend) error { return b.Check(testContext(t)) }},
		{"capacity nodes", false, func(r *http.Request) bool {
			return r.URL.Path == "/api/v1/nodes" && r.URL.Query().Get("watch") != "true"
		}, func(b *Backend) error { _, err := b.Capacity(testContext(t)); return err }},
		{"capacity pods", false, func(r *http.Request) bool {
			return r.URL.Path == "/api/v1/pods" && r.URL.Query().Get("watch") != "true"
		}, func(b *Backend) error { _, err := b.Capacity(testContext(t)); return err }},
	} {
		for _, status := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/status=%v", tc.name, status), func(t *testing.T) {
				answer := func(rw http.ResponseWriter, r *http.Request) bool {
					if !tc.match(r) {
						return false
					}
					hostileFailure(rw, msg, status)
					return true
				}
				var b *Backend
				if tc.early {
					_, b = newHostile(t, answer)
				} else {
					var h *hostileAPI
					h, b = newHostile(t, nil)
					h.set(answer)
				}
				err := tc.call(b)
				if err == nil {
					t.Fatal("succeeded; want the API server's error")
				}
				text := err.Error()
				if !textsafe.Safe(text) {
					t.Errorf("the error holds what textsafe flags: %.300q", text)
				}
				if len(text) > 4<<10 {
					t.Errorf("the error is %d bytes; want it cut", len(text))
				}
			})
		}
	}
	t.Run("pod UID", func(t *testing.T) {
		h, b := newHostile(t, nil)
		h.f.mu.Lock()
		meta(h.f.objs["pods"][hostileJob+"-x"])["uid"] = msg
		h.f.mu.Unlock()
		p := &apiPod{}
		p.Name, p.Namespace, p.UID = hostileJob+"-x", "ns", "pod-uid"
		err := b.samePod(testContext(t), p)
		if err == nil {
			t.Fatal("samePod of a pod whose UID changed succeeded")
		}
		if text := err.Error(); !textsafe.Safe(text) || len(text) > 4<<10 {
			t.Errorf("samePod's error is %d bytes (safe: %v); want it cut and escaped: %.300q", len(text), textsafe.Safe(text), text)
		}
	})
}
