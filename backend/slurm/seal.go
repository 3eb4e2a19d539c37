package slurm

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/plainfile"
)

// On the command path the records that say which job is an attempt's
// (jobs/KEY/jobid, handles/ID, ended/ID) lie in a directory that the
// cluster's nodes write, and a workload runs as the cluster user: it can
// write a record naming a job of its own, which a capacity poll then
// counted as the server's and Find adopted as the attempt's; the record
// of a cancel (jobs/KEY/cancelled) made a forgotten attempt that failed,
// or was lost, read as cancelled. Each such
// record now carries an HMAC, keyed by a secret that lives outside the
// state directory (the server's own settings, RecordKeyFile), over the
// record's state directory, its path there and its value: a record that
// carries none, or one that does not verify, is no record, and is
// reported (the backend's logger, and the errors that would have used
// it). Records from before they were signed are refused the same way;
// an attempt whose job slurmctld still knows is found again by its batch
// script (Find) and recorded anew, signed.

// ErrRecordNotVerified is the error (wrapped) of a record that carries no
// signature or one that does not verify.
var ErrRecordNotVerified = errors.New("record not signed by this backend")

// recordMACPrefix begins the second line of a signed record.
const recordMACPrefix = "hmac-sha256:"

// maxSignedRecord bounds a signed record (a job id or an attempt's key,
// and its MAC).
const maxSignedRecord = 1024

// sealer signs and verifies a backend's records.
type sealer struct {
	key    []byte
	logger *slog.Logger

	mu     sync.Mutex
	warned map[string]struct{} // records reported refused, each once
}

// maxWarnedRecords bounds the refused records a backend remembers having
// reported: a workload may make any number of them.
const maxWarnedRecords = 1024

func (r records) mac(rel, value string) []byte {
	m := hmac.New(sha256.New, r.seal.key)
	io.WriteString(m, "meridian slurm record v1\x00"+r.dir+"\x00"+filepath.ToSlash(rel)+"\x00"+value) //nolint:errcheck // a hash does not fail
	return m.Sum(nil)
}

// sealed is the content of record rel (relative to the state directory)
// holding value: the value, and on a second line its MAC when records are
// signed.
func (r records) sealed(rel, value string) []byte {
	if r.seal == nil {
		return []byte(value + "\n")
	}
	return []byte(value + "\n" + recordMACPrefix + hex.EncodeToString(r.mac(rel, value)) + "\n")
}

// writeRecord writes record rel holding value, signed. A directory in
// its place is moved aside first (moveAside).
func (r records) writeRecord(rel, value string) error {
	err := r.writeFile(rel, r.sealed(rel, value), 0o644)
	if err != nil && r.moveAside(rel) {
		err = r.writeFile(rel, r.sealed(rel, value), 0o644)
	}
	return err
}

// refusedDir is the directory of the state directory that holds what
// moveAside moved out of a record's place.
const refusedDir = "refused"

