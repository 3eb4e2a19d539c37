package slurm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
)

// records is what a backend remembers in its own state directory, on the
// controller's machine: for each attempt (its key, run-attempt) a directory
// jobs/<key> with the job id, and handles/<id> naming the key of a job id.
// Once the attempt's job has ended and been cleaned up (Slurm.Clean), its
// handles/<id> moves to ended/<id>, which names the key as well but which a
// capacity poll does not list: the records it lists are those of jobs that
// may still run, not every job the server ever ran. The job of a later
// attempt given an id already recorded for another (handle ID:KEY) has
// its own such record, handles/ID:KEY, moved to ended/ID:KEY the same
// way. A job's directory holds
// its batch script, which carries the attempt's credential, and its output:
// it is the backend's user's alone.
//
// On the command path the records naming jobs (jobs/KEY/jobid, handles/ID,
// ended/ID) and the record of a cancel (jobs/KEY/cancelled) are signed (seal.go); seal is nil over slurmrestd, whose state
// directory is on the controller's machine only.
type records struct {
	dir  string
	seal *sealer
	// What this backend saw, in its own memory: a workload, as the
	// cluster user, can change anything in the state directory.
	retiredSeen *seenSet // the retires it did or saw (retire, retired): NAME and KEY
	laterSeen   *seenSet // the later attempts' records it wrote or verified: ID:KEY
	// The retires, kept outside the state directory (retirelog.go): a
	// retire before this backend started, or by another backend on the
	// same state directory, counts too. Nil over slurmrestd.
	retireLog *retireLog
	// root is the state directory opened once for a run of calls (held),
	// which each call goes through; nil: each call opens it itself.
	root *os.Root
}

// openStateRoot opens a state directory as an os.Root; tests count the
// opens through it.
var openStateRoot = os.OpenRoot

// held returns r holding its state directory opened once, for the calls
// of one poll to go through, and the func that closes it. A forgotten
// job's poll reads its records and marks with some seven calls, and each
// opened the directory again (an open of its path, an fstat and a close
// each). Where the directory cannot be opened now, r is returned as it
// is, with nothing to close: each call then opens it, and fails, as it
// would have. One already held is held on, the caller's to close.
func (r records) held() (records, func()) {
	root, release, err := r.openRoot()
	if err != nil {
		return r, func() {}
	}
	r.root = root
	return r, release
}

// openRoot is the state directory as an os.Root, for one call: the one r
// holds (held), else one opened now; release closes one opened now only.
func (r records) openRoot() (root *os.Root, release func(), err error) {
	if r.root != nil {
		return r.root, func() {}, nil
	}
	if root, err = openStateRoot(r.dir); err != nil {
		return nil, nil, err
	}
	return root, func() { root.Close() }, nil
}

// seenSet is a set of strings a backend remembers, the latest maxSeen.
// retiredSeen: a workload can remove ended/NAME as well as put back a
// copy of handles/NAME it kept (or put an older ended/NAME in its place),
// and then nothing in the state directory tells the copy from a live
// record. laterSeen: a workload can fill handles with names of later
// attempts' records (ID:KEY); a capacity poll keeps those this backend
// knows whatever else is there.
type seenSet struct {
	mu    sync.Mutex
	set   map[string]struct{}
	order []string // the entries of set, oldest first, as a ring
	next  int      // where the next entry goes once order is full
}

// maxSeen bounds each seenSet (entries of up to about 100 bytes): the
// records of jobs cleaned up before the latest maxSeen are told apart
// only by their ended/ record.
var maxSeen = 1 << 16

// retireEntry is the entry of retiredSeen of the retire of record name
// naming key.
func retireEntry(name, key string) string { return name + "\x00" + key }

func newSeenSet() *seenSet { return &seenSet{set: make(map[string]struct{})} }

func (s *seenSet) add(e string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[e]; ok {
		return
	}
	if len(s.order) < maxSeen {
		s.order = append(s.order, e)
	} else {
		delete(s.set, s.order[s.next])
		s.order[s.next] = e
		s.next = (s.next + 1) % len(s.order)
	}
	s.set[e] = struct{}{}
}

