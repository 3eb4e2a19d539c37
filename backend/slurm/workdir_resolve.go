package slurm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxWorkDirLinks bounds the links resolveWorkDir follows, as the
// kernel's 40.
const maxWorkDirLinks = 40

// namedWay is where resolveWorkDir's walk of a named workDir ended:
// below the work root (below, rel, walked from there by walkWorkDir), or
// elsewhere, at the workDir itself, made where it was missing and held
// open (dir).
type namedWay struct {
	rel   string
	below bool
	dir   *os.File
}

// resolveWorkDir resolves the absolute workDir wd from / one name at a
// time, each directory opened from the one before it with O_NOFOLLOW, and
// returns wd relative to the work root (root, what it is; nil where there
// is none yet) where the way reaches it, by identity, top-down: the first
// directory met that is the work root. A link on the way is followed only
// where it is trusted (trustedLink): one a workload could have made or
// swapped is refused, naming workDir and the link. Once at the work root,
// the rest is the work root's to walk (walkWorkDir), never through a
// link: a workload's link below it (x -> .) no longer reads as the work
// root itself, nor one leading out of it (a -> /outside) as a directory
// outside it. A way that never reaches the work root ends at wd itself:
// each name missing on it is made there (mkdirat, perm, its parent
// synced) and opened from the directory held, never looked up again by
// its path, so that a link swapped in after a directory was looked at, or
// made, cannot lead the rest of it elsewhere (made by its path, as it was,
// the rest went wherever such a link led).
func resolveWorkDir(wd string, root os.FileInfo, perm uint32) (namedWay, error) {
	var rootSt *syscall.Stat_t
	if root != nil {
		st, ok := root.Sys().(*syscall.Stat_t)
		if !ok {
			return namedWay{}, fmt.Errorf("workDir %s: the work root's identity cannot be read", wd)
		}
		rootSt = st
	}
	fd, err := unix.Open("/", walkOpen|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return namedWay{}, fmt.Errorf("workDir %s: %w", wd, &os.PathError{Op: "open", Path: "/", Err: err})
	}
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	cur, rest, links := "/", splitNames(wd), 0
	for {
		if rootSt != nil && len(rest) > 0 && isDir(fd, rootSt) {
			rel, err := restBelowRoot(wd, rest)
			return namedWay{rel: rel, below: err == nil}, err
		}
		if len(rest) == 0 {
			// wd itself (or the work root, named as a whole).
			d := os.NewFile(uintptr(fd), cur)
			fd = -1
			return namedWay{dir: d}, nil
		}
		name := rest[0]
		rest = rest[1:]
		var st unix.Stat_t
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if links++; links > maxWorkDirLinks {
				return namedWay{}, fmt.Errorf("workDir %s: more than %d links on its way", wd, maxWorkDirLinks)
			}
			target, err := followLink(fd, cur, name, &st)
			if err != nil {
				return namedWay{}, fmt.Errorf("workDir %s: %w", wd, err)
			}
			if filepath.IsAbs(target) {
				if err := reopen(&fd, "/"); err != nil {
					return namedWay{}, fmt.Errorf("workDir %s: %w", wd, err)
				}
				cur = "/"
			}
			rest = append(splitNames(target), rest...)
			continue
		}
		nfd, err := nextDir(fd, cur, name, err, perm)
		if err != nil {
			return namedWay{}, fmt.Errorf("workDir %s: %w", wd, err)
		}
		unix.Close(fd)
		fd, cur = nfd, filepath.Join(cur, name)
	}
}

// nextDir opens directory name in the directory open at fd (dir, its
// path), which fstatat looked at (statErr): made there first (perm, the
// directory synced) where it was missing. Opened with O_NOFOLLOW, a link
// found there now (swapped in since it was looked at, or made) is
// refused rather than followed: the trusted-link rule is for links that
// were there to look at, not for one put in a directory's place.
func nextDir(fd int, dir, name string, statErr error, perm uint32) (int, error) {
	switch {
	case errors.Is(statErr, unix.ENOENT):
		if err := makeDirAt(fd, dir, name, perm); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, err
		}
	case statErr != nil:
		return -1, &os.PathError{Op: "lstat", Path: filepath.Join(dir, name), Err: statErr}
	}
	next, err := walkDirAt(fd, dir, name)
	if errors.Is(err, errWorkDirLink) {
		return -1, fmt.Errorf("%w, put in place of the directory looked at or made there; not following it", err)
	}
	return next, err
}

// restBelowRoot is rest, the names left once the way reached the work
// root, as wd's directory relative to it. A ".." among them (from a
// link's target) is refused: walkWorkDir cleans it away by its letters,
// where the kernel, given wd's path by sbatch, steps back from wherever
// the name before it led.
func restBelowRoot(wd string, rest []string) (string, error) {
	for _, n := range rest {
		if n == ".." {
			return "", fmt.Errorf("workDir %s: .. below the work root (in its letters, or a link's target on its way there); name the directory itself", wd)
		}
	}
	return filepath.Join(rest...), nil
}

// followLink returns the target of the link name, in the directory open
// at fd (dir, its path), where it is trusted (trustedLink), else an error
// naming it.
func followLink(fd int, dir, name string, st *unix.Stat_t) (string, error) {
	link := filepath.Join(dir, name)
	if why := untrustedLink(fd, st); why != "" {
		return "", fmt.Errorf("%s is a symbolic link %s, which could lead it anywhere; not following it (name the directory it leads to)", link, why)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, name, buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: link, Err: err}
	}
	return string(buf[:n]), nil
}

// untrustedLink says why the link st describes, in the directory open at
// fd, cannot be trusted ("" where it can): a link is followed only where
// it is root's or this server's user's, in a directory whose entries no
// one else may rename or replace (its owner root or the server's user,
// and neither its group nor every user may write it, unless it is sticky,
// which keeps the entry of root or the server's user theirs). A workload's
// link, or one in a directory a workload may write, could lead the
// workDir anywhere it liked (another attempt's directory, outside the
// work root) and be swapped after it was looked at.
func untrustedLink(fd int, st *unix.Stat_t) string {
	uid := serverUID()
	if int(st.Uid) != 0 && int(st.Uid) != uid {
		return fmt.Sprintf("of user %d (neither root nor this server's user %d)", st.Uid, uid)
	}
	var d unix.Stat_t
	if err := unix.Fstat(fd, &d); err != nil {
		return "in a directory that cannot be looked at: " + err.Error()
	}
	if int(d.Uid) != 0 && int(d.Uid) != uid {
		return fmt.Sprintf("in a directory of user %d (neither root nor this server's user %d)", d.Uid, uid)
	}
	if d.Mode&unix.S_ISVTX == 0 && d.Mode&0o022 != 0 {
		return fmt.Sprintf("in a directory (mode %#o) that others may write, who could put another link in its place", d.Mode&0o7777)
	}
	return ""
}

// isDir says whether the directory open at fd is the one st describes.
func isDir(fd int, st *syscall.Stat_t) bool {
	var now unix.Stat_t
	return unix.Fstat(fd, &now) == nil && uint64(now.Dev) == uint64(st.Dev) && uint64(now.Ino) == uint64(st.Ino)
}

// reopen replaces the directory open at *fd with path, opened.
func reopen(fd *int, path string) error {
	nfd, err := unix.Open(path, walkOpen|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	unix.Close(*fd)
	*fd = nfd
	return nil
}

// splitNames is the names of path p, less the empty ones and ".".
func splitNames(p string) []string {
	var names []string
	for _, n := range strings.Split(p, "/") {
		if n != "" && n != "." {
			names = append(names, n)
		}
	}
	return names
}