// moveAside moves a directory found where record rel goes (a workload,
// as this backend's user, can make one there, and the id sbatch gives
// next and an attempt's key are easy to guess) to refused/NAME/RANDOM,
// whatever it holds, with one rename: the rename of the record's new
// content over it failed, and the job's record, written after sbatch,
// was lost ("submitted but not recorded") at every try. NAME is the
// record's path flattened (refusedName), one directory a record, so that
// Clean finds what was moved by name (removeRefused) whatever else a
// workload put in refused/; RANDOM tells apart the moves of one record
// (a workload may put a directory back each time the record is written
// again). Anything else in the record's place (a file, a link, a FIFO)
// the rename of the record replaces. All of it goes through os.Root: a
// link a workload put on the way (jobs/KEY, refused/) moves nothing out
// of the state directory, or into another. It says whether it moved one.
func (r records) moveAside(rel string) bool {
	root, release, err := r.openRoot()
	if err != nil {
		return false
	}
	defer release()
	if fi, err := root.Lstat(rel); err != nil || !fi.IsDir() {
		return false
	}
	slot := filepath.Join(refusedDir, refusedName(rel))
	ok, madeRefused := plainDir(root, refusedDir)
	if !ok {
		return false
	}
	ok, madeSlot := plainDir(root, slot)
	if !ok {
		return false
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return false
	}
	to := filepath.Join(slot, hex.EncodeToString(b[:]))
	if err := root.Rename(rel, to); err != nil {
		return false
	}
	// The directories the rename changed, the record's own first, then
	// those holding an entry made for it (syncMoved).
	dirs := []string{filepath.Dir(rel), slot}
	if madeSlot {
		dirs = append(dirs, refusedDir)
	}
	if madeRefused {
		dirs = append(dirs, ".")
	}
	r.syncMoved(root, dirs)
	if s := r.seal; s != nil && s.logger != nil {
		s.logger.Warn("slurm: directory in a record's place moved aside", "path", filepath.Join(r.dir, rel), "to", filepath.Join(r.dir, to))
	}
	return true
}

// syncMoved syncs, through root, the directories dirs that a move aside
// changed: the record's own, from which the entry went, first (until
// then a crash could bring the workload's directory back into the
// record's place, and each write of the record moved it again), then
// where it went, and the directories holding one made for it (plainDir).
// A failed sync is reported, not returned: the directory has moved, and
// the write of the record that follows syncs the record's directory
// again, and fails if that sync does.
func (r records) syncMoved(root *os.Root, dirs []string) {
	for _, d := range dirs {
		if err := atomicfile.SyncDirIn(root, d); err != nil {
			if s := r.seal; s != nil && s.logger != nil {
				s.logger.Warn("slurm: directory changed by a move aside not synced", "dir", filepath.Join(r.dir, d), "err", err)
			}
		}
	}
}

// plainDir makes name, below root, a directory of its own if it is not
// one: a file, link or FIFO a workload put there (to keep moveAside from
// moving anything, and the record from being written) is removed first,
// with one unlink. It says whether name is a directory, not a link, and
// whether it made one there (whose entry its parent holds, unsynced).
func plainDir(root *os.Root, name string) (ok, made bool) {
	fi, err := root.Lstat(name)
	switch {
	case err == nil && fi.IsDir():
		return true, false
	case err == nil:
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, false
		}
	case !errors.Is(err, fs.ErrNotExist):
		return false, false
	}
	err = root.Mkdir(name, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return false, false
	}
	// Made by another backend sharing the directory, or by a workload,
	// in between: a directory is as good (and synced as one made here),
	// anything else is refused.
	fi, err = root.Lstat(name)
	return err == nil && fi.IsDir(), true
}

// refusedName is the directory under refused/ that holds what moveAside
// moved out of record rel's place.
func refusedName(rel string) string { return strings.ReplaceAll(filepath.ToSlash(rel), "/", "_") }

// removeRefused removes from refused/ what moveAside moved out of the
// places of the records of job id as the job of key (its jobid and
// cancel records, handles/ and ended/ of the id, and of ID:KEY), once the
// job has ended and been cleaned up (Slurm.Clean): no record of it is
// written again, and before, refused/ grew for good. It opens each
// record's directory there by name (refusedName), six of them, and reads
// no listing of refused/: a scan of its first entries, which a workload,
// as this backend's user, can fill with junk, left the job's own entries
// past them for good. It removes inside the state directory only,
// whatever links a workload put on the way (os.Root). It reports how
// many of the records' directories it removed.
func (r records) removeRefused(id, key string) int {
	root, release, err := r.openRoot()
	if err != nil {
		return 0
	}
	defer release()
	if fi, err := root.Lstat(refusedDir); err != nil || !fi.IsDir() {
		return 0
	}
	// Not os.Root.OpenRoot: a FIFO put in refused's place since the
	// look above was opened to read, and Clean waited for a writer.
	dir, err := atomicfile.OpenRootIn(root, refusedDir)
	if err != nil {
		return 0
	}
	defer dir.Close()
	n := 0
	for _, rel := range []string{
		filepath.Join("jobs", key, "jobid"), filepath.Join("jobs", key, "cancelled"),
		filepath.Join("handles", id), filepath.Join("ended", id),
		filepath.Join("handles", id+handleSep+key), filepath.Join("ended", id+handleSep+key),
	} {
		name := refusedName(rel)
		if _, err := dir.Lstat(name); err == nil && dir.RemoveAll(name) == nil {
			n++
		}
	}
	return n
}