// each calls f with each entry, oldest first.
func (s *seenSet) each(f func(e string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.order {
		f(s.order[(s.next+i)%len(s.order)])
	}
}

func (s *seenSet) has(e string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[e]
	return ok
}

// readRecordIn reads a record of at most limit bytes below root
// (readSmallFileIn); tests count the reads through it.
var readRecordIn = readSmallFileIn

func newRecords(stateDir string) (records, error) {
	r := records{dir: stateDir, retiredSeen: newSeenSet(), laterSeen: newSeenSet()}
	if err := atomicfile.MkdirAll(stateDir, 0o700); err != nil {
		return records{}, err
	}
	root, err := os.OpenRoot(stateDir)
	if err != nil {
		return records{}, err
	}
	defer root.Close()
	for _, d := range []string{"jobs", "handles", "ended"} {
		if err := atomicfile.MkdirAllIn(root, d, 0o700); err != nil {
			return records{}, r.stateErr(err)
		}
	}
	return r, nil
}

// The state directory is shared with the cluster's nodes on the command
// path, and a workload runs as this backend's user: it can put a link to
// any directory in place of jobs/KEY, handles, ended or any other
// directory on a record's way, and a record written through it landed
// where the link pointed, on the server's machine (its own settings and
// secrets among what that user may write). Every write, rename and
// removal below the state directory therefore goes through an os.Root of
// it: a link on the way that leads out fails the call, naming the state
// directory, and nothing outside changes; one that stays inside is
// followed, as a workload may write there anyway.

// writeFile writes rel, below the state directory, atomically (temporary
// file, fsync, rename, fsync of its directory), never outside.
func (r records) writeFile(rel string, data []byte, perm os.FileMode) error {
	root, release, err := r.openRoot()
	if err != nil {
		return err
	}
	defer release()
	return r.stateErr(atomicfile.WriteFileIn(root, rel, data, perm))
}

// removeFile removes rel, below the state directory, never outside; one
// already gone is no error. Its directory is synced after a removal: a
// crash before the entry's removal reached the disk brought the record
// back (an intent, a retired job's live record). It is synced when the
// entry is already gone too: the removal may be this caller's own, whose
// sync failed and which is now retried, or another's not synced yet.
func (r records) removeFile(rel string) error {
	root, release, err := r.openRoot()
	if err != nil {
		return err
	}
	defer release()
	if err := root.Remove(rel); err != nil && !errors.Is(err, os.ErrNotExist) {
		return r.stateErr(err)
	}
	err = atomicfile.SyncDirIn(root, filepath.Dir(rel))
	if errors.Is(err, os.ErrNotExist) {
		return nil // its directory is gone too, and the entry with it
	}
	return r.stateErr(err)
}

// lockJob takes the lock of the attempt key (jobs/KEY/lock), which its
// Submit, Find and sweep hold: through os.Root, as every write below the
// state directory, so that a link put in place of jobs/KEY creates no
// lock file where it points.
func (r records) lockJob(ctx context.Context, key string) (unlock func(), err error) {
	root, release, err := r.openRoot()
	if err != nil {
		return nil, err
	}
	defer release()
	return flock.LockIn(ctx, root, filepath.Join("jobs", key, "lock"))
}

// inState is path relative to the state directory, when path lies below
// it (the default work root, state/work, and its attempts' directories).
// A path spelled through another way to the state directory (it given
// as /tmp/state, a work root as /private/tmp/state/work) lies below it
// too: one of its parents is the state directory itself, by identity.
// Only the parents are looked at, deepest first, each by its path as
// given; one below the state directory that a workload made a link back
// to it leaves the rest inside the state directory still.
func (r records) inState(path string) (string, bool) {
	rel, err := filepath.Rel(r.dir, path)
	if err == nil && rel != "." && filepath.IsLocal(rel) {
		return rel, true
	}
	if !filepath.IsAbs(path) {
		return "", false
	}
	state, err := os.Stat(r.dir)
	if err != nil {
		return "", false
	}
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && os.SameFile(fi, state) {
			rel, err := filepath.Rel(p, path)
			return rel, err == nil && filepath.IsLocal(rel)
		}
		if p == filepath.Dir(p) {
			return "", false
		}
	}
}

// mkdirAll makes dir (atomicfile.MkdirAll), through os.Root when it lies
// below the state directory: a link a workload put in place of work/ made
// the server make the attempt's work directory wherever it pointed.
// Elsewhere (a site's own work root) it is made as the site names it.
func (r records) mkdirAll(dir string, perm os.FileMode) error {
	rel, ok := r.inState(dir)
	if !ok {
		return atomicfile.MkdirAll(dir, perm)
	}
	root, release, err := r.openRoot()
	if err != nil {
		return err
	}
	defer release()
	return r.stateErr(atomicfile.MkdirAllIn(root, rel, perm))
}

// removeAll removes dir and what it holds (os.RemoveAll), through os.Root
// when it lies below the state directory: a link a workload put in place
// of work/ had Clean remove the directory of the attempt's name wherever
// it pointed, with all it held. Clean removes one in a site's own work
// root through that root as opened at start (Slurm.removeWorkDir).
func (r records) removeAll(dir string) error {
	rel, ok := r.inState(dir)
	if !ok {
		return os.RemoveAll(dir)
	}
	root, release, err := r.openRoot()
	if err != nil {
		return err
	}
	defer release()
	err = root.RemoveAll(rel)
	if err != nil && r.unlinkOut(root, rel) {
		// Nothing of the attempt's is inside any longer.
		err = root.RemoveAll(rel)
	}
	return r.stateErr(err)
}

// unlinkOut removes the first link on the way to rel (a directory above
// it, below root) that root cannot follow, one that leads out among them,
// and says whether it removed one: a link a workload put in place of
// work/ failed each Clean of every attempt until someone removed it by
// hand. The link itself goes, with one unlink, never what it points to;
// a link that stays inside is followed, as os.Root does. A link in
// rel's own place RemoveAll removes itself.
func (r records) unlinkOut(root *os.Root, rel string) bool {
	p := ""
	for _, part := range strings.Split(filepath.Dir(rel), string(filepath.Separator)) {
		p = filepath.Join(p, part)
		fi, err := root.Lstat(p)
		if err != nil {
			return false
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			continue
		}
		if _, err := root.Stat(p); err == nil || errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := root.Remove(p); err != nil {
			return false
		}
		if r.seal != nil && r.seal.logger != nil {
			r.seal.logger.Warn("slurm: link out of the state directory on a work directory's way removed", "path", filepath.Join(r.dir, p))
		}
		return true
	}
	return false
}

// Reads go through the same os.Root: a link a workload put in place of
// jobs/KEY, handles or ended that leads out had the server read the file
// of the record's name wherever the link pointed (a final status, an
// exit code, a node list; one that did not parse was shown in the error)
// and take it as the record. Such a read now fails, naming the state
// directory; a record that is not there reads as absent, as before.

// readFile reads record rel, a plain file of at most limit bytes below
// the state directory (readSmallFileIn). A missing one is os.ErrNotExist.
func (r records) readFile(rel string, limit int64) ([]byte, error) {
	root, release, err := r.openRoot()
	if err != nil {
		return nil, err
	}
	defer release()
	return readRecordIn(root, rel, limit)
}

