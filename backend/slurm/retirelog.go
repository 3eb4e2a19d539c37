package slurm

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
)

// A retire (records.retire) is told, once the backend that did it has
// restarted or by another backend process on the same state directory,
// by more than ended/NAME: a workload, as the cluster user, can remove
// that record, or put an older signed one of the same name in its place,
// and then put back a kept copy of handles/NAME, which a capacity poll
// counted as a live job's. Each retire is also appended to a log outside
// the state directory, beside the record key file the backend was given
// (the server's own settings, RecordKeyFile; retireLogParent), one line a
// retire, each signed with the record key: NAME KEY MAC. The log is read
// at start, and read on (what other processes appended) when a record is
// not known retired.
//
// A line that does not verify (forged, or torn by a crash mid-append) is
// skipped; an append first ends a torn last line, so the retire it
// writes stands on a line of its own. Appends and compaction hold an
// exclusive lock on the log. Past 2*maxSeen lines the log is rewritten
// (temporary file, fsync, rename) with the latest maxSeen retires, those
// a backend remembers in memory.

// retireLogDir is the directory, beside the record key, that holds the
// logs of retires of the state directories signed with that key, one a
// state directory (retireLogName).
const retireLogDir = "slurm-retired"

// maxRetireLine bounds a line of the retire log (a job id or ID:KEY, a
// key and a MAC); a longer one is skipped.
const maxRetireLine = 1024

// maxRetireLogBytes bounds what a start reads of a retire log: 2*maxSeen
// lines of up to maxRetireLine, at the default bound.
var maxRetireLogBytes int64 = 2 << 16 * maxRetireLine

// retireLogCompacted, when set (by tests), is called once a compaction
// is in place.
var retireLogCompacted func()

// retireLog is a backend's log of retires (see above).
type retireLog struct {
	path   string
	dir    string // the state directory whose retires it holds
	key    []byte
	seen   *seenSet // the records' retiredSeen, which the log fills
	logger *slog.Logger

	mu     sync.Mutex
	ino    uint64 // the file read so far (its inode), and how far
	off    int64
	lines  int // lines in the file, as far as this backend knows
	warned bool
	h      hash.Hash // the MAC that parse reuses
}

// retireLogParent is the directory that holds the log of stateDir's
// retires (in retireLogDir there): beside the key file the backend was
// given (RecordKeyFile, the server's own settings), out of the reach of
// the site's workloads, which write the state directory. A key file in
// the state directory is refused, as is a key kept out of it (the site's
// backend.recordKeyFile, RecordKey) with no key file to keep the log
// beside: the log went to the state directory, where a workload, as the
// cluster user, could remove it, and a retired job's record it had kept
// a copy of was counted as live again after a restart, undoing what the
// key protects. A backend given no key at all keeps its key in the state
// directory, where the workloads read it and can sign any record with
// it: its records, and so its log, beside the key, tell this directory's
// from another's only.
func retireLogParent(o options, site catalog.BackendSpec, stateDir string) (string, error) {
	const why = "its log of retires would lie in the state directory %s, which the site's nodes write: a workload could remove it and have a retired job's record, put back, counted as live"
	switch {
	case o.keyFile != "":
		path, err := filepath.Abs(o.keyFile)
		if err != nil {
			return "", fmt.Errorf("record key file %s: %w", o.keyFile, err)
		}
		dir := filepath.Dir(path)
		if within(dir, stateDir) || linksWithin(dir, stateDir) {
			return "", fmt.Errorf("record key file %s (RecordKeyFile): inside the state directory; "+why+"; keep the key in the server's own settings", o.keyFile, stateDir)
		}
		return dir, nil
	case site.RecordKeyFile != "":
		return "", fmt.Errorf("backend.recordKeyFile %s: set, but the backend was given no key file of the server's own settings (RecordKeyFile) to keep its log of retires beside; "+why+"; run the site from the server (meridian serve), which gives one", site.RecordKeyFile, stateDir)
	case o.key != nil:
		return "", fmt.Errorf("record key given (RecordKey) without a key file (RecordKeyFile) to keep the log of retires beside; "+why, stateDir)
	}
	return stateDir, nil
}

