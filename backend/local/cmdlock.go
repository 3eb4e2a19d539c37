package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/atomicfile"
)

// cmdLockName is the job's command lock (STATE/jobs/KEY/cmd.lock): the
// launch takes it exclusively and hands it to the wrapper on fd 5, which
// the job's command inherits (the run lock, fd 3, it does not get), so
// that it is held while any process of the command that kept the
// descriptor lives, whatever its process group or session.
//
// A wrapper killed on its own (SIGKILL to it alone, the OOM killer) lets
// go of the run lock while its command runs on. The job read as lost on
// that, and the run controller placed the run again beside the first
// copy, both writing one checkpoint. While the command lock is held
// now, the job reads running (commandRuns), whatever any pid says: the
// lock is the descriptor's, which no later process given a reused pid
// holds, and no process outside the job can take it (the file lies in
// the state directory, which no workload may open; it is the server's
// alone, mode 0600). Once it is let go of, the command has ended, and
// with no exit code its wrapper could write, the job failed, its exit
// code unknown (wrapperGone), never lost and placed again.
//
// A workload may close the descriptor or unlock it: that only says its
// own command ended early, as a process that leaves its session and the
// command's tree says so to Cancel and Clean (see waitTree). The agent
// (a Go program) hands no descriptor it inherited to the workload: it
// holds the lock itself while the workload runs.
const cmdLockName = "cmd.lock"

// openCmdLock opens the job's command lock for a launch and takes it,
// exclusively: an error where something holds it (a command of an
// earlier launch of the job that still runs, which is not started
// beside).
func openCmdLock(dir string) (*os.File, error) {
	f, err := openOwn(filepath.Join(dir, cmdLockName), os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, err
	}
	held, err := takeRunLock(f)
	if err == nil && held {
		err = fmt.Errorf("the job's command lock is held: a command of it still runs")
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// commandRuns says whether the job's command, or a process it started
// that kept the command lock's descriptor, still runs: whether the lock
// is held. A lock file that is not there (a job launched before it was
// kept) is not held.
func commandRuns(dir string) (bool, error) {
	return lockHeld(filepath.Join(dir, cmdLockName))
}

// bootID is the kernel's id of this boot, which a host restart changes;
// "" where it cannot be read.
func bootID() string {
	data, err := backend.ReadSmallFile("/proc/sys/kernel/random/boot_id", 64)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// killedWrapperRuns is the status of a job whose wrapper is gone, with
// no exit code, while its command lock is held.
var killedWrapperRuns = backend.Status{State: backend.Running,
	Reason: "the job's wrapper was killed; its command runs on, and its exit code will not be known"}

// launchOrphanSuffix names the file beside a job's launch record
// (STATE/launches/KEY.orphan) that a look at the job keeps once it found
// its wrapper gone, with no exit code, and its command running: it holds
// the id of that boot (bootID), and "ended" once the command was found
// ended on that same boot (wrapperGone).
const launchOrphanSuffix = ".orphan"

// orphanEnded is what launchOrphanSuffix's file holds once the job's
// command was found ended.
const orphanEnded = "ended"

// wrapperGone is the status of a job whose wrapper recorded its pid and
// is gone without an exit code.
//
// While its command lock is held (commandRuns), the command runs on: the
// job runs, and that is kept (launchOrphanSuffix) with the boot. Once the
// lock is free, the command has ended: where a look saw it run on
// without its wrapper on this same boot, the wrapper was killed and the
// job failed, its exit code unknown (its wrapper, its parent, was to
// read it), for good ("ended" is kept: a restart of the host since does
// not make it lost). Else the job is lost, as before: its whole group
// was killed at once (a site failure, the OOM killer), or the host
// restarted under it, and nothing of it runs; a job launched before the
// command lock was kept reads so too.
func wrapperGone(dir string) (backend.Status, error) {
	runs, err := commandRuns(dir)
	if err != nil {
		return backend.Status{}, fmt.Errorf("whether the job's command still runs: %w", err)
	}
	path := launchPath(dir) + launchOrphanSuffix
	seen, _ := readOwn(path, 64, 0o600)
	kept := strings.TrimSpace(string(seen))
	if runs {
		if kept == "" {
			// Not kept (a full disk), its end reads as lost, as before.
			atomicfile.WriteFile(path, []byte(bootID()+"\n"), 0o600) //nolint:errcheck
		}
		return killedWrapperRuns, nil
	}
	if boot := bootID(); kept == orphanEnded || kept != "" && kept == boot {
		if kept != orphanEnded {
			atomicfile.WriteFile(path, []byte(orphanEnded+"\n"), 0o600) //nolint:errcheck
		}
		return backend.Status{State: backend.Failed,
			Reason: "the job's wrapper was killed before its command ended; the command has ended, and its exit code is unknown"}, nil
	}
	return backend.Status{State: backend.Lost, Reason: "process ended without an exit status (killed or host restarted)"}, nil
}

// stopCommand signals, for Cancel, every process that holds the job's
// command lock (cmdLockHolders) until none does or bound has passed:
// SIGTERM once, SIGKILL from killAt on. Such a process is the job's
// whatever its session, group or parent: a process of the command that
// left the wrapper's session (setsid) and whose parent ended was found
// by nothing else, and ran on after Cancel. Its start time is read with
// its descriptors, and signalStarted signals no later process given its
// pid. It says whether the lock was still held at the end.
func stopCommand(ctx context.Context, dir string, killAt time.Time, bound time.Duration) bool {
	deadline := time.Now().Add(bound)
	termed := map[int]uint64{}
	for {
		if runs, err := commandRuns(dir); err == nil && !runs {
			return false
		}
		for p, start := range cmdLockHolders(dir) {
			switch {
			case !time.Now().Before(killAt):
				signalStarted(p, start, unix.SIGKILL)
			case termed[p] != start:
				termed[p] = start
				signalStarted(p, start, unix.SIGTERM)
			}
		}
		if !time.Now().Before(deadline) {
			return true
		}
		select {
		case <-ctx.Done():
			return true
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// maxHolderFds bounds the file descriptors cmdLockHolders looks at in a
// process: a workload may move the command lock's to any number, so the
// bound is well above the usual limit on open files (1024).
const maxHolderFds = 1 << 16

// cmdLockHolders is every live process that holds the job's command lock
// open (not O_PATH, which takes no lock and which any process that can
// name the file may open), by pid, with its start time. It reads every
// process's descriptors: Cancel calls it only while the lock is held
// once the job's group and session are gone.
func cmdLockHolders(dir string) map[int]uint64 {
	fi, err := os.Lstat(filepath.Join(dir, cmdLockName))
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	held := map[int]uint64{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(p)
		if !ok || st.zombie || !holdsOpen(p, uint64(want.Dev), want.Ino) {
			continue
		}
		if again, ok := readStat(p); ok && again.start == st.start {
			held[p] = st.start
		}
	}
	return held
}

// holdsOpen says whether process pid has the file dev and ino name open
// (not O_PATH) among its first maxHolderFds file descriptors.
func holdsOpen(pid int, dev, ino uint64) bool {
	fds := "/proc/" + strconv.Itoa(pid) + "/fd"
	f, err := os.Open(fds)
	if err != nil {
		return false
	}
	names, _ := f.Readdirnames(maxHolderFds)
	f.Close()
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		var got unix.Stat_t
		if unix.Stat(fds+"/"+name, &got) != nil || got.Dev != dev || got.Ino != ino {
			continue
		}
		if flags, ok := fdFlags(pid, fd); ok && flags&unix.O_PATH == 0 {
			return true
		}
	}
	return false
}
