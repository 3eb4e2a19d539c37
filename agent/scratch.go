package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LockSuffix ends the name of the lock an agent holds beside its scratch
// directory (DIR.lock) for as long as it runs. A lock nobody holds beside a
// scratch means the agent died with the scratch still there: Sweep removes
// both. Scratch without a lock is never touched.
const LockSuffix = ".lock"

// errScratchBusy is returned when another live agent holds the scratch.
var errScratchBusy = errors.New("in use by another agent")

// lockScratch takes the lock of the scratch directory wd and makes wd. The
// returned release removes wd (by then wiped) and the lock, unless told
// to leave them for the sweep (the wipe found wd no longer names the
// scratch, or could not empty it). Both are made and removed through the
// directory that held wd when the lock was taken, opened once, never by
// their paths: a directory above the scratch swapped for a link during
// the attempt would have had the agent remove an empty directory and a
// lock file of the scratch's names wherever the link led. A lock that
// cannot be made where wd's parent is not writable (a container's image)
// is done without: the site removes such a scratch itself. Without a
// lock nothing keeps a second agent out of the scratch, and the agent
// empties the scratch it starts in: one that already holds anything is
// refused then (unlockedScratch), not emptied under a workload that may
// be running in it.
func lockScratch(wd string) (release func(leave bool), err error) {
	noLock := func(bool) {}
	parent, err := unix.Open(filepath.Dir(wd), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT || err == unix.EACCES {
		return noLock, unlockedScratch(wd, err)
	}
	if err != nil {
		return nil, fmt.Errorf("scratch lock: %s: %w", filepath.Dir(wd), err)
	}
	name := filepath.Base(wd)
	lock := name + LockSuffix
	for range 8 {
		fd, err := openScratchLock(parent, lock, unix.O_CREAT|unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EACCES || err == unix.EPERM || err == unix.EROFS {
			unix.Close(parent)
			return noLock, unlockedScratch(wd, err)
		}
		if err != nil {
			unix.Close(parent)
			return nil, fmt.Errorf("scratch lock: %w", err)
		}
		f := os.NewFile(uintptr(fd), wd+LockSuffix)
		if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			unix.Close(parent)
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("scratch %s: %w", wd, errScratchBusy)
			}
			return nil, fmt.Errorf("scratch lock: %w", err)
		}
		// A sweeper may have removed the file between our open and lock:
		// hold the lock of the file that is there now, or try again.
		if sameAt(fd, parent, lock) {
			if err := unix.Mkdirat(parent, name, 0o700); err != nil && err != unix.EEXIST {
				f.Close()
				unix.Close(parent)
				return nil, fmt.Errorf("scratch %s: %w", wd, err)
			}
			return func(leave bool) {
				if !leave {
					unix.Unlinkat(parent, name, unix.AT_REMOVEDIR) // empty once wiped; left otherwise
					if sameAt(fd, parent, lock) {
						unix.Unlinkat(parent, lock, 0)
					}
				}
				f.Close()
				unix.Close(parent)
			}, nil
		}
		f.Close()
	}
	unix.Close(parent)
	return nil, fmt.Errorf("scratch lock %s: replaced under us repeatedly", wd+LockSuffix)
}

// openScratchLock is unix.Openat for the scratch's lock (a variable, so
// that a test run as root can stand in for a parent it may not write).
var openScratchLock = unix.Openat

