package kubernetes

import (
	"encoding/json"
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
				if !status {
					rw.Header().Set("Content-Type", "text/plain")
					rw.WriteHeader(http.StatusInternalServerError)
					rw.Write([]byte(msg))
					return true
				}
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusInternalServerError)
				json.NewEncoder(rw).Encode(map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure",
					"message": msg, "reason": "InternalError", "code": 500})
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