// readSmallFileIn is backend.ReadSmallFile for rel below root: its
// directory is opened inside root (a link out on the way fails, naming
// root), and rel in it with openat(2) and O_NOFOLLOW, since os.Root
// follows a link in the last component that stays inside: a link there
// is refused, as anything but a plain file (a FIFO is not waited on),
// with backend.ErrNotPlainFile. Errors name the path below root.
func readSmallFileIn(root *os.Root, rel string, limit int64) ([]byte, error) {
	full := filepath.Join(root.Name(), rel)
	// O_DIRECTORY: a FIFO in a directory's place fails at once rather
	// than wait for a writer.
	d, err := root.OpenFile(filepath.Dir(rel), os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", root.Name(), err)
	}
	defer d.Close()
	fd, err := unix.Openat(int(d.Fd()), filepath.Base(rel), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s: %w (a link)", full, backend.ErrNotPlainFile)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: full, Err: err}
	}
	f := os.NewFile(uintptr(fd), full)
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", full, backend.ErrNotPlainFile, fi.Mode().Type())
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, &os.PathError{Op: "open", Path: full, Err: err}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: the %d bytes it may hold", full, errTooLarge, limit)
	}
	return data, nil
}

// errTooLarge is readSmallFileIn's answer for a record larger than the
// bound it may hold.
var errTooLarge = errors.New("larger than")

// lstat is os.Lstat of rel below the state directory, through its root:
// a link out on the way is an error, not the file it leads to.
func (r records) lstat(rel string) (os.FileInfo, error) {
	root, release, err := r.openRoot()
	if err != nil {
		return nil, err
	}
	defer release()
	fi, err := root.Lstat(rel)
	return fi, r.stateErr(err)
}

// stat is os.Stat of rel below the state directory, through its root: a
// link there is followed while it stays inside.
func (r records) stat(rel string) (os.FileInfo, error) {
	root, release, err := r.openRoot()
	if err != nil {
		return nil, err
	}
	defer release()
	fi, err := root.Stat(rel)
	return fi, r.stateErr(err)
}

// fileTime is backend.FileTime of the file name in the directory of key,
// looked at through the state directory's root: zero, which a Status
// gives for a time not known (backend.Status), where the file is not
// there, is no plain file (a link is not followed) or cannot be looked
// at, and where its time is none a job ran at (markTime).
func (r records) fileTime(key, name string) time.Time {
	fi, err := r.lstat(filepath.Join("jobs", key, name))
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}
	}
	return markTime(fi.ModTime())
}

// markTimes are the start and end of key's job that slurmctld has
// forgotten, as the batch script's marks (started, exitcode) tell them,
// each zero (not known) where its mark cannot tell it (fileTime), and
// bounded by the server's own stamps: a workload runs as the cluster user
// and sets its marks' times as it likes (touch -d), anywhere from 1971 on,
// so that a start set back to the server's submit, or an end set on past
// the job's, stretched the attempt's time on the site, and one set to the
// other's made it count none. A start before the server wrote the
// attempt's batch script (job.sh, just before sbatch; where that is
// gone, removed by a workload, any start), or after the server first saw
// the job forgotten, is not known; so is an end after that, or before
// the start. Both stamps are change times, which the
// file system that holds the marks sets from its own clock, as it sets
// theirs, and which no one can set back: a workload that touches or
// makes them again moves them later only, and reads its own marks as
// not known.
func (r records) markTimes(key string) (start, end time.Time) {
	start = r.fileTime(key, "started")
	if start.IsZero() {
		return time.Time{}, time.Time{}
	}
	gone := r.forgottenSince(key)
	if submitted, ok := r.changeTime(filepath.Join("jobs", key, "job.sh")); !ok || start.Before(submitted) || start.After(gone) {
		return time.Time{}, time.Time{}
	}
	if end = r.fileTime(key, "exitcode"); end.Before(start) || end.After(gone) {
		end = time.Time{}
	}
	return start, end
}

// forgottenMark is the file of a job's directory whose change time is when
// the server first saw the job forgotten (forgottenSince).
const forgottenMark = "forgotten"

// forgottenSince is when the server first saw key's job forgotten: the
// change time of forgottenMark, made then. Where it can be neither made
// nor looked at, it is now, by this machine's clock.
func (r records) forgottenSince(key string) time.Time {
	rel := filepath.Join("jobs", key, forgottenMark)
	if root, release, err := r.openRoot(); err == nil {
		// O_EXCL: nothing already there is opened, nor a link followed.
		if f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			f.Close()
		}
		release()
	}
	now := time.Now().UTC()
	if t, ok := r.changeTime(rel); ok && t.Before(now) {
		return t
	}
	return now
}

// changeTime is the change time (ctime) of the plain file rel below the
// state directory, looked at through its root, a link not followed;
// false where there is none.
func (r records) changeTime(rel string) (time.Time, bool) {
	fi, err := r.lstat(rel)
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(st.Ctim.Unix()).UTC(), true
}

// markTime is t, the time of a mark the batch script wrote, in UTC; zero
// (not known) before 1971 or past the year 9999, as slurmctld's times
// are read (parseTime, epochTime). A workload runs as the cluster user
// and sets its marks' times as it likes (touch -d @0): taken as they
// were, a start or end of 1970, or before it, was given as the job's,
// and an end at the start's bound made the attempt count no time at all
// on the site.
func markTime(t time.Time) time.Time {
	if t = t.UTC(); t.Year() < 1971 || t.Year() > 9999 {
		return time.Time{}
	}
	return t
}

// has says whether there is an entry rel below the state directory (a
// link there counts, unfollowed).
func (r records) has(rel string) bool {
	_, err := r.lstat(rel)
	return err == nil
}

// stateErr names the state directory in err, whose path (os.Root's) is
// relative to it; nil stays nil.
func (r records) stateErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("state directory %s: %w", r.dir, err)
}

