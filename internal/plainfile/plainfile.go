// Package plainfile reads a small file that a user named (a flag, an
// environment variable, a configuration field) without trusting what the
// name points at.
//
// os.ReadFile on such a name hangs on a named pipe that nobody writes (the
// open itself waits for a writer) and reads /dev/zero or /dev/urandom
// until memory runs out; a size checked with os.Stat first does not help,
// since a device or a pipe says it holds 0 bytes. Read opens without
// waiting, refuses anything but a regular file, and reads at most its
// bound.
package plainfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrNotRegular is the error of a name that is not a regular file (a FIFO,
// a device, a socket, a directory).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is the error of a file over the bound it was read with.
var ErrTooLarge = errors.New("file too large")

// Read returns the contents of the regular file at path (a link to one is
// followed), refusing anything else and any file over max bytes. Its
// errors name the path.
func Read(path string, max int64) ([]byte, error) {
	// O_NONBLOCK makes the open of a FIFO return at once rather than
	// wait for a writer; a regular file ignores it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s); refused", path, ErrNotRegular, Kind(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w: %d bytes, over the %d-byte limit", path, ErrTooLarge, fi.Size(), max)
	}
	// The file may grow after Stat: read one byte past the bound to tell.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: %w: over the %d-byte limit", path, ErrTooLarge, max)
	}
	return data, nil
}

// Kind says what a file of mode m is, for errors.
func Kind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a link"
	case m.IsRegular():
		return "a regular file"
	}
	return "an irregular file"
}
