package main

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptStopsCleanly: SIGINT or SIGTERM to a client command ends it
// the way the command ends on its own (here `logs -f`, which stops
// following and exits 0), rather than by the signal's default action,
// which killed the process before any of its clean-up ran.
func TestInterruptStopsCleanly(t *testing.T) {
	bin := binary(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/runs/r1/logs":
			if r.URL.Query().Get("offset") == "0" {
				w.Header().Set("X-Log-Size", "6")
				w.Write([]byte("first\n"))
				return
			}
			w.Header().Set("X-Log-Size", "6")
		case "/v1/runs/r1":
			w.Write([]byte(`{"id":"r1","tenant":"t","job":"j","state":"running"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, s := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(bin, "logs", "r1", "-f", "--server", srv.URL, "--token", strings.Repeat("a", 40))
		cmd.Env = append(cmd.Environ(), "MERIDIAN_CONFIG="+filepath.Join(t.TempDir(), "none.yaml"))
		var out, errOut syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "first") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(s)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v: logs -f still running", s)
		}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(errOut.String(), "stopping") {
			t.Errorf("%v: exit %d (%v), stderr %q; want exit 0 and a word that it stops", s, code, cmd.ProcessState, errOut.String())
		}
	}
}

// TestInterruptedStagingReleasesTheStore: SIGTERM to `dataset stage` in
// the middle of copying stops it as an error does (exit 1, saying so), so
// it releases its lease of the site's store: the next staging starts at
// once and finishes the copy. Killed by the signal's default action, the
// process left the lease to run out (30 seconds), and the next staging
// waited for it.
func TestInterruptedStagingReleasesTheStore(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o700)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	big := make([]byte, 96<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	siteStore := filepath.Join(dir, "sitestore")
	siteFile := testSiteFile(t, dir, "file://"+siteStore)
	env := append(os.Environ(), "MERIDIAN_HOME="+home, "MERIDIAN_CONFIG="+filepath.Join(dir, "none.yaml"), "MERIDIAN_DATASET_KEY=")
	if out, err := meridianCmd(bin, env, "dataset", "add", "pub", "--from", src, "--origin", "SG", "--classification", "public").CombinedOutput(); err != nil {
		t.Fatalf("dataset add: %v\n%s", err, out)
	}
	chunks := func() int {
		n := 0
		filepath.WalkDir(siteStore, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(p, "/chunks/") {
				n++
			}
			return nil
		})
		return n
	}
	stage := meridianCmd(bin, env, "dataset", "stage", "pub", "--to", "test-site", "-f", siteFile, "--workers", "1")
	var errOut syncBuffer
	stage.Stderr = &errOut
	if err := stage.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); chunks() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	stage.Process.Signal(syscall.SIGTERM)
	stage.Wait()
	if code := stage.ProcessState.ExitCode(); code != exitError || !strings.Contains(errOut.String(), "interrupted") {
		t.Fatalf("an interrupted staging: exit %d (%v), stderr %q; want exit 1 saying it was interrupted", code, stage.ProcessState, errOut.String())
	}
	start := time.Now()
	out, err := meridianCmd(bin, env, "dataset", "stage", "pub", "--to", "test-site", "-f", siteFile).CombinedOutput()
	if err != nil {
		t.Fatalf("the staging after: %v\n%s", err, out)
	}
	// A lease left held makes the next staging say that it waits (it
	// tries once without waiting first); its time, a copy of up to 96 MiB,
	// says nothing on a loaded machine.
	if strings.Contains(string(out), "waiting for the staging under way") {
		t.Errorf("the staging after an interrupted one waited for its lease (%v):\n%s", time.Since(start), out)
	}
}

func meridianCmd(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd
}
