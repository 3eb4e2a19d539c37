package kubernetes

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/internal/textsafe"
)

// TestWatchFailureWordsAreSafe: the error of a list or watch the API
// server refused is kept (observe) and repeated by every call while the
// watch cache is stale or the API server unanswered (healthErr): it was
// repeated as the API server said it, a terminal escape or a line break
// that forges a log line as itself, and up to the 4 MiB of an answer. It
// is now escaped and cut as siteError has every other error of the API
// server's.
func TestWatchFailureWordsAreSafe(t *testing.T) {
	for _, w := range hostileWords[:2] {
		msg := w + strings.Repeat("x", 64<<10)
		var hostile atomic.Bool
		h, b := newHostile(t, func(rw http.ResponseWriter, r *http.Request) bool {
			if !hostile.Load() || !strings.HasSuffix(r.URL.Path, "/pods") {
				return false
			}
			if r.URL.Query().Get("watch") == "true" {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusInternalServerError)
				json.NewEncoder(rw).Encode(map[string]any{"apiVersion": "v1", "kind": "Status", "status": "Failure",
					"message": msg, "reason": "InternalError", "code": 500})
				return true
			}
			rw.Header().Set("Content-Type", "text/plain")
			rw.WriteHeader(http.StatusInternalServerError)
			rw.Write([]byte(msg))
			return true
		})
		hostile.Store(true)
		// The watch of pods ends, and every list and watch after fails.
		h.f.endWatches()
		deadline := time.Now().Add(30 * time.Second)
		var err error
		for {
			if err = b.watch.healthErr(); err != nil && strings.Contains(err.Error(), "xxxx") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no error of the pods' watch 30 s after the API server refused it: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		text := err.Error()
		if !textsafe.Safe(text) {
			t.Errorf("the watch's error holds what textsafe flags: %.200q", text)
		}
		if len(text) > 2*maxErrorText {
			t.Errorf("the watch's error is %d bytes; want it cut", len(text))
		}
		if _, serr := b.Status(testContext(t), hostileJob); serr == nil || !textsafe.Safe(serr.Error()) || len(serr.Error()) > 2*maxErrorText {
			t.Errorf("Status error %.200q; want the watch's error, escaped and cut", serr)
		}
	}
}

// TestStaleWatchErrorIsSafe: whatever error a refused watch event or a
// failed list leaves in the watcher's state (broken, failures), healthErr
// repeats it escaped and cut, with what it is beneath.
func TestStaleWatchErrorIsSafe(t *testing.T) {
	_, b := newHostile(t, nil)
	w := b.watch
	for _, words := range hostileWords {
		said := &tooLargeError{"kubernetes API server: watch of pods: " + words + strings.Repeat("y", 4<<10)}
		for _, fail := range []func(error){
			func(err error) { w.observeStream(resourcePods, err) },
			func(err error) { w.observe(resourcePods, err) },
		} {
			fail(said)
			err := w.healthErr()
			if err == nil {
				t.Fatal("healthErr is nil after a refused watch")
			}
			if text := err.Error(); !textsafe.Safe(text) || len(text) > 2*maxErrorText {
				t.Errorf("healthErr = %.200q (%d bytes); want it escaped and cut", text, len(text))
			}
			var tl *tooLargeError
			if !errors.As(err, &tl) {
				t.Errorf("healthErr %.100q is no longer the refusal it repeats", err)
			}
			w.observe(resourcePods, nil)
			w.observeStream(resourcePods, nil)
		}
	}
}
