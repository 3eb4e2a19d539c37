package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaperHoldsNoDescriptorTheAgentInherited: the agent left the
// descriptors it was started with open across exec, and Go's exec hands
// every such one on where no descriptor of its own takes the slot: its
// reaper held the local backend's command lock (fd 5), which kept the
// job's command running to Cancel and Clean once the agent was killed,
// and Clean, failing, kept the job's working directory for good. The
// agent now marks them close-on-exec at its start: its reaper holds
// none of them.
func TestReaperHoldsNoDescriptorTheAgentInherited(t *testing.T) {
	held := filepath.Join(t.TempDir(), "held")
	f, err := os.Create(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A descriptor open across exec, as the local backend's wrapper
	// hands the agent its command lock (a free number: the test's own
	// low ones may be the runtime's).
	fd := 5
	for ; fd < 1024; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == unix.EBADF {
			break
		}
	}
	if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	dir := t.TempDir()
	pidFile, release := filepath.Join(dir, "pid"), filepath.Join(dir, "release")
	script := `echo $$ > "` + pidFile + `"; while [ ! -e "` + release + `" ]; do sleep 0.05; done`
	_, _, _, done := startAgent(t, script, 0, nil)
	started(t, pidFile)
	reaper := childRunning(t, "reap")
	fds := "/proc/" + strconv.Itoa(reaper) + "/fd"
	ents, err := os.ReadDir(fds)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if target, _ := os.Readlink(fds + "/" + e.Name()); target == held {
			t.Errorf("the reaper holds on its fd %s the file the agent was started holding on fd %d", e.Name(), fd)
		}
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := wait(t, done); code != 0 {
		t.Fatalf("Run = %d, %v; want 0", code, err)
	}
}

// childRunning is the pid of this process's child whose arguments
// include word, waiting up to 10 s for one.
func childRunning(t *testing.T, word string) int {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
			i := strings.LastIndexByte(string(stat), ')')
			if i < 0 || len(strings.Fields(string(stat[i+1:]))) < 2 || strings.Fields(string(stat[i+1:]))[1] != self {
				continue
			}
			args, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if strings.Contains("\x00"+string(args), "\x00"+word+"\x00") {
				return p
			}
		}
	}
	t.Fatalf("no child of this process runs with %q among its arguments", word)
	return 0
}
