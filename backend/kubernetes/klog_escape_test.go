package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/catalog"
)

// clientLogChild names, in a child process's environment, how the child
// of TestClientLogsEscapeTheAPIServersWords has client-go's logs routed:
// "default" (no RouteClientLogs, as a command other than the server has
// it) or "json" (the server's JSON format). A child has client-go's and
// klog's globals as a process starts with them.
const clientLogChild = "MERIDIAN_TEST_CLIENT_LOG_CHILD"

// An API server's error, as a hostile one words it: a line break, a
// terminal escape that clears the screen and sets its title, a C1 control
// introducing another, and a bidirectional override.
const evilWords = "denied\nE0101 00:00:00.000000 1 forged.go:1] \x1b[2J\x1b]0;owned\x07 \u009b31m red \u202eevil-tail"

// TestClientLogsEscapeTheAPIServersWords: client-go logs a failed list or
// watch (and what it could not decode) with the API server's words in it.
// klog wrote them to standard error as sent, where they reach the
// operator's terminal: a line break forged a log line, escapes cleared the
// screen; the server's JSON format escaped control characters but kept C1
// controls and bidirectional overrides as themselves. Each string of
// client-go's lines is now escaped as textsafe escapes a site's text,
// from the first backend made, whatever the format.
func TestClientLogsEscapeTheAPIServersWords(t *testing.T) {
	if mode := os.Getenv(clientLogChild); mode != "" {
		clientLogsChild(t, mode)
		return
	}
	for _, mode := range []string{"default", "json"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestClientLogsEscapeTheAPIServersWords$", "-test.count=1", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), clientLogChild+"="+mode)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("child: %v\n%s\n%s", err, stdout.String(), stderr.String())
			}
			logged := stderr.String()
			var line string
			for _, l := range strings.Split(logged, "\n") {
				if strings.Contains(l, "denied") {
					line = l
					break
				}
			}
			if line == "" {
				t.Fatalf("no line of client-go's logs the failed list with the server's words:\n%q", logged)
			}
			if !strings.Contains(line, "evil-tail") {
				t.Errorf("the server's line break ends client-go's line: %q", line)
			}
			if strings.Contains(logged, "forged.go") && !strings.Contains(line, "forged.go") {
				t.Errorf("the server's words forged a line of their own:\n%q", logged)
			}
			for _, bad := range []string{"\x1b", "\x07", "\u009b", "\u202e"} {
				if strings.Contains(logged, bad) {
					t.Errorf("the log holds %q as itself:\n%q", bad, logged)
				}
			}
			if !strings.Contains(line, `x1b[2J`) || !strings.Contains(line, `u202e`) {
				t.Errorf("the server's words are not there escaped: %q", line)
			}
		})
	}
}

// clientLogsChild makes a backend whose API server refuses the list of
// pods with evilWords, and waits for the backend to see it fail.
func clientLogsChild(t *testing.T, mode string) {
	if mode == "warnings" {
		RouteClientLogs(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
		_, b := newHostile(t, func(w http.ResponseWriter, r *http.Request) bool {
			for i := range warningsPerAnswer {
				w.Header().Add("Warning", fmt.Sprintf(`299 - "hostile warning %d"`, i))
			}
			return false
		})
		for range 5 {
			if _, err := b.Status(testContext(t), hostileJob); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if mode == "json" {
		RouteClientLogs(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	}
	f := newFakeAPI(t)
	var watchErrors atomic.Int32
	h := &hostileAPI{f: f, answer: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/pods") {
			return false
		}
		if r.URL.Query().Get("watch") == "true" {
			// The watch ends at once with an error event.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			json.NewEncoder(w).Encode(map[string]any{"type": "ERROR", "object": map[string]any{"kind": "Status", "apiVersion": "v1",
				"metadata": map[string]any{}, "status": "Failure", "message": evilWords, "reason": "InternalError", "code": 500}})
			watchErrors.Add(1)
			return true
		}
		return false
	}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// The reflector logs the error as the watch ends, then lists and
	// watches again: a second watch is asked for only once the first's
	// error was logged. A fixed wait of a second after the first was
	// missed by a loaded machine, and the child logged nothing.
	eventually(t, "the reflector did not watch pods again after the refused watch", func() bool { return watchErrors.Load() > 1 })
}

// warningsPerAnswer is how many Warning headers the hostile API server of
// TestAPIServersWarningsAreBounded puts on each answer.
const warningsPerAnswer = 2000

// TestAPIServersWarningsAreBounded: client-go logged each Warning header of
// each answer as a line of its own, so an API server whose answers carry
// thousands (an answer's headers may be 10 MiB) had every request the
// backend makes write thousands of lines to the operator's log. A
// backend now logs at most maxWarnings per interval, then how many it did
// not.
func TestAPIServersWarningsAreBounded(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestClientLogsEscapeTheAPIServersWords$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), clientLogChild+"=warnings")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s\n%.2000s", err, stdout.String(), stderr.String())
	}
	n := strings.Count(stderr.String(), "hostile warning")
	t.Logf("the backend's list, watches and Status calls, each answered with %d warnings: %d logged", warningsPerAnswer, n)
	if n == 0 || n > maxWarnings {
		t.Errorf("%d of the API server's warnings logged; want some, at most %d", n, maxWarnings)
	}
}
