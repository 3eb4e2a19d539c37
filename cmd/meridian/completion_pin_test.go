package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/internal/tlspin"
	"meridian.dev/meridian/run"
)

// TestCompletionUsesGivenPin: run-id completion took --server and --token
// from the command line but not --tls-fingerprint, so against a server
// with a self-signed certificate, pinned on the command line as every
// other verb takes it, completion offered nothing.
func TestCompletionUsesGivenPin(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/runs" || r.Header.Get("Authorization") != "Bearer secret" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(api.RunList{Runs: []*run.Run{{ID: "run-abc", Job: "j", State: run.Running}}})
	}))
	defer srv.Close()
	dir := t.TempDir()
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(dir, "none.yaml"))
	t.Setenv("MERIDIAN_HOME", dir)
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")
	t.Setenv("MERIDIAN_TLS_FINGERPRINT", "")
	os.WriteFile(filepath.Join(dir, clientFile), []byte(`{"server": "http://127.0.0.1:1", "token": "other"}`), 0o600)
	fp := tlspin.Fingerprint(srv.Certificate().Raw)
	out, _ := runRoot(t, "__complete", "logs", "--server", srv.URL, "--token", "secret", "--tls-fingerprint", fp, "run-")
	if !strings.Contains(out, "run-abc") {
		t.Errorf("completion with --tls-fingerprint offers nothing:\n%s", out)
	}
}
