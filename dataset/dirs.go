package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// openDirNoFollow opens the directory dir to read its entries, named by
// its clean path (so that its errors, and those of reading it, name
// neither "DIR/." nor "DIR/./NAME"). O_DIRECTORY: a FIFO put in its place
// was opened to read, waiting for a writer, and its caller with it, for
// good; anything but a directory now fails at once with ENOTDIR, naming
// it. O_NOFOLLOW: a link put in its place (by whoever may write the
// directory above) led the caller to read, and then write, another
// directory of that person's choosing; it is refused. A link above the
// last name (a state directory kept elsewhere) is followed as before.
func openDirNoFollow(dir string) (*os.File, error) {
	dir = filepath.Clean(dir)
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil && isLink(dir) {
		return nil, linkRefused(dir, err)
	}
	return f, err
}

// linkRefused is the error of an open that refused the link at p (err,
// from O_NOFOLLOW): Linux says ENOTDIR of a link to a directory, ELOOP of
// one to anything else, and both read as a name that is no link.
func linkRefused(p string, err error) error {
	return fmt.Errorf("%s is a symbolic link, not a directory (refused: it may lead anywhere): %w", p, err)
}

// isLink reports whether p names a symbolic link, for an error's words
// only: what the open refused is what counts.
func isLink(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// cleanPathErr is err with the paths of the first fs.PathError and
// os.LinkError it wraps cleaned (filepath.Clean). A file store's
// operations go through an os.Root opened as "DIR/." (openRoot), and the
// files opened through it are named "DIR/./NAME": their errors (a write
// that found the disk full, a directory that could not be read) named the
// store's files by paths no one wrote. Such errors are made for each call
// and belong to it, so they are cleaned in place.
func cleanPathErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Path = filepath.Clean(pe.Path)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		le.Old, le.New = filepath.Clean(le.Old), filepath.Clean(le.New)
	}
	return err
}