// jobRecordFiles are the files of a job's directory the backend writes
// through atomicfile (the batch script among them).
var jobRecordFiles = map[string]bool{"jobid": true, "cancelled": true, "submitting": true, "submitted": true,
	"final.json": true, "sweep.json": true, "sweeping": true, "swept": true, "nodes": true, "duplicates": true,
	"identity.json": true, "job.sh": true}

// removeStaleTemps removes the temporary files that writers killed before
// their rename left among the records (the state directory's record key,
// handles/ID, ended/ID, and the files of each job's directory), once
// atomicfile.StaleTempAge old: several of those writers hold no lock, and
// another backend sharing the directory may be filling a fresher one.
// Before, each stayed for good. It reads at most atomicfile.MaxTempScan
// entries of each directory and job directories of jobs/, never goes
// through a link, and removes only regular files named as a temporary
// file of what the backend writes there. It reports how many it removed.
func (r records) removeStaleTemps() int {
	age := atomicfile.StaleTempAge
	n := atomicfile.RemoveStaleTemps(r.dir, func(name string) bool { return name == DefaultRecordKeyFile }, age)
	// Below the state directory through os.Root (writeFile says why): a
	// link put in place of jobs/KEY between the listing and the removal
	// removes nothing outside.
	root, release, err := r.openRoot()
	if err != nil {
		return n
	}
	defer release()
	for _, d := range []string{"handles", "ended"} {
		n += atomicfile.RemoveStaleTempsIn(root, d, func(name string) bool {
			_, _, later := laterHandle(name)
			return isJobID(name) || later
		})
	}
	for _, key := range atomicfile.SubDirsIn(root, "jobs") {
		if validKey(key) {
			n += atomicfile.RemoveStaleTempsIn(root, filepath.Join("jobs", key), func(name string) bool { return jobRecordFiles[name] })
		}
	}
	return n
}

func (r records) jobDir(key string) string { return filepath.Join(r.dir, "jobs", key) }

// validKey says whether key is one this backend makes for an attempt
// (backend.Spec.Key: a valid run id, a dash, the attempt in decimal), so
// that it names one directory under jobs and nothing else.
func validKey(key string) bool {
	i := strings.LastIndexByte(key, '-')
	if i < 0 || backend.ValidRunID(key[:i]) != nil {
		return false
	}
	n, err := strconv.Atoi(key[i+1:])
	return err == nil && n >= 0 && strconv.Itoa(n) == key[i+1:]
}

// openJobFile opens the plain file name in the directory of the attempt
// key for reading, one component at a time below the state directory
// (jobs, key, name), each opened without following a link: a job runs as
// this backend's user and may replace any of them with a link to a file
// that user can read, such as another attempt's output or the server's
// own secrets. A FIFO is refused too, rather than waited on.
func (r records) openJobFile(key, name string) (*os.File, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("job key %q: not an attempt's key (RUN-ATTEMPT)", key)
	}
	full := filepath.Join(r.jobDir(key), name)
	fd, err := unix.Open(r.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: r.dir, Err: err}
	}
	for _, dir := range []string{"jobs", key} {
		next, err := unix.Openat(fd, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("%s: %s is a link or not a directory: %w", full, dir, backend.ErrNotPlainFile)
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: full, Err: err}
		}
		fd = next
	}
	ffd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	unix.Close(fd)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s: %w (a link)", full, backend.ErrNotPlainFile)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: full, Err: err}
	}
	f := os.NewFile(uintptr(ffd), full)
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w (%s)", full, backend.ErrNotPlainFile, fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ensureJobDir makes the directory of key, synced into jobs (as each
// directory of the records is, atomicfile.MkdirAll): the files written in
// it (the intent of a submit, the job id) are synced into it, and would
// be lost with it, after the job was submitted, to a power loss that
// took its entry.
func (r records) ensureJobDir(key string) error {
	root, release, err := r.openRoot()
	if err != nil {
		return err
	}
	defer release()
	return r.stateErr(atomicfile.MkdirAllIn(root, filepath.Join("jobs", key), 0o700))
}

// recorded returns the handle of the job recorded for key: its job id,
// or ID:KEY when the id was another attempt's of this state directory
// first (handleOf). record writes the job id
// first and the id's key second: after a crash between the two, the
// second is written here, so that the job's status and output, which go
// by the id's key once slurmctld has forgotten the job, are not lost to
// the caller that takes the id (best effort: a failure leaves it as it was).
// A record moved to ended (retire) is not written again.
// A record that does not verify (seal.go) is none.
func (r records) recorded(key string) (string, bool) {
	h, err := r.recordedErr(key)
	return h, err == nil && h != ""
}

// recordedErr is recorded, with the error of a record refused
// (ErrRecordNotVerified); "" without error when there is none.
func (r records) recordedErr(key string) (string, error) {
	v, err := r.readRecord(filepath.Join("jobs", key, "jobid"))
	if err != nil {
		if errors.Is(err, ErrRecordNotVerified) {
			return "", err
		}
		return "", nil
	}
	if id, k, ok := strings.Cut(v, handleSep); ok {
		if k != key || !isJobID(id) {
			return "", nil
		}
		// Lost to a crash (neither handles/ID:KEY nor ended/ID:KEY is
		// there), or junk in handles/ID:KEY that a workload put in its
		// place, with which a capacity poll counted the job as
		// another's for good; not once the job was retired.
		if (r.has(filepath.Join("handles", v)) || !r.laterListed(v)) && !r.liveLater(id, key) && !r.retired(v, key) {
			r.writeRecord(filepath.Join("handles", v), key) //nolint:errcheck
		}
		return v, nil
	}
	if !isJobID(v) {
		return "", nil
	}
	switch owner, _ := r.idOwner(v); owner {
	case "":
		r.writeRecord(filepath.Join("handles", v), key) //nolint:errcheck
	case key:
	case unknownOwner:
		// A record of the id that does not verify names no attempt:
		// a workload, as this backend's user, can write one, and its
		// job's handle would then be found no more, nor its job
		// cancelled by it. The attempt's own signed record stands.
		// Junk in handles/ID (a directory, an unsigned file) made a
		// capacity poll count the job as another's for good: it is
		// written again, unless the job was retired (ended/ID).
		if r.has(filepath.Join("handles", v)) && !r.retired(v, key) {
			r.writeRecord(filepath.Join("handles", v), key) //nolint:errcheck
		}
	default:
		// Recorded before ids were told apart (record): the plain id is
		// the handle of the attempt its record names.
		return v + handleSep + key, nil
	}
	return v, nil
}

