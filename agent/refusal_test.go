package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// refusalWorkload runs until dir/done appears and exits 0; on SIGTERM it
// writes dir/term and exits 7.
func refusalWorkload(dir string) string {
	return fmt.Sprintf("trap 'touch %q; exit 7' TERM\necho $$$$ > %q\nwhile [ ! -e %q ]; do sleep 0.05; done",
		filepath.Join(dir, "term"), filepath.Join(dir, "pid"), filepath.Join(dir, "done"))
}

// TestAgentRidesOutAPassingRefusal: a 401 (or 403) may come from
// something in front of the server (a proxy whose token cache was flushed,
// one restarting) for a few requests. The agent sent the workload SIGTERM
// on the first refused heartbeat, even when the next was taken: a
// workload that exits on SIGTERM ended, and its attempt failed. Now a
// refusal that clears changes nothing, with or without a lease.
func TestAgentRidesOutAPassingRefusal(t *testing.T) {
	for _, lease := range []time.Duration{10 * time.Minute, 0} {
		t.Run(fmt.Sprint("lease ", lease), func(t *testing.T) {
			dir := t.TempDir()
			srv, _, _, done := startAgent(t, refusalWorkload(dir), lease, nil)
			started(t, filepath.Join(dir, "pid"))
			srv.refuseNext.Store(2 * minRefusals)
			for deadline := time.Now().Add(10 * time.Second); srv.refusedAnswers.Load() < 2*minRefusals; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the agent was refused %d times in 10 s; want %d", srv.refusedAnswers.Load(), 2*minRefusals)
				}
				select {
				case r := <-done:
					t.Fatalf("the agent returned %v on a refusal that was to clear", r)
				default:
				}
			}
			// Heartbeats taken again: the refusal has cleared.
			srv.mu.Lock()
			beats := srv.beats
			srv.mu.Unlock()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				srv.mu.Lock()
				n := srv.beats
				srv.mu.Unlock()
				if n >= beats+3 {
					break
				}
				select {
				case r := <-done:
					t.Fatalf("the agent returned %v after a refusal that cleared", r)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("no heartbeat taken in 10 s after the refusal cleared")
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			code, err := wait(t, done)
			if _, serr := os.Stat(filepath.Join(dir, "term")); serr == nil || code != 0 || err != nil {
				t.Errorf("Run = %d, %v (SIGTERM sent: %v); want the workload left to run and exit 0 after a refusal that cleared", code, err, serr == nil)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.exits) != 1 || srv.exits[0].Code != 0 {
				t.Errorf("exit reports %+v; want one of code 0", srv.exits)
			}
		})
	}
}

// TestAgentStopsOnAPersistentRefusal: a refusal of the credential that
// persists stops the workload as no answer does: with a lease, once the
// lease has passed; without one, after refusalLimit and at least
// minRefusals heartbeats. The workload is asked with SIGTERM first, and
// the agent exits with ExitLease (the server has heard nothing from the
// attempt all that time and counts it lost).
func TestAgentStopsOnAPersistentRefusal(t *testing.T) {
	defer func(d time.Duration) { refusalLimit = d }(refusalLimit)
	refusalLimit = time.Second
	for _, c := range []struct {
		lease time.Duration
		why   string
	}{{2 * time.Second, "lease"}, {0, "credential refused"}} {
		t.Run(fmt.Sprint("lease ", c.lease), func(t *testing.T) {
			dir := t.TempDir()
			srv, _, _, done := startAgent(t, refusalWorkload(dir), c.lease, nil)
			started(t, filepath.Join(dir, "pid"))
			srv.refuse.Store(true)
			var r [2]any
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the workload runs on 30 s into a refusal of its credential")
			}
			code, _ := r[0].(int)
			err, _ := r[1].(error)
			if code != ExitLease || err == nil || !strings.Contains(err.Error(), c.why) {
				t.Errorf("Run = %d, %v; want %d naming %q", code, err, ExitLease, c.why)
			}
			if _, err := os.Stat(filepath.Join(dir, "term")); err != nil {
				t.Errorf("the workload was not asked to stop with SIGTERM: %v", err)
			}
			if n := srv.refusedAnswers.Load(); n < minRefusals {
				t.Errorf("stopped after %d refusals; want at least %d", n, minRefusals)
			}
		})
	}
}
