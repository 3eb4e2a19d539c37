package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// LogHeadSize is the most of a job's output a LogInfo's Head holds.
const LogHeadSize = 256

// LogInfo describes a job's output as one opening found it.
type LogInfo struct {
	// Size is the output's size when opened; -1 when the backend cannot
	// tell it without reading the output whole (the reader then reads to
	// its end).
	Size int64
	// ID names this output, not its content: it stays the same while the
	// output grows and changes when the output is replaced by another (a
	// file rotated or written anew, a pod's container restarted). It is a
	// list of entries, each ended by ';', one for each piece the output
	// is made of in order (a file; a job's pods): an output that only
	// gained pieces at its end (a job's next pod started) is the same
	// output grown. Empty when the backend cannot tell.
	ID string
	// Head is the output's first bytes (at most LogHeadSize): an output
	// whose head differs from what an earlier opening found was replaced,
	// even under the same ID (a file truncated and written again).
	Head []byte
}

// Replaced reports whether the output now described by cur is another
// than the one prev described: a different ID, or heads that disagree
// where both have bytes. An output only shortened (a cancelled job's,
// emptied) is not replaced: what was read of it stays read.
func (prev LogInfo) Replaced(cur LogInfo) bool {
	if prev.ID != "" && cur.ID != "" && !strings.HasPrefix(cur.ID, prev.ID) {
		return true
	}
	n := min(len(prev.Head), len(cur.Head))
	return string(prev.Head[:n]) != string(cur.Head[:n])
}

// OffsetLogger is implemented by backends that can open a job's output at
// a byte offset without reading what comes before it, and say what output
// they opened. Use LogsAt, which falls back to Logs for the others.
type OffsetLogger interface {
	// LogsAt returns the job's output from byte off on (nothing when off
	// is at or past its end), up to info.Size when that is known.
	LogsAt(ctx context.Context, handle string, off int64) (rc io.ReadCloser, info LogInfo, err error)
}

// LogsAt opens a job's output at byte off: through the backend's LogsAt
// when it has one, else through Logs, reading and dropping the first off
// bytes (the Size it reports is then -1 and the ID empty; Head is taken
// from what was dropped, when there was any).
func LogsAt(ctx context.Context, b Backend, handle string, off int64) (io.ReadCloser, LogInfo, error) {
	if off < 0 {
		return nil, LogInfo{}, fmt.Errorf("log offset %d: want 0 or more", off)
	}
	if ol, ok := b.(OffsetLogger); ok {
		return ol.LogsAt(ctx, handle, off)
	}
	rc, err := b.Logs(ctx, handle)
	if err != nil {
		return nil, LogInfo{}, err
	}
	info := LogInfo{Size: -1}
	head := &headWriter{}
	if _, err := io.CopyN(io.MultiWriter(head, io.Discard), rc, off); err != nil && err != io.EOF {
		rc.Close()
		return nil, LogInfo{}, err
	}
	info.Head = head.b
	return rc, info, nil
}

type headWriter struct{ b []byte }

func (h *headWriter) Write(p []byte) (int, error) {
	if room := LogHeadSize - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// FileLogsAt is LogsAt of an output kept in a file the backend has opened
// (f, which it hands over): its size and identity (device and inode) are
// read from the open file, so that a file renamed or replaced after the
// opening is never mistaken for it, and the reader reads from off up to
// the size found, no further.
func FileLogsAt(f *os.File, off int64) (io.ReadCloser, LogInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, LogInfo{}, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, LogInfo{}, fmt.Errorf("%s: %w (%s)", f.Name(), ErrNotPlainFile, fi.Mode().Type())
	}
	info := LogInfo{Size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// The birth of the inode is not kept by every file system; a
		// hash of the head (below) tells a file truncated and written
		// again, or an inode reused after a file was removed.
		info.ID = fmt.Sprintf("file %d:%d;", st.Dev, st.Ino)
	}
	head := make([]byte, min(info.Size, LogHeadSize))
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, LogInfo{}, err
	}
	info.Head = head[:n]
	off = min(off, info.Size)
	return &fileLog{f: f, r: io.NewSectionReader(f, off, info.Size-off), at: off, head: info.Head, again: make([]byte, len(info.Head))}, info, nil
}

// ErrLogReplaced is what a reader of a job's output returns when it finds
// the output it read replaced while it read it (a file truncated and
// written anew in place): the bytes it read may be the new output's, at
// the old one's offsets, and are not given.
var ErrLogReplaced = errors.New("the job's output was replaced while it was read")

// fileLog reads an output file FileLogsAt opened. A file truncated in
// place (the same file, so its identity does not tell) between the
// opening and a read, then written again, gives that read the new file's
// bytes at the old one's offsets: after each read the file must still
// reach past what was read and start as it did, or the read is refused.
type fileLog struct {
	f     *os.File
	r     io.Reader
	at    int64  // the file's offset the next read starts at
	head  []byte // the file's first bytes when opened
	again []byte // room for them, read again
}

func (l *fileLog) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	if n > 0 {
		fi, serr := l.f.Stat()
		if serr != nil {
			return 0, serr
		}
		if fi.Size() < l.at+int64(n) {
			return 0, ErrLogReplaced
		}
		k, rerr := l.f.ReadAt(l.again, 0)
		if rerr != nil && rerr != io.EOF {
			return 0, rerr
		}
		if !bytes.Equal(l.again[:k], l.head) {
			return 0, ErrLogReplaced
		}
		l.at += int64(n)
	}
	return n, err
}

func (l *fileLog) Close() error { return l.f.Close() }
