package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/api"
)

// TestFileFlagReadsPipes: -f names a pipe as bash's <(envsubst < org.yaml)
// does (/dev/fd/N): apply sends what the pipe's writer wrote, in two
// parts, whole. The files were read as regular files only, so the command
// refused the pipe ("not a regular file (a FIFO)"). A FIFO found in a
// directory that -f names is still refused, at once, so that whoever can
// write there cannot hold the command.
func TestFileFlagReadsPipes(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	const doc = "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: o}\nspec: {headquarters: SG}\n"
	var mu sync.Mutex
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.ApplyRequest
		if r.URL.Path != "/v1/resources" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		for _, d := range req.Documents {
			sent = append(sent, d.Content)
		}
		mu.Unlock()
		w.Write([]byte(`{"resources":[{"kind":"Organization","name":"o","version":1,"sha256":"abababababababab"}]}`))
	}))
	defer srv.Close()
	flags := []string{"--server", srv.URL, "--token", strings.Repeat("a", 40)}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.WriteString(doc[:20])
		time.Sleep(200 * time.Millisecond)
		w.WriteString(doc[20:])
		w.Close()
	}()
	out, code := runRoot(t, append([]string{"apply", "-f", fmt.Sprintf("/dev/fd/%d", r.Fd())}, flags...)...)
	mu.Lock()
	got := sent
	mu.Unlock()
	if code != 0 || len(got) != 1 || got[0] != doc {
		t.Fatalf("apply -f /dev/fd/N of a pipe: exit %d, sent %q\n%s", code, got, out)
	}

	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "org.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, code = runRoot(t, append([]string{"apply", "-f", dir}, flags...)...)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("apply -f DIR with a FIFO in DIR: still waiting after 10s")
	}
	if code != exitBadInput || !strings.Contains(out, "not a regular file (a FIFO)") {
		t.Errorf("apply -f DIR with a FIFO in DIR: exit %d, want %d refusing it\n%s", code, exitBadInput, out)
	}
}
