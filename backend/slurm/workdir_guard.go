package slurm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxGuardDepth bounds the walk up from a guarded directory to /.
const maxGuardDepth = 4096

// refuseSharedWorkDir refuses a job's work directory (wd, named in the
// error; st, what it is) that is the work root, the state directory, or
// a directory above either, by device and inode, however its path was
// spelled (., the work root's own path, a link to it). The agent takes
// its work directory for its scratch and empties it at the attempt's
// end: run there, the wipe emptied every attempt's directory, or the
// server's records. A guarded directory that cannot be looked at fails
// closed; the default work root not made yet lies below the state
// directory, and is judged by it.
func (s *Slurm) refuseSharedWorkDir(wd string, st *syscall.Stat_t) error {
	guards := []struct{ what, path string }{{"the work root", s.workRoot}, {"the state directory", s.rec.dir}}
	for i, g := range guards {
		f, err := s.openGuard(i == 0, g.path)
		if i == 0 && s.siteWork == nil && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("workDir %s: %s %s cannot be looked at to tell it from the job's directory: %w", wd, g.what, g.path, err)
		}
		at, err := atOrAbove(int(f.Fd()), st)
		f.Close()
		if err != nil {
			return fmt.Errorf("workDir %s: the directories above %s %s cannot be looked at: %w", wd, g.what, g.path, err)
		}
		if at {
			return fmt.Errorf("workDir %s: is %s %s, or a directory above it; the job's directory is emptied at the attempt's end, which would empty every attempt's directory or the server's records; name a directory of the job's own below it", wd, g.what, g.path)
		}
	}
	return nil
}

// openGuard opens a guarded directory: the site's own work root as
// opened at start (work), else path.
func (s *Slurm) openGuard(work bool, path string) (*os.File, error) {
	if work && s.siteWork != nil {
		return s.siteWork.Open(".")
	}
	return os.Open(path)
}

// atOrAbove says whether st is the directory open at fd or one above it,
// walking up by .. from the descriptor, never by a path.
func atOrAbove(fd int, st *syscall.Stat_t) (bool, error) {
	cur, err := unix.Openat(fd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer func() { unix.Close(cur) }()
	for range maxGuardDepth {
		var now unix.Stat_t
		if err := unix.Fstat(cur, &now); err != nil {
			return false, err
		}
		if uint64(now.Dev) == uint64(st.Dev) && uint64(now.Ino) == uint64(st.Ino) {
			return true, nil
		}
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return false, err
		}
		var above unix.Stat_t
		if err := unix.Fstat(up, &above); err != nil {
			unix.Close(up)
			return false, err
		}
		unix.Close(cur)
		cur = up
		if above.Dev == now.Dev && above.Ino == now.Ino {
			return false, nil // / is its own parent
		}
	}
	return false, fmt.Errorf("more than %d directories deep", maxGuardDepth)
}

// refuseSharedDir is refuseSharedWorkDir of fi (err, looking at it).
func (s *Slurm) refuseSharedDir(wd string, fi os.FileInfo, err error) error {
	if err != nil {
		return fmt.Errorf("workDir %s: %w", wd, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("workDir %s: its identity cannot be read", wd)
	}
	return s.refuseSharedWorkDir(wd, st)
}
