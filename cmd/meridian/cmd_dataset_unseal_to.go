package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// unsealTo resolves an unseal's --to once, one name at a time from the
// root as the kernel does, holding each directory it reaches open and
// opening the next from it without following a link: what it judges
// (checkSecret's rules: the owner of every directory and link on the way,
// and who may write each directory) is what it holds, and the unseal
// writes through the last directory held. It replaces a look at the path
// (checkSecret) followed by a resolution of it (EvalSymlinks) and an open
// by path: a swap of a directory on the way between those led the
// plaintext elsewhere.
type unsealTo struct {
	w     *permWalk
	given string     // --to made absolute, for errors
	todo  []string   // the names left to resolve
	names []string   // the real path held, one name each
	open  []*os.File // open[0] is "/", open[i] the directory names[:i]
	hops  int        // links followed, and directories found made by another
}

// unsealToHook, when set, is called with "opened" once --to is resolved
// as far as it exists, "missing" with a directory about to be made, and
// "made" with one just made, before it is opened. Tests set it to change
// the path meanwhile, as another user could.
var unsealToHook func(event, path string)

// startUnsealTo resolves --to (to) as far as it exists, judging and
// holding each directory on the way; finish makes the rest. A refusal
// names --to and the problem, in checkSecret's words (exit 2).
func startUnsealTo(to string) (*unsealTo, error) {
	abs, err := filepath.Abs(to)
	if err != nil {
		return nil, badInput(fmt.Errorf("--to %s: %w", to, err))
	}
	t := &unsealTo{w: newPermWalk(), given: abs, todo: splitPath(abs)}
	root, err := os.OpenFile("/", os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, t.fail(err)
	}
	t.open = []*os.File{root}
	if err := t.judgeHeld(); err != nil {
		t.close()
		return nil, err
	}
	if err := t.walk(false); err != nil {
		t.close()
		return nil, err
	}
	if unsealToHook != nil {
		unsealToHook("opened", t.path())
	}
	return t, nil
}

// finish makes the directories of --to that are missing, each through
// the one above it (mkdirat), opens each without following a link, makes
// it 0700 and judges it as an existing --to is, and returns --to's directory, held.
// A directory found made (EEXIST: another user may make one in a sticky
// directory such as /tmp between the look and the mkdir) is judged as
// one that was there. The caller closes what it returns; close closes
// the rest.
func (t *unsealTo) finish() (*os.File, error) {
	if err := t.walk(true); err != nil {
		return nil, err
	}
	last := len(t.open) - 1
	d := t.open[last]
	t.open = t.open[:last]
	// Its ancestors are read no more: not held through the unseal.
	t.close()
	return d, nil
}

// close closes the directories held.
func (t *unsealTo) close() {
	for _, d := range t.open {
		d.Close()
	}
	t.open = nil
}

func (t *unsealTo) path() string { return "/" + filepath.Join(t.names...) }

func (t *unsealTo) held() *os.File { return t.open[len(t.open)-1] }

func (t *unsealTo) fail(err error) error {
	return badInput(fmt.Errorf("--to %s: %w", t.given, err))
}

// refuse is checkSecret's refusal of --to, in its words.
func (t *unsealTo) refuse(bad string) error {
	return badInput(fmt.Errorf("--to %s: %s; refused: the dataset's plaintext would be written where another user may lead it", t.given, bad))
}

// judgeHeld judges the directory last opened, by its open handle.
func (t *unsealTo) judgeHeld() error {
	fi, err := t.held().Stat()
	if err != nil {
		return t.fail(err)
	}
	if bad := t.w.judge(t.path(), fi); bad != "" {
		return t.refuse(bad)
	}
	return nil
}

// push holds d, the directory name below the one held.
func (t *unsealTo) push(name string, d *os.File) {
	t.names = append(t.names, name)
	t.open = append(t.open, d)
}

// pop closes the directories held below the first n.
func (t *unsealTo) pop(n int) {
	for len(t.open) > n {
		last := len(t.open) - 1
		t.open[last].Close()
		t.open, t.names = t.open[:last], t.names[:last-1]
	}
}

