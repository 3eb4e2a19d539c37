package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reapSignal is what the agent sends the reaper to have it kill everything
// below it at once: the agent's last word to a workload that ignored
// SIGTERM, and, as the reaper's parent-death signal, what the reaper gets
// when the agent itself is gone. SIGKILL would end the reaper and leave
// what the workload started in a session of its own running.
const reapSignal = syscall.SIGUSR2

// reapGiveUp bounds how long the reaper goes on killing what is below it
// once the workload has ended: a process stuck in the kernel (a device
// driver's uninterruptible wait) cannot end before it returns, but it has
// SIGKILL pending and runs nothing of its own again.
const reapGiveUp = 10 * time.Second

// Reap is `meridian agent reap --parent PID ARGS…`, the agent's step between itself and
// every workload. It makes itself the subreaper of what it starts, starts
// ARGS (this executable's sandbox-exec, which confines itself and becomes
// the workload) as its child, in the reaper's process group, with its own
// standard files and file descriptor 3 (the environment pipe, read by
// sandbox-exec, never by the reaper), and waits. A process the workload
// starts in a session or process group of its own escapes the agent's
// signals to the workload's group, but not this process: once its parent
// has ended it becomes the reaper's child. When the workload ends, or the
// agent sends reapSignal, or the agent dies, the reaper kills everything
// below it, waits until nothing is left (reaping as it goes), and exits
// with the workload's status: its exit code, or 128 plus the signal that
// ended it.
//
// The reaper itself is out of the workload's reach: it is not confined and,
// in the uid sandbox, runs as root, so a workload confined by Landlock's
// scoping or running as its tenant's user cannot signal or trace it.
// SIGTERM, SIGINT and SIGUSR1, which the agent sends to the whole process
// group, reach the workload directly; the reaper outlives them.
//
// PID is the agent's own: a reaper whose parent is no longer the agent
// when it is ready to catch the agent's death exits at once, starting
// nothing.
func Reap(argv []string, stderr io.Writer) int {
	sigs := make(chan os.Signal, 16)
	// SIGPIPE too: once the agent is gone, a write to its output pipe
	// must fail rather than end the reaper before it has killed anything.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, reapSignal, syscall.SIGHUP, syscall.SIGPIPE)
	if len(argv) < 4 || argv[2] != "--parent" {
		fmt.Fprintln(stderr, "reap: --parent PID (the agent's pid) must come first")
		return 126
	}
	parent, err := strconv.Atoi(argv[3])
	if err != nil || parent < 1 {
		fmt.Fprintf(stderr, "reap: --parent %q is not the pid of an agent\n", argv[3])
		return 126
	}
	argv = append(argv[:2:2], argv[4:]...)
	if len(argv) < 3 {
		fmt.Fprintln(stderr, "reap: no command")
		return 126
	}
	// The parent-death signal the agent set survives the exec, but a Go
	// program ignores it until signal.Notify above: an agent killed in
	// that window leaves this process re-parented (to init, or to the
	// scheduler's step daemon) with no signal to come. Set it again (an
	// exec that raised privileges would have cleared it), then make sure
	// the agent is still the parent: one that is gone can neither watch
	// nor stop the workload, so the workload must not start. From here on
	// the agent's death reaches sigs.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(reapSignal), 0, 0, 0); err != nil {
		fmt.Fprintln(stderr, "reap: cannot set the parent-death signal:", err)
		return 126
	}
	if ppid := os.Getppid(); ppid != parent {
		fmt.Fprintf(stderr, "reap: the agent (pid %d) that started this reaper is gone (its parent is now pid %d); not starting the workload\n", parent, ppid)
		return 126
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(stderr, "reap: cannot become a subreaper:", err)
		return 126
	}
	files := []uintptr{0, 1, 2}
	envPipe := false
	if _, err := unix.FcntlInt(3, unix.F_GETFD, 0); err == nil {
		files = append(files, 3)
		envPipe = true
	}
	// This executable again, whatever its path has become since it
	// started. Its handlers are reset by the exec; nothing else of the
	// reaper's passes but the files above.
	pid, err := syscall.ForkExec("/proc/self/exe", argv, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	if envPipe {
		syscall.Close(3)
	}
	if err != nil {
		fmt.Fprintln(stderr, "reap: start:", err)
		return 126
	}
	self := os.Getpid()
	ended := make(chan syscall.WaitStatus, 1)
	gone := make(chan struct{})
	go func() {
		// Every child is reaped as it ends, the workload's orphans too:
		// zombies would pile up over a long run otherwise.
		for {
			var ws syscall.WaitStatus
			p, err := syscall.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil { // ECHILD: nothing is left below the reaper
				close(gone)
				return
			}
			if p == pid {
				ended <- ws
			}
		}
	}()
	var (
		status  *syscall.WaitStatus
		tick    <-chan time.Time
		killing time.Time
	)
	killAll := func() {
		if tick == nil {
			tick = time.NewTicker(20 * time.Millisecond).C
			killing = time.Now()
		}
		for p, start := range descendants(self) {
			killProcess(p, start)
		}
	}
	for {
		select {
		case s := <-sigs:
			if s == reapSignal || s == syscall.SIGHUP {
				// SIGHUP too: the kernel sends it to a process group
				// orphaned with a stopped member, which happens to
				// this one only once the agent is gone.
				killAll()
			}
		case ws := <-ended:
			status = &ws
			killAll()
		case <-tick:
			if time.Since(killing) > reapGiveUp {
				n := len(descendants(self))
				fmt.Fprintf(stderr, "reap: %d processes the workload started have not ended %s after SIGKILL (stuck in the kernel); leaving them\n", n, reapGiveUp)
				return exitStatus(status)
			}
			// Again: a process may have forked between the scan and
			// its kill; its child is the reaper's now.
			killAll()
		case <-gone:
			if status == nil {
				select {
				case ws := <-ended:
					status = &ws
				default:
				}
			}
			return exitStatus(status)
		}
	}
}

