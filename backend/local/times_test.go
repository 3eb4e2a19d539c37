package local_test

import (
	"context"
	"os"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestStatusTimes: the local backend says when a job started and ended,
// from when its wrapper wrote its pid and its exit code, so that a job
// that ran between two of the controller's looks is counted for what it
// ran. A running job has no end yet.
func TestStatusTimes(t *testing.T) {
	ctx := context.Background()
	b := newLocal(t, t.TempDir())
	before := time.Now()
	h, err := b.Submit(ctx, backend.Spec{RunID: "timed", Attempt: 1,
		Command: []string{"/bin/sh", "-c", `while [ ! -e release ]; do sleep 0.01; done; sleep 0.2; exit 3`}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(ctx, h) })
	var st backend.Status
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = b.Status(ctx, h); err != nil {
			t.Fatal(err)
		}
		// Running from when the wrapper holds its lock, started once it
		// has written its pid.
		if st.State == backend.Running && !st.Started.IsZero() {
			break
		}
	}
	if st.State != backend.Running || st.Started.IsZero() || !st.Ended.IsZero() {
		t.Fatalf("running job: %+v, want running with a start and no end", st)
	}
	started := st.Started
	// File times may be coarser than the clock: allow them a tick.
	if started.Before(before.Add(-10*time.Millisecond)) || started.After(time.Now()) {
		t.Fatalf("started %v, outside [%v, now]", started, before)
	}
	if err := touch(b.WorkDir(backend.Spec{RunID: "timed", Attempt: 1}) + "/release"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !st.State.Final(); time.Sleep(10 * time.Millisecond) {
		if st, err = b.Status(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	after := time.Now()
	if st.State != backend.Failed || st.ExitCode != 3 {
		t.Fatalf("ended job: %+v, want failed with exit code 3", st)
	}
	if !st.Started.Equal(started) || st.Ended.Sub(st.Started) < 200*time.Millisecond || st.Ended.After(after) {
		t.Fatalf("ended job ran %v to %v: want the same start, an end at least 200ms after it and before %v", st.Started, st.Ended, after)
	}
}

func touch(path string) error { return os.WriteFile(path, nil, 0o644) }