// unlockedScratch makes the scratch wd, for which no lock could be taken
// (why), and refuses one that already holds anything: with no lock,
// nothing tells a scratch another agent's workload is running in from
// one an earlier launch left, and this agent would empty it.
func unlockedScratch(wd string, why error) error {
	if err := os.MkdirAll(wd, 0o700); err != nil {
		return err
	}
	f, err := os.Open(wd)
	if err != nil {
		return fmt.Errorf("scratch %s: %w", wd, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("scratch %s: %w", wd, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("scratch %s: no lock could be taken beside it (%s: %v), and it already holds %q, which may be another agent's running workload: refused rather than emptied; remove what is in it, or let the agent write in %s", wd, filepath.Dir(wd), why, names[0], filepath.Dir(wd))
	}
	return nil
}

// sameAt reports whether the open file fd is still the entry name in the
// directory open as dir.
func sameAt(fd, dir int, name string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Fstatat(dir, name, &b, unix.AT_SYMLINK_NOFOLLOW) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// lockStillAt is same for SweepWait's lock (a variable, so that a test
// can stand in for a lock replaced every time it is taken).
var lockStillAt = same

// same reports whether the open file f is still the file at path.
func same(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// sweepRemove is removeScratch for Sweep (a variable, so that a test where
// nothing can be mounted can stand in for a scratch a mount holds busy).
var sweepRemove = removeScratch

// Sweep removes, under root, every scratch directory whose lock beside it
// no agent holds (its agent died: killed with its node, say), with the
// lock; a scratch whose agent runs keeps its lock and is left alone. Links
// are removed, never followed. It returns how many it removed, and the
// errors of those it could not remove, joined: a scratch that cannot be
// removed (a mount its tenant put in it holds it busy) keeps its lock and
// is met again at every sweep, so the sweep goes on past it to the dead
// scratch after it, other tenants' unsealed data.
func Sweep(root string) (int, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, LockSuffix) || name == LockSuffix {
			continue
		}
		path := filepath.Join(root, name)
		f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil || !same(f, path) || !scratchShaped(strings.TrimSuffix(path, LockSuffix)) {
			f.Close()
			continue
		}
		if err := sweepRemove(strings.TrimSuffix(path, LockSuffix), f); err != nil {
			errs = append(errs, err)
		} else {
			n++
		}
		f.Close()
	}
	return n, errors.Join(errs...)
}

// removeScratch removes the scratch wd, everything in it and its lock
// beside it, held open as lock, through a descriptor of wd's directory
// found from / without following a link (openDirNoFollow), never by
// wd's path: a directory above the scratch that another user could
// write (a scratch the agent refused, and left, for that) may have been
// swapped for a link since, and the sweep (root, for the uid sandbox)
// removed what lay where it led. The lock held must be the one in that
// directory: found elsewhere, the directories on wd's path have changed
// since the lock was opened, and both are left as they are, with an
// error that says so.
func removeScratch(wd string, lock *os.File) error {
	dir, err := openDirNoFollow(filepath.Dir(wd))
	if err != nil {
		return fmt.Errorf("%s: a directory on its path is not one a sweep may go through (%w): left as it is, with its lock (name the directory to sweep by its path without links)", wd, err)
	}
	defer unix.Close(dir)
	name := filepath.Base(wd)
	var held, found unix.Stat_t
	if err := unix.Fstat(int(lock.Fd()), &held); err != nil {
		return fmt.Errorf("%s: its lock: %w", wd, err)
	}
	if err := unix.Fstatat(dir, name+LockSuffix, &found, unix.AT_SYMLINK_NOFOLLOW); err != nil || found.Dev != held.Dev || found.Ino != held.Ino {
		return fmt.Errorf("%s: the directories on its path changed since its lock was taken (%v): left as it is, with its lock", wd, err)
	}
	if err := removeAllAt(dir, name); err != nil {
		return fmt.Errorf("%s: %w", wd, err)
	}
	if err := unix.Unlinkat(dir, name+LockSuffix, 0); err != nil && err != unix.ENOENT {
		return fmt.Errorf("%s%s: %w", wd, LockSuffix, err)
	}
	return nil
}

// openDirNoFollow opens the absolute directory p (O_PATH), each name on
// it opened from the directory before without following a link: a link
// anywhere on p, or a name that is not a directory, is an error.
func openDirNoFollow(p string) (int, error) {
	if !filepath.IsAbs(p) {
		return -1, fmt.Errorf("%s is not an absolute path", p)
	}
	const flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open("/", flags, 0)
	if err != nil {
		return -1, err
	}
	at := "/"
	for _, name := range splitPath(p) {
		if name == ".." {
			unix.Close(fd)
			return -1, fmt.Errorf("%s holds \"..\"", p)
		}
		at = filepath.Join(at, name)
		next, err := unix.Openat(fd, name, flags, 0)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("%s: %w", at, err)
		}
		fd = next
	}
	return fd, nil
}

// wipeScratch empties the scratch checked at the attempt's start, held
// open since as scratch (freshScratch), through that descriptor, as
// freshScratch empties what it remakes: taken back (a workload of the
// agent's own user may have taken the bits off it), then each entry
// removed relative to the directory it is in (emptyDirFD), links removed
// and never followed. It never goes through wd: that path was checked
// only at the start, and the scratch, or a directory above it, swapped
// for a link since had the wipe empty whatever the link led to. It
// reports whether wd and its lock are to be left for the sweep: when wd
// names another file than the directory checked (the one emptied), or
// that could not be emptied, each said through logf. A scratch removed
// (its workload's rm -rf), or moved away, leaves nothing at wd for the
// sweep: its lock is not left either, and the log says what happened.
func wipeScratch(scratch *os.File, wd string, logf func(string, ...any)) (leave bool) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	fd := int(scratch.Fd())
	err := namedBy(fd, wd)
	removed := removedDir(fd) // empty, and nothing can be made in it
	switch {
	case errors.Is(err, unix.ENOENT) && removed:
		logf("scratch %s was removed during the attempt (by its workload, most likely): nothing was left in it to wipe, nor for `meridian agent sweep`", wd)
		return false
	case errors.Is(err, unix.ENOENT):
		logf("scratch %s names nothing now (it, or a directory above it, was moved away during the attempt): the directory checked at the attempt's start is emptied through the descriptor held since, and nothing is left at the path for `meridian agent sweep`", wd)
	case err != nil:
		leave = true
		logf("scratch %s no longer names the directory checked at the attempt's start (%v: it, or a directory above it, was renamed or replaced since): that directory is emptied through the descriptor held since, never by the path, and the path is left as it is, with its lock, for `meridian agent sweep`", wd, err)
	}
	if removed {
		return leave
	}
	dir, err := openTaken(fd, wd)
	if err == nil {
		err = emptyDirFD(dir)
		unix.Close(dir)
	}
	if err != nil {
		logf("scratch %s: not emptied (%v): left, with its lock, for `meridian agent sweep`", wd, err)
		return true
	}
	return leave
}