// walk resolves the names left: it stops at the first missing one unless
// mayMake is set, when it makes it.
func (t *unsealTo) walk(mayMake bool) error {
	for len(t.todo) > 0 {
		name := t.todo[0]
		switch name {
		case "", ".":
			t.todo = t.todo[1:]
			continue
		case "..":
			t.todo = t.todo[1:]
			t.pop(max(1, len(t.open)-1))
			continue
		}
		parent := int(t.held().Fd())
		next := filepath.Join(t.path(), name)
		var st unix.Stat_t
		err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT {
			if !mayMake {
				return nil
			}
			if err := t.makeDir(name, next); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return t.fail(&fs.PathError{Op: "lstat", Path: next, Err: err})
		}
		t.todo = t.todo[1:]
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if err := t.follow(parent, name, next, &st); err != nil {
				return err
			}
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return t.fail(fmt.Errorf("%s is not a directory", next))
		}
		if err := t.enter(name, next); err != nil {
			return err
		}
		if err := t.judgeHeld(); err != nil {
			return err
		}
	}
	return nil
}

// follow judges the link name (whoever owns it may point it elsewhere;
// who may replace it is its directory's matter, judged already) and puts
// its target's names in front of those left.
func (t *unsealTo) follow(parent int, name, next string, st *unix.Stat_t) error {
	if bad := t.w.judgeUID(next, int(st.Uid)); bad != "" {
		return t.refuse(bad)
	}
	if t.hops++; t.hops > maxLinkHops {
		return t.fail(fmt.Errorf("more than %d links on its path", maxLinkHops))
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(parent, name, buf)
	if err != nil {
		return t.fail(&fs.PathError{Op: "readlink", Path: next, Err: err})
	}
	target := string(buf[:n])
	if filepath.IsAbs(target) {
		t.pop(1)
	}
	t.todo = append(splitPath(target), t.todo...)
	return nil
}

// enter opens the directory name below the one held, refusing a link put
// there since the look (O_NOFOLLOW) and anything but a directory, a FIFO
// included (O_DIRECTORY), and holds it.
func (t *unsealTo) enter(name, next string) error {
	fd, err := unix.Openat(int(t.held().Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return t.fail(&fs.PathError{Op: "open", Path: next, Err: err})
	}
	t.push(name, os.NewFile(uintptr(fd), next))
	return nil
}

// makeDir makes the directory name (next) below the one held, 0700. Made
// by this command, it is opened, made private (madeJudged) and judged as
// an existing --to is, and held, its entry synced in its parent; found
// made already (EEXIST), its name is left to resolve again, as one that
// was there.
func (t *unsealTo) makeDir(name, next string) error {
	if unsealToHook != nil {
		unsealToHook("missing", next)
	}
	err := unix.Mkdirat(int(t.held().Fd()), name, 0o700)
	if err == unix.EEXIST {
		// Bounded with the links: made and removed again and again, it
		// would hold the unseal for good.
		if t.hops++; t.hops > maxLinkHops {
			return t.fail(fmt.Errorf("%s was made and removed by another meanwhile more than %d times", next, maxLinkHops))
		}
		return nil
	}
	if err != nil {
		return t.fail(&fs.PathError{Op: "mkdir", Path: next, Err: err})
	}
	if unsealToHook != nil {
		unsealToHook("made", next)
	}
	if err := t.held().Sync(); err != nil {
		return t.fail(err)
	}
	t.todo = t.todo[1:]
	if err := t.enter(name, next); err != nil {
		return err
	}
	return t.madeJudged(next)
}

// madeJudged makes the directory just made and held (next) 0700 through
// its descriptor, then judges it as an existing --to is. A filesystem may
// give a new directory a mode or owner of its own whatever mkdir asked
// (vfat or exfat with dmask=022, CIFS's dir_mode, some FUSE, NFS with
// all_squash): requiring exactly 0700 and this user refused, as replaced
// by another user, a directory that passes when made by hand. Only this
// user's directory is chmodded (a chmod of another user's, which only
// root could do, would change what is theirs), and a chmod that fails or
// changes nothing (vfat) is no refusal by itself: the judge, on the mode
// and owner read after it, refuses what another user owns or may write.
func (t *unsealTo) madeJudged(next string) error {
	d := t.held()
	fi, err := d.Stat()
	if err != nil {
		return t.fail(err)
	}
	if ownerOf(fi) == t.w.uid && fi.Mode().Perm() != 0o700 {
		// Best effort, as said above; the mode is read again below.
		_ = unix.Fchmod(int(d.Fd()), 0o700)
		if fi, err = d.Stat(); err != nil {
			return t.fail(err)
		}
	}
	if bad := t.w.judge(next, fi); bad != "" {
		return t.refuse(fmt.Sprintf("%s, made by this command, is owned by uid %d with mode %04o: another user may have replaced it: %s", next, ownerOf(fi), fi.Mode().Perm(), bad))
	}
	return nil
}
