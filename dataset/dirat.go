package dataset

import (
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/internal/atomicfile"
)

// The functions here work through a directory held open: every file and
// directory an unseal writes, renames or removes is named relative to the
// handle of the directory it is in, and each directory is opened from the
// one above it without following a link (openBelow). A directory on the
// way swapped for a link after the unseal looked (by whoever may write the
// one above it) makes the unseal fail, or leaves it writing into the
// directory it opened before the swap; it never leads the plaintext
// elsewhere, as opening paths anew for each file did.

// openBelow opens the directory name (one name, no "/") in the directory
// open at parent, to read and to hold: O_NOFOLLOW refuses a link put in
// its place, O_DIRECTORY fails at once on a FIFO (which an open to read
// would wait on, for good) or any other non-directory. The file is named
// by its clean path, for errors.
func openBelow(parent *os.File, name string) (*os.File, error) {
	p := filepath.Join(parent.Name(), name)
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		var st unix.Stat_t
		if (err == unix.ELOOP || err == unix.ENOTDIR) && unix.Fstatat(int(parent.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, linkRefused(p, err)
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// makeBelow makes the directory name (0700) in the directory open at
// parent, unless it is there, and opens it (openBelow).
func makeBelow(parent *os.File, name string) (*os.File, error) {
	if err := unix.Mkdirat(int(parent.Fd()), name, 0o700); err != nil && err != unix.EEXIST {
		return nil, &fs.PathError{Op: "mkdir", Path: filepath.Join(parent.Name(), name), Err: err}
	}
	return openBelow(parent, name)
}

// readDirAt lists the directory open at d, read through a handle of its
// own ("." opened again), so that d's offset is never moved and it may be
// listed again.
func readDirAt(d *os.File) ([]os.DirEntry, error) {
	fd, err := unix.Openat(int(d.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.Name(), Err: err}
	}
	f := os.NewFile(uintptr(fd), d.Name())
	defer f.Close()
	return f.ReadDir(-1)
}

// walkAt calls fn for each entry below the directory open at d (not d
// itself), with its slash-separated path below d and the directory it is
// in held open, each directory before its entries, until fn's first
// error, which it returns. Each directory is opened from the one above
// (openBelow): a link or a FIFO put in place of one listed a moment
// before fails the walk at once, naming it. A link is an entry, never
// followed.
func walkAt(d *os.File, prefix string, fn func(rel string, dir *os.File, e fs.DirEntry) error) error {
	ents, err := readDirAt(d)
	if err != nil {
		return err
	}
	for _, e := range ents {
		rel := path.Join(prefix, e.Name())
		if err := fn(rel, d, e); err != nil {
			return err
		}
		if !e.IsDir() {
			continue
		}
		sub, err := openBelow(d, e.Name())
		if err != nil {
			return err
		}
		err = walkAt(sub, rel, fn)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// syncParentOf fsyncs the directory above the one open at d (its ".."),
// so that d's own entry there is durable.
func syncParentOf(d *os.File) error {
	up, err := unix.Openat(int(d.Fd()), "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: filepath.Dir(d.Name()), Err: err}
	}
	f := os.NewFile(uintptr(up), filepath.Dir(d.Name()))
	defer f.Close()
	return atomicfile.SyncOpenDir(f)
}

// createTempBelow makes a temporary file for base in the directory open
// at d, named "." + base + ".<random>.tmp" as os.CreateTemp named it
// (resumable knows the name), exclusively and without following a link,
// so that nothing already there (a link, a FIFO) is opened. It returns
// the file and its name in d.
func createTempBelow(d *os.File, base string) (*os.File, string, error) {
	for range 10000 {
		tmp := "." + base + "." + strconv.FormatUint(uint64(rand.Uint32()), 10) + ".tmp"
		fd, err := unix.Openat(int(d.Fd()), tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return nil, "", &fs.PathError{Op: "createtemp", Path: filepath.Join(d.Name(), tmp), Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(d.Name(), tmp)), tmp, nil
	}
	return nil, "", &fs.PathError{Op: "createtemp", Path: filepath.Join(d.Name(), "."+base+".*.tmp"), Err: fs.ErrExist}
}

// dirChain holds open the directories from an unseal's directory (top)
// down to the one its last file went into, each made and opened from the
// one above (makeBelow). The manifest's paths are sorted, so the files of
// one directory come together: each directory is entered once, and synced
// as it is left, after every file renamed into it.
type dirChain struct {
	top   *os.File
	names []string   // the path below top, one name each
	open  []*os.File // open[i] is the directory names[:i+1]
}

// enter returns the directory rel (slash-separated, "." for top), made
// where missing; the directories left on the way are synced and closed.
func (c *dirChain) enter(rel string) (*os.File, error) {
	var parts []string
	if rel != "." {
		parts = strings.Split(rel, "/")
	}
	keep := 0
	for keep < len(c.names) && keep < len(parts) && c.names[keep] == parts[keep] {
		keep++
	}
	if err := c.leaveTo(keep); err != nil {
		return nil, err
	}
	for _, name := range parts[keep:] {
		d, err := makeBelow(c.cur(), name)
		if err != nil {
			return nil, err
		}
		c.names = append(c.names, name)
		c.open = append(c.open, d)
	}
	return c.cur(), nil
}

func (c *dirChain) cur() *os.File {
	if len(c.open) == 0 {
		return c.top
	}
	return c.open[len(c.open)-1]
}

// leaveTo syncs and closes the directories held below the first n, the
// deepest first.
func (c *dirChain) leaveTo(n int) error {
	for len(c.open) > n {
		last := len(c.open) - 1
		d := c.open[last]
		c.open, c.names = c.open[:last], c.names[:last]
		err := atomicfile.SyncOpenDir(d)
		d.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// close closes what the chain holds, syncing nothing: after an error.
func (c *dirChain) close() {
	for _, d := range c.open {
		d.Close()
	}
	c.open, c.names = nil, nil
}