// handleSep separates the job id from the attempt's key in the handle of
// a job whose id was recorded for another attempt of this state directory
// first (handleOf).
const handleSep = ":"

// idOwner is the attempt that the record of job id (handles/ID, else
// ended/ID) names; "" when it has none. exists says a record is there,
// whether or not it verifies or names an attempt.
func (r records) idOwner(id string) (key string, exists bool) {
	for _, dir := range []string{"handles", "ended"} {
		if r.has(filepath.Join(dir, id)) {
			k, _ := r.keyIn(dir, id)
			if k == "" {
				k = unknownOwner
			}
			return k, true
		}
	}
	return "", false
}

// unknownOwner is idOwner's answer for a record of the id that names no
// attempt (it does not verify, or is no key): no validKey.
const unknownOwner = "?"

// handleOf is the handle of job id as the job of key: the id itself,
// unless the id's record names another attempt, whose handle the id is:
// slurmctld gives an id out again once its counter wraps or its state is
// lost, and two attempts of one state directory then held the same
// handle, each reading, cancelling and taking the output of whichever
// job slurmctld knew by it. The later attempt's handle is ID:KEY.
func (r records) handleOf(key, id string) string {
	if owner, _ := r.idOwner(id); owner != "" && owner != key {
		return id + handleSep + key
	}
	return id
}

// record is recordHandle, less the handle.
func (r records) record(key, id string) error {
	_, err := r.recordHandle(key, id)
	return err
}

// recordHandle writes the handle of key's job id (handleOf), then, for a
// plain id, the key of the job id (an id recorded for another attempt
// keeps naming that attempt), and returns the handle.
func (r records) recordHandle(key, id string) (string, error) {
	if err := r.ensureJobDir(key); err != nil {
		return "", err
	}
	h := r.handleOf(key, id)
	if err := r.writeRecord(filepath.Join("jobs", key, "jobid"), h); err != nil {
		return "", err
	}
	// handles/ID:KEY for a later attempt: the id's own record names
	// the earlier attempt, and once that record is retired a capacity
	// poll, which lists handles only, would not count this job as the
	// server's.
	if err := r.writeRecord(filepath.Join("handles", h), key); err != nil {
		return h, err
	}
	if h != id {
		r.laterSeen.add(h)
	}
	return h, nil
}

// laterListed says whether the record of handle ID:KEY (handles/ID:KEY,
// else ended/ID:KEY) is there, whether or not it verifies.
func (r records) laterListed(h string) bool {
	for _, dir := range []string{"handles", "ended"} {
		if r.has(filepath.Join(dir, h)) {
			return true
		}
	}
	return false
}

// laterHandle splits a handle ID:KEY (handleOf); false for anything else.
func laterHandle(h string) (id, key string, ok bool) {
	id, key, ok = strings.Cut(h, handleSep)
	if !ok || !isJobID(id) || !validKey(key) {
		return "", "", false
	}
	return id, key, true
}

// handleID is the job id a handle names (ID, or ID:KEY), read from the
// handle alone; ok is false for one that is neither.
func handleID(h string) (id string, ok bool) {
	if isJobID(h) {
		return h, true
	}
	id, _, ok = laterHandle(h)
	return id, ok
}

// liveLater says whether handles/ID:KEY, the record that lists a later
// attempt's job of id for capacity polls, names key.
// One that does is remembered (laterSeen).
func (r records) liveLater(id, key string) bool {
	h := id + handleSep + key
	v, err := r.readRecord(filepath.Join("handles", h))
	if err == nil && v == key {
		r.laterSeen.add(h)
		return true
	}
	return false
}

// handleRef is what a handle names: the job id slurmctld knows, the
// attempt whose job it is ("" when no record says), and the error of a
// record refused (ErrRecordNotVerified) when there is no key.
type handleRef struct {
	id, key string
	recErr  error
}

// parse reads a handle: a job id names the attempt its record names
// (keyOf), ID:KEY the attempt KEY, while KEY's record gives it that
// handle. Anything else is not found.
func (r records) parse(h string) (handleRef, error) {
	if isJobID(h) {
		key, err := r.keyOfErr(h)
		return handleRef{id: h, key: key, recErr: err}, nil
	}
	id, key, ok := laterHandle(h)
	if !ok {
		return handleRef{}, fmt.Errorf("handle %q: %w", h, backend.ErrNotFound)
	}
	if got, err := r.recordedErr(key); got != h {
		if err != nil {
			return handleRef{}, fmt.Errorf("handle %q: %w (%v)", h, backend.ErrNotFound, err)
		}
		return handleRef{}, fmt.Errorf("handle %q: %w (attempt %s has no such record)", h, backend.ErrNotFound, key)
	}
	return handleRef{id: id, key: key}, nil
}

