// Package plainfile reads a small file that a user named (a flag, an
// environment variable, a configuration field) without trusting what the
// name points at.
//
// os.ReadFile on such a name hangs on a named pipe that nobody writes (the
// open itself waits for a writer) and reads /dev/zero or /dev/urandom
// until memory runs out; a size checked with os.Stat first does not help,
// since a device or a pipe says it holds 0 bytes. Read opens without
// waiting, refuses anything but a regular file, and reads at most its
// bound. ReadNamed, for a file a person names on the command line, also
// reads a pipe or a character device (bash's <(…) gives /dev/fd/N, a
// pipe; -f /dev/stdin), within the same bound.
package plainfile

import (
	"bytes"
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
// errors name the path. It is for files that someone other than the
// person running the command may have put in place (the state directory,
// a tokens file, a file a server reads again on a reload), where a FIFO
// planted there must not be read as the file.
func Read(path string, max int64) ([]byte, error) {
	return read(path, max, streamRefused)
}

// ReadStat is Read that also returns what the file read is (its mode,
// owner and size as it was opened): a check of the file (that only its
// owner may read it) made on the name afterwards may see another file,
// put there in between by whoever can write its directory.
func ReadStat(path string, max int64) ([]byte, os.FileInfo, error) {
	return readStat(path, max, streamRefused)
}

// ReadNamed is Read for a file the person running the command named
// (on its command line, or in their own environment): a pipe, a FIFO or
// a character device is read too, up to max bytes, as a regular file is,
// so that `-f <(envsubst < job.yaml)`, `-f /dev/stdin` and
// `--age-identity <(op read …)` work. A FIFO that no one has open for
// writing reads as empty rather than waiting for a writer; one with a
// writer is read until the writer closes it. A directory, a socket or a
// block device is refused (ErrNotRegular).
func ReadNamed(path string, max int64) ([]byte, error) {
	return read(path, max, streamGrown)
}

// How readStat reads a stream: not at all, or into a buffer grown as it
// fills, up to the bound.
const (
	streamRefused = iota
	streamGrown
)

func read(path string, max int64, streams int) ([]byte, error) {
	data, _, err := readStat(path, max, streams)
	return data, err
}

func readStat(path string, max int64, streams int) ([]byte, os.FileInfo, error) {
	// O_NONBLOCK makes the open of a FIFO return at once rather than
	// wait for a writer; a regular file ignores it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return readOpened(f, path, max, streams)
}

// ReadStatFile is ReadStat of a file the caller opened (f, named path in
// errors), for one opened with care ReadStat's plain open does not take
// (openat relative to a directory judged first, O_NOFOLLOW). f is to be
// opened with O_NONBLOCK, so that a FIFO put there does not hang the
// open; it is refused here as ReadStat refuses one. The caller closes f.
func ReadStatFile(f *os.File, path string, max int64) ([]byte, os.FileInfo, error) {
	return readOpened(f, path, max, streamRefused)
}

func readOpened(f *os.File, path string, max int64, streams int) ([]byte, os.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	m := fi.Mode()
	switch {
	case m.IsRegular():
		if fi.Size() > max {
			return nil, nil, fmt.Errorf("%s: %w: %d bytes, over the %d-byte limit", path, ErrTooLarge, fi.Size(), max)
		}
	case streams != streamRefused && (m&os.ModeNamedPipe != 0 || m&os.ModeCharDevice != 0):
		// Reads in non-blocking mode would fail at once on a pipe whose
		// writer has not written yet (or on a terminal), so the
		// descriptor goes back to blocking for the read: a pipe with a
		// live writer is read to its end, and one with no writer reads
		// as empty. (Fd puts the file in blocking mode too; the call
		// below says so where it matters.)
		if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	default:
		return nil, nil, fmt.Errorf("%s: %w (%s); refused", path, ErrNotRegular, Kind(m))
	}
	// A regular file may grow after Stat: read one byte past the bound to
	// tell. Its buffer is its size as Stat saw it (and room for the byte
	// past): a file of tens of MB is read into one allocation, not into
	// each of the growing buffers a read of unknown length makes (which
	// came to 2.4 times the bound at the bound).
	if m.IsRegular() {
		var buf bytes.Buffer
		buf.Grow(int(fi.Size()) + bytes.MinRead)
		if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if int64(buf.Len()) > max {
			return nil, nil, fmt.Errorf("%s: %w: over the %d-byte limit", path, ErrTooLarge, max)
		}
		return buf.Bytes(), fi, nil
	}
	data, over, err := readStream(f, max)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if over {
		return nil, nil, fmt.Errorf("%s: %w: over the %d-byte limit", path, ErrTooLarge, max)
	}
	return data, fi, nil
}

// streamFirstBuffer is the first buffer a stream is read into.
const streamFirstBuffer = 4 << 10

// readStream reads r, a pipe or a device, which says nothing of its
// length, to its end, or says it is over bound bytes. Its buffer starts
// small and doubles as it fills, never past the bound: a short stream costs
// about its length, where a buffer of the bound made at once reserved the
// bound in the heap (512 MiB for a screening list of tens of MB). A full
// buffer is grown only once a byte more has been read, so that a stream
// that ends at a buffer's size (the bound, say) is not copied into one
// twice as large to find its end, and one over the bound is told by that
// byte. A stream at the bound costs about twice the bound in all, and
// holds at most one and a half times it at once.
func readStream(r io.Reader, bound int64) (data []byte, over bool, err error) {
	buf := make([]byte, 0, min(streamFirstBuffer, max(bound, 0)))
	var next [1]byte
	for {
		if len(buf) == cap(buf) {
			n, err := io.ReadFull(r, next[:])
			if n == 0 {
				if errors.Is(err, io.EOF) {
					return buf, false, nil
				}
				return nil, false, err
			}
			if int64(len(buf)) >= bound {
				return nil, true, nil
			}
			grown := make([]byte, len(buf), min(max(2*int64(cap(buf)), 1), bound))
			copy(grown, buf)
			buf = append(grown, next[0])
			continue
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf[:len(buf):len(buf)], false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
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

// ForeignOwner says why the file fi describes is not to be trusted by
// the user uid ("" when it is): it is owned by a user other than uid and
// root. Its mode alone says nothing of that: a user who can write a
// directory (one made by someone else first, a group-writable one) may put
// there a 0600 file of their own, holding a key or naming a server they
// chose, which root reads whatever its owner. ssh refuses such a file in
// the same way.
func ForeignOwner(fi os.FileInfo, uid int) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if int(st.Uid) == uid || st.Uid == 0 {
		return ""
	}
	return fmt.Sprintf("owned by uid %d, not by this user (uid %d) or root", st.Uid, uid)
}