// removedDir reports whether the directory open as fd has been removed:
// it has no name left, and nothing can be made in it.
func removedDir(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Nlink == 0
}

// scratchShaped reports whether what is at wd could be an agent's scratch:
// a directory, a link (a volume's stand-in) or nothing. A sweep removes
// nothing else, whatever lock file lies beside it.
func scratchShaped(wd string) bool {
	fi, err := os.Lstat(wd)
	return err != nil || fi.IsDir() || fi.Mode()&os.ModeSymlink != 0
}

// SweepWait removes the scratch wd once its agent is gone: it waits, up to
// timeout, for the lock beside it to be free (the agent exited, or its
// machine's kernel killed it), then removes the scratch and the lock. An
// agent that exits normally wipes and removes both itself. It reports
// whether it removed anything.
func SweepWait(wd string, timeout time.Duration) (bool, error) {
	path := wd + LockSuffix
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // wiped by its agent, or swept
		}
		if err != nil {
			return false, err
		}
		// A lock replaced between the open and the lock is looked at
		// again after the pause, within the timeout.
		replaced := false
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			replaced = !lockStillAt(f, path)
			if !replaced {
				if !scratchShaped(wd) {
					f.Close()
					return false, fmt.Errorf("%s is not a directory: not a scratch", wd)
				}
				err := removeScratch(wd, f)
				f.Close()
				return err == nil, err
			}
		}
		f.Close()
		if time.Now().After(deadline) {
			if replaced {
				return false, fmt.Errorf("%s: its lock was replaced as it was taken, until %s had passed", wd, timeout)
			}
			return false, fmt.Errorf("%s: its agent still holds the lock after %s", wd, timeout)
		}
		time.Sleep(500 * time.Millisecond) // polling interval
	}
}

