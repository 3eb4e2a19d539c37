package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
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
// SIGKILL pending and runs nothing of its own again. It still holds what
// it held (a GPU, memory, open files), so the reaper then says how many
// are left, and the attempt is not reported finished (ExitLost). A
// variable, so that a test binary can shorten it in its reapers.
var reapGiveUp = 10 * time.Second

// reapStatusFD is the descriptor on which the agent hands the reaper the
// write end of a pipe (--status-fd) for its report (reapReport): how the
// workload ended and how many of its processes were left running. The
// reaper's exit code alone cannot tell the agent that: a workload's own
// exit code may be anything, and a reaper that was killed, which in
// sandbox mode none the workload can do, exits with a code that reads as
// the workload's.
const reapStatusFD = 4

// Reap is `meridian agent reap --parent PID [--status-fd N] ARGS…`, the agent's step between itself and
// every workload. It makes itself the subreaper of what it starts, starts
// ARGS (this executable's sandbox-exec, which confines itself and becomes
// the workload) as its child, in the reaper's process group, with its own
// standard files, file descriptor 3 (the environment pipe, read by
// sandbox-exec, never by the reaper) and grantFD (the command as the agent
// judged it, granted by sandbox-exec), and waits. A process the workload
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
// nothing. N, when given, is the descriptor the reaper writes its report
// to as it exits (reapReport); the workload never gets it.
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
	rest := argv[4:]
	var reportTo *os.File
	if len(rest) >= 2 && rest[0] == "--status-fd" {
		fd, err := strconv.Atoi(rest[1])
		if err != nil || fd < 3 {
			fmt.Fprintf(stderr, "reap: --status-fd %q is not a descriptor above 2\n", rest[1])
			return 126
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			fmt.Fprintf(stderr, "reap: --status-fd %d: %v\n", fd, err)
			return 126
		}
		// Closed at the exec: the workload must not write the report.
		syscall.CloseOnExec(fd)
		reportTo = os.NewFile(uintptr(fd), "status")
		rest = rest[2:]
	}
	// report sends the agent how the workload ended and how many of its
	// processes still run, and returns code, the reaper's exit code.
	report := func(code, left int) int {
		if reportTo != nil {
			fmt.Fprintf(reportTo, "%d %d\n", code, left)
			reportTo.Close()
		}
		return code
	}
	argv = append(argv[:2:2], rest...)
	if len(argv) < 3 {
		fmt.Fprintln(stderr, "reap: no command")
		return report(126, 0)
	}
	// In sandbox mode none the workload runs as the reaper's user: not
	// dumpable, the reaper cannot be traced by it, nor its descriptors
	// (the report's pipe) opened through /proc. (It can still signal the
	// reaper; the agent notices a reaper that ends without its report or
	// stops, and ends what it left itself.)
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintln(stderr, "reap: cannot make itself undumpable:", err)
		return report(126, 0)
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
		return report(126, 0)
	}
	if ppid := os.Getppid(); ppid != parent {
		fmt.Fprintf(stderr, "reap: the agent (pid %d) that started this reaper is gone (its parent is now pid %d); not starting the workload\n", parent, ppid)
		return report(126, 0)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(stderr, "reap: cannot become a subreaper:", err)
		return report(126, 0)
	}
	// Passed on: the environment's pipe (3) and the workload's command
	// as the agent judged it (grantFD), where given; never the report's
	// descriptor (reapStatusFD), closed in the child.
	files := []uintptr{0, 1, 2}
	var passed []int
	for fd := 3; fd <= grantFD; fd++ {
		f := ^uintptr(0) // closed in the child
		if fd != reapStatusFD {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
				f = uintptr(fd)
				passed = append(passed, fd)
			}
		}
		files = append(files, f)
	}
	// This executable again, whatever its path has become since it
	// started. Its handlers are reset by the exec; nothing else of the
	// reaper's passes but the files above.
	pid, err := syscall.ForkExec("/proc/self/exe", argv, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	for _, fd := range passed {
		syscall.Close(fd)
	}
	if err != nil {
		fmt.Fprintln(stderr, "reap: start:", err)
		return report(126, 0)
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
		killTopDown(descendants(self, nil))
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
				// Zombies (a process someone else traces stays one
				// until its tracer waits for it) hold nothing.
				n := liveCount(descendants(self, nil))
				if n == 0 && childLives() {
					// The look missed what the kernel still counts
					// below the reaper: a process that forks and exits
					// faster than a look reads /proc.
					n = 1
				}
				fmt.Fprintf(stderr, "reap: %d processes the workload started have not ended %s after SIGKILL (stuck in the kernel); leaving them\n", n, reapGiveUp)
				return report(exitStatus(status), n)
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
			return report(exitStatus(status), 0)
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

// procInfo is what descendants says of a process.
type procInfo struct {
	ppid   int
	start  uint64 // tells it from a later process given the same pid
	zombie bool   // ended, not yet waited for
}

// killTopDown kills procs, each before any process below it: killed in a
// map's order, a child could die first and its parent, not yet killed,
// run on to see it ("sleep 5; echo ended" said ended after its kill). A
// process with SIGKILL pending runs nothing more of its own, so none
// killed so lives to see a child die.
func killTopDown(procs map[int]procInfo) {
	depth := make(map[int]int, len(procs))
	var at func(p int) int
	at = func(p int) int {
		if d, ok := depth[p]; ok {
			return d
		}
		depth[p] = 0 // a loop in what /proc said (pids reused) ends here
		d := 0
		if _, ok := procs[procs[p].ppid]; ok {
			d = at(procs[p].ppid) + 1
		}
		depth[p] = d
		return d
	}
	order := make([]int, 0, len(procs))
	for p := range procs {
		at(p)
		order = append(order, p)
	}
	sort.Slice(order, func(i, j int) bool { return depth[order[i]] < depth[order[j]] })
	for _, p := range order {
		killProcess(p, procs[p].start)
	}
}

// liveCount is how many of procs have not ended.
func liveCount(procs map[int]procInfo) int {
	n := 0
	for _, p := range procs {
		if !p.zombie {
			n++
		}
	}
	return n
}

// descendants returns every process below pid, by /proc, leaving out the
// processes in skip and everything below them.
func descendants(pid int, skip map[int]bool) map[int]procInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	info := map[int]procInfo{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readProc(p)
		if !ok {
			continue
		}
		children[st.ppid] = append(children[st.ppid], p)
		info[p] = st
	}
	out := map[int]procInfo{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if _, seen := out[c]; !seen && c != pid && !skip[c] {
				out[c] = info[c]
				queue = append(queue, c)
			}
		}
	}
	return out
}

