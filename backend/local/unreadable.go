package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/internal/atomicfile"
)

// unreadableDir is the directory of the state directory where the server
// keeps, by job, when it first found the job's lock and record both
// unreadable (unreadableFor). It is the server's own: no workload may
// write in the state directory (the agent refuses to start one that
// could), though a workload of the server's user may change a mode there,
// which the server sets back.
const unreadableDir = "unreadable"

// unreadSeen is what the server keeps of a job whose lock and record it
// found both unreadable: which record it was (job.json's device and
// inode) and when it first found them so.
type unreadSeen struct {
	Dev uint64    `json:"dev"`
	Ino uint64    `json:"ino"`
	At  time.Time `json:"at"`
}

// maxUnreadSeen bounds the unreadSeen file the server reads back.
const maxUnreadSeen = 256

// unreadPath is the file that keeps unreadSeen for the job in dir.
func (l *Local) unreadPath(dir string) string {
	return filepath.Join(l.stateDir, unreadableDir, filepath.Base(dir))
}

// unreadableFor is how long the job in dir has been found with its lock
// and its record (job.json, the file now there: its device and inode,
// which stat tells whatever its mode) both unreadable. The first time is
// kept in the server's state directory (unreadableDir): a workload can
// change neither it nor the record's inode (it can make no file there,
// nor in the job's directory), where it may set any of the record's
// times. It was kept in the server's memory only: a server started again
// counted from its own first look, so one restarted more often than
// wrapperStartBound kept such a job starting for ever, and every such job
// kept its entry in memory until then. Several servers sharing the state
// directory count from the first of them to look.
//
// Both times are read off one clock, the filesystem's (fileNow): each
// server's own was compared with the time another wrote, and servers
// whose clocks were more than wrapperStartBound apart read such a job as
// lost at their first look. A time kept that lies after now (that clock
// was set back, or a server before this one kept its own clock's) is not
// taken as past the bound: the count starts again from now, once, and
// bounds the job as before.
func (l *Local) unreadableFor(dir string) (time.Duration, error) {
	dev, ino, err := recordInode(dir)
	if err != nil {
		return 0, err
	}
	now, err := l.fileNow()
	if err != nil {
		return 0, fmt.Errorf("read the state directory's clock: %w", err)
	}
	path := l.unreadPath(dir)
	seen, found, err := l.readUnreadSeen(path)
	if err != nil {
		return 0, err
	}
	if found && seen.Dev == dev && seen.Ino == ino && !seen.At.After(now) {
		return now.Sub(seen.At), nil
	}
	data, err := json.Marshal(unreadSeen{Dev: dev, Ino: ino, At: now.UTC()})
	if err != nil {
		return 0, err
	}
	err = inUnreadableDir(l.stateDir, func() error { return atomicfile.WriteFile(path, data, 0o600) })
	if err != nil {
		return 0, fmt.Errorf("keep when the job's lock and record were first found unreadable: %w", err)
	}
	return 0, nil
}

// fileNow is the time now on the clock of the filesystem that holds the
// state directory: the change time it gives a file made now in
// unreadableDir, which is then removed. That clock is one for every
// server sharing the directory (the file server's, for a shared one; the
// kernel's, on one machine), whatever each server's own says. The change
// time is the filesystem's alone: no one can set it (utimes sets the
// others, and the change time to now), so a workload that changes the
// file's times meanwhile makes it no earlier (atomicfile.FileNowIn). The
// file is named as atomicfile names a temporary file (".clock.tmp-" and
// digits): one a server killed before removing it is removed at a later
// start (removeStaleTemps), and the sweep of unreadableDir never takes it
// for a job's entry. The tests set their own (fileClock).
func (l *Local) fileNow() (time.Time, error) {
	if l.fileClock != nil {
		return l.fileClock()
	}
	return fileNowIn(l.stateDir)
}

// startFileNow is fileNowIn, which New reads before a Local is made to
// tell a temporary file's age (removeStaleTemps); the tests set their own.
var startFileNow = fileNowIn

// fileNowIn is fileNow for the state directory stateDir. Where the probe
// file cannot be made for want of space (ENOSPC, EDQUOT), the clock is
// read without one (touchedNow): the server's own clock was read in its
// place (sinceLaunch), another server's, and a job whose lock and record
// were both unreadable made every Status fail for as long as the disk
// stayed full, though its first look had been kept.
func fileNowIn(stateDir string) (time.Time, error) {
	var now time.Time
	err := inUnreadableDir(stateDir, func() error {
		root, err := os.OpenRoot(stateDir)
		if err != nil {
			return err
		}
		defer root.Close()
		now, err = probeFileNow(root, unreadableDir)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			now, err = touchedNow(root, unreadableDir)
		}
		return err
	})
	return now, err
}

// probeFileNow is atomicfile.FileNowIn, which makes a file to read the
// clock by; the tests make it fail.
var probeFileNow = atomicfile.FileNowIn

