package local_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestLogsRefusesAFIFOOrALinkAsItsOutput: a job's output.log lies in the
// state directory, where whatever replaced it (a FIFO, a link to another
// file) was opened as the output: a FIFO blocked Logs for ever in its
// open, and a link had the file it named read as the job's output. Logs
// now refuses both at once and reads nothing through them.
func TestLogsRefusesAFIFOOrALinkAsItsOutput(t *testing.T) {
	dir := t.TempDir()
	l, err := local.New(catalog.BackendSpec{Type: "local"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: "logsplain", Attempt: 1, Command: []string{"/bin/sh", "-c", "echo hello"}, WorkDir: t.TempDir()}
	h, err := l.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.WaitFinal(t, l, h)
	out := filepath.Join(dir, "jobs", spec.Key(), "output.log")

	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("not the job's output"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		plant func() error
	}{
		{"fifo", func() error { return syscall.Mkfifo(out, 0o600) }},
		{"link", func() error { return os.Symlink(secret, out) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.Remove(out); err != nil {
				t.Fatal(err)
			}
			if err := c.plant(); err != nil {
				t.Fatal(err)
			}
			type result struct {
				data []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				rc, err := l.Logs(context.Background(), h)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer rc.Close()
				data, err := io.ReadAll(rc)
				done <- result{data, err}
			}()
			select {
			case r := <-done:
				if r.err == nil {
					t.Fatalf("Logs through a %s read %q, want an error", c.name, r.data)
				}
				if !errors.Is(r.err, backend.ErrNotPlainFile) {
					t.Errorf("Logs through a %s: %v, want ErrNotPlainFile", c.name, r.err)
				}
				if strings.Contains(string(r.data), "not the job's output") {
					t.Fatalf("Logs through a %s read the file it names: %q", c.name, r.data)
				}
				t.Logf("refused: %v", r.err)
			case <-time.After(5 * time.Second):
				// Let the blocked open go, so the test ends.
				if w, err := os.OpenFile(out, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatalf("Logs on a %s still blocked after 5 s", c.name)
			}
		})
	}
}