// exitStatus is the exit code that carries ws to the agent: the workload's
// own, or 128 plus the signal that ended it (what the agent's exitCode
// makes of a process the signal ended). nil (the workload never reaped)
// is SIGKILL's.
func exitStatus(ws *syscall.WaitStatus) int {
	switch {
	case ws == nil:
		return 128 + int(syscall.SIGKILL)
	case ws.Signaled():
		return 128 + int(ws.Signal())
	default:
		return ws.ExitStatus()
	}
}

// descendants returns every process below pid, by /proc, each with its
// start time (which tells it from a later process given the same pid).
func descendants(pid int) map[int]uint64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	start := map[int]uint64{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, st, ok := procStat(p)
		if !ok {
			continue
		}
		children[ppid] = append(children[ppid], p)
		start[p] = st
	}
	out := map[int]uint64{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if _, seen := out[c]; !seen && c != pid {
				out[c] = start[c]
				queue = append(queue, c)
			}
		}
	}
	return out
}

// procStat reads a process's parent and start time from /proc/PID/stat.
func procStat(pid int) (ppid int, start uint64, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name, in parentheses, may hold anything: the fields
	// are counted from its last closing parenthesis (field 3, the state).
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])                // field 4
	start, err2 := strconv.ParseUint(f[19], 10, 64) // field 22
	return ppid, start, err1 == nil && err2 == nil
}

// killProcess sends SIGKILL to pid if it is still the process that started
// at start: through a pidfd, so that a pid reused since the scan (the
// process ended and its parent reaped it) is never signalled.
func killProcess(pid int, start uint64) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, syscall.ENOSYS) {
		// A kernel before 5.3: the start time narrows the race.
		if _, st, ok := procStat(pid); ok && st == start {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		return
	}
	if err != nil {
		return // ended already
	}
	defer unix.Close(fd)
	if _, st, ok := procStat(pid); !ok || st != start {
		return
	}
	unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
}
