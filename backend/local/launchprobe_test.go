package local_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestSubmitDuringAStatusProbeLaunches: Status probes the run lock with a
// shared lock for a moment. A Submit whose launch met such a probe took it
// for a wrapper holding the lock, started nothing and answered success;
// the job then read as lost, never having run. A probe held across the
// launch now delays it instead.
func TestSubmitDuringAStatusProbeLaunches(t *testing.T) {
	state := t.TempDir()
	b, err := local.New(catalog.BackendSpec{}, state)
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: "probed", Attempt: 1, Command: []string{"/bin/sh", "-c", "exit 0"}}
	dir := filepath.Join(state, "jobs", spec.Key())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	probe, err := os.OpenFile(filepath.Join(dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if err := syscall.Flock(int(probe.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		syscall.Flock(int(probe.Fd()), syscall.LOCK_UN) //nolint:errcheck
	}()
	handle, err := b.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := b.Status(context.Background(), handle)
		if err != nil {
			t.Fatal(err)
		}
		if st.State.Final() {
			if st.State != backend.Succeeded {
				t.Fatalf("a job submitted while a status probe held its run lock ended %+v; want it run and succeeded", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %+v after 20 s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
