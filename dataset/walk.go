package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// srcFile is one regular file found under a dataset root.
type srcFile struct {
	rel  string // slash path inside the root, as stored in the manifest
	open string // path to open within the root (os.Root), as listed
	link bool   // rel is a link to a file inside the root, followed there
	mode fs.FileMode
	size int64 // at walk time; the manifest records what was read
	// dev and ino identify the file the walk judged (the link's target
	// for a link): the one Add opens must be it (openListed).
	dev, ino uint64
}

// fileID is the device and inode of the file fi describes.
func fileID(fi fs.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}

// ErrEscape means a path would leave the dataset root.
var ErrEscape = errors.New("path escapes the dataset root")

// walkVisited, where set (by a test), is told of each entry the walk
// visits, in order: where a tree's writer may change what comes after.
var walkVisited func(rel string)

// walkRoot lists the regular files under root in path order, and returns
// the root opened (os.Root), which the caller opens them through and
// closes. A symlink is followed only when its target is a regular file
// inside root; one that points outside is an error wrapping ErrEscape.
// Devices, sockets, pipes and symlinks to directories are refused.
//
// The tree is read through the opened root, which resolves no part of a
// path outside it: walked by its absolute names, a directory swapped for a
// link to one outside (by whoever may write in the tree, between the
// listing of its parent and its own) was listed, and its files, judged as
// it was read, were sealed from outside the root.
func walkRoot(root string) (string, *os.Root, []srcFile, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", nil, nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", nil, nil, fmt.Errorf("--from %s: %w", root, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", nil, nil, err
	}
	if !st.IsDir() {
		return "", nil, nil, fmt.Errorf("--from %s: not a directory", root)
	}
	rt, err := os.OpenRoot(real)
	if err != nil {
		return "", nil, nil, fmt.Errorf("--from %s: %w", root, err)
	}
	var files []srcFile
	err = fs.WalkDir(rt.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		p := filepath.Join(real, filepath.FromSlash(rel))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "escapes") {
				return fmt.Errorf("%s: %w (a part of it changed while the tree was read)", p, err)
			}
			return err
		}
		if rel == "." {
			return nil
		}
		if walkVisited != nil {
			walkVisited(rel)
		}
		if err := CheckPath(rel); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			dev, ino := fileID(info)
			files = append(files, srcFile{rel: rel, open: rel, mode: info.Mode().Perm(), size: info.Size(), dev: dev, ino: ino})
			return nil
		case t&fs.ModeSymlink != 0:
			// Followed through the root: a target outside it, or a link
			// on the way out of it, is refused by the root itself.
			ti, err := rt.Stat(filepath.FromSlash(rel))
			if err != nil {
				if target, terr := filepath.EvalSymlinks(p); terr == nil {
					if inside, rerr := filepath.Rel(real, target); rerr != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) || filepath.IsAbs(inside) {
						return fmt.Errorf("%s: symlink to %s: %w", rel, target, ErrEscape)
					}
				}
				return fmt.Errorf("%s: %w", p, err)
			}
			if !ti.Mode().IsRegular() {
				return fmt.Errorf("%s: symlink to a non-regular file (%s); only links to files inside the root are followed", rel, ti.Mode().Type())
			}
			dev, ino := fileID(ti)
			files = append(files, srcFile{rel: rel, open: rel, link: true, mode: ti.Mode().Perm(), size: ti.Size(), dev: dev, ino: ino})
			return nil
		default:
			return fmt.Errorf("%s: not a regular file or directory (%s)", rel, t)
		}
	})
	if err != nil {
		rt.Close()
		return "", nil, nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return real, rt, files, nil
}