// notItsHandle says whether handle, a job id with no record, is not the
// handle of the attempt key whose job slurmctld knows by it: that
// attempt's record gives its job of that id the handle ID:KEY, the id
// having been another attempt's first.
func (r records) notItsHandle(key, handle string) bool {
	h, ok := r.recorded(key)
	return ok && h == handle+handleSep+key
}

// keyOf returns the key recorded for a job id, or "". A record that is not
// an attempt's key (validKey) is no record: the key names directories
// that are read and removed (Clean removes the attempt's work directory),
// and "../x" would name one outside.
// A job ended and cleaned up has its record under ended (retire).
// A record that does not verify (seal.go) is none.
func (r records) keyOf(id string) string {
	key, _ := r.keyOfErr(id)
	return key
}

// keyOfErr is keyOf, with the error of a record refused
// (ErrRecordNotVerified) when there is no key.
func (r records) keyOfErr(id string) (string, error) {
	key, err := r.keyIn("handles", id)
	if key != "" {
		return key, nil
	}
	key, err2 := r.keyIn("ended", id)
	if key != "" {
		return key, nil
	}
	return "", errors.Join(err, err2)
}

// liveKeyOf is keyOf of a job not yet ended and cleaned up (handles/ID).
func (r records) liveKeyOf(id string) string {
	key, _ := r.keyIn("handles", id)
	return key
}

// keyIn is the key recorded in dir for job id, or "", with the error of
// a record refused (ErrRecordNotVerified).
func (r records) keyIn(dir, id string) (string, error) {
	if !isJobID(id) {
		return "", nil
	}
	key, err := r.readRecord(filepath.Join(dir, id))
	if err != nil {
		if errors.Is(err, ErrRecordNotVerified) {
			return "", err
		}
		return "", nil
	}
	if validKey(key) {
		return key, nil
	}
	return "", nil
}

// retire moves the record of job id, when it names key, from handles to
// ended: the job has ended and no process of it runs (Slurm.Clean). keyOf
// still finds it, for the job's status and output once slurmctld has
// forgotten it; a capacity poll no longer lists it. A record that names
// another attempt (the id given out again) stays.
//
// A signed record names its place (seal.go), so the record is written
// anew under ended before the one under handles goes: a crash between
// the two leaves both, and the next Clean removes the live one.
//
// The job of a later attempt given the id (handle ID:KEY) has its
// record handles/ID:KEY moved the same way.
func (r records) retire(id, key string) error {
	name := id
	if r.liveKeyOf(id) != key {
		if !r.liveLater(id, key) {
			return nil
		}
		name = id + handleSep + key
	}
	// Remembered before the record moves: a copy put back in handles/
	// is not the job's, whatever becomes of ended/.
	r.retiredSeen.add(retireEntry(name, key))
	if err := r.retireLog.add(name, key); err != nil {
		return err
	}
	if r.seal != nil {
		if err := r.writeRecord(filepath.Join("ended", name), key); err != nil {
			return err
		}
		// Gone already: retired by a Clean beside this one.
		return r.removeFile(filepath.Join("handles", name))
	}
	root, release, err := r.openRoot()
	if err != nil {
		return err
	}
	defer release()
	err = root.Rename(filepath.Join("handles", name), filepath.Join("ended", name))
	if errors.Is(err, os.ErrNotExist) {
		return nil // retired already, by a Clean beside this one
	}
	if err != nil {
		return r.stateErr(err)
	}
	// Both directories the rename changed, the new entry first: until
	// synced, a crash could bring the live record back, listed again by
	// each capacity poll, or lose the ended one.
	for _, d := range []string{"ended", "handles"} {
		if err := atomicfile.SyncDirIn(root, d); err != nil {
			return r.stateErr(err)
		}
	}
	return nil
}

// retired says whether ended/NAME (NAME a job id, or ID:KEY) is there,
// signed, naming key: the job of that record has ended and been cleaned
// up (retire), and a record handles/NAME naming key is a copy put back
// (a workload, as the cluster user, can keep one and restore it; it
// still verifies) or one a crash in retire left, never a live job's.
// A retire this backend did or saw (retiredSeen), or that its retire log
// holds (one before its start, or another backend's on the directory),
// counts whether or not ended/NAME is still there as it was: a workload
// can remove it, or put an older one in its place.
func (r records) retired(name, key string) bool {
	if r.retiredSeen.has(retireEntry(name, key)) {
		return true
	}
	// What other backends on the state directory logged since.
	r.retireLog.readOn()
	if r.retiredSeen.has(retireEntry(name, key)) {
		return true
	}
	v, err := r.readRecord(filepath.Join("ended", name))
	if err == nil && v == key {
		r.retiredSeen.add(retireEntry(name, key))
		r.retireLog.add(name, key) //nolint:errcheck // kept in memory; logged again at its next sight after a start
		return true
	}
	return false
}

// maxRecordedJobs bounds the job ids with a record (handles/ID) that a
// capacity poll lists (entries of the directory, of any name): a million
// attempts of this server.
const maxRecordedJobs = 1 << 20

// maxLaterRecords bounds the records of later attempts' jobs
// (handles/ID:KEY) not known to this backend (laterSeen) whose keys a
// capacity poll keeps (up to 85 bytes each, where a listed id is a
// number): an id is given out again only when slurmctld's counter wraps
// or its state is lost, and a workload that fills the directory with
// such names must not have each poll hold a hundred megabytes of them,
// nor read each. Those past the bound are skipped; the known ones are
// kept whatever their number (at most maxSeen).
var maxLaterRecords = 1 << 16

