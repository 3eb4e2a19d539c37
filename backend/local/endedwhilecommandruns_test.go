package local_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// TestJobRunsWhileAProcessOfItsCommandHoldsTheLock: a job whose wrapper
// had ended (its exit code written, or a Cancel that could not stop a
// process of its command deaf to SIGTERM having marked it cancelled)
// read Succeeded or Cancelled while that process, which left the
// wrapper's group, still held the command lock: a drain took the
// attempt for stopped and the run moved on beside it. It reads Running
// now, until that process ends, and then the end its wrapper left.
func TestJobRunsWhileAProcessOfItsCommandHoldsTheLock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
		want   backend.State
	}{
		{"exited", false, backend.Succeeded},
		{"cancelled", true, backend.Cancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			b.CancelGrace = time.Minute
			b.TreeWait = 300 * time.Millisecond
			rest := "exit 0"
			if tc.cancel {
				rest = "sleep 60"
			}
			h, _, _, esc := escapingJobWith(t, b, "runs-on-"+tc.name, `trap "" TERM; exec sleep 60`, rest)
			if tc.cancel {
				if err := b.Cancel(context.Background(), h); err == nil {
					t.Fatal("Cancel returned nil with a process of the command deaf to SIGTERM running on")
				}
			}
			waitEnded(t, b, h)
			if !running(esc) {
				t.Fatal("the escaped process ended: the test stands for nothing")
			}
			if st := statusOf(t, b, h); st.State != backend.Running {
				t.Fatalf("the wrapper ended, a process of its command running on: %s (%s); want running", st.State, st.Reason)
			}
			syscall.Kill(esc, syscall.SIGKILL)
			waitEndAfter(t, b, h, esc, tc.want)
		})
	}
}

// waitEndAfter waits for pid to end and the job to read want.
func waitEndAfter(t *testing.T, b *local.Local, h string, pid int, want backend.State) {
	t.Helper()
	var st backend.Status
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st = statusOf(t, b, h); !running(pid) && st.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the escaped process ended: %s (%s); want %s", st.State, st.Reason, want)
		}
	}
}
