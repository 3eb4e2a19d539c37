package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// clientHolder starts a Slurm client, by name, that leaves a process of
// its own holding its output open, as a site's wrapper does whose helper
// lingers (an ssh connection kept for the next call): hang says whether
// the client itself then waits too, rather than exit having printed a
// running job's line. It returns the backend and a function that gives
// the lingering process's pid; the test kills it at the end whatever
// happened.
func clientHolder(t *testing.T, hang bool) (b interface {
	Status(context.Context, string) (backend.Status, error)
}, holder func() int) {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "holder.pid")
	end := "exit 0"
	if hang {
		end = "exec sleep 300"
	}
	squeue := `#!/bin/sh
printf '4242\037RUNNING\0370\0372026-12-04T19:43:15\037NONE\037\037None\037/state/jobs/r1-1/output.log\037/state/jobs/r1-1/job.sh\037` + ownUID + `\037\n'
sleep 300 &
echo $! >` + pidFile + `
` + end + `
`
	s := fakeSlurm(t, filepath.Join(dir, "state"), map[string]string{"squeue": squeue})
	s.CommandTimeout = time.Second
	holder = func() int {
		data, err := os.ReadFile(pidFile)
		if err != nil {
			return 0
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return pid
	}
	t.Cleanup(func() {
		if pid := holder(); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck
		}
	})
	return s, holder
}

// statusReturns calls Status and fails the test if it has not returned
// within a minute (its bound is the command timeout, a second, and the
// wait for the client's pipes after it, a few seconds): before, it
// waited as long as the lingering process lived.
func statusReturns(t *testing.T, b interface {
	Status(context.Context, string) (backend.Status, error)
}) (backend.Status, error) {
	t.Helper()
	type result struct {
		st  backend.Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := b.Status(context.Background(), "4242")
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-time.After(time.Minute):
		t.Fatal("Status still waiting after a minute on a client whose output a lingering process holds open")
		return backend.Status{}, nil
	}
}

// alive says whether pid is a process that has not ended (a zombie has).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestClientLeavingItsOutputOpenIsBounded: a Slurm client that exits but
// leaves a process holding its output open made the call wait for that
// process, past the command timeout (which only kills the client): the
// server's monitor hung on one site's wrapper. The call now returns, with
// an error since what the client printed cannot be known to be whole.
func TestClientLeavingItsOutputOpenIsBounded(t *testing.T) {
	b, _ := clientHolder(t, false)
	if st, err := statusReturns(t, b); err == nil {
		t.Fatalf("Status = %+v with no error; want an error naming the client's output left open", st)
	} else if !strings.Contains(err.Error(), "squeue") {
		t.Fatalf("Status error %q does not name the client", err)
	}
}

// TestHungClientIsKilledWithItsChildren: a client past its timeout is
// killed with the processes it started, which held its output open and
// made the call wait for them; they no longer outlive the call either, so
// a hung site does not pile up one process per poll.
func TestHungClientIsKilledWithItsChildren(t *testing.T) {
	b, holder := clientHolder(t, true)
	if st, err := statusReturns(t, b); err == nil {
		t.Fatalf("Status = %+v with no error from a client that timed out", st)
	}
	pid := holder()
	if pid <= 0 {
		t.Fatal("the client did not start its child")
	}
	// Killed before the call stopped waiting for its output, which
	// closed as it exited: it is dead at once, or within the moment its
	// exit takes after its files are closed. Left alive, it would sleep
	// for minutes.
	for deadline := time.Now().Add(10 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out client's child %d still runs 10 s after the call returned", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