// linksWithin says whether dir, its links resolved, is stateDir (its
// links resolved) or below it.
func linksWithin(dir, stateDir string) bool {
	d, err1 := filepath.EvalSymlinks(dir)
	s, err2 := filepath.EvalSymlinks(stateDir)
	return err1 == nil && err2 == nil && within(d, s)
}

// retireLogName is the file in dir (retireLogDir) of stateDir's log.
func retireLogName(dir, stateDir string) string {
	h := sha256.Sum256([]byte("meridian slurm retire log\x00" + stateDir))
	return filepath.Join(dir, hex.EncodeToString(h[:16])+".log")
}

// openRetireLog opens (or makes) the log of stateDir's retires in dir,
// signed with key, and loads the retires it holds into seen.
func openRetireLog(dir, stateDir string, key []byte, seen *seenSet, logger *slog.Logger) (*retireLog, error) {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("retire log: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("retire log: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("retire log: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("retire log: %w", err)
		}
	}
	l := &retireLog{path: retireLogName(dir, stateDir), dir: stateDir, key: key, seen: seen, logger: logger}
	atomicfile.RemoveStaleTemps(dir, func(name string) bool { return name == filepath.Base(l.path) }, atomicfile.StaleTempAge)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readOnLocked(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("retire log: %w", err)
	}
	return l, nil
}

// sum appends to b the MAC of the retire of record name naming key,
// computed with m, an HMAC-SHA256 of l.key, which it resets.
func (l *retireLog) sum(m hash.Hash, name, key, b []byte) []byte {
	m.Reset()
	io.WriteString(m, "meridian slurm retire v1\x00"+l.dir+"\x00") //nolint:errcheck // a hash does not fail
	m.Write(name)                                                  //nolint:errcheck
	m.Write([]byte{0})                                             //nolint:errcheck
	m.Write(key)                                                   //nolint:errcheck
	return m.Sum(b)
}

func (l *retireLog) line(name, key string) string {
	return name + " " + key + " " + hex.EncodeToString(l.sum(hmac.New(sha256.New, l.key), []byte(name), []byte(key), nil)) + "\n"
}

// parse is the NAME and KEY of a line of the log (less its line break),
// ok only when it is well formed and its MAC verifies (sum, with one
// hash for all lines). l.mu is held.
func (l *retireLog) parse(line []byte) (name, key string, ok bool) {
	if len(line) > maxRetireLine {
		return "", "", false
	}
	n, rest, ok1 := bytes.Cut(line, []byte{' '})
	k, tag, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || hex.DecodedLen(len(tag)) != sha256.Size {
		return "", "", false
	}
	var got, want [sha256.Size]byte
	if l.h == nil {
		l.h = hmac.New(sha256.New, l.key)
	}
	if _, err := hex.Decode(got[:], tag); err != nil || !hmac.Equal(got[:], l.sum(l.h, n, k, want[:0])) {
		return "", "", false
	}
	name, key = string(n), string(k)
	if _, _, later := laterHandle(name); !validKey(key) || (!isJobID(name) && !later) {
		return "", "", false
	}
	return name, key, true
}

// readOnLocked reads what the log holds past what this backend read of it
// (all of it when the file is another than the one read: a compaction
// replaced it), adding each retire to seen. It reads whole lines only: a
// torn last line is read once it is ended. l.mu is held.
func (l *retireLog) readOnLocked() error {
	f, err := os.OpenFile(l.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", l.path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no inode", l.path)
	}
	if st.Ino != l.ino || fi.Size() < l.off {
		l.ino, l.off, l.lines = st.Ino, 0, 0
	}
	if fi.Size() == l.off {
		return nil
	}
	n := fi.Size() - l.off
	if n > maxRetireLogBytes {
		// Past the bound: the latest retires are kept, the rest unread.
		l.warn("larger than the bound; its oldest retires are not read", "bytes", fi.Size(), "bound", maxRetireLogBytes)
		l.off = fi.Size() - maxRetireLogBytes
		n = maxRetireLogBytes
	}
	data := make([]byte, n)
	if _, err := f.ReadAt(data, l.off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return nil
	}
	bad := 0
	for rest := data[:end+1]; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		if len(line) == 0 {
			continue
		}
		l.lines++
		if name, key, ok := l.parse(line); ok {
			l.seen.add(retireEntry(name, key))
		} else {
			bad++
		}
	}
	l.off += int64(end) + 1
	if bad > 0 {
		l.warn("lines that do not verify skipped (torn by a crash, or not written by this backend)", "lines", bad)
	}
	return nil
}