// readRecord is the value of record rel, once its MAC verifies; an error
// wrapping ErrRecordNotVerified, naming the file, for one that carries no
// MAC or a wrong one (reported in the backend's log, once per file).
func (r records) readRecord(rel string) (string, error) {
	data, err := r.readFile(rel, maxSignedRecord)
	if err != nil {
		return "", err
	}
	if r.seal == nil {
		return strings.TrimSpace(string(data)), nil
	}
	value, tag, ok := strings.Cut(strings.TrimSuffix(string(data), "\n"), "\n")
	if !ok || !strings.HasPrefix(tag, recordMACPrefix) {
		return "", r.refuse(rel, "carries no signature (written before this backend signed its records, or not by this backend)")
	}
	got, err := hex.DecodeString(tag[len(recordMACPrefix):])
	if err != nil || !hmac.Equal(got, r.mac(rel, value)) {
		return "", r.refuse(rel, "its signature does not verify (not written by this backend under its record key)")
	}
	return value, nil
}

// refuse is the error of record rel, refused for why, and reports it.
func (r records) refuse(rel, why string) error {
	path := filepath.Join(r.dir, rel)
	err := fmt.Errorf("%s: %s: ignored: %w", path, why, ErrRecordNotVerified)
	s := r.seal
	s.mu.Lock()
	_, seen := s.warned[path]
	full := len(s.warned) >= maxWarnedRecords
	if !seen && !full {
		s.warned[path] = struct{}{}
	}
	s.mu.Unlock()
	// Past maxWarnedRecords a refused record is reported each time it
	// is read, rather than remembered.
	if s.logger != nil && !seen {
		s.logger.Warn("slurm: job record ignored", "err", err)
	}
	return err
}

// Option configures a Slurm backend on the command path (New).
type Option func(*options)

type options struct {
	key     []byte
	keyFile string
	logger  *slog.Logger
}

// RecordKey signs the backend's records with key (at least 16 bytes).
// It needs RecordKeyFile too, beside which the backend keeps its log of
// retires (the key given here signs over the file's).
func RecordKey(key []byte) Option {
	return func(o *options) { o.key = append([]byte(nil), key...) }
}

// RecordKeyFile signs the backend's records with the key in path (hex, a
// file only its owner may read), made there, 0600, on first use. The
// file belongs outside the state directory, where the site's jobs cannot
// read it: the server's own settings. The backend's log of retires goes
// beside it (retireLogDir); a file inside the state directory is refused.
func RecordKeyFile(path string) Option {
	return func(o *options) { o.keyFile = path }
}

// WithLogger reports records refused (ErrRecordNotVerified) to l.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// FactoryWith is Factory with opts for a site reached through Slurm's
// commands (a site with a restURL takes none of them).
func FactoryWith(opts ...Option) backend.Factory {
	return func(site catalog.BackendSpec, stateDir string) (backend.Backend, error) {
		if site.RestURL != "" {
			return NewREST(site, stateDir)
		}
		return New(site, stateDir, opts...)
	}
}

// DefaultRecordKeyFile is where a backend given no key keeps its own, in
// its state directory: a workload that can read the state directory can
// read it too, so it only tells the backend's records from those of
// another state directory. The server gives its backends a key of its
// own settings instead (RecordKeyFile).
const DefaultRecordKeyFile = "record-key"

