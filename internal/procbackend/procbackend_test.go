package procbackend

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

func waitState(t *testing.T, b *Backend, h string, want backend.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := b.Status(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("job %s never reached %s", h, want)
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	b := New(root)
	wd := filepath.Join(root, "w")
	spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"/bin/sh", "-c", `echo "$GREETING"; echo x >> count`}, Env: map[string]string{"GREETING": "hi"}, WorkDir: wd}
	h, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, b, h, backend.Succeeded)
	// Submitting the same attempt again finds the finished job.
	if h2, err := b.Submit(ctx, spec); err != nil || h2 != h {
		t.Fatalf("resubmit: %s %v", h2, err)
	}
	if got, _ := os.ReadFile(filepath.Join(wd, "count")); string(got) != "x\n" {
		t.Errorf("ran %q times", got)
	}
	rc, _ := b.Logs(ctx, h)
	out, _ := io.ReadAll(rc)
	rc.Close()
	if string(out) != "hi\n" {
		t.Errorf("logs %q", out)
	}
	if b.Started("r1") != 1 {
		t.Errorf("started %d", b.Started("r1"))
	}
	fail, _ := b.Submit(ctx, backend.Spec{RunID: "r2", Attempt: 1, Command: []string{"/bin/sh", "-c", "exit 3"}, WorkDir: wd})
	waitState(t, b, fail, backend.Failed)
	if st, _ := b.Status(ctx, fail); st.ExitCode != 3 {
		t.Errorf("exit code %d", st.ExitCode)
	}
	if _, err := b.Status(ctx, "../etc"); err == nil {
		t.Error("bad handle accepted")
	}
}

func TestCancelAndLoss(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	b := New(root)
	long := []string{"/bin/sh", "-c", "sleep 60"}
	h, err := b.Submit(ctx, backend.Spec{RunID: "c", Attempt: 1, Command: long, WorkDir: root})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, b, h, backend.Running)
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, h, backend.Cancelled)
	l, _ := b.Submit(ctx, backend.Spec{RunID: "l", Attempt: 1, Command: long, WorkDir: root})
	waitState(t, b, l, backend.Running)
	os.WriteFile(filepath.Join(root, LostFile), nil, 0o644)
	waitState(t, b, l, backend.Lost)
	if _, err := b.Submit(ctx, backend.Spec{RunID: "n", Attempt: 1, Command: long, WorkDir: root}); err == nil {
		t.Error("a lost site accepted a job")
	}
}
