package dataset

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

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
