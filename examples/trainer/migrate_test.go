package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestMigrateAfterSiteLoss drives the trainer through the backends the way
// Meridian does: it runs at site A, site A is lost mid-run, the newest
// checkpoint is copied to site B, attempt 2 resumes there and finishes with
// the same weights as a run that was never interrupted.
func TestMigrateAfterSiteLoss(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		a, err := local.New(catalog.BackendSpec{}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := local.New(catalog.BackendSpec{}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		migrate(t, a, b, "mig-local")
	})
	t.Run("slurm", func(t *testing.T) {
		if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
			t.Skip("MERIDIAN_TEST_SLURM is not 1")
		}
		backendtest.Exclusive(t, "slurm-conformance")
		conf := os.Getenv("SLURM_CONF")
		// The conformance partitions are the ones tests may fail.
		a, err := slurm.New(catalog.BackendSpec{Type: "slurm", Partition: "conformance", GresType: "h100", Endpoint: conf}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := slurm.New(catalog.BackendSpec{Type: "slurm", Partition: "conformance-b", GresType: "h20", Endpoint: conf}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		migrate(t, a, b, fmt.Sprintf("mig-slurm-%d", time.Now().UnixNano()))
	})
}

type site interface {
	backend.Backend
	backend.SiteFailer
}

func migrate(t *testing.T, a, b site, runID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*backendtest.Timeout)
	defer cancel()
	data, err := filepath.Abs("charlm/corpus")
	if err != nil {
		t.Fatal(err)
	}
	// Each attempt works in a directory the test names, which the test (not
	// a controller) reads to move the checkpoint.
	work := t.TempDir()
	spec := func(attempt int) backend.Spec {
		return backend.Spec{RunID: runID, Attempt: attempt, Accelerators: 1, WorkDir: filepath.Join(work, fmt.Sprint(attempt)),
			Command: append([]string{os.Args[0]}, trainerArgs(data, "ckpt", 15*time.Millisecond)...),
			Env:     map[string]string{childEnv: "1"}}
	}
	first := spec(1)
	h1, err := a.Submit(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until site A has written a checkpoint past step 2*every.
	deadline := time.Now().Add(backendtest.Timeout)
	for lastCheckpoint(t, a, h1) < 2*every {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint at site A after %v:\n%s", backendtest.Timeout, readLogs(t, a, h1))
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if err := a.FailSite(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.RestoreSite(context.Background()) })
	if st := backendtest.WaitFinal(t, a, h1); st.State != backend.Lost {
		t.Fatalf("attempt 1 after site loss: %+v, want lost", st)
	}
	seen := lastCheckpoint(t, a, h1)
	p, _, err := backend.LastProgress(strings.NewReader(readLogs(t, a, h1)))
	if err != nil {
		t.Fatal(err)
	}

	// Move the newest checkpoint, as Meridian does, and resume at site B.
	second := spec(2)
	src := filepath.Join(first.WorkDir, "ckpt", filepath.Base(checkpointPathFor(seen)))
	dst := filepath.Join(second.WorkDir, "ckpt")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	blob, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, filepath.Base(src)), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	h2, err := b.Submit(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h2); st.State != backend.Succeeded {
		t.Fatalf("attempt 2 at site B: %+v\n%s", st, readLogs(t, b, h2))
	}
	out := readLogs(t, b, h2)
	if !strings.HasPrefix(out, fmt.Sprintf("resume step=%d ", seen)) {
		t.Fatalf("attempt 2 did not resume from step %d:\n%s", seen, out)
	}
	if p.Step-seen > every {
		t.Fatalf("lost %d steps (last progress %d, resumed at %d), at most %d allowed", p.Step-seen, p.Step, seen, every)
	}
	got, err := os.ReadFile(filepath.Join(dst, filepath.Base(checkpointPathFor(steps))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, finalCheckpoint(t)) {
		t.Fatal("migrated run ended with other weights than an uninterrupted run")
	}
}

func trainerArgs(data, ckdir string, delay time.Duration) []string {
	a := args(ckdir, delay)
	a[1] = data
	return a
}

func checkpointPathFor(step int64) string { return fmt.Sprintf("ckpt-%010d.bin", step) }

// lastCheckpoint is the step of the last "checkpoint step=N" line in the logs.
func lastCheckpoint(t *testing.T, b backend.Backend, h string) int64 {
	t.Helper()
	last := int64(-1)
	sc := bufio.NewScanner(strings.NewReader(readLogs(t, b, h)))
	for sc.Scan() {
		var s int64
		if _, err := fmt.Sscanf(sc.Text(), "checkpoint step=%d ", &s); err == nil {
			last = s
		}
	}
	return last
}

func readLogs(t *testing.T, b backend.Backend, h string) string {
	t.Helper()
	rc, err := b.Logs(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
