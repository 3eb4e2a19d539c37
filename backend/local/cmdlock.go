package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
// (a Go program) hands no descriptor it inherited to the workload, nor,
// since it marks them close-on-exec at its start, to its reaper: it
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
	return lockHeld(filepath.Join(dir, cmdLockName), 0o600)
}

// orphanSettle is how long a job's command lock must stay held after its
// wrapper is seen gone before the command is taken to run on without it
// (wrapperGone): far longer than the end of a group killed at once takes.
const orphanSettle = 300 * time.Millisecond

// commandRunsAfter is commandRuns once the lock stayed held for d, or
// false as soon as it is free.
func commandRunsAfter(dir string, d time.Duration) (bool, error) {
	for end := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) { // polling interval
		runs, err := commandRuns(dir)
		if err != nil || !runs || !time.Now().Before(end) {
			return runs, err
		}
	}
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
	if runs && kept == "" {
		// A first sighting. A group killed at once (SIGKILL to it, the
		// OOM killer) can be seen in the moment between its wrapper's
		// end and its command's: the command holds the lock for the
		// milliseconds its own end takes. Kept then, its end read as the
		// wrapper killed alone (failed, for good) where nothing of the
		// job ran on. So a sighting is kept only where the lock is still
		// held orphanSettle later.
		if runs, err = commandRunsAfter(dir, orphanSettle); err != nil {
			return backend.Status{}, fmt.Errorf("whether the job's command still runs: %w", err)
		}
		if runs {
			// Not kept (a full disk), its end reads as lost, as before.
			atomicfile.WriteFile(path, []byte(bootID()+"\n"), 0o600) //nolint:errcheck
		}
	}
	if runs {
		return killedWrapperRuns, nil
	}
	// The boot is read only where a sighting was kept to compare it with.
	if kept == orphanEnded || kept != "" && kept == bootID() {
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
// SIGTERM once, SIGKILL from killAt on (a late holder's, below, from the
// job's first late sighting plus grace). Such a process is the job's
// whatever its session, group or parent: a process of the command that
// left the wrapper's session (setsid) and whose parent ended was found
// by nothing else, and ran on after Cancel. Its start time is read with
// its descriptors, and signalStarted signals no later process given its
// pid.
//
// A holder this call first sees at or after killAt that began before it
// (one a Cancel first saw once the job's grace had run out: the
// wrapper's group took the whole grace to end, or only a retry found it)
// is late: it was sent SIGKILL at once, never asked to end, and could not
// end cleanly. The job's first late sighting is kept beside the lock
// (lateAtName, made once: of two Cancels at once, the first kept), before
// any late holder is sent SIGTERM, and every late holder is sent SIGKILL
// grace after it: a retry neither counts that grace afresh (where
// TreeWait is shorter than the grace, no retry would ever kill it) nor
// gives one to a holder first seen later (the job's holders were all
// asked by then). A holder an earlier Cancel asked within the job's
// grace and a retry first sees past it is late too: it gets that one
// grace more, once for the job. Two kinds are still sent SIGKILL at
// once, as before: a holder that began at or after killAt (forked since
// by a holder, which was asked already: a grace for each new one let a
// workload that forks a fresh holder before each grace ends outlive
// every Cancel), and a late one where the late sighting cannot be kept
// or read (a full disk; a file there that is not the server's record):
// a grace no retry could end is none to give.
//
// The job's directory has its mode set back (ownJobDir) before each look
// at the lock: a workload of the server's user that made it mode 0 in a
// loop kept the lock from being looked at, and the scan read it as not
// there, signalling nothing. Once this call has learnt the lock's name
// (lockMark), its scans of /proc need nothing of the directory.
//
// It fails where the lock is still held at the end (a holder that could
// not be found, or not killed, in time; ctx done), or cannot be looked
// at: the job must not read cancelled, its accelerators freed, while its
// command runs on.
func stopCommand(ctx context.Context, dir string, killAt time.Time, grace, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	// A scan stops at the earlier of the bound and ctx's deadline.
	scanEnd := deadline
	if d, ok := ctx.Deadline(); ok && d.Before(scanEnd) {
		scanEnd = d
	}
	killTicks := bootTicksAt(killAt)
	// termed is when this call first sent SIGTERM to each holder.
	termed := map[int]termedHolder{}
	// late is the job's first late sighting, once looked for.
	var late lateSighting
	var mark lockMark
	defer mark.close()
	var nextScan time.Time
	// Why the last scan could not tell every holder, for the error.
	var scanErr error
	// withWhy is err saying also why not every holder could be told and
	// why late holders were given no grace, where either is so.
	withWhy := func(err error) error {
		if scanErr != nil {
			err = fmt.Errorf("%w (not every holder could be told: %w)", err, scanErr)
		}
		if late.err != nil {
			err = fmt.Errorf("%w (its late holders were given no grace: %w)", err, late.err)
		}
		return err
	}
	for {
		var runs bool
		err := lookAgain(dir, func() (err error) {
			runs, err = commandRuns(dir)
			return err
		})
		if err == nil && !runs {
			return nil
		}
		// A scan reads every process's descriptors: at most every
		// holderScanEvery, and at once when a holder's grace ends.
		if !time.Now().Before(nextScan) {
			ownJobDir(dir) //nolint:errcheck // what keeps the lock from being looked at, the scan says
			var holders map[int]uint64
			holders, scanErr = mark.holders(dir, scanEnd)
			now := time.Now()
			nextScan = now.Add(holderScanEvery)
			isLate := func(p int, start uint64) bool {
				t, ok := termed[p]
				return start < killTicks && !(ok && t.start == start && t.at.Before(killAt))
			}
			if !late.looked && !now.Before(killAt) {
				for p, start := range holders {
					if isLate(p, start) {
						late = lateAsked(dir, now)
						break
					}
				}
			}
			for p, start := range holders {
				kill := killAt
				if isLate(p, start) && late.kept {
					kill = late.at.Add(grace)
				}
				if t, ok := termed[p]; !ok || t.start != start {
					termed[p] = termedHolder{start: start, at: now}
					signalStarted(p, start, unix.SIGTERM)
				}
				if !now.Before(kill) {
					signalStarted(p, start, unix.SIGKILL)
				} else if kill.Before(nextScan) {
					nextScan = kill
				}
			}
		}
		if !time.Now().Before(deadline) {
			if err != nil {
				err = fmt.Errorf("the job's command may still run %s after its wrapper ended: whether it does cannot be told: %w", bound, err)
			} else {
				err = fmt.Errorf("the job's command still runs %s after its wrapper ended: a process of it still holds the job's command lock", bound)
			}
			return withWhy(err)
		}
		select {
		case <-ctx.Done():
			// Said as at the bound: whether it runs may not be known.
			if err != nil {
				err = fmt.Errorf("the job's command may still run: whether it does cannot be told: %w (%w)", err, ctx.Err())
			} else {
				err = fmt.Errorf("the job's command still runs: %w", ctx.Err())
			}
			return withWhy(err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// termedHolder is when a Cancel first sent SIGTERM to a holder of the
// command lock, started at start.
type termedHolder struct {
	start uint64
	at    time.Time
}

// lateAtName is the file beside the job's command lock
// (STATE/jobs/KEY/late.at) that keeps when a Cancel first saw a late
// holder of the lock (stopCommand): an RFC 3339 time, made once
// (createMark), the server's, mode 0600.
const lateAtName = "late.at"

// lateSighting is the job's first late sighting (lateAtName): at, where
// kept; else err, why it is not.
type lateSighting struct {
	looked bool
	kept   bool
	at     time.Time
	err    error
}

// lateAsked is the job's first late sighting: the one lateAtName keeps,
// else now, kept there first. A time ahead of the clock (set back since)
// counts from now. One that is there and cannot be read (once the job's
// directory's mode is set back), or holds no time, or that cannot be
// kept, is no sighting kept: its late holders are sent SIGKILL at once.
func lateAsked(dir string, now time.Time) lateSighting {
	path := filepath.Join(dir, lateAtName)
	var at time.Time
	err := lookAgain(dir, func() error {
		created, err := createMark(path, timeMark(now), 0o600)
		if err != nil || created {
			at = now
			return err
		}
		at, err = readTimeMark(path, 0o600)
		return err
	})
	if err != nil {
		return lateSighting{looked: true, err: fmt.Errorf("when a Cancel first saw a late holder: %w", err)}
	}
	return lateSighting{looked: true, kept: true, at: minTime(at, now)}
}

// timeMark is what a mark holding t is made with (RFC 3339, UTC), as
// readTimeMark reads it.
func timeMark(t time.Time) []byte {
	return []byte(t.UTC().Format(time.RFC3339Nano) + "\n")
}

// readTimeMark is the time the mark at path holds (RFC 3339, as the
// server writes it), read as its own record.
func readTimeMark(path string, perm os.FileMode) (time.Time, error) {
	data, err := readOwn(path, 64, perm)
	if err != nil {
		return time.Time{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not a time", path, data)
	}
	return at, nil
}

// holderScanEvery is how often stopCommand reads every process's
// descriptors for the command lock's holders (each look at the lock
// itself, one flock, is every 20 ms).
const holderScanEvery = 200 * time.Millisecond

// cmdLockHolders is every live process but this one that holds the job's
// command lock, by pid, with its start time (lockMark.holders, with no
// name learnt before).
func cmdLockHolders(dir string, deadline time.Time) (map[int]uint64, error) {
	var m lockMark
	defer m.close()
	return m.holders(dir, deadline)
}

// lockMark is the kernel's name of the job's command lock (lockMarkIn)
// that a Cancel learnt, with the device and inode it was learnt for: a
// later scan of the same Cancel that cannot look at the lock again (its
// directory made mode 0 by a workload) scans by it. Only the server
// writes the job's directory, and the lock is the same file for that
// Cancel's few seconds.
//
// The lock's inode is held (pin, an O_PATH descriptor of it) from when
// its name is learnt until the Cancel returns (close): the name was
// reused wherever the device and inode matched, and a lock removed gives
// its inode number to the next file made (ext4 does so at once), which
// then passed for it. Held, the number is no other file's.
type lockMark struct {
	dev, ino uint64
	mark     string
	pin      *os.File
}

// learnt keeps mark, the name of the lock at path that st describes, with
// a hold on its inode; where the file opened is not st's (replaced since)
// or cannot be opened, nothing is kept, and the name learnt before (its
// own inode held) stays.
func (m *lockMark) learnt(path string, st *syscall.Stat_t, mark string) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	var pst unix.Stat_t
	if err := unix.Fstat(fd, &pst); err != nil || pst.Dev != st.Dev || pst.Ino != st.Ino {
		unix.Close(fd)
		return
	}
	m.close()
	*m = lockMark{dev: uint64(st.Dev), ino: st.Ino, mark: mark, pin: os.NewFile(uintptr(fd), path)}
}

// close lets go of the lock's inode, and of the name learnt for it.
func (m *lockMark) close() {
	if m.pin != nil {
		m.pin.Close()
	}
	*m = lockMark{}
}

// holders is every live process but this one that holds the job's
// command lock, by pid, with its start time. A holder is told by the
// lock itself: a descriptor whose /proc/PID/fdinfo shows the exclusive
// flock on the file (its "lock:" line, which the kernel shows only on
// the descriptor whose open file holds the lock). A process that merely
// has the file open (the server's own look at it, a peer server's, a
// copy or a backup of the state directory) holds no such lock and is not
// one: counting every open descriptor of the file, Cancel signalled
// them, the server itself among them. Nothing is opened or looked at
// through a descriptor's link (a file of a FUSE mount that never
// answered held Cancel past any deadline), and every descriptor is read,
// however many a process has (a bound on them hid a holder). The scan
// stops at deadline instead.
//
// An error says it did not read every process it could, and why (the
// lock not looked at, the kernel's name of the file not learnt, /proc
// not read, deadline passed), with the holders it found: a lock that is
// not there (ENOENT) is held by none, but one that cannot be looked at
// (its directory made mode 0) is an error unless m was learnt before,
// and read as not there it let a workload hide every holder from Cancel.
// It reads every process's descriptors: Cancel calls it only while the
// lock is held once the job's group and session are gone.
func (m *lockMark) holders(dir string, deadline time.Time) (map[int]uint64, error) {
	path := filepath.Join(dir, cmdLockName)
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var want string
	var learnErr error
	switch {
	case err != nil && m.mark == "":
		return nil, fmt.Errorf("looking at the job's command lock: %w", err)
	case err != nil:
		want = m.mark
	case !fi.Mode().IsRegular():
		return nil, nil
	default:
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil, fmt.Errorf("%s: no device and inode to tell it by", path)
		}
		want, learnErr = lockMarkIn(dir, st)
		switch {
		case learnErr == nil:
			m.learnt(path, st, want)
		case m.mark != "" && m.dev == uint64(st.Dev) && m.ino == st.Ino:
			want, learnErr = m.mark, nil
		}
	}
	if want == "" {
		// The kernel's name of the file is not known: no holder can be
		// told, and Cancel fails while the lock is held (fail closed).
		return nil, learnErr
	}
	held, err := scanHolders(want, deadline)
	if err == nil && len(held) == 0 && learnErr != nil {
		// None found by the name kept from before, which may be stale:
		// why it was not learnt again is why none could be told.
		err = learnErr
	}
	return held, err
}

// scanHolders is lockMark.holders' scan of every live process but this one
// for a descriptor holding the exclusive flock on the file want names
// (lockMarkIn).
func scanHolders(want string, deadline time.Time) (map[int]uint64, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing the processes: %w", err)
	}
	self := os.Getpid()
	held := map[int]uint64{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil || p == self {
			continue
		}
		if !time.Now().Before(deadline) {
			return held, errScanTimedOut
		}
		st, ok := readStat(p)
		if !ok {
			continue
		}
		holds, done := processHoldsLock(p, st.zombie, want, deadline)
		if !done {
			return held, errScanTimedOut
		}
		if !holds {
			continue
		}
		if again, ok := readStat(p); ok && again.start == st.start {
			held[p] = st.start
		}
	}
	return held, nil
}

// errScanTimedOut is scanHolders' error where its deadline passed before
// it read every process.
var errScanTimedOut = errors.New("the scan of the processes' descriptors ran out of time")

// lockMarkIn is how /proc/PID/fdinfo's "lock:" line names the file in
// dir that st describes: "MAJOR:MINOR:INODE", the device part as the
// kernel prints it for that filesystem (learnLockDev), the inode's number
// in decimal.
//
// The device part is the filesystem's own (its superblock's), which is
// not always stat's st_dev: on btrfs (a subvolume's anonymous device) and
// overlayfs (a file's upper or lower layer's device) they differ, and a
// mark made from st_dev matched no line, so Cancel signalled nothing and
// failed every time while the command ran on.
//
// It is learnt at each call, a probe costing little beside the scan it
// is for. Where it cannot be (a full disk), the one last learnt for the
// same st_dev is used (lockDevs), with the error that says why it was
// not learnt again; with none kept, the mark is "" and the error why.
func lockMarkIn(dir string, st *syscall.Stat_t) (string, error) {
	ino := ":" + strconv.FormatUint(st.Ino, 10)
	dev, err := learnLockDev(dir, uint64(st.Dev))
	if err == nil {
		return dev + ino, nil
	}
	if v, ok := lockDevs.Load(uint64(st.Dev)); ok {
		return v.(string) + ino, err
	}
	return "", err
}

// lockDevs is the kernel's device part of a lock line ("MAJOR:MINOR")
// last learnt for the files of each st_dev, for a scan that cannot learn
// it again (lockMarkIn). It was the name used for good once learnt: an
// anonymous device number (btrfs's, overlayfs's) is given to another
// filesystem once its own is unmounted, whose device part may differ,
// and the one kept matched no holder until a restart (or, where another
// filesystem had taken the old name since, a lock on a file of the same
// inode number there).
var lockDevs sync.Map

// learnLockDev is the device part of the fdinfo "lock:" line of a file in
// dir whose st_dev is dev, learnt from the kernel itself: a temporary
// file made in dir is flocked, and this process's own fdinfo line for it
// read. Its inode part must be the file's st_ino (else the kernel's
// names cannot be told from stat's, and an error says so), and its
// st_dev dev: a file of another filesystem teaches nothing of dir's. It
// is kept in lockDevs.
func learnLockDev(dir string, dev uint64) (string, error) {
	f, err := lockProbe(dir)
	if err != nil {
		return "", fmt.Errorf("learning the kernel's name of the command lock's filesystem: %w", err)
	}
	// Removed with the directory's mode set back first (lookAgain), as a
	// mark's temporary is: removed once, a workload that kept the job's
	// directory mode 0 in a loop left one probe behind at each scan.
	probe := f.Name()
	defer removeTempIn(dir, probe)
	defer f.Close()
	mark, err := ownLockMark(f)
	if err != nil {
		return "", fmt.Errorf("learning the kernel's name of the command lock's filesystem: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	devPart, ino, ok := cutLastColon(mark)
	switch {
	case !ok || ino != strconv.FormatUint(st.Ino, 10):
		return "", fmt.Errorf("%s: the kernel's lock line names %q, not its inode %d", f.Name(), mark, st.Ino)
	case uint64(st.Dev) != dev:
		return "", fmt.Errorf("%s: on another device than the command lock beside it", f.Name())
	}
	lockDevs.Store(dev, devPart)
	return devPart, nil
}

// lockProbe makes the file learnLockDev learns the kernel's name of dir's
// filesystem by (a seam for the tests). It is named as atomicfile names
// its temporary files; one a server killed while it looked left is
// removed at a later start (removeStaleLockProbes).
var lockProbe = func(dir string) (*os.File, error) {
	return os.CreateTemp(dir, "."+cmdLockName+".tmp-*")
}

// removeStaleLockProbes removes, in the job's directory dir, the probes
// learnLockDev made (lockProbe) and a server killed while it looked left,
// and says how many: a probe is removed only where it is the server's
// own (a regular file of its user, named as lockProbe names one, with a
// single link, never through a link), at least atomicfile.StaleTempAge
// old by now (the filesystem's clock) and locked by no one: learnLockDev
// holds its probe locked while it reads by it. The age is the file's
// modification time, which a workload of the server's user may set back
// (it may set any file's times): a probe made and not locked yet may
// then be removed under learnLockDev, which learns by its descriptor all
// the same (the file is unlinked, not gone; or, meeting the sweep's own
// lock, it fails, and the name last learnt is used), and whose own
// removal finds nothing; nothing else the server keeps is named so. Each
// is removed while this holds it locked, and only where its name still
// names the file looked at. At most atomicfile.MaxTempScan entries are
// read.
func removeStaleLockProbes(dir string, now time.Time) int {
	d, err := atomicfile.OpenDir(dir)
	if err != nil {
		return 0
	}
	defer d.Close()
	entries, _ := d.ReadDir(atomicfile.MaxTempScan)
	n := 0
	for _, e := range entries {
		if name, ok := atomicfile.TempTarget(e.Name()); ok && name == cmdLockName && e.Type().IsRegular() &&
			removeStaleLockProbe(filepath.Join(dir, e.Name()), now) {
			n++
		}
	}
	return n
}

// removeStaleLockProbe removes the probe at path where it is stale and
// unlocked (removeStaleLockProbes), and says whether it did.
func removeStaleLockProbe(path string, now time.Time) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG ||
		st.Uid != uint32(os.Geteuid()) || st.Nlink != 1 {
		return false
	}
	if now.Sub(time.Unix(st.Mtim.Unix())) < atomicfile.StaleTempAge {
		return false
	}
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false // a server learns by it now
	}
	var again unix.Stat_t
	if err := unix.Lstat(path, &again); err != nil || again.Dev != st.Dev || again.Ino != st.Ino {
		return false
	}
	return unix.Unlink(path) == nil
}

// ownLockMark takes an exclusive flock on f and returns the file's name
// in the "lock:" line of this process's fdinfo for it.
func ownLockMark(f *os.File) (string, error) {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return "", &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	path := "/proc/self/fdinfo/" + strconv.Itoa(int(f.Fd()))
	data, err := backend.ReadSmallFile(path, fdinfoMaxBytes)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if mark, ok := exclusiveFlock(line); ok {
			return mark, nil
		}
	}
	return "", fmt.Errorf("%s: no lock line for the flock taken", path)
}

// cutLastColon splits s at its last colon.
func cutLastColon(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// processHoldsLock is holdsLock for every thread of process pid. A
// process's threads share its descriptors, read through its own fdinfo,
// unless its leader (the thread whose id is the pid) has exited: it
// reads as a zombie, its descriptors as none, while its other threads
// run on with them (a command whose main thread called pthread_exit).
// Such a holder was skipped and hid from Cancel; the descriptors of a
// zombie's other threads are read instead (a process that ended whole
// has none).
func processHoldsLock(pid int, zombie bool, want string, deadline time.Time) (holds, done bool) {
	proc := "/proc/" + strconv.Itoa(pid) + "/"
	if !zombie {
		return holdsLock(proc+"fdinfo/", want, deadline)
	}
	tasks, err := os.ReadDir(proc + "task")
	if err != nil {
		return false, true
	}
	for _, task := range tasks {
		if task.Name() == strconv.Itoa(pid) {
			continue
		}
		holds, done := holdsLock(proc+"task/"+task.Name()+"/fdinfo/", want, deadline)
		if holds || !done {
			return holds, done
		}
	}
	return false, true
}

// fdinfoBatch is how many descriptors holdsLock lists at a time, looking
// at the clock between.
const fdinfoBatch = 256

// holdsLock says whether the descriptors listed in the fdinfo directory
// dir (a process's or a thread's, ending in a slash) hold an exclusive
// flock (FLOCK, WRITE) on the file want names (lockMarkIn), read from
// each one's fdinfo file. done is false where deadline passed before
// every descriptor was read. A process whose descriptors cannot be listed
// (gone, another user's) holds none that can be told.
func holdsLock(dir, want string, deadline time.Time) (holds, done bool) {
	f, err := os.Open(dir)
	if err != nil {
		return false, true
	}
	defer f.Close()
	buf := make([]byte, fdinfoMaxBytes)
	for {
		names, err := f.Readdirnames(fdinfoBatch)
		for _, name := range names {
			if fdinfoHolds(dir+name, want, buf) {
				return true, true
			}
		}
		if err != nil || len(names) == 0 {
			return false, true
		}
		if !time.Now().Before(deadline) {
			return false, false
		}
	}
}

// fdinfoMaxBytes bounds what fdinfoHolds reads of one fdinfo file: a
// plain file's is a few lines, its locks after them (an epoll's or an
// inotify's, which may be long, is no lock file's).
const fdinfoMaxBytes = 4096

// fdinfoHolds says whether the fdinfo file at path shows an exclusive
// flock on the file want names, read into buf (one read: the kernel
// hands a file this small whole). It is opened and read with plain
// system calls, three a descriptor (os.Open adds more), as a scan reads
// every descriptor of every process.
func fdinfoHolds(path, want string, buf []byte) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil || n <= 0 {
		return false
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		if mark, ok := exclusiveFlock(line); ok && mark == want {
			return true
		}
	}
	return false
}

// exclusiveFlock is the file an fdinfo line names ("MAJ:MIN:INO") where
// it is the "lock:" line of an exclusive flock held.
func exclusiveFlock(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "lock:")
	if !ok {
		return "", false
	}
	// "lock:\t1: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INO 0 EOF"
	// (a waiter's has "->" before FLOCK: it holds nothing).
	fields := strings.Fields(rest)
	if len(fields) >= 6 && fields[1] == "FLOCK" && fields[3] == "WRITE" {
		return fields[5], true
	}
	return "", false
}