// procStat reads a process's parent and start time from /proc/PID/stat.
func procStat(pid int) (ppid int, start uint64, ok bool) {
	st, ok := readProc(pid)
	return st.ppid, st.start, ok
}

// readProc reads a process's parent, start time and whether it is a
// zombie from /proc/PID/stat.
func readProc(pid int) (procInfo, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	// The command name, in parentheses, may hold anything: the fields
	// are counted from its last closing parenthesis (field 3, the state).
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return procInfo{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])                // field 4
	start, err2 := strconv.ParseUint(f[19], 10, 64) // field 22
	return procInfo{ppid: ppid, start: start, zombie: f[0] == "Z" || f[0] == "X"}, err1 == nil && err2 == nil
}

// killProcess sends SIGKILL to pid if it is still the process that started
// at start: through a pidfd, so that a pid reused since the scan (the
// process ended and its parent reaped it) is never signalled. A variable,
// so that a test binary's reaper can stand in for a kernel that does not
// let a process end.
var killProcess = func(pid int, start uint64) {
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

// childLives reports whether a child of this process has not ended, by the
// kernel's own account: every process below a subreaper has a child of it
// among its ancestors, so none is left exactly when it has no child left
// running. A look through /proc (descendants) reads the process list, then
// each process's stat: a process that forks and exits (a fork-hopper, each
// generation living a fraction of a millisecond) is gone when its stat is
// read, its child never listed, and the reaper reaps the one that ended at
// once. Against a shell that forks in a loop, two looks in three or more
// found nothing, and up to forty looks in a row did: a count of none taken
// from looks, however many, is no proof. A child that has ended and not yet
// been reaped (the reaper's waiting goroutine is about to) is waited for,
// within a bound: children that keep ending for that long mean something
// keeps forking them.
func childLives() bool {
	for i := 0; i < 100; i++ {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil: // ECHILD: no child at all
			return false
		case info.Signo == 0:
			// Children, none of them ended: one runs (or is stopped,
			// or is traced by a process outside the reaper's reach,
			// which keeps it from being reaped: counted, as the
			// reaper cannot vouch for it).
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