// touchedNow is the time now on the clock of the filesystem that holds
// the directory dir below root, read with no file made: the change time
// the filesystem gives dir when its times are set to now (utimensat with
// UTIME_NOW, which the directory's owner may do whatever its mode, and
// which takes no space; a file server sets them on its own clock). dir
// is the server's own (unreadableDir), whose times nothing reads.
func touchedNow(root *os.Root, dir string) (time.Time, error) {
	d, err := atomicfile.OpenDirIn(root, dir)
	if err != nil {
		return time.Time{}, err
	}
	defer d.Close()
	// Through the descriptor's /proc entry: the directory opened above,
	// whatever is at its path by now.
	proc := "/proc/self/fd/" + strconv.Itoa(int(d.Fd()))
	now := []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, proc, now, 0); err != nil {
		return time.Time{}, &os.PathError{Op: "utimensat", Path: d.Name(), Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		return time.Time{}, &os.PathError{Op: "fstat", Path: d.Name(), Err: err}
	}
	return time.Unix(st.Ctim.Unix()), nil
}

// recordInode is the device and inode of the job's record in dir.
func recordInode(dir string) (dev, ino uint64, err error) {
	path := filepath.Join(dir, "job.json")
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("%s: no inode", path)
	}
	return uint64(st.Dev), uint64(st.Ino), nil
}

// readUnreadSeen reads the unreadSeen file at path as the server's own
// record (readOwn: never through a link, its mode set back where a
// workload changed it); found is false where there is none.
func (l *Local) readUnreadSeen(path string) (seen unreadSeen, found bool, err error) {
	var data []byte
	err = inUnreadableDir(l.stateDir, func() (err error) {
		data, err = readOwn(path, maxUnreadSeen, 0o600)
		return err
	})
	if errors.Is(err, os.ErrNotExist) {
		return unreadSeen{}, false, nil
	}
	if err != nil {
		return unreadSeen{}, false, err
	}
	if err := json.Unmarshal(data, &seen); err != nil {
		return unreadSeen{}, false, fmt.Errorf("%s: %w", path, err)
	}
	if seen.At.IsZero() {
		return unreadSeen{}, false, fmt.Errorf("%s: no time", path)
	}
	return seen, true, nil
}

// forgetUnreadable drops what unreadableFor keeps of the job in dir,
// once its lock or its record has been read (the count starts again only
// where both are unreadable again), or once Clean has found it ended. A
// job read as lost keeps it until then, so that it never reads as
// starting again while its run may still be waiting on it (a Status
// after Clean counts anew: starting for wrapperStartBound at most, then
// lost again; the run controller asks none once the run has moved on).
// It is removed through the state directory's os.Root, never through a
// link. It is best effort: an entry left (its directory's mode kept from
// the server) is still a time the same record was there by, which bounds
// the job's start as well, and a later Clean removes it.
func (l *Local) forgetUnreadable(dir string) {
	name := filepath.Join(unreadableDir, filepath.Base(dir))
	inUnreadableDir(l.stateDir, func() error { //nolint:errcheck // best effort, as said
		root, err := os.OpenRoot(l.stateDir)
		if err != nil {
			return err
		}
		defer root.Close()
		err = root.Remove(name)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	})
}

// sweepUnreadable removes, at a start, the entries of unreadableDir
// whose job's directory is no longer there (removed by hand, or its
// state restored from an older copy): they were kept for good, one small
// file each. Nothing removes a job's directory while a server runs, and
// an entry is written only once the job's record is there, so an entry
// without its directory is no one's. Temporary files (a writer's, a
// clock probe) are removeStaleTemps's; a directory that cannot be looked
// at keeps its entry. It reads at most atomicfile.MaxTempScan entries,
// all through the state directory's os.Root, and says how many it
// removed.
func sweepUnreadable(stateDir string) int {
	root, err := os.OpenRoot(stateDir)
	if err != nil {
		return 0
	}
	defer root.Close()
	d, err := atomicfile.OpenDirIn(root, unreadableDir)
	if err != nil {
		return 0
	}
	defer d.Close()
	entries, _ := d.ReadDir(atomicfile.MaxTempScan)
	n := 0
	for _, e := range entries {
		name := e.Name()
		if _, temp := atomicfile.TempTarget(name); temp || !e.Type().IsRegular() {
			continue
		}
		if _, err := root.Lstat(filepath.Join("jobs", name)); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		// unlinkat(2) on the directory's own descriptor: the entry
		// itself, never a directory, never through a link.
		if unix.Unlinkat(int(d.Fd()), name, 0) == nil {
			n++
		}
	}
	return n
}

// inUnreadableDir runs fn, which works in unreadableDir of the state
// directory stateDir, and where a mode keeps the server out, sets the
// directory's mode back (a workload of the server's user may change it)
// and runs fn again.
func inUnreadableDir(stateDir string, fn func() error) error {
	err := fn()
	if !errors.Is(err, os.ErrPermission) {
		return err
	}
	if rerr := ownStateSubdir(stateDir, unreadableDir); rerr != nil {
		return fmt.Errorf("%w (%v)", err, rerr)
	}
	return fn()
}

// ownStateSubdir checks that the directory name in stateDir is the
// server's own and sets back a mode a workload changed, as ownJobDir
// does for a job's directory.
func ownStateSubdir(stateDir, name string) error {
	root, err := unix.Open(stateDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: stateDir, Err: err}
	}
	defer unix.Close(root)
	fd, err := ownDirAt(root, name, filepath.Join(stateDir, name))
	if err != nil {
		return err
	}
	return unix.Close(fd)
}
