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
	open string // path to open (the symlink's target when rel is a link)
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

// walkRoot lists the regular files under root in path order. A symlink is
// followed only when its target is a regular file inside root; one that
// points outside is an error wrapping ErrEscape. Devices, sockets, pipes and
// symlinks to directories are refused.
func walkRoot(root string) (string, []srcFile, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", nil, fmt.Errorf("--from %s: %w", root, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", nil, err
	}
	if !st.IsDir() {
		return "", nil, fmt.Errorf("--from %s: not a directory", root)
	}
	var files []srcFile
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == real {
			return nil
		}
		rel, err := filepath.Rel(real, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
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
			files = append(files, srcFile{rel: rel, open: p, mode: info.Mode().Perm(), size: info.Size(), dev: dev, ino: ino})
			return nil
		case t&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			inside, err := filepath.Rel(real, target)
			if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) || filepath.IsAbs(inside) {
				return fmt.Errorf("%s: symlink to %s: %w", rel, target, ErrEscape)
			}
			ti, err := os.Stat(target)
			if err != nil {
				return err
			}
			if !ti.Mode().IsRegular() {
				return fmt.Errorf("%s: symlink to a non-regular file (%s); only links to files inside the root are followed", rel, ti.Mode().Type())
			}
			dev, ino := fileID(ti)
			files = append(files, srcFile{rel: rel, open: target, mode: ti.Mode().Perm(), size: ti.Size(), dev: dev, ino: ino})
			return nil
		default:
			return fmt.Errorf("%s: not a regular file or directory (%s)", rel, t)
		}
	})
	if err != nil {
		return "", nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return real, files, nil
}
