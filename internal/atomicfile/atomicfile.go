// Package atomicfile writes files so that readers see the old content or the
// new one, never a part, even when the writer is killed mid-write.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// WriteFile writes data to a temporary file beside path, fsyncs it, renames
// it over path and fsyncs the directory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	_, err := write(path, data, perm, false)
	return err
}

// CreateFile writes data to path as WriteFile does, but only when path does
// not exist yet; created is false, and path untouched, when it does. Of
// several processes creating one file at once (replicas sharing a state
// directory creating a key on first start) exactly one creates it, and the
// others must read what it wrote.
//
// A path already there is made durable before CreateFile returns (its
// directory synced, once per process: SyncEntry): its creator may have
// been killed before it synced, and the caller is about to use the file.
// Where CreateFile's own sync of the directory fails, the new file stays
// and the error is returned: another process may have read it already
// (the key a replica uses), and a removal would leave two in use. The
// caller, or the next one, finds it there and syncs it then.
func CreateFile(path string, data []byte, perm os.FileMode) (created bool, err error) {
	made, err := write(path, data, perm, true)
	if errors.Is(err, fs.ErrExist) {
		return false, SyncEntry(path)
	}
	if err != nil {
		return false, err
	}
	remember(filepath.Clean(path), made)
	return true, nil
}

