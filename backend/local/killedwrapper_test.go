package local_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// groupMembers lists the live processes whose process group is pgid.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && running(p) {
			out = append(out, p)
		}
	}
	return out
}

// TestCancelStopsTheCommandOfAKilledWrapper: a job whose wrapper alone
// was killed (kill -9) runs on in its command (it read lost). Cancel took
// the members of the wrapper's session begun after the pid file's time
// (the command begins after it) for a later session's under the job's
// old id, never signalled them, and returned with the command holding
// the job's accelerators. Members begun within the launch's bound, with
// no later process holding the id, are now the job's.
func TestCancelStopsTheCommandOfAKilledWrapper(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.CancelGrace = 200 * time.Millisecond
	b.TreeWait = 2 * time.Second
	h, dir := runningJob(t, b, "killedwrapper")
	pid := readPid(t, b, h)
	killWrapperAlone(t, dir, pid)
	ctx := context.Background()
	if st, err := b.Status(ctx, h); err != nil || st.State != backend.Running {
		t.Fatalf("status %+v, %v; want running (its command runs on)", st, err)
	}
	if err := b.Cancel(ctx, h); err != nil {
		t.Fatal(err)
	}
	if left := groupMembers(pid); len(left) > 0 {
		t.Fatalf("after Cancel of a job whose wrapper was killed, its command runs on: %v", left)
	}
}