// SweepMain is `meridian agent sweep DIR [--wait NAME]… [--timeout D]`:
// Sweep DIR, then remove each named scratch under it once its agent is
// gone (SweepWait).
func SweepMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var wait multi
	fl.Var(&wait, "wait", "name of a scratch under DIR to remove once its agent is gone (repeatable)")
	timeout := fl.Duration("timeout", 9*time.Minute, "how long to wait for each --wait scratch's agent")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 || !filepath.IsAbs(fl.Arg(0)) || filepath.Clean(fl.Arg(0)) == "/" {
		fmt.Fprintln(stderr, "meridian agent sweep: want one absolute directory (not /) whose dead agents' scratch to remove")
		return 2
	}
	dir, err := sweepRoot(fl.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "meridian agent sweep: %v\n", err)
		return 1
	}
	code := 0
	n, err := Sweep(dir)
	if err != nil {
		// One line for each scratch left, each saying which sweep.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "meridian agent sweep %s: %s\n", dir, line)
		}
		code = 1
	}
	for _, name := range wait {
		if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			fmt.Fprintf(stderr, "meridian agent sweep: --wait %q: want a name in %s\n", name, dir)
			code = 2
			continue
		}
		removed, err := SweepWait(filepath.Join(dir, name), *timeout)
		if err != nil {
			fmt.Fprintf(stderr, "meridian agent sweep %s: %v\n", dir, err)
			code = 1
		}
		if removed {
			n++
		}
	}
	fmt.Fprintf(stdout, "meridian agent sweep %s: removed %d scratch directories of agents no longer running\n", dir, n)
	return code
}