// write writes path (WriteFile; CreateFile where exclusive) and returns
// what it put there, as stat saw it before the directory's sync: the
// file the sync covers. A stat after it could see another file made in
// the name meanwhile, which the memo would then take as synced.
func write(path string, data []byte, perm os.FileMode, exclusive bool) (fs.FileInfo, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	made, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := fill(f, data, perm); err != nil {
		return nil, err
	}
	if exclusive {
		// link fails when path exists, where rename would replace it.
		if err := os.Link(tmp, path); err != nil {
			return nil, err
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	ok = true
	return made, SyncDir(dir)
}

// fill writes data to the new temporary file f, gives it perm, syncs it
// to disk and closes it: all of it there before it is renamed into place.
func fill(f *os.File, data []byte, perm os.FileMode) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// SyncDir fsyncs a directory so that renames and creations in it are durable.
func SyncDir(dir string) error {
	if SyncHook != nil {
		SyncHook(dir)
	}
	d, err := OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SyncOpenDir fsyncs the directory open at d, so that the renames,
// removals and directories made in it are durable; SyncHook is called
// with its clean path first, as SyncDir calls it.
func SyncOpenDir(d *os.File) error {
	if SyncHook != nil {
		SyncHook(filepath.Clean(d.Name()))
	}
	return d.Sync()
}

// OpenDir opens directory dir to read, with O_DIRECTORY: a FIFO in its
// place (a directory others may write, swapped between a write's rename
// and its sync) fails at once rather than wait for a writer, and the
// caller with it, for good.
func OpenDir(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
}

// SyncHook, when set, is called with each directory SyncDir (or
// SyncOpenDir) is about to sync. Tests set it to see that what a package
// creates is made durable; it is nil otherwise.
var SyncHook func(dir string)

// MkdirAll creates dir (perm, before the umask) and any missing parents,
// as os.MkdirAll does, and fsyncs the parent of each directory it
// creates. Until its parent is synced a new directory's entry is in
// memory only: a power loss can take it, with every file written inside
// since, synced or not, while what was written elsewhere meanwhile (a
// database row, data sealed with a key kept there) survives. A directory
// already there has its parent synced once per process (SyncEntry): its
// maker may have been killed before it synced it.
func MkdirAll(dir string, perm os.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return syncEntry(dir, fi, pathPlace(dir))
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	mkErr := os.Mkdir(dir, perm)
	// Stat before the sync: the directory there now is the one the sync
	// covers, and the one remembered as durable (write says why).
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		// Another process may have made it just now, and not yet synced
		// it: synced here too; anything else fails as the mkdir did.
		if mkErr != nil {
			return mkErr
		}
		if err != nil {
			return err
		}
		return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
	}
	if err := SyncDir(parent); err != nil {
		return err
	}
	remember(filepath.Clean(dir), fi)
	return nil
}

// MaxTempScan bounds the directory entries one removal of temporary files
// (RemoveTemps, RemoveStaleTemps) reads: a directory others may fill (a
// job's records, a records directory with an entry per job ever run) costs
// a start no more than this. A temporary file past the bound stays, as it
// did before any was removed.
const MaxTempScan = 4096

// StaleTempAge is the age (by modification time) past which a temporary
// file of a writer that holds no lock is taken as left by a killed one. A
// writer fills its temporary file and renames it within one call, writing
// a small record: one an hour old is not being written. Removed under a
// writer that was stalled that long anyway (storage that hung), its rename
// fails and the write reports the error; readers never see a part.
const StaleTempAge = time.Hour

// TempTarget returns the name of the file whose temporary file (WriteFile's,
// CreateFile's: ".NAME.tmp-" and the decimal digits os.CreateTemp puts in
// place of its star) name is, and whether name is one.
func TempTarget(name string) (string, bool) {
	i := strings.LastIndex(name, ".tmp-")
	if i < 2 || name[0] != '.' {
		return "", false
	}
	digits := name[i+len(".tmp-"):]
	if len(digits) == 0 || len(digits) > 10 {
		return "", false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return name[1:i], true
}

// RemoveTemps removes the temporary files that writers of path killed
// before their rename left beside it (WriteFile's, CreateFile's), and
// reports how many it removed. A temporary file of a writer still at work
// is removed as well, failing that write: the caller must hold a lock that
// every writer of path holds while it writes. Removing is best effort:
// what cannot be removed stays, harmless to readers of path, which never
// read the temporary names. Only regular files are removed, never what a
// link points to, and at most MaxTempScan entries of the directory are
// read.
func RemoveTemps(path string) int {
	base := filepath.Base(path)
	// No age is told: the clock is never read.
	return removeTemps(filepath.Dir(path), func(name string) bool { return name == base }, 0, at(time.Time{}))
}

// RemoveStaleTemps removes, in dir, the temporary files of the files target
// accepts (by name) that were last modified at least age ago, and reports
// how many it removed: for writers that hold no lock, whose fresh
// temporary files may be being filled (StaleTempAge says why an old one is
// not). As RemoveTemps, it removes only regular files and reads at most
// MaxTempScan entries.
//
// A file's age is counted on the clock of the filesystem that holds dir,
// which stamps the files' times, not on the caller's own: writers sharing
// dir from machines whose clocks run apart stamp their temporary files
// on that one clock, and a caller whose own clock ran more than age ahead
// of it took the file another was filling as stale and removed it,
// failing that write. That clock is read with a probe made in dir
// (fileNowAt), once a call, and only once a temporary file whose age is
// to be told is found: a directory with none costs what it did. Where
// the probe cannot be made, no file is taken as stale: a later call
// removes them; but where it cannot be made for want of space (ENOSPC,
// EDQUOT), the ages are counted on the caller's own clock against twice
// age (orOwnClock). A probe left by a caller killed before it removed its
// own is removed once stale too.
func RemoveStaleTemps(dir string, target func(name string) bool, age time.Duration) int {
	return removeTemps(dir, target, age, nil)
}

// RemoveStaleTempsAt is RemoveStaleTemps, counting each file's age from
// now, a time the caller read on the clock of the filesystem that holds
// dir (as RemoveStaleTemps reads it itself), for a caller that removes
// the temporary files of several directories at once.
func RemoveStaleTempsAt(dir string, target func(name string) bool, age time.Duration, now time.Time) int {
	return removeTemps(dir, target, age, at(now))
}

// removeTemps removes the temporary files of dir that removeTempsOf
// picks; now nil reads the filesystem's clock in dir (filesClock).
func removeTemps(dir string, target func(name string) bool, age time.Duration, now clock) int {
	d, err := OpenDir(dir)
	if err != nil {
		return 0
	}
	defer d.Close()
	if now == nil {
		now = filesClock(int(d.Fd()), dir)
	}
	// unlink(2) removes the entry itself, never a directory.
	return removeTempsOf(d, func(name string) error { return syscall.Unlink(filepath.Join(dir, name)) }, target, age, now)
}

// clock is a time now, or why it could not be read.
type clock func() (time.Time, error)

// at is the clock that reads now.
func at(now time.Time) clock {
	return func() (time.Time, error) { return now, nil }
}

// filesClock is the clock of the filesystem that holds the directory open
// at fd (dir, to name it), read (fileNowAt) at each call. A sweep still
// makes one probe, and none when it has no age to tell: removeTempsOf,
// which every such clock is for, reads it once at most (orOwnClock).
func filesClock(fd int, dir string) clock {
	return func() (time.Time, error) { return fileNowAt(fd, dir) }
}

// fileNowAt is probeNowAt; the tests set the filesystem's clock apart
// from the process's, which no file's age is counted on.
var fileNowAt = probeNowAt

// removeTempsOf removes, with remove, the temporary files of the files
// target accepts among the first MaxTempScan entries of the open
// directory d, those at least age old by now (any, for 0), and the stale
// clock probes (probeNowAt) a killed caller left. Where now cannot be
// read, none is taken as stale, unless for want of space (orOwnClock).
func removeTempsOf(d *os.File, remove func(name string) error, target func(name string) bool, age time.Duration, now clock) int {
	now = orOwnClock(now, age)
	n, scanned := 0, 0
	for scanned < MaxTempScan {
		entries, err := d.ReadDir(min(256, MaxTempScan-scanned))
		scanned += len(entries)
		for _, e := range entries {
			name, ok := TempTarget(e.Name())
			// The type is the entry's own (lstat's): a link is not
			// regular, and is never followed.
			if !ok || !e.Type().IsRegular() || !(target(name) || age > 0 && name == clockProbe) {
				continue
			}
			if age > 0 {
				fi, err := e.Info()
				if err != nil || !fi.Mode().IsRegular() {
					continue
				}
				t, err := now()
				if err != nil {
					return n
				}
				if t.Sub(fi.ModTime()) < age {
					continue
				}
			}
			if remove(e.Name()) == nil {
				n++
			}
		}
		if err != nil || len(entries) == 0 {
			break
		}
	}
	return n
}

// orOwnClock is now, or, where now cannot be read because the filesystem
// has no room for the probe (ENOSPC, EDQUOT), the process's own clock set
// back by age, so that a file is taken as stale only once twice age old
// on that clock. Without the fallback, a full disk or quota is exactly
// when no stale temporary file would ever be removed, while they may be
// what fills it. The caller's clock may run ahead of the filesystem's,
// which stamped the files: the margin of one more age keeps a file being
// filled by another writer unless the caller's clock runs more than age
// ahead (an hour, for StaleTempAge), where without it any skew at all
// would count. Any other failure (a directory the caller may not write)
// leaves every file, as before: a later call removes them.
func orOwnClock(now clock, age time.Duration) clock {
	return sync.OnceValues(func() (time.Time, error) {
		t, err := now()
		if own, ok := OwnClockWhenFull(err, age); ok {
			return own, nil
		}
		return t, err
	})
}

// OwnClockWhenFull is the time a sweep of temporary files stale at age
// counts from where the filesystem's clock could not be read for err: the
// process's own clock set back by age, and true, where err is the want of
// space (ENOSPC, EDQUOT); false for any other err (orOwnClock says why).
// A caller reading the filesystem's clock once for several sweeps
// (RemoveStaleTempsAt) takes the same fallback through it.
func OwnClockWhenFull(err error, age time.Duration) (time.Time, bool) {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return time.Now().Add(-age), true
	}
	return time.Time{}, false
}

// SubDirs names the directories among the first MaxTempScan entries of
// dir (by each entry's own type: a link to a directory is not one), for a
// removal of temporary files in the directories of a bounded tree. A dir
// that cannot be read has none.
func SubDirs(dir string) []string {
	d, err := OpenDir(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	return subDirsOf(d)
}

// subDirsOf names the directories among the first MaxTempScan entries of
// the open directory d.
func subDirsOf(d *os.File) []string {
	entries, _ := d.ReadDir(MaxTempScan)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}
