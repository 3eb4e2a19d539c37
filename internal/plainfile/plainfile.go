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

// ReadNamedAtOnce is ReadNamed that reads a pipe or a device into one
// buffer of max bytes and the byte past it, made at once. A stream says
// nothing of its length, and read into a buffer grown as it fills, one
// at a bound of hundreds of MB holds about 2.4 times the bound at once
// (the buffers outgrown with the one grown into); read this way, it
// holds the bound. The buffer's pages a short stream never fills are
// never written, but count in the process's heap, so this is for the
// few files whose bound is large and whose size is usually near it (a
// screening list), not for a small file with a generous bound.
func ReadNamedAtOnce(path string, max int64) ([]byte, error) {
	return read(path, max, streamAtOnce)
}

// How readStat reads a stream: not at all, into a buffer grown as it
// fills, or into one of the bound made at once.
const (
	streamRefused = iota
	streamGrown
	streamAtOnce
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
	// A regular file may grow after Stat, and a pipe or a device says
	// nothing of its size: read one byte past the bound to tell.
	// A regular file's buffer is its size as Stat saw it (and room for
	// the byte past): a file of tens of MB is read into one allocation,
	// not into each of the growing buffers a read of unknown length makes
	// (which came to 2.4 times the bound at the bound). A stream says
	// nothing of its length: io.ReadAll grows its buffer by a quarter at a
	// time, where a doubling buffer would take twice the bound's worth.
	var data []byte
	switch {
	case m.IsRegular():
		var buf bytes.Buffer
		buf.Grow(int(fi.Size()) + bytes.MinRead)
		if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		data = buf.Bytes()
	case streams == streamAtOnce:
		buf := make([]byte, max+1)
		n, err := io.ReadFull(f, buf)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		data = buf[:n:n]
	default:
		if data, err = io.ReadAll(io.LimitReader(f, max+1)); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if int64(len(data)) > max {
		return nil, nil, fmt.Errorf("%s: %w: over the %d-byte limit", path, ErrTooLarge, max)
	}
	return data, fi, nil
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