// sweepRoot is the directory a sweep of root goes through: root itself
// where no link is on its path, else what root resolves to, resolved once
// here (lookups), where every directory looked a name up in on the way
// (each link's included) is root's or the sweeping user's and no one
// else may rename what is in it (ownOnly): then only they chose where the
// links lead, and the
// removal of each scratch, which follows no link (removeScratch), refuses
// one put on the resolved path since. A link another user may have put
// there, or changed, is refused, naming it, the directory and how to fix
// it: the sweep (root, where the agent ran as root) removed what lay
// where the link led.
func sweepRoot(root string) (string, error) {
	euid := os.Geteuid()
	var open string // a directory looked in that another user may write
	var openVia string
	real, links, err := lookups(root, func(dir, name, via string) error {
		if open == "" && !ownOnly(dir, name, euid) {
			open, openVia = dir, via
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", root, err)
	}
	if len(links) == 0 {
		return root, nil
	}
	if open != "" {
		link := links[0]
		if openVia != "" {
			link = openVia
		}
		return "", fmt.Errorf("%s is reached through the link %s, and %s, on the way to %s, lets a user other than root and uid %d rename what is in it (or is theirs), who could have the link lead elsewhere: refusing to sweep it; name the directory to sweep by its own path, without links, in directories only root may write (%s now)", root, link, open, real, euid, real)
	}
	return real, nil
}

// ownOnly reports whether only root and uid may rename or replace name in
// the directory p: p is theirs, and no one else may write it, or, where
// others may (/tmp), it has the sticky bit and name is theirs too. Who may
// write p is told by dirWriters, as checkPathWriters tells it; dirWriters
// leaves the entry under a sticky bit to be judged in turn, and name (a
// link, perhaps) is judged here, by its owner.
func ownOnly(p, name string, uid int) bool {
	var dir, ent unix.Stat_t
	if unix.Lstat(p, &dir) != nil || dirWriters(&dir, uid, -1) != "" {
		return false
	}
	if dir.Mode&0o022 == 0 {
		return true
	}
	return unix.Lstat(filepath.Join(p, name), &ent) == nil && (ent.Uid == 0 || int(ent.Uid) == uid)
}

// takeScratch makes the scratch directory, open as fd (O_PATH) and named
// wd, the agent's again, writable by nobody else and by its owner, before
// the agent makes anything in it. An attempt launched again on the
// scratch of its earlier launch (an agent killed before it could remove
// it) finds it still the tenant's user's, as the earlier launch gave it
// over; any process of that user (another of its jobs on the node) could
// then swap data, checkpoints or tmp for a link between the agent's
// removal of each and its making it again, and the agent (root in the
// uid sandbox) unsealed the datasets and the checkpoint where the link
// led: a checkpoint renamed into /etc/cron.d. A workload that ran as the
// agent's own user may have taken the owner's bits off it (chmod 000):
// they are given back, or nothing in it could be listed or removed.
func takeScratch(fd int, wd string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("scratch %s: %w", wd, err)
	}
	euid, egid := os.Geteuid(), os.Getegid()
	if int(st.Uid) != euid {
		if euid != 0 {
			// Only the uid sandbox, as root, gives the scratch away;
			// a scratch root made for this user is left as it is
			// (its path check has found no one else may write it).
			return nil
		}
		if err := unix.Fchownat(fd, "", euid, egid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("scratch %s is owned by uid %d, not the agent's (uid %d), and cannot be taken back: %w", wd, st.Uid, euid, err)
		}
		return fdChmod(fd, 0o700)
	}
	if mode := (st.Mode&0o7777)&^0o022 | 0o700; mode != st.Mode&0o7777 {
		return fdChmod(fd, mode)
	}
	return nil
}

// fdChmod sets the mode of what fd (O_PATH, which fchmod refuses) holds,
// through its /proc entry: the open file, whatever its path names by now.
func fdChmod(fd int, mode uint32) error {
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
}

// scratchDirs are the directories freshScratch makes empty and new in the
// scratch.
var scratchDirs = []string{"data", "checkpoints", "tmp"}

// afterScratchCheck runs between freshScratch's check of the scratch's
// path and its emptying: a test stands in here for a swap of the
// scratch made meanwhile.
var afterScratchCheck = func() {}

// freshScratch checks the scratch wd's path (checkScratchWriters), takes
// the scratch back (takeScratch), empties it and makes its data,
// checkpoint and temporary directories new, in that order: emptied before the
// check, a scratch under a directory another user may write (or itself
// such a one) was emptied where that user had it lead. The scratch is
// opened once, before the check, without following a link, and found
// again at wd after the check (then no one but the agent's user and root
// may rename anything on its path); everything after goes through that
// descriptor, never through wd, so a swap made meanwhile cannot make the
// agent remove or make anything elsewhere. A scratch that wd no longer
// names by the end is refused: the workload is told its directories by
// that path (prepare looks again once the datasets are unsealed through
// the descriptor), though it starts in the scratch held (inScratch). Each directory mode the check changes is logged (logf). The
// descriptor (O_PATH) is returned, the caller's to keep: the wipe at the
// attempt's end goes through it too (wipeScratch).
func freshScratch(sb Sandbox, wd string, logf func(string, ...any)) (*os.File, error) {
	if err := os.MkdirAll(wd, 0o700); err != nil {
		return nil, err
	}
	fd, err := unix.Open(wd, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("scratch %s: not a directory (%w)", wd, err)
	}
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	if err := checkScratchWriters(sb, wd, "", logf); err != nil {
		return nil, err
	}
	if err := stillAt(fd, wd); err != nil {
		return nil, err
	}
	afterScratchCheck()
	dir, err := openTaken(fd, wd)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	// Everything an earlier launch left is removed, not only what is made
	// again: in the uid sandbox all in the scratch is given to the
	// tenant's user (chownTree), and a hard link that user left at the
	// scratch's top to a file of root's (/etc/shadow) would be given over
	// with it.
	if err := emptyDirFD(dir); err != nil {
		return nil, fmt.Errorf("scratch %s: what an earlier launch left in it could not be removed: %w", wd, err)
	}
	if err := freshDirs(dir, wd, scratchDirs...); err != nil {
		return nil, err
	}
	if err := stillAt(fd, wd); err != nil {
		return nil, err
	}
	scratch := os.NewFile(uintptr(fd), wd)
	fd = -1 // the caller's now
	return scratch, nil
}

// openTaken takes the scratch open as fd (O_PATH) back (takeScratch) and
// opens it to list and change what is in it.
func openTaken(fd int, wd string) (int, error) {
	if err := takeScratch(fd, wd); err != nil {
		return -1, err
	}
	dir, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("scratch %s: %w", wd, err)
	}
	return dir, nil
}