// maxRecordKeyFile bounds a record key file (hex of a key up to 1 KiB).
const maxRecordKeyFile = 4096

// LoadRecordKey reads the record key in path, or makes one there (0600)
// when there is none.
func LoadRecordKey(path string) ([]byte, error) {
	data, fi, err := plainfile.ReadStat(path, maxRecordKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return createRecordKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("record key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("record key %s: mode %v lets others read it; want 0600", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("record key %s: want at least 16 hex-encoded bytes", path)
	}
	return key, nil
}

// createRecordKey makes the key file, unless another process (another
// backend of the same settings) made it first: then it reads that one.
func createRecordKey(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	// Synced into its parent: records signed with the key outlive a
	// directory lost to a power loss, and would all fail to verify.
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("record key: %w", err)
	}
	created, err := atomicfile.CreateFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
	if err != nil {
		return nil, fmt.Errorf("record key: %w", err)
	}
	if !created {
		return LoadRecordKey(path)
	}
	return key, nil
}

// LoadSiteRecordKey reads the record key a site's settings name
// (backend.recordKeyFile), checked as a secret is: a regular file, not a
// link (the last component is opened without following one), of this
// process's user, that only its owner may read, and outside stateDir,
// the site's state directory, which the site's nodes write and its jobs
// read. A file that is not there is refused rather than made: the site
// names a key its operator put in place. Each error names the field.
func LoadSiteRecordKey(path, stateDir string) ([]byte, error) {
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("backend.recordKeyFile %s: %s", path, fmt.Sprintf(format, args...))
	}
	if !filepath.IsAbs(path) {
		return fail("want an absolute path")
	}
	if within(path, stateDir) {
		return fail("inside the site's state directory %s, which the site's nodes write and its jobs read; keep the key in the server's own settings", stateDir)
	}
	// The directory holding the key, resolved, must not be the state
	// directory or below it either (a link to it on the way).
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		if sd, err := filepath.EvalSymlinks(stateDir); err == nil && within(filepath.Join(dir, filepath.Base(path)), sd) {
			return fail("its directory leads inside the site's state directory %s, which the site's nodes write and its jobs read", stateDir)
		}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fail("no such file; make one of at least 16 random bytes, hex-encoded, mode 0600 (e.g. openssl rand -hex 32 > FILE)")
	case errors.Is(err, unix.ELOOP):
		return fail("a symbolic link; name the key file itself")
	case err != nil:
		return fail("%v", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return fail("not a regular file (%s)", plainfile.Kind(fi.Mode()))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fail("mode %04o lets others read the key; make it readable by its owner only (chmod 600)", perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok {
		return fail("its owner is not known")
	} else if uid := os.Geteuid(); int(st.Uid) != uid {
		return fail("it belongs to user %d, not to this server's (%d)", st.Uid, uid)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxRecordKeyFile+1))
	if err != nil {
		return fail("%v", err)
	}
	if len(data) > maxRecordKeyFile {
		return fail("more than %d bytes; want a key of at least 16 bytes, hex-encoded", maxRecordKeyFile)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(key) < 16 {
		return fail("want at least 16 bytes, hex-encoded (e.g. openssl rand -hex 32)")
	}
	return key, nil
}

// within says whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// newSealer is the sealer of o's key, read or made at o's key file, or at
// DefaultRecordKeyFile in stateDir when o names neither.
func newSealer(o options, stateDir string) (*sealer, error) {
	key := o.key
	if key == nil {
		path := o.keyFile
		if path == "" {
			path = filepath.Join(stateDir, DefaultRecordKeyFile)
		}
		k, err := LoadRecordKey(path)
		if err != nil {
			return nil, err
		}
		key = k
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("record key: %d bytes; want at least 16", len(key))
	}
	return &sealer{key: key, logger: o.logger, warned: make(map[string]struct{})}, nil
}