func (l *retireLog) warn(msg string, args ...any) {
	if l.logger != nil {
		l.logger.Warn("slurm: retire log "+l.path+": "+msg, args...)
	}
}

// readOn reads what other processes appended to the log since.
func (l *retireLog) readOn() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// One lstat when nothing was appended: a poll asks for each record.
	if fi, err := os.Lstat(l.path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino == l.ino && fi.Size() == l.off {
			return
		}
	}
	if err := l.readOnLocked(); err != nil && !errors.Is(err, fs.ErrNotExist) && !l.warned {
		l.warned = true
		l.warn("not read", "err", err)
	}
}

// lockedFile opens the log for appending, holding its exclusive lock,
// and the file it locked is the one at its path (not one a compaction
// replaced while this waited for the lock).
func (l *retireLog) lockedFile() (*os.File, error) {
	for i := 0; ; i++ {
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
		fi, err1 := f.Stat()
		pi, err2 := os.Lstat(l.path)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) && fi.Mode().IsRegular() {
			return f, nil
		}
		f.Close()
		if i == 8 {
			return nil, fmt.Errorf("%s: replaced at each open", l.path)
		}
	}
}

// add appends the retire of record NAME naming key to the log, synced,
// and compacts the log once it holds more than 2*maxSeen lines.
func (l *retireLog) add(name, key string) error {
	if l == nil {
		return nil
	}
	f, err := l.lockedFile()
	if err != nil {
		return fmt.Errorf("retire log: %w", err)
	}
	defer f.Close()
	// The log's name made durable before the retire is acknowledged:
	// the first append creates the file, and each line's fsync makes its
	// bytes durable but not its name, which a power loss took with every
	// retire in it. Synced once per process per file (SyncEntry), which
	// also covers a log whose creator was killed before this sync.
	if err := atomicfile.SyncEntry(l.path); err != nil {
		return fmt.Errorf("retire log: %w", err)
	}
	line := l.line(name, key)
	// A crash mid-append left a torn last line: this one begins a line
	// of its own, so that it verifies.
	var ino uint64
	pre := int64(-1)
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino, pre = st.Ino, fi.Size()
		}
		if fi.Size() > 0 {
			var last [1]byte
			if _, err := f.ReadAt(last[:], fi.Size()-1); err == nil && last[0] != '\n' {
				line = "\n" + line
			}
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("retire log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("retire log: %w", err)
	}
	l.mu.Lock()
	l.lines++
	if pre >= 0 && l.ino == ino && l.off == pre {
		// Read up to this line already: readOnLocked starts after it,
		// rather than count it a second time.
		l.off = pre + int64(len(line))
	}
	full := l.lines > 2*maxSeen
	l.mu.Unlock()
	if full {
		return l.compactLocked()
	}
	return nil
}

// compactLocked rewrites the log with the latest maxSeen retires it
// holds, each once: a temporary file, synced, renamed over it. The
// caller holds the log's lock.
func (l *retireLog) compactLocked() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	// All of the file, whatever this backend read of it before.
	l.ino, l.off, l.lines = 0, 0, 0
	all := newSeenSet()
	saved := l.seen
	l.seen = all
	err := l.readOnLocked()
	l.seen = saved
	if err != nil {
		return fmt.Errorf("retire log: %w", err)
	}
	var b strings.Builder
	all.each(func(e string) {
		name, key, _ := strings.Cut(e, "\x00") // retireEntry
		b.WriteString(l.line(name, key))
	})
	if err := atomicfile.WriteFile(l.path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("retire log: %w", err)
	}
	if retireLogCompacted != nil {
		retireLogCompacted()
	}
	// Read from its start, not taken as read to its size: another
	// backend may have appended to the new file once it was in place,
	// before this one looked at it (it holds the lock of the old one).
	l.ino, l.off, l.lines = 0, 0, 0
	if err := l.readOnLocked(); err != nil {
		return fmt.Errorf("retire log: %w", err)
	}
	return nil
}