// stillAt refuses the scratch open as fd when wd no longer names it.
func stillAt(fd int, wd string) error {
	if err := namedBy(fd, wd); err != nil {
		return fmt.Errorf("scratch %s: replaced while it was checked and made ready (%v); refusing to run the workload", wd, err)
	}
	return nil
}

// namedBy says why wd does not name the directory open as fd, or nil
// where it does.
func namedBy(fd int, wd string) error {
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		return err
	}
	if err := unix.Lstat(wd, &b); err != nil {
		return err
	}
	if a.Dev != b.Dev || a.Ino != b.Ino {
		return errors.New("another file is there now")
	}
	return nil
}

// freshDirs makes each of names, in the scratch open as dir (named wd),
// empty and new, and refuses one that is not a directory of the agent's
// own once made.
func freshDirs(dir int, wd string, names ...string) error {
	for _, name := range names {
		p := filepath.Join(wd, name)
		if err := removeAllAt(dir, name); err != nil {
			return fmt.Errorf("scratch: %s: %w", p, err)
		}
		if err := unix.Mkdirat(dir, name, 0o700); err != nil {
			return fmt.Errorf("scratch: %s: %w", p, err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("scratch: %s is not the directory the agent made (%v)", p, err)
		}
	}
	return nil
}

// maxEmptyPasses bounds how many times removeAllAt reads a directory
// that something (a process of the tenant's user still in it) fills as
// it is emptied.
const maxEmptyPasses = 8

// maxOpenDepth bounds how many directories, nested one in another, a
// removal holds open at once (each with its listing's buffer). A
// workload may nest directories thousands deep: walked down whole, the
// removal ran out of descriptors (EMFILE) and left the plaintext at the
// bottom for a sweep that failed the same way every time. A directory
// met this deep is moved up to the top of the tree being emptied
// instead, and removed from there once the rest is (emptier).
const maxOpenDepth = 64

// maxMovedUp bounds how many directories one removal moves up to its
// top: a tree a million directories deep takes some 16,000.
const maxMovedUp = 1 << 20

// movedUpPrefix begins the names of the directories a removal moves up
// to its top.
const movedUpPrefix = ".meridian-deep-"

// removeAllAt removes name, in the directory open as dirfd, and
// everything below it. Each directory is opened from the one above it
// without following a link and its entries are removed relative to it,
// links removed and never followed: nothing outside dirfd is reached,
// whatever is renamed or swapped meanwhile. A directory that lacks its
// owner's bits (a workload of the agent's own user took them) is given
// them back through its own descriptor. No more than maxOpenDepth
// directories are held open at once, however deep the tree
// (emptyDirFD).
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	return removeDirAt(dirfd, name, emptyDirFD)
}

