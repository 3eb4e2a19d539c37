package slurm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/internal/atomicfile"
)

// errWorkDirLink is the error of a directory on a job's work directory's
// way, or the work directory itself, that is a symbolic link.
var errWorkDirLink = errors.New("is a symbolic link")

// openWorkRoot opens the work root to make a job's work directory below
// it: a site's own as opened at start (siteWork), else the default one
// (or a relative workDir) through the state directory's root.
func (s *Slurm) openWorkRoot() (*os.File, error) {
	if s.siteWork != nil {
		return atomicfile.OpenDirIn(s.siteWork, ".")
	}
	rel, ok := s.rec.inState(s.workRoot)
	if !ok {
		return nil, fmt.Errorf("not below the state directory %s", s.rec.dir)
	}
	root, release, err := s.rec.openRoot()
	if err != nil {
		return nil, err
	}
	defer release()
	d, err := atomicfile.OpenDirIn(root, rel)
	return d, s.rec.stateErr(err)
}

// walkWorkDir makes rel (perm), a job's work directory below the work
// root open at base (root, its path, to name it), and returns its parent
// directory, open, and its last component, which it has made when it was
// missing. Each directory on the way is opened from the one before it
// (openat), never by its path, with O_NOFOLLOW, and made there (mkdirat,
// its parent synced) when missing: a link a workload put at one of them
// (a job naming workDir a/b/c, a link at a) is refused, naming the
// field and the component, rather than followed to make the rest
// wherever it led (os.Root follows one that stays below its root: to
// another attempt's directory, or the records beside the work root).
func walkWorkDir(base *os.File, rel, root string, perm uint32) (parent *os.File, name string, err error) {
	parts := strings.Split(filepath.Clean(rel), string(filepath.Separator))
	fd, err := unix.Openat(int(base.Fd()), ".", walkOpen|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	dir := root
	for _, part := range parts[:len(parts)-1] {
		next, err := openOrMakeDir(fd, dir, part, perm)
		unix.Close(fd)
		if errors.Is(err, errWorkDirLink) {
			at, _ := filepath.Rel(root, filepath.Join(dir, part))
			return nil, "", fmt.Errorf("workDir %s: %s, on its way below the work root %s, %w; not following it (name the directory it leads to instead)", rel, at, root, errWorkDirLink)
		}
		if err != nil {
			return nil, "", fmt.Errorf("workDir %s: %w", rel, err)
		}
		fd, dir = next, filepath.Join(dir, part)
	}
	last := parts[len(parts)-1]
	if err := makeDirAt(fd, dir, last, perm); err != nil && !errors.Is(err, unix.EEXIST) {
		unix.Close(fd)
		return nil, "", fmt.Errorf("workDir %s: %w", rel, err)
	}
	return os.NewFile(uintptr(fd), dir), last, nil
}

// walkOpen is how each directory on a work directory's way is opened:
// O_PATH, which needs search permission on the directory above it alone,
// as mkdir -p does, and is enough for what the walk does with it
// (fstatat, openat, mkdirat, readlinkat, fstat). Opened to read, a
// search-only directory on the way (mode 0711, or one a root_squash NFS
// export keeps root out of) failed the walk.
const walkOpen = unix.O_PATH

// openOrMakeDir opens directory name in the directory open at fd (dir,
// its path, to name it), made first when it is missing, without
// following a link (errWorkDirLink), for the walk (walkOpen).
func openOrMakeDir(fd int, dir, name string, perm uint32) (int, error) {
	next, err := walkDirAt(fd, dir, name)
	if !errors.Is(err, unix.ENOENT) {
		return next, err
	}
	// Made by another process just now: opened as it is.
	if err := makeDirAt(fd, dir, name, perm); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, err
	}
	return walkDirAt(fd, dir, name)
}

// openDirAt opens directory name in the directory open at fd with
// O_NOFOLLOW and O_DIRECTORY: a link there fails with errWorkDirLink, and
// a FIFO or a file at once, with ENOTDIR.
func openDirAt(fd int, dir, name string) (int, error) {
	return openDirHow(fd, dir, name, unix.O_RDONLY)
}

// walkDirAt is openDirAt for the walk: opened walkOpen.
func walkDirAt(fd int, dir, name string) (int, error) {
	return openDirHow(fd, dir, name, walkOpen)
}

// openDirHow is openDirAt, opened how (O_RDONLY or walkOpen).
func openDirHow(fd int, dir, name string, how int) (int, error) {
	next, err := unix.Openat(fd, name, how|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		return next, nil
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return -1, fmt.Errorf("%s: %w", filepath.Join(dir, name), errWorkDirLink)
		}
	}
	return -1, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
}

// makeDirAt makes directory name (perm, before the umask) in the
// directory open at fd (dir, its path), and syncs that directory, as
// atomicfile.MkdirAll does: until then the new entry is in memory only.
// One already there is EEXIST, unsynced.
//
// fd may be open O_PATH (walkOpen), which fsync refuses: the directory
// is opened again through it to read, for the sync. Where this user may
// not read it (a search-only directory, as mkdir -p meets) the sync is
// left out: the new entry is then on disk once the filesystem writes it
// back, and a crash before that loses it (the job's directory missing
// after a restart, made again by the next Submit of the attempt), which
// is what mkdir -p risks there too.
func makeDirAt(fd int, dir, name string, perm uint32) error {
	if err := unix.Mkdirat(fd, name, perm); err != nil {
		return &os.PathError{Op: "mkdir", Path: filepath.Join(dir, name), Err: err}
	}
	if atomicfile.SyncHook != nil {
		atomicfile.SyncHook(dir)
	}
	rd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(rd)
	if err := unix.Fsync(rd); err != nil {
		return &os.PathError{Op: "sync", Path: dir, Err: err}
	}
	return nil
}

// relWorkDirStaysIn refuses a relative workDir with a ".." among its
// names. backend.Spec resolves a relative workDir under the site's work
// root, but joined to it and cleaned by its letters, ../other-1/x (or
// a/../../x) named a directory beside the work root, or above it (the
// state directory's records, where the work root is the default one),
// and the job was sent to run there. Any "..", even one that stays
// inside (a/../b), is refused: a job names its directory below the work
// root as it is.
//
// One that cleans to "." (".", "./", "a/..") names the work root itself,
// which the agent would take for its scratch and empty at the attempt's
// end, every attempt's directory with it: refused too.
func relWorkDirStaysIn(wd string) error {
	if wd == "" || filepath.IsAbs(wd) {
		return nil
	}
	if filepath.Clean(wd) == "." {
		return fmt.Errorf("workDir %s: names the work root itself, where every attempt's directory lies, which the job's end would empty; name a directory below it", wd)
	}
	for _, n := range strings.Split(wd, "/") {
		if n == ".." {
			return fmt.Errorf("workDir %s: a relative workDir lies below the work root, and .. would step out of it; name the directory without ..", wd)
		}
	}
	return nil
}
