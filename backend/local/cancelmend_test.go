package local_test

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestCancelStopsAHolderWhileItsJobDirIsMadeMode0InALoop: a landlock
// workload runs as the server's user and knows the state directory: it
// may make a job's directory mode 0 again and again. The command lock
// then could not be looked at: a Cancel of the ended job returned at
// once on that error, and its scan for the lock's holders read the lock
// as not there and signalled nothing, the holder running on while every
// retry failed. Cancel now sets the directory's mode back before each
// look, and scans by the lock's name once learnt.
func TestCancelStopsAHolderWhileItsJobDirIsMadeMode0InALoop(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 100 * time.Millisecond
	b.TreeWait = 2 * time.Second
	h, dir, _, esc := escapingJobWith(t, b, "chmod-loop", `trap "" TERM; exec sleep 60`, "exit 0")
	waitEnded(t, b, h)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.Chmod(dir, 0)
		}
	}()
	for deadline := time.Now().Add(15 * time.Second); running(esc) && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		asTheServersUser(t, func() error { return b.Cancel(context.Background(), h) })
	}
	close(stop)
	<-stopped
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if running(esc) {
		t.Fatal("Cancel retried for 15 s while the job's directory was made mode 0 in a loop; the holder of the command lock still runs")
	}
	if err := asTheServersUser(t, func() error { return b.Cancel(context.Background(), h) }); err != nil {
		t.Fatalf("Cancel once the holder is gone: %v", err)
	}
}