// removeDirAt removes the directory name in dirfd: opened there
// (openOwnDirAt), emptied by empty, closed, then removed. Gone meanwhile
// is no error.
func removeDirAt(dirfd int, name string, empty func(fd int) error) error {
	fd, err := openOwnDirAt(dirfd, name)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	err = empty(fd)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("%s/%w", name, err)
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// openOwnDirAt opens the directory name in dirfd to read, not following
// a link, with its owner's bits given back where it lacks them.
func openOwnDirAt(dirfd int, name string) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if err == unix.EACCES {
		// Opened O_PATH, which needs no bits, and set through that
		// descriptor: the directory looked at, not a link put there.
		p, perr := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if perr != nil {
			return -1, perr
		}
		var st unix.Stat_t
		if unix.Fstat(p, &st) == nil {
			fdChmod(p, st.Mode&0o7777|0o700)
		}
		fd, err = unix.Openat(p, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(p)
	}
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&0o700 != 0o700 {
		unix.Fchmod(fd, st.Mode&0o7777|0o700)
	}
	return fd, nil
}

// emptyDirFD removes everything in the directory open as fd (its top),
// each directory in it emptied and removed in turn (emptier.remove),
// reading each again from the start after a pass that removed something
// (removing may hide from a listing an entry it had not reached yet),
// until a pass finds it empty. A directory met maxOpenDepth below the
// top is not opened: it is moved up into the top under a name of its
// own and queued, and the queue is removed once the top's passes are
// done, or amid them once it holds maxQueued (or the top can hold no
// more directories, EMLINK), each one as a tree of its own (again moving
// up what lies too deep in it). The queue is not bounded by maxEmptyPasses, which bounds
// how often one directory is read; it is by maxMovedUp.
func emptyDirFD(fd int) error {
	e := &emptier{top: fd, queued: map[string]bool{}}
	first := e.empty(fd, 0)
	if err := e.drain(); err != nil && first == nil {
		first = err
	}
	if e.drainErr != nil && first == nil {
		first = e.drainErr
	}
	return first
}

// maxQueued is how many moved-up directories the queue holds before
// they are removed, amid the top's passes (a variable, so that a test
// can make it small): the queue and its names stay bounded in memory,
// and the top's count of subdirectories, which some file systems bound
// (EMLINK), stays low.
var maxQueued = 4096

// drain removes every directory in the queue, each as a tree of its own
// (moving up, and removing in turn, what lies too deep in it), and lets
// the top's passes take its name again. It returns the first error;
// while it runs, a directory moved up is queued for it, not drained anew.
func (e *emptier) drain() error {
	if e.draining {
		return nil
	}
	e.draining = true
	defer func() { e.draining = false }()
	var first error
	for len(e.queue) > 0 {
		name := e.queue[0]
		e.queue = e.queue[1:]
		if err := e.remove(e.top, name, 0); err != nil && first == nil {
			first = err
		}
		delete(e.queued, name)
	}
	e.queue = nil
	return first
}

// emptier empties one tree, its top open as top, holding no more than
// maxOpenDepth directories open at once.
type emptier struct {
	top    int
	queue  []string        // directories moved up into top, to remove
	queued map[string]bool // their names, which top's passes leave to the queue
	moved  int             // how many were moved up, all told
	seq    int             // the number in the next one's name
	seqSet bool            // seq starts past what the top held (firstFreeSeq)
	// draining is set while the queue is removed (drain); drainErr is the
	// first error of a drain amid the top's passes.
	draining bool
	drainErr error
}

// firstFreeSeq is one past the highest number of a moved-up name in the
// directory open as fd (0 when it holds none): an emptier that starts
// there tries no name an earlier one left, where starting at 0 it tried
// up to 1000 names for each directory it moved up, and failed once an
// earlier one had left 1000.
func firstFreeSeq(fd int) int {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(dup)
	next := 0
	buf := make([]byte, 8<<10)
	for {
		n, err := unix.ReadDirent(dup, buf)
		if err != nil || n <= 0 {
			return next
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if !strings.HasPrefix(name, movedUpPrefix) {
				continue
			}
			if k, err := strconv.Atoi(name[len(movedUpPrefix):]); err == nil && k >= next && k < 1<<40 {
				next = k + 1
			}
		}
	}
}

// empty removes everything in the directory open as fd, depth below
// the top, in passes (emptyDirFD).
func (e *emptier) empty(fd, depth int) error {
	buf := make([]byte, 8<<10)
	for range maxEmptyPasses {
		if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
			return err
		}
		found, removed := 0, 0
		var first error
		for {
			n, err := unix.ReadDirent(fd, buf)
			if err != nil {
				return err
			}
			if n <= 0 {
				break
			}
			_, _, names := unix.ParseDirent(buf[:n], -1, nil)
			for _, name := range names {
				if depth == 0 && e.queued[name] {
					continue
				}
				found++
				if err := e.remove(fd, name, depth); err != nil {
					if first == nil {
						first = err
					}
					continue
				}
				removed++
			}
		}
		if found == 0 {
			return nil
		}
		if removed == 0 {
			return first
		}
	}
	return errors.New("still not empty after it was emptied repeatedly")
}

