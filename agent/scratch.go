package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// returned release removes wd (by then wiped) and the lock. A lock that
// cannot be made where wd's parent is not writable (a container's image)
// is done without: the site removes such a scratch itself.
func lockScratch(wd string) (release func(), err error) {
	path := wd + LockSuffix
	for range 8 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENOENT) {
			return func() {}, os.MkdirAll(wd, 0o700)
		}
		if err != nil {
			return nil, fmt.Errorf("scratch lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("scratch %s: %w", wd, errScratchBusy)
			}
			return nil, fmt.Errorf("scratch lock: %w", err)
		}
		// A sweeper may have removed the file between our open and lock:
		// hold the lock of the file that is there now, or try again.
		if same(f, path) {
			if err := os.MkdirAll(wd, 0o700); err != nil {
				f.Close()
				return nil, err
			}
			return func() {
				os.Remove(wd) // empty once wiped; left otherwise
				os.Remove(path)
				f.Close()
			}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("scratch lock %s: replaced under us repeatedly", path)
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

// Sweep removes, under root, every scratch directory whose lock beside it
// no agent holds (its agent died: killed with its node, say), with the
// lock; a scratch whose agent runs keeps its lock and is left alone. Links
// are removed, never followed. It returns how many it removed.
func Sweep(root string) (int, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	n := 0
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
		err = removeTree(strings.TrimSuffix(path, LockSuffix))
		if err == nil {
			err = os.Remove(path)
			n++
		}
		f.Close()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// removeTree removes p and everything under it, links removed and never
// followed. A workload that ran as the agent's own user may have taken the
// write bit off directories in its scratch, which keeps even their owner
// from removing what is in them: those are given their owner's bits again
// and the removal tried once more. Each is reached from the one above it,
// never by its path: a tree nested deeper than a path can name (each
// directory made relative to the one before) is reached all the same, and
// no link is followed, so nothing outside the tree changes.
func removeTree(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, os.ErrPermission) {
		return err
	}
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() && fi.Mode().Perm()&0o700 != 0o700 {
		os.Chmod(p, 0o700) // a directory as Lstat said; made a link since, it leads only to what the agent's user owns anyway
	}
	if f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0); err == nil {
		ownerBitsBelow(f)
		f.Close()
	}
	return os.RemoveAll(p)
}

// ownerBitsBelow gives the owner's bits back to every directory below dir
// that lacks them, reading each directory a batch at a time.
func ownerBitsBelow(dir *os.File) {
	fd := int(dir.Fd())
	for {
		names, err := dir.Readdirnames(wipeBatch)
		for _, name := range names {
			var st unix.Stat_t
			if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			if st.Mode&0o700 != 0o700 {
				// As the workload's own user, which could have done
				// the same: a directory as Fstatat said, and nothing
				// else runs in the scratch by now.
				unix.Fchmodat(fd, name, 0o700, 0)
			}
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			f := os.NewFile(uintptr(sub), name)
			ownerBitsBelow(f)
			f.Close()
		}
		if err != nil {
			return
		}
	}
}

// emptyScratch removes everything in the scratch directory wd, links
// removed and never followed, and keeps wd. A workload run as the agent's
// own user may have taken the bits off wd itself (chmod 000): its owner
// gives them back first, or nothing in it could be listed or removed, and
// the agent would go on to remove the lock beside it, after which no sweep
// touches the scratch again. The entries are read a batch at a time: a
// workload that made millions of them costs the agent time, not memory in
// proportion (a sorted list of every name).
func emptyScratch(wd string) {
	if fi, err := os.Lstat(wd); err != nil || !fi.IsDir() {
		return
	} else if fi.Mode().Perm()&0o700 != 0o700 {
		os.Chmod(wd, 0o700) // a directory as Lstat said; made a link since, it leads only to what the agent's user owns anyway
	}
	// Removing what was read may hide from the same listing an entry it
	// had not reached yet: a listing that removed something is read again.
	for range 4 {
		found, removed := emptyPass(wd)
		if found == 0 || removed == 0 {
			return
		}
	}
}

// wipeBatch is how many entries of a scratch directory emptyScratch reads
// at a time.
const wipeBatch = 256

// emptyPass reads wd once, removing each entry, and says how many it found
// and how many it removed.
func emptyPass(wd string) (found, removed int) {
	f, err := os.OpenFile(wd, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(wipeBatch)
		for _, name := range names {
			found++
			if removeTree(filepath.Join(wd, name)) == nil {
				removed++
			}
		}
		if err != nil {
			return found, removed
		}
	}
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
				err := removeTree(wd)
				if err == nil {
					err = os.Remove(path)
				}
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
	dir := fl.Arg(0)
	code := 0
	n, err := Sweep(dir)
	if err != nil {
		fmt.Fprintf(stderr, "meridian agent sweep %s: %v\n", dir, err)
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

// takeScratch makes the scratch directory wd the agent's again, and
// writable by nobody else, before the agent makes anything in it. An
// attempt launched again on the scratch of its earlier launch (an agent
// killed before it could remove it) finds it still the tenant's user's,
// as the earlier launch gave it over; any process of that user (another of
// its jobs on the node) could then swap data, checkpoints or tmp for a
// link between the agent's removal of each and its making it again, and
// the agent (root in the uid sandbox) unsealed the datasets and the
// checkpoint where the link led: a checkpoint renamed into /etc/cron.d.
// wd is reached without following a link.
func takeScratch(wd string) error {
	f, err := os.OpenFile(wd, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("scratch %s: %w", wd, err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("scratch %s: %w", wd, err)
	}
	euid, egid := os.Geteuid(), os.Getegid()
	if int(st.Uid) != euid {
		if euid != 0 {
			// Only the uid sandbox, as root, gives the scratch away;
			// a scratch another user made for this one (a volume's)
			// is left as it is.
			return nil
		}
		if err := f.Chown(euid, egid); err != nil {
			return fmt.Errorf("scratch %s is owned by uid %d, not the agent's (uid %d), and cannot be taken back: %w", wd, st.Uid, euid, err)
		}
		return f.Chmod(0o700)
	}
	if st.Mode&0o022 != 0 {
		return f.Chmod(os.FileMode(st.Mode&0o777) &^ 0o022)
	}
	return nil
}

// freshScratch takes the scratch wd back (takeScratch) and makes its data,
// checkpoint and temporary directories empty and new.
func freshScratch(wd string) error {
	if err := os.MkdirAll(wd, 0o700); err != nil {
		return err
	}
	if err := takeScratch(wd); err != nil {
		return err
	}
	return freshDirs(filepath.Join(wd, "data"), filepath.Join(wd, "checkpoints"), filepath.Join(wd, "tmp"))
}

// freshDirs makes each of dirs (in the scratch, which takeScratch has made
// the agent's) empty and new, and refuses one that is not a directory of
// its own once made.
func freshDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := removeTree(d); err != nil {
			return err
		}
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			return fmt.Errorf("scratch: %s is not the directory the agent made (%v)", d, err)
		}
	}
	return nil
}