// recordedIDs is the set of job ids that have a record (handles/ID), from
// one listing of the directory of records, names only: a capacity poll
// reads the record of a listed job only when there is one, rather than
// trying a file for each running job the site lists. later holds, for
// each job id, the keys of the later attempts given it whose records
// (handles/ID:KEY) are listed, those this backend knows (laterSeen)
// first, and of the rest only the first maxLaterRecords listed: a
// workload, as this backend's user, can make any number of such names,
// and failing the poll past a bound left the server's running jobs
// counted by none. More than maxRecordedJobs entries is an error.
// Only plain files are listed: a directory, a link or a FIFO is no
// record, and is skipped by the type the listing gives, unread.
func (r records) recordedIDs() (ids map[uint64]struct{}, later map[uint64][]string, err error) {
	dir := filepath.Join(r.dir, "handles")
	root, release, err := r.openRoot()
	if err != nil {
		return nil, nil, err
	}
	f, err := root.OpenFile("handles", os.O_RDONLY|unix.O_DIRECTORY, 0)
	release()
	if err != nil {
		return nil, nil, r.stateErr(err)
	}
	defer f.Close()
	ids = make(map[uint64]struct{})
	later = make(map[uint64][]string)
	listed, nLater := 0, 0
	for {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			// Only a plain file is a record (readRecord): anything else
			// (a directory, a link, a FIFO), which a workload can make
			// here, is skipped by its type, as the listing gives it,
			// never read or kept.
			if !e.Type().IsRegular() {
				continue
			}
			name := e.Name()
			if n, ok := jobNumber(name); ok {
				ids[n] = struct{}{}
			} else if id, key, ok := laterHandle(name); ok {
				if n, ok := jobNumber(id); ok {
					if r.laterSeen.has(name) {
						// Known: before the unknown ones, which
						// are read only when no known one is
						// the job's.
						later[n] = append([]string{key}, later[n]...)
					} else if nLater++; nLater <= maxLaterRecords {
						later[n] = append(later[n], key)
					}
				}
			}
		}
		if listed += len(ents); listed > maxRecordedJobs {
			return nil, nil, fmt.Errorf("%s: more than %d entries", dir, maxRecordedJobs)
		}
		if errors.Is(err, io.EOF) {
			return ids, later, nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

// jobNumber is the job id s (isJobID) as a number; false for one that
// is not written as slurmctld writes ids (a leading zero), which has no
// record under the number's name.
func jobNumber(s string) (uint64, bool) {
	if !isJobID(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && strconv.FormatUint(n, 10) == s
}

// ranMark names the first file in the directory of key that only a job of
// the attempt that started writes (the batch script's start mark and exit
// code, the output file slurmd opens for it), or "" when there is none.
// A mark that cannot be looked at (the job's directory replaced by a link
// out, one the server may not search, an I/O error) may be there, and is
// named with why it cannot be looked at: taken as absent, a job that had
// started read as one that never did, Clean removed the working directory
// of a job that may still run, and Submit ran the attempt a second time.
func (r records) ranMark(key string) string {
	for _, name := range []string{"started", "exitcode", "output.log"} {
		_, err := r.lstat(filepath.Join("jobs", key, name))
		if err == nil {
			return name
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("%s (which cannot be looked at: %v)", name, err)
		}
	}
	return ""
}

// markCancelled remembers that the job of key was cancelled, for when the
// scheduler has forgotten it. The record is signed (seal.go): a job of
// the cluster user could write one, and a forgotten attempt that failed,
// or left no exit code (lost, and placed again elsewhere), would then
// read as cancelled by the site, which ends its run.
func (r records) markCancelled(key string) error {
	return r.writeRecord(filepath.Join("jobs", key, "cancelled"), time.Now().UTC().Format(time.RFC3339))
}

// cancelled says whether this backend cancelled the job of key: a record
// that does not verify (seal.go) is none, and is reported.
func (r records) cancelled(key string) bool {
	_, err := r.readRecord(filepath.Join("jobs", key, "cancelled"))
	return err == nil
}

// markIntent records that a submit of key is about to reach the scheduler,
// so that a later submit after a crash asks the scheduler before
// submitting again.
func (r records) markIntent(key string) error {
	return r.writeFile(filepath.Join("jobs", key, "submitting"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// clearIntent removes key's intent record once the scheduler has refused
// the submit outright: no job of it can exist. A crash before the removal
// leaves the record, which only makes the next submit look first.
func (r records) clearIntent(key string) error {
	return r.removeFile(filepath.Join("jobs", key, "submitting"))
}

// intent says whether key's intent record is there. One that cannot be
// looked at (a link out of the state directory in its place) counts:
// the next submit then asks the scheduler first.
func (r records) intent(key string) bool {
	_, err := r.stat(filepath.Join("jobs", key, "submitting"))
	return !errors.Is(err, os.ErrNotExist)
}

// saveFinal keeps the final status of the job of key, which the scheduler
// forgets after a while.
func (r records) saveFinal(key string, st backend.Status) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return r.writeFile(filepath.Join("jobs", key, "final.json"), data, 0o644)
}

// final returns the final status saved for key.
func (r records) final(key string) (backend.Status, bool, error) {
	data, err := r.readFile(filepath.Join("jobs", key, "final.json"), maxReasonFile)
	if errors.Is(err, os.ErrNotExist) {
		return backend.Status{}, false, nil
	}
	if err != nil {
		return backend.Status{}, false, err
	}
	var st backend.Status
	if err := json.Unmarshal(data, &st); err != nil || !st.State.Final() {
		return backend.Status{}, false, fmt.Errorf("final status of %s: %q is not a final status", key, data)
	}
	return st, true, nil
}

// sweepInfo is what Clean needs to sweep an attempt's scratch: the agent's
// command, the directory its scratch is in, and the partition.
type sweepInfo struct {
	Command   []string `json:"command"`
	Root      string   `json:"root"`
	Name      string   `json:"name"` // the attempt's scratch, under Root
	Partition string   `json:"partition,omitempty"`
}

func (r records) saveSweep(key string, info sweepInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return r.writeFile(filepath.Join("jobs", key, "sweep.json"), data, 0o644)
}

func (r records) sweep(key string) (sweepInfo, bool) {
	var info sweepInfo
	data, err := r.readFile(filepath.Join("jobs", key, "sweep.json"), maxReasonFile)
	if err != nil || json.Unmarshal(data, &info) != nil {
		return sweepInfo{}, false
	}
	return info, true
}

// markSwept records that the attempt's scratch needs no more sweeping
// (what: the sweep job's id, or why none was needed).
func (r records) markSwept(key, what string) error {
	return r.writeFile(filepath.Join("jobs", key, "swept"), []byte(what+"\n"), 0o644)
}

// markSweepIntent records that a sweep job of key is about to be
// submitted, so that a later Clean, should the submit's answer be lost,
// looks for that job before submitting another. The record holds a token
// that the sweep's comment carries: a job of the sweep's name and comment
// can be made by any job of the cluster user (a workload runs as that
// user), never one with the token before the sweep's job shows it. An
// intent already recorded keeps its token, so that a job of any earlier
// try is found.
func (r records) markSweepIntent(key string) (string, error) {
	if tok, _ := r.sweepIntent(key); tok != "" {
		return tok, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	return tok, r.writeFile(filepath.Join("jobs", key, "sweeping"), []byte(time.Now().UTC().Format(time.RFC3339)+" "+tok+"\n"), 0o644)
}

// clearSweepIntent removes key's sweep intent once the scheduler has
// refused the sweep's submit outright.
func (r records) clearSweepIntent(key string) error {
	return r.removeFile(filepath.Join("jobs", key, "sweeping"))
}

// sweepIntent says whether a sweep of key may have been submitted, and
// with which token (see markSweepIntent); "" for a record that holds
// none, which no job found can be told to be the sweep's by.
func (r records) sweepIntent(key string) (token string, ok bool) {
	data, err := r.readFile(filepath.Join("jobs", key, "sweeping"), 256)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if f := strings.Fields(string(data)); err == nil && len(f) == 2 && validSweepToken(f[1]) {
		return f[1], true
	}
	return "", true
}

func validSweepToken(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func (r records) swept(key string) bool {
	_, err := r.stat(filepath.Join("jobs", key, "swept"))
	return err == nil
}

// exited says whether the batch script of key wrote its exit code: its
// command returned. An exit code that cannot be looked at is not taken
// as one (the job may still run): jobDone then goes by ranMark, which
// names it as a mark that may be there, and by where the job ran.
func (r records) exited(key string) bool {
	_, err := r.lstat(filepath.Join("jobs", key, "exitcode"))
	return err == nil
}

// saveNodes records the host list the job of key runs on, once (a job is
// not requeued, so it runs on one list).
func (r records) saveNodes(key, nodelist string) error {
	if r.has(filepath.Join("jobs", key, "nodes")) {
		return nil
	}
	return r.writeFile(filepath.Join("jobs", key, "nodes"), []byte(nodelist+"\n"), 0o644)
}

// nodes is the host list saved for key, or "".
func (r records) nodes(key string) string {
	data, err := r.readFile(filepath.Join("jobs", key, "nodes"), maxNodeListLen+1)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// saveDuplicates keeps the ids of the jobs of key that find cancelled as
// duplicates of the attempt's job, for the site's admins.
func (r records) saveDuplicates(key string, ids []string) error {
	return r.writeFile(filepath.Join("jobs", key, "duplicates"), []byte(strings.Join(ids, "\n")+"\n"), 0o644)
}

// jobIdentity is what slurmctld says of a job that its owner cannot
// change: the user it runs as and when it was submitted (a requeue, which
// the owner may ask for, sets a new submit time). A workload runs as the
// job's owner and may change the job's name and comment; a job id that
// slurmctld gave to another job after its counter wrapped names a job
// submitted later.
type jobIdentity struct {
	UserID     *int64 `json:"user_id,omitempty"`
	SubmitTime int64  `json:"submit_time"` // seconds since 1970
}

// saveIdentity keeps the identity of the job of key, once: the first seen
// is the job's as submitted.
func (r records) saveIdentity(key string, id jobIdentity) error {
	if r.has(filepath.Join("jobs", key, "identity.json")) {
		return nil
	}
	data, err := json.Marshal(id)
	if err != nil {
		return err
	}
	return r.writeFile(filepath.Join("jobs", key, "identity.json"), data, 0o644)
}

// identity is the identity saved for the job of key; false when none is
// (a record from before identities were kept, or one not readable).
func (r records) identity(key string) (jobIdentity, bool) {
	var id jobIdentity
	data, err := r.readFile(filepath.Join("jobs", key, "identity.json"), 256)
	if err != nil || json.Unmarshal(data, &id) != nil || id.SubmitTime <= 0 {
		return jobIdentity{}, false
	}
	return id, true
}

// saveSubmitted keeps when, by this machine's clock, the submit of key was
// sent (from) and answered (to), for telling the job by its submit time
// before its identity is kept (REST.ownsID).
func (r records) saveSubmitted(key string, from, to time.Time) error {
	return r.writeFile(filepath.Join("jobs", key, "submitted"), []byte(fmt.Sprintf("%d %d\n", from.Unix(), to.Unix())), 0o644)
}

// submitted is what saveSubmitted kept for key; false when nothing
// readable is.
func (r records) submitted(key string) (from, to int64, ok bool) {
	data, err := r.readFile(filepath.Join("jobs", key, "submitted"), 64)
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, false
	}
	from, err1 := strconv.ParseInt(f[0], 10, 64)
	to, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || from <= 0 || to < from {
		return 0, 0, false
	}
	return from, to, true
}