// remove removes name, in the directory open as dirfd (depth below the
// top), and everything below it, as removeAllAt does; a directory that
// would be held open maxOpenDepth below the top is moved up into it
// instead (moveUp), and counts as removed from dirfd.
func (e *emptier) remove(dirfd int, name string, depth int) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	if depth+1 >= maxOpenDepth {
		return e.moveUp(dirfd, name)
	}
	return removeDirAt(dirfd, name, func(fd int) error { return e.empty(fd, depth+1) })
}

// moveUp renames the directory name, in the directory open as dirfd,
// into the top under a name no entry there has, and queues it. Renamed
// from one directory to another, a directory needs its owner's write bit
// (its ".." changes): given back first, through a descriptor of the
// directory itself, never a link put at its name.
func (e *emptier) moveUp(dirfd int, name string) error {
	if e.moved >= maxMovedUp {
		return fmt.Errorf("%s: more than %d directories nested past %d deep", name, maxMovedUp, maxOpenDepth)
	}
	p, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var st unix.Stat_t
	if unix.Fstat(p, &st) == nil && st.Mode&0o700 != 0o700 {
		fdChmod(p, st.Mode&0o7777|0o700)
	}
	unix.Close(p)
	if !e.seqSet {
		e.seq, e.seqSet = firstFreeSeq(e.top), true
	}
	drained := false
	for range 1000 {
		to := movedUpPrefix + strconv.Itoa(e.seq)
		e.seq++
		err := unix.Renameat2(dirfd, name, e.top, to, unix.RENAME_NOREPLACE)
		if err == unix.EINVAL {
			// A file system without RENAME_NOREPLACE: what is at to (an
			// entry of the tree being emptied, or nothing) may go.
			err = unix.Renameat(dirfd, name, e.top, to)
		}
		switch err {
		case nil:
			e.moved++
			e.queue = append(e.queue, to)
			e.queued[to] = true
			if len(e.queue) >= maxQueued && !e.draining {
				if err := e.drain(); err != nil && e.drainErr == nil {
					e.drainErr = err
				}
			}
			return nil
		case unix.ENOENT:
			return nil
		case unix.EMLINK:
			// The top holds as many directories as its file system
			// allows: those queued are removed first, once.
			if drained || e.draining || len(e.queue) == 0 {
				return fmt.Errorf("%s: moving it up to be removed from the top: %w", name, err)
			}
			drained = true
			if err := e.drain(); err != nil && e.drainErr == nil {
				e.drainErr = err
			}
		case unix.EEXIST, unix.ENOTEMPTY, unix.EISDIR, unix.ENOTDIR:
			continue // taken: the next name
		default:
			return fmt.Errorf("%s: moving it up to be removed from the top: %w", name, err)
		}
	}
	return fmt.Errorf("%s: no free name to move it up to", name)
}
