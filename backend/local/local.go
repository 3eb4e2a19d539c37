package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/flock"
)

func init() { backend.Register("local", Factory) }

// Factory makes a local backend for one site (a backend.Factory).
func Factory(site catalog.BackendSpec, stateDir string) (backend.Backend, error) {
	return New(site, stateDir)
}

// Option configures a local backend (New).
type Option func(*Local)

// WithLogger reports to lg what the backend carries on through without
// failing: the state directory's filesystem clock that could not be read
// at its start or at a Submit. Without it, slog.Default is told.
func WithLogger(lg *slog.Logger) Option {
	return func(l *Local) { l.logger = lg }
}

// FactoryWith is Factory with opts.
func FactoryWith(opts ...Option) backend.Factory {
	return func(site catalog.BackendSpec, stateDir string) (backend.Backend, error) {
		return New(site, stateDir, opts...)
	}
}

// wrapper runs the job's command and records its exit code atomically. It
// keeps the lock on fd 3 for its lifetime; the command itself does not get it.
// The command does get the command lock, on fd 5 (cmdLockName), which
// tells that it runs on once the wrapper alone was killed.
// It outlives a SIGTERM to its group (a trapped signal, which the command
// gets back at its default by the exec): its lock is how Cancel knows the
// job still runs and kills it after the grace. Ended by the SIGTERM, it
// let go of the lock at once, and a command that ignored SIGTERM ran on.
// A SIGTERM (or Cancel's mark) that comes before the command begins stops
// the job there: the signal reached the wrapper alone, and the command,
// begun after it, ran until the grace's SIGKILL. Once the command has
// ended, the commands that record its exit code ignore SIGTERM (stopGroup
// signals children of the wrapper it did not see at first). A wrapper that
// cannot record its pid (a full or failing disk) does not start the
// command, which nothing could then stop (stopGroup signals the group the
// pid names), and ends recording nothing: the job reads as lost.
// It starts nothing until the backend has set the job's resource limits
// on it (Limits), which it tells by a line on fd 4: with none (the
// backend failed to set them, or died first), it ends recording nothing.
//
// Its own files are made anew (noclobber, once what is there is removed),
// never opened where they are: the wrapper runs as the server's user
// outside any sandbox, and wrote its exit code through whatever was at
// .exitcode.tmp when the command ended, a link to a file the server may
// write (its database, its audit log) among them, emptying that file.
// They are renamed into place with mv -T, which replaces what is at the
// name and never moves into it: mv -f moved the temp into a directory
// an exitcode (or pid) link pointed to, a directory the workload chose.
//
// Once its exit code is written, the wrapper keeps the time (its own
// clock, in seconds and nanoseconds where date(1) tells them) beside the
// job's launch record (launchEndSuffix), where the workload cannot write,
// before it renames the exit code into place: the job's end (jobEnd).
//
// Each file is synced before its rename, and the job's directory after
// it (sync(1) given a directory fsyncs it; coreutils before 8.24, which
// take no operand, sync every filesystem instead): a rename is durable
// only once its directory is. The pid was never synced, and the exit
// code's rename not: a power loss just after a job ended kept its pid and
// a complete .exitcode.tmp but not exitcode, and the job read as lost
// (exitTemp now takes such a temp as its exit code). A pid that cannot be
// made durable starts nothing: lost to a power loss, the job read as
// never launched and a later Submit ran it again. The commands that
// record the pid ignore SIGTERM, as those that record the exit code do:
// a trapped signal is set back to its default in what the wrapper runs,
// and a Cancel that came while sync ran ended it, the pid not recorded
// and no exit code written (no end, and one a workload wrote under the
// job stood). A Cancel then
// is not missed: it marks the job cancelled before it signals, and the
// mark is looked at once the pid is recorded.
const wrapper = `d="$1"; shift
set -C
stop=
trap 'stop=1' TERM
if ! read -r gate <&4 || [ "$gate" != go ]; then
	echo "meridian-job: the job's resource limits were not set; not starting it" >&2
	exit 125
fi
exec 4<&-
trap '' TERM
if ! { rm -f "$d/.pid.tmp" && printf '%s\n' "$$" >"$d/.pid.tmp" && sync "$d/.pid.tmp" &&
	mv -fT "$d/.pid.tmp" "$d/pid" && sync "$d"; }; then
	echo "meridian-job: cannot record the job's pid; not starting it" >&2
	exit 125
fi
trap 'stop=1' TERM
if [ -n "$stop" ] || [ -e "$d/cancelled" ]; then
	c=143
else
	"$@" 3>&-
	c=$?
fi
trap '' TERM
rm -f "$d/.exitcode.tmp"
if printf '%s\n' "$c" >"$d/.exitcode.tmp"; then
	sync "$d/.exitcode.tmp" 2>/dev/null
	t=$(date -u +%s.%N 2>/dev/null)
	case $t in *[!0-9.]* | '' | *.) t=$(date -u +%s) ;; esac
	e="${d%/*/*}/launches/${d##*/}"
	rm -f "$e.end.tmp"
	if printf '%s\n' "$t" >"$e.end.tmp" && sync "$e.end.tmp" 2>/dev/null; then
		mv -fT "$e.end.tmp" "$e.end"
	fi
	mv -fT "$d/.exitcode.tmp" "$d/exitcode" && sync "$d" 2>/dev/null
fi
exit "$c"
`

// Local runs jobs as local process groups. It is safe for concurrent use,
// and several Local values (in one process or several) may share a state
// directory.
type Local struct {
	stateDir string
	workRoot string
	// CancelGrace is how long Cancel waits after SIGTERM before SIGKILL.
	CancelGrace time.Duration
	// TreeWait bounds how long Cancel and Clean wait, once the job's
	// wrapper has ended, for the rest of what the job started to end
	// (treeLeft): the agent's reaper goes on killing what the workload
	// left for up to 10 s after the agent is gone. It stays under the 10 s
	// the run controller gives a Clean, so that one that waits it out
	// still says why it kept the directory rather than running out of its
	// caller's time. A Cancel may wait its grace and then this twice (the
	// wrapper's tree, then what holds the command's lock): the
	// controller's drain gives it that (run's drainCancelWait), and a
	// Cancel cut short is asked again, the grace counted from the first.
	TreeWait time.Duration
	// OutputLimit bounds the workload's output the job's agent writes to
	// output.log, which lies in the state directory, on the disk of the
	// server's database and audit log (agent.EnvSiteLogLimit). 0 (or
	// less) is the agent's default, agent.DefaultSiteLogLimit: nothing
	// leaves it unbounded, and the spec's environment cannot change it.
	// The server keeps its own copy, bounded on its own.
	OutputLimit int64
	// Limits are the resource limits (setrlimit(2)) every job starts
	// under, soft and hard alike, by resource name (LimitNames), so that
	// neither the job nor what it starts can raise them; a resource not
	// named keeps the server's own limit. A new Local's are EnvLimits's,
	// or DefaultLimits (no core dumps). In the landlock sandbox the
	// workload runs as the server's user, and nproc counts the processes
	// of that user, the server's among them.
	Limits map[string]uint64
	// ScratchFloor and ScratchInodeFloor, when above 0, are the bytes and
	// inodes the job's agent keeps free on its scratch's filesystem in
	// place of its own floors (the smaller of 1 GiB and 2% of the
	// filesystem, of 10,000 and 2% of its inodes), lower or higher: on a
	// small disk the agent's own kept every workload from starting. A
	// new Local's are EnvScratchFloor's and EnvScratchInodeFloor's. They
	// reach the agent on its command line, which the job's spec cannot
	// change.
	ScratchFloor      int64
	ScratchInodeFloor int64

	// now is the clock a job read as starting is bounded by, from the
	// launch its record names, where the record does not name it on the
	// state directory's filesystem clock or that clock cannot be read
	// (sinceLaunch; time.Now where nil; the tests set their own). Every
	// other such job, its record readable or not, is bounded on that
	// filesystem clock (fileNow).
	now func() time.Time
	// fileClock, where set, is the state directory's filesystem clock
	// (fileNow) the tests set in place of the filesystem's.
	fileClock func() (time.Time, error)
	// logger is told what the backend carries on through (WithLogger).
	logger *slog.Logger
	// cancelAsked is the time of the first Cancel of each job, by handle,
	// whose mark (cancelled, or an ended job's cancelAskedName file) could
	// not be written, or where the look at whether the job had ended,
	// made again just before its mark, failed (markCancelled); Clean
	// forgets it.
	cancelAsked sync.Map
}

func (l *Local) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// DefaultOutputLimit is a new Local's OutputLimit.
const DefaultOutputLimit = agent.DefaultSiteLogLimit

var (
	_ backend.Backend    = (*Local)(nil)
	_ backend.Finder     = (*Local)(nil)
	_ backend.SiteFailer = (*Local)(nil)
	_ backend.Cleaner    = (*Local)(nil)
)

// New makes a local backend keeping its state in stateDir. site.WorkDir, when
// set, is the root of the jobs' working directories (relative to stateDir if
// not absolute); site's other settings are ignored.
func New(site catalog.BackendSpec, stateDir string, opts ...Option) (*Local, error) {
	abs, work, err := backend.Dirs("local", site, stateDir)
	if err != nil {
		return nil, err
	}
	limits, err := limitsFromEnv()
	if err != nil {
		return nil, fmt.Errorf("local backend: %w", err)
	}
	floorBytes, floorInodes, err := floorsFromEnv()
	if err != nil {
		return nil, fmt.Errorf("local backend: %w", err)
	}
	// The work root (made first, so that the directories above it are
	// made open too) lets workloads run as the tenant's own user pass
	// through. The jobs' records hold their environments, attempt
	// credentials included, and their output: only the backend's user
	// reads them.
	for _, d := range []struct {
		path string
		perm os.FileMode
	}{{work, 0o755}, {filepath.Join(abs, "jobs"), 0o700}, {filepath.Join(abs, unreadableDir), 0o700}} {
		if err := os.MkdirAll(d.path, d.perm); err != nil {
			return nil, fmt.Errorf("local backend: %w", err)
		}
	}
	// Synced into its parent: the launch records in it outlive a power
	// loss only with it.
	if err := atomicfile.MkdirAll(filepath.Join(abs, launchesDir), 0o700); err != nil {
		return nil, fmt.Errorf("local backend: %w", err)
	}
	l := &Local{stateDir: abs, workRoot: work, CancelGrace: 5 * time.Second, TreeWait: 9 * time.Second,
		OutputLimit: DefaultOutputLimit, Limits: limits, ScratchFloor: floorBytes, ScratchInodeFloor: floorInodes}
	for _, opt := range opts {
		opt(l)
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	removeStaleTemps(abs, l.logger)
	sweepUnreadable(abs)
	return l, nil
}

// removeStaleTemps removes the temporary files that writers killed before
// their rename left in stateDir (site-failed's) and in the jobs'
// directories (job.json's, cancelled's, cancel.at's, late.at's, and the
// command lock's probes no one holds locked: removeStaleLockProbes) and
// unreadableDir's, once atomicfile.StaleTempAge old: FailSite and Cancel
// hold no lock, and another backend sharing the directory may be filling
// a fresher one; and a killed wrapper's .pid.tmp and .exitcode.tmp,
// whatever their age (removeKilledWrapperTemps). Before, each stayed for
// good. It reads at most atomicfile.MaxTempScan job directories, each of
// them to that bound too, and never goes through a link. It reports how
// many it removed.
//
// A temporary file's age is counted on the clock of the filesystem that
// stamped it (fileNowIn), not the server's own: a server sharing the
// state directory whose clock ran more than StaleTempAge ahead of that
// one's took the job record another server was filling as stale and
// removed it, failing that server's Submit. Where that clock cannot be
// read, none is taken as stale: a later start removes them. That is told
// to logger, once: the temporary files then stay for as long as the
// clock cannot be read, and nothing else said so.
func removeStaleTemps(stateDir string, logger *slog.Logger) int {
	now, err := startFileNow(stateDir)
	if own, ok := atomicfile.OwnClockWhenFull(err, atomicfile.StaleTempAge); ok {
		// A full disk is when the stale temporary files may be what
		// fills it: they are removed at twice their age on this clock.
		logger.Warn("local: the state directory's clock cannot be read for want of space; temporary files killed writers left are removed at twice their age on the server's clock",
			"dir", stateDir, "err", err)
		now, err = own, nil
	}
	if err != nil {
		logger.Warn("local: the state directory's clock cannot be read; no temporary file killed writers left is removed at this start",
			"dir", stateDir, "err", err)
	}
	stale := func(dir string, target func(name string) bool) int {
		if err != nil {
			return 0
		}
		return atomicfile.RemoveStaleTempsAt(dir, target, atomicfile.StaleTempAge, now)
	}
	n := stale(stateDir, func(name string) bool { return name == "site-failed" })
	n += stale(filepath.Join(stateDir, unreadableDir), func(string) bool { return true })
	n += stale(filepath.Join(stateDir, launchesDir), func(string) bool { return true })
	jobs := filepath.Join(stateDir, "jobs")
	for _, name := range atomicfile.SubDirs(jobs) {
		n += stale(filepath.Join(jobs, name), isJobRecord)
		if err == nil {
			n += removeStaleLockProbes(filepath.Join(jobs, name), now)
		}
		n += removeKilledWrapperTemps(filepath.Join(jobs, name))
	}
	return n
}

// pidTemp and exitCodeTemp are the files the job's wrapper writes its pid
// and its exit code to before renaming them to pid and exitcode.
const (
	pidTemp      = ".pid.tmp"
	exitCodeTemp = ".exitcode.tmp"
)

// removeKilledWrapperTemps removes the job's .pid.tmp and .exitcode.tmp in dir,
// which a wrapper killed between its write and its rename left for good,
// when they provably are no one's to write: only the job's wrapper writes
// them, and the wrapper holds the run lock for its whole life (taken
// before it starts, on fd 3, which its own commands inherit); once the job
// has a pid file or an exit code, no wrapper is launched for it again
// (launched, checked under the job's lock). With the run lock not held
// then, the wrapper is gone, and none will come. A run lock held, or a job
// with neither file, leaves them (a job with neither may be launched
// again by a later Submit, whose wrapper writes them anew: that Submit
// removes them, under the job's lock, before it launches;
// removeWrapperTemps), as does anything but a regular file. It says how
// many it removed.
//
// A complete .exitcode.tmp of a job with no exit code is not removed but
// put in place as its exit code (exitTemp); where that cannot be done or
// told, nothing is removed.
func removeKilledWrapperTemps(dir string) int {
	if !exists(filepath.Join(dir, "pid")) && !exists(filepath.Join(dir, "exitcode")) {
		return 0
	}
	if _, err := exitTemp(dir); err != nil {
		return 0
	}
	return removeWrapperTemps(dir)
}

// removeWrapperTemps removes the wrapper's temporary files in dir (regular
// files only) unless the run lock is held. The caller knows that no
// wrapper can be launched for the job meanwhile: it holds the job's lock,
// or the job has a pid or an exit code.
func removeWrapperTemps(dir string) int {
	var temps []string
	for _, name := range []string{pidTemp, exitCodeTemp} {
		path := filepath.Join(dir, name)
		if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
			temps = append(temps, path)
		}
	}
	if len(temps) == 0 {
		return 0
	}
	if held, err := runLockHeld(dir); err != nil || held {
		return 0
	}
	n := 0
	for _, path := range temps {
		if os.Remove(path) == nil {
			n++
		}
	}
	return n
}

// isJobRecord says whether name is a file of a job's directory whose
// temporary files are named as atomicfile names its own: job.json,
// written through atomicfile, and the marks createMark makes (cancelled,
// cancel.at, late.at).
func isJobRecord(name string) bool {
	return name == "job.json" || name == "cancelled" || name == cancelAskedName || name == lateAtName
}

// record is what job.json holds.
type record struct {
	RunID     string            `json:"runID"`
	Attempt   int               `json:"attempt"`
	Command   []string          `json:"command"`
	Env       map[string]string `json:"env,omitempty"`
	WorkDir   string            `json:"workDir"`
	Submitted time.Time         `json:"submitted"`
	// SubmittedOnFiles is the launch on the clock of the filesystem that
	// holds the state directory (fileNow), the one clock every server
	// sharing the directory reads alike: Submitted is the launching
	// server's own, which another's may be hours from (see sinceLaunch).
	// Records written before it was kept have none, nor do those of a
	// Submit that could not read that clock (launchOnFiles).
	SubmittedOnFiles time.Time `json:"submittedOnFiles,omitzero"`
}

// StateDir is the backend's state directory (absolute).
func (l *Local) StateDir() string { return l.stateDir }

func (l *Local) jobDir(key string) string { return filepath.Join(l.stateDir, "jobs", key) }

// WorkDir returns the directory the job for spec runs in.
func (l *Local) WorkDir(spec backend.Spec) string {
	switch {
	case spec.WorkDir == "":
		return filepath.Join(l.workRoot, spec.Key())
	case filepath.IsAbs(spec.WorkDir):
		return spec.WorkDir
	default:
		return filepath.Join(l.workRoot, spec.WorkDir)
	}
}

// relWorkDirStaysIn refuses a relative workDir with a ".." among its
// names, as the Slurm backend does. It is joined to the work root and
// cleaned by its letters (WorkDir): ../x named a directory beside the
// work root, a/../../x one above it, and Submit made it and ran the job
// there. Any "..", even one that stays inside (a/../b), is refused: a job
// names its directory below the work root as it is.
func relWorkDirStaysIn(wd string) error {
	if wd == "" || filepath.IsAbs(wd) {
		return nil
	}
	for _, n := range strings.Split(wd, "/") {
		if n == ".." {
			return fmt.Errorf("workDir %s: a relative workDir lies below the work root, and .. would step out of it; name the directory without ..", wd)
		}
	}
	return nil
}

func (l *Local) siteFailed() bool {
	_, err := os.Stat(filepath.Join(l.stateDir, "site-failed"))
	return err == nil
}

// Submit launches spec's command unless this attempt was launched before.
func (l *Local) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("local submit: %w", err)
	}
	if err := relWorkDirStaysIn(spec.WorkDir); err != nil {
		return "", fmt.Errorf("local submit: %w: %w", backend.ErrInvalid, err)
	}
	key := spec.Key()
	dir := l.jobDir(key)
	// Synced into its parent, as the records written in it are: a job
	// directory lost to a power loss loses the record that the attempt
	// was launched.
	if err := ownJobDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("local submit %s: %w", key, err)
	}
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("local submit %s: %w", key, err)
	}
	lockPath := filepath.Join(dir, "lock")
	unlock, err := flock.LockOwn(ctx, lockPath)
	// Its mode changed by a workload (restoreMode), set back as often as
	// a record's (restoreTries).
	for try := 0; try < restoreTries && errors.Is(err, os.ErrPermission); try++ {
		if rerr := restoreMode(lockPath, 0o644); rerr != nil {
			return "", fmt.Errorf("local submit %s: %w (%v)", key, err, rerr)
		}
		restored(lockPath)
		unlock, err = flock.LockOwn(ctx, lockPath)
	}
	if err != nil {
		return "", fmt.Errorf("local submit %s: %w", key, err)
	}
	defer unlock()
	// job.json is written here only, under the job's lock: a temporary
	// file of it there now is a killed Submit's.
	atomicfile.RemoveTemps(filepath.Join(dir, "job.json"))
	wasLaunched, err := launched(dir)
	if err != nil {
		return "", fmt.Errorf("local submit %s: whether it was launched: %w", key, err)
	}
	if wasLaunched {
		return key, nil
	}
	// No wrapper runs (none holds the run lock) and none is launched but
	// by a Submit holding the job's lock: what a killed wrapper left of
	// its pid or exit code is no one's. The job read as lost, and a
	// cancelled one is never launched again.
	removeWrapperTemps(dir)
	// Looked for with present, as launched looks: a mark that cannot be
	// stat'd (the job's directory made mode 0 for a moment by a workload
	// of the server's user) is no absent mark, and the job is not
	// launched on it.
	cancelled, err := present(filepath.Join(dir, "cancelled"))
	if err != nil {
		return "", fmt.Errorf("local submit %s: whether it was cancelled: %w", key, err)
	}
	if cancelled {
		return key, nil
	}
	if l.siteFailed() {
		return "", fmt.Errorf("local submit %s: %w", key, backend.ErrSiteDown)
	}
	wd := l.WorkDir(spec)
	// The directories above it let a workload run as the tenant's own
	// user pass through; the directory itself is the job's alone (the
	// agent gives it to the tenant's user in the uid sandbox). Made 0755,
	// what the workload wrote there, its home directory's files among
	// them, was readable by every user of the machine.
	if err := os.MkdirAll(filepath.Dir(wd), 0o755); err != nil {
		return "", fmt.Errorf("local submit %s: work dir: %w", key, err)
	}
	if err := os.Mkdir(wd, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("local submit %s: work dir: %w", key, err)
	}
	rec := record{RunID: spec.RunID, Attempt: spec.Attempt, Command: spec.Command, Env: spec.Env,
		WorkDir: wd, Submitted: time.Now().UTC(), SubmittedOnFiles: l.launchOnFiles(key)}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "job.json"), data, 0o600); err != nil {
		return "", fmt.Errorf("local submit %s: %w", key, err)
	}
	if err := l.launch(dir, wd, spec); err != nil {
		return "", fmt.Errorf("local submit %s: %w", key, err)
	}
	return key, nil
}

// launchOnFiles is the launch on the state directory's filesystem clock,
// for the job's record (SubmittedOnFiles), or the zero time where that
// clock cannot be read, which is logged. A Submit failed then: the job
// was never launched for want of a time its readers do without (a record
// without it is counted on the server's own clock, as records written
// before it was kept are; sinceLaunch, wrapperSeen).
func (l *Local) launchOnFiles(key string) time.Time {
	now, err := l.fileNow()
	if err != nil {
		l.logger.Warn("local: the state directory's clock cannot be read; the job's launch is kept on the server's clock alone",
			"job", key, "err", err)
		return time.Time{}
	}
	return now.UTC()
}

// launch starts the wrapper in its own session with the run lock on fd 3,
// sets the job's resource limits on it, then lets it start the job
// through the gate on fd 4. A limit that cannot be set stops the job
// before it starts: the wrapper has ended when launch returns the error.
func (l *Local) launch(dir, wd string, spec backend.Spec) error {
	if err := checkLimits(l.Limits); err != nil {
		return fmt.Errorf("local backend: %w", err)
	}
	floorArgs, err := l.floorArgs()
	if err != nil {
		return err
	}
	// The job's files are the server's: one whose mode a workload changed
	// (restoreMode) has it set back, and a link in its place is refused.
	runLock, err := openOwn(filepath.Join(dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer runLock.Close()
	if wrapper, err := takeRunLock(runLock); err != nil || wrapper {
		return err // with a wrapper holding it, the job is running already
	}
	out, err := openOwn(filepath.Join(dir, "output.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmdLock, err := openCmdLock(dir)
	if err != nil {
		return err
	}
	defer cmdLock.Close()
	args := append(append([]string{"-c", wrapper, "meridian-job", dir}, spec.Command...), floorArgs...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = wd
	cmd.Stdout, cmd.Stderr = out, out
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer gateW.Close()
	cmd.ExtraFiles = []*os.File{runLock, gateR, cmdLock} // fds 3, 4 and 5
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = l.jobEnv(spec, wd)
	err = cmd.Start()
	gateR.Close()
	if err != nil {
		return err
	}
	if err := setLimits(cmd.Process.Pid, l.Limits); err != nil {
		gateW.Close()
		cmd.Wait() //nolint:errcheck // it ends at the closed gate
		return fmt.Errorf("local backend: %w", err)
	}
	// Kept before the gate opens: without it the wrapper starts nothing.
	// The wrapper waits at the gate, so its start time is read off the
	// very process.
	rec := launchRec{WorkDir: wd, Pid: cmd.Process.Pid}
	if st, ok := readStat(cmd.Process.Pid); ok {
		rec.Start = st.start
	}
	if err := writeLaunch(dir, rec); err != nil {
		gateW.Close()
		cmd.Wait() //nolint:errcheck
		return fmt.Errorf("keep the job's launch: %w", err)
	}
	if _, err := gateW.Write([]byte("go\n")); err != nil {
		gateW.Close()
		cmd.Wait() //nolint:errcheck
		return fmt.Errorf("open the job's gate: %w", err)
	}
	// Reap the wrapper while this process lives; the job does not depend on it.
	go cmd.Wait() //nolint:errcheck
	return nil
}

// jobEnv is the job's environment: the variables of backend.InheritedEnv
// this process has, the spec's, then the backend's own, which the spec
// cannot change. MERIDIAN_PRIVATE_DIR names the state directory to the
// agent, which refuses to start a workload that could read it
// (agent.EnvPrivateDir), and MERIDIAN_SITE_LOG_LIMIT bounds what it
// writes of the workload's output to output.log; the agent passes
// neither on to the workload.
func (l *Local) jobEnv(spec backend.Spec, wd string) []string {
	var env []string
	for _, k := range backend.InheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	vars := spec.JobEnv()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	env = append(env,
		"MERIDIAN_RUN_ID="+spec.RunID,
		"MERIDIAN_ATTEMPT="+strconv.Itoa(spec.Attempt),
		"MERIDIAN_WORKDIR="+wd,
		"MERIDIAN_ACCELERATORS="+strconv.Itoa(spec.Accelerators),
		"MERIDIAN_PRIVATE_DIR="+l.stateDir,
	)
	// Always the backend's own: left out, the spec's went through.
	limit := l.OutputLimit
	if limit <= 0 {
		limit = agent.DefaultSiteLogLimit
	}
	return append(env, agent.EnvSiteLogLimit+"="+strconv.FormatInt(limit, 10))
}

// launched reports whether a wrapper was ever started for the job in dir.
// It looks at the run lock first: under the job's lock no wrapper can be
// launched, so one not holding it then never will, and its files, read
// after, are final. Read the other way round, a wrapper that wrote its
// pid and ended between the two looks read as never launched, and the job
// ran twice. A file that cannot be looked at (the job's directory made
// mode 0 for a moment by a workload of the server's user) is an error,
// not an absent file: read so, a job that had ended read as never
// launched, and a Submit launched it again.
func launched(dir string) (bool, error) {
	if held, err := runLockHeld(dir); err != nil || held {
		return held, err
	}
	for _, name := range []string{"pid", "exitcode"} {
		if ok, err := present(filepath.Join(dir, name)); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// takeRunLock takes the run lock on f for a launch, or says that a
// wrapper holds it. A wrapper holds it exclusively for its whole life;
// Status's probes (lockHeld) hold it shared for a moment. A launch that
// met a probe took it for a wrapper and started nothing, and the job read
// as lost, never having run: a shared holder now delays the launch, up to
// runLockWait, instead.
func takeRunLock(f *os.File) (wrapper bool, err error) {
	deadline := time.Now().Add(runLockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return false, err
		}
		// Exclusive or shared? A shared lock is had only beside shared
		// holders.
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
			return false, err
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("the job's run lock is held shared for over %s by something other than its status probes", runLockWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// runLockWait bounds how long a launch waits out shared holders of the
// run lock (a probe holds it for microseconds).
const runLockWait = 2 * time.Second

// runLockHeld reports whether a wrapper (or a launching controller) holds
// the job's run lock. A shared probe never blocks another probe.
//
// A landlock workload runs as the server's user and may chmod any job's
// files (Landlock does not cover metadata), though it can neither read nor
// write them: a run lock it made unreadable made every Cancel of the job
// fail. Where the lock file cannot be opened for want of permission, the
// lock is held while the job's wrapper, which holds it for its whole
// life, lives (findWrapper).
func runLockHeld(dir string) (bool, error) {
	return runLockHeldBy(dir, 0)
}

// runLockHeldBy is runLockHeld knowing the wrapper's pid (0 when not):
// an unreadable lock is then held while that process holds it, one look
// at its own entries in /proc, not a search of every process (Cancel's
// wait asks every 10 ms).
func runLockHeldBy(dir string, pid int) (bool, error) {
	held, err := lockHeld(filepath.Join(dir, "run.lock"), 0o644)
	if !errors.Is(err, os.ErrPermission) {
		return held, err
	}
	if pid > 0 {
		return isWrapper(dir, pid)
	}
	p, err := findWrapper(dir)
	return p > 0, err
}

// lockHeld reports whether someone holds the lock on the file at path.
// It opens it as the server's own record (pinOwn, reopenOwn), never
// through a link and never waiting: a FIFO put in its place held every
// Status of the job for ever. Anything but a regular file of the
// server's there, or one whose mode cannot be set back, is
// os.ErrPermission's kind of answer to runLockHeld, which then looks for
// the job's wrapper itself. A mode a workload changed is set back to
// perm, the one the launch gave the file (0644 for the run lock, 0600
// for the command lock): it was never, and every later look at the job
// (each Status, Cancel's every 10 ms) read the whole of /proc for its
// wrapper; and the command lock was given the run lock's 0644.
func lockHeld(path string, perm os.FileMode) (bool, error) {
	fd, _, err := pinOwn(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil && !errors.Is(err, os.ErrPermission) {
		err = fmt.Errorf("%w: %w", os.ErrPermission, err)
	}
	if err != nil {
		return false, err
	}
	f, err := reopenOwn(path, fd, os.O_RDONLY, perm)
	unix.Close(fd)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return heldShared(f)
}

// submitting says whether a Submit may hold the job's lock (dir/lock),
// launching the job. The lock file is the server's own record: opened
// never through a link nor waiting on a FIFO, only a regular file of the
// server's user with one link, its mode set back where a workload changed
// it (pinOwn, reopenOwn), then probed. A FIFO, a link or a file made mode
// 0 there (by a workload of the server's user: Landlock does not cover
// metadata) made every Status of the job fail, naming it.
//
// Where the file cannot be probed even so, a Submit may still hold the
// lock on the file that was there before (flock.LockOwn refuses what is
// there now, so no later one can). That Submit writes the job's record
// (job.json, which only the server writes) and launches the wrapper,
// which holds the run lock, within wrapperStartBound of the launch the
// record names, counted on the state directory's filesystem clock
// (sinceLaunch), which every server sharing it reads alike: until then the job is starting (its run is neither lost
// nor failed on a workload's word), and after it, no Submit launching the
// job holds the lock.
//
// A record that cannot be read either kept the job starting for as long
// as a workload kept both files unreadable (another job's, setting their
// modes to 0 again each time the server set them back): the run never
// ended and held its accelerators. The bound is then counted from when
// the server first found both unreadable with that same record (a Submit
// since wrote a new one, another inode, and the count starts again),
// kept in its state directory (unreadableFor), so that a server
// started again counts on from there: a Submit launching the job then
// wrote it before, and has launched the wrapper within
// wrapperStartBound. Past it, why names both files, for Status's answer
// that the job is lost.
func (l *Local) submitting(dir string) (held bool, why string, err error) {
	held, lerr := jobLockHeld(filepath.Join(dir, "lock"))
	if lerr == nil {
		l.forgetUnreadable(dir)
		return held, "", nil
	}
	rec, rerr := launchRecord(dir)
	if rerr == nil {
		l.forgetUnreadable(dir)
		return l.sinceLaunch(rec) < wrapperStartBound, "", nil
	}
	unread, err := l.unreadableFor(dir)
	if err != nil {
		return false, "", fmt.Errorf("the job's lock (%v) and record (%v) cannot be read: %w", lerr, rerr, err)
	}
	if unread < wrapperStartBound {
		return true, "", nil
	}
	return false, fmt.Sprintf("neither the job's lock nor its record could be read for %s (%s; %s): no Submit is launching it, "+
		"and its wrapper ended without recording its pid or an exit status, or was never launched", wrapperStartBound, inJobDir(lerr, dir), inJobDir(rerr, dir)), nil
}

// inJobDir is err's text for a Status reason, which the run's tenant
// reads: the job's files named within its directory (exitcode, lock), never
// by the path of the server's state directory.
func inJobDir(err error, dir string) string {
	text := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	return strings.ReplaceAll(text, dir, "the job's directory")
}

// jobLockHeld reports whether someone holds the lock on the job's lock
// file at path, read as submitting says. A missing file is not held.
func jobLockHeld(path string) (bool, error) {
	fd, _, err := pinOwn(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f, err := reopenOwn(path, fd, os.O_RDONLY, 0o644)
	unix.Close(fd)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return heldShared(f)
}

// heldShared reports whether someone holds a lock on f that keeps a
// shared one out, probing without waiting and letting go of what it took.
func heldShared(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func (l *Local) existingJob(handle string) (string, error) {
	if strings.ContainsAny(handle, `/\`) || backend.ValidRunID(handle) != nil {
		return "", fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
	}
	dir := l.jobDir(handle)
	var err error
	for try := 0; try <= lookTries; try++ {
		if err = jobThere(dir); !errors.Is(err, os.ErrPermission) {
			break
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("handle %q: the job's directory: %w", handle, err)
	}
	return dir, nil
}

// lookTries bounds how many times existingJob and Status look at a job
// again after a file of it, or its directory, was made mode 0 between
// the server's setting its mode back and its look (each look sets the
// directory's mode back first; each read of a record sets its own back
// restoreTries times). Against a process doing nothing but making the
// job's directory mode 0, 3 left from none to a third of Status calls
// failing on a loaded machine, 10 under 6%; a look costs a few system
// calls, and where the run lock cannot be opened, a read of /proc.
const lookTries = 10

// jobThere checks the job's directory (ownJobDir, which sets its mode
// back) and says whether its record is there: os.ErrNotExist where
// either is not, an error where that cannot be told. The directory made
// mode 0 again since its mode was set back is os.ErrPermission's kind,
// and existingJob looks again, lookTries times.
func jobThere(dir string) error {
	if err := ownJobDir(dir); err != nil {
		return err
	}
	ok, err := present(filepath.Join(dir, "job.json"))
	if err == nil && !ok {
		err = fmt.Errorf("%s: %w", filepath.Join(dir, "job.json"), os.ErrNotExist)
	}
	return err
}

// Status reports the job's state from its files and its run lock, and
// when it started and ended from when its wrapper wrote its pid and put
// its exit code in place (jobTimes).
func (l *Local) Status(ctx context.Context, handle string) (backend.Status, error) {
	dir, err := l.existingJob(handle)
	if err != nil {
		return backend.Status{}, err
	}
	var st backend.Status
	err = lookAgain(dir, func() (err error) {
		st, err = l.status(dir)
		return err
	})
	if err != nil || st.State == backend.Pending {
		return st, err
	}
	if st.State.Final() {
		removeKilledWrapperTemps(dir)
	}
	// Read as the state is: its directory made mode 0 just after the
	// state was read had them read as zero, which the run controller
	// takes as the site saying nothing (a job that ended between two of
	// its looks counted no time).
	err = lookAgain(dir, func() (err error) {
		st.Started, st.Ended, err = jobTimes(dir, st.State.Final())
		return err
	})
	if err != nil {
		return backend.Status{}, fmt.Errorf("when the job started and ended: %w", err)
	}
	return st, nil
}

// lookAgain runs look, which reads the files of the job in dir. A file
// of the job, or its directory, made mode 0 again since its mode was set
// back (another job's workload racing the server) fails this look, not
// the job: looked at again, its directory's mode set back first,
// lookTries times.
func lookAgain(dir string, look func() error) error {
	err := look()
	for try := 0; try < lookTries && errors.Is(err, os.ErrPermission); try++ {
		if err = ownJobDir(dir); err == nil {
			err = look()
		}
	}
	return err
}

// jobTimes is when the job in dir started and, once final, ended: when
// its wrapper wrote its pid (fileTime) and when its command ended
// (jobEnd). Zero where the file is not there, or not a plain file; an
// error where it cannot be looked at.
func jobTimes(dir string, final bool) (started, ended time.Time, err error) {
	started, err = fileTime(filepath.Join(dir, "pid"))
	if err != nil || !final || started.IsZero() {
		return started, time.Time{}, err
	}
	ended, err = changeTime(filepath.Join(dir, "exitcode"))
	if err != nil || ended.IsZero() {
		return started, ended, err
	}
	return started, jobEnd(dir, started, ended), nil
}

// jobEnd is when the job in dir ended, its exit code file's change time
// being changed: the end its wrapper kept (readLaunchEnd) where that lies
// between the job's start and changed, else changed.
//
// The change time alone, which no one can set back, was the end: but a
// copy or a restore of the state directory (cp -a, tar, rsync -a), or a
// chown -R, chmod -R, setfacl or restorecon over it, moves it to then,
// and a job that ended while no one looked was counted until the copy.
// Its modification time, which a copy keeps, anyone may set back (a
// workload of the server's user, which may set any file's times), and a
// long job counted no time. The wrapper's kept end is content the
// workload cannot write, which a copy keeps. It is read off the host's
// clock, not the filesystem's: an end kept ahead of the change time (a
// clock ahead of the filesystem's by more than fileClockTick) or before
// the start is not taken, and the change time, later only, counts.
func jobEnd(dir string, started, changed time.Time) time.Time {
	kept, ok := readLaunchEnd(dir)
	if !ok || kept.Before(started) || kept.After(changed.Add(fileClockTick)) {
		return changed
	}
	return kept
}

// fileClockTick is how far behind the clock date(1) reads a filesystem's
// time stamps may lie: the kernel stamps files off its coarse clock, up
// to a timer tick (10 ms at the slowest, HZ=100) behind. A wrapper's end
// kept within it after the exit file's change time is its own, and is
// taken, later as it is: counted as past the change time, it read as
// that time before a copy and as the kept end after it.
const fileClockTick = 10 * time.Millisecond

// fileTime is backend.FileTime, but a file that cannot be looked at (its
// directory made mode 0 for a moment) is an error, not a zero time.
func fileTime(path string) (time.Time, error) {
	fi, err := plainFileInfo(path)
	if fi == nil || err != nil {
		return time.Time{}, err
	}
	return fi.ModTime().UTC(), nil
}

// changeTime is the change time of the plain file at path, as fileTime
// says. The job's end is read so: its exit code file's modification time
// may be set to any time by a workload of the server's user (the landlock
// sandbox may set the times of any job's files), and set back to the
// job's start, it had a job that ran for long count no time (the run
// controller takes an end that moves its own stamp earlier). The change
// time is the filesystem's alone: it stamps it when the wrapper renames
// the file into place, and no one can set it back; a workload changing
// the file's times or mode, or the server setting that mode back, moves
// it to then, later only, and the run controller counts no end after its
// own stamp.
func changeTime(path string) (time.Time, error) {
	fi, err := plainFileInfo(path)
	if fi == nil || err != nil {
		return time.Time{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, nil
	}
	return time.Unix(st.Ctim.Unix()).UTC(), nil
}

// plainFileInfo is what Lstat tells of the plain file at path: nil and
// no error where it is not there, or is not a plain file; an error where
// it cannot be looked at.
func plainFileInfo(path string) (os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	return fi, nil
}

// status is the job's state from the files in dir and its run lock.
func (l *Local) status(dir string) (backend.Status, error) {
	// Each file is looked for with present, never exists: one that
	// cannot be looked at (its directory made mode 0 for a moment) is
	// not absent, and the job is not read as lost on it.
	cancelled, err := present(filepath.Join(dir, "cancelled"))
	if err != nil {
		return backend.Status{}, err
	}
	// The run lock first: the wrapper holds it for its whole life and
	// writes the exit code last, so while it is held the job has not
	// ended, whatever the exit code file says (one written under a
	// running job, read first, had it succeed while it ran on). Once it
	// is not held, the wrapper is gone and its files are final.
	held, err := runLockHeld(dir)
	if err != nil {
		return backend.Status{}, err
	}
	if !held {
		// A killed wrapper's (or a power loss's) complete .exitcode.tmp
		// is the job's exit code.
		if _, err := exitTemp(dir); err != nil {
			return backend.Status{}, err
		}
		if st, ok, err := exitStatus(dir, cancelled); ok || err != nil {
			return commandEnded(dir, st, err)
		}
	}
	if l.siteFailed() {
		return backend.Status{State: backend.Lost, Reason: "site failed"}, nil
	}
	if held {
		return backend.Status{State: backend.Running}, nil
	}
	if cancelled {
		return commandEnded(dir, backend.Status{State: backend.Cancelled, ExitCode: 128 + int(syscall.SIGTERM), Reason: "cancelled"}, nil)
	}
	pid, err := present(filepath.Join(dir, "pid"))
	if err != nil {
		return backend.Status{}, err
	}
	if !pid {
		// Starting while a Submit holds the job's lock: it launches the
		// wrapper, which takes the run lock over before Submit lets go.
		// With neither held, the wrapper ended without recording its pid
		// (it could not, or it was killed first, or the host restarted
		// before the pid reached the disk), or was never launched: the
		// job would read as starting for ever.
		submitting, why, err := l.submitting(dir)
		if err != nil {
			return backend.Status{}, err
		}
		if submitting {
			return backend.Status{State: backend.Pending, Reason: "starting"}, nil
		}
		// A Submit may have launched the wrapper and let go since the
		// first look: a wrapper seen now is the job's, running or ended.
		if held, err := runLockHeld(dir); err != nil || held {
			return backend.Status{State: backend.Running}, err
		}
		if st, ok, err := exitStatus(dir, cancelled); ok || err != nil {
			return commandEnded(dir, st, err)
		}
		if pid, err = present(filepath.Join(dir, "pid")); err != nil {
			return backend.Status{}, err
		}
		if pid {
			return wrapperGone(dir)
		}
		if why != "" {
			return backend.Status{State: backend.Lost, Reason: why}, nil
		}
		return backend.Status{State: backend.Lost, Reason: "the job's wrapper ended without recording its pid or an exit status (it could not write them, was killed, or the host restarted)"}, nil
	}
	return wrapperGone(dir)
}

// commandEnded is st, the end the job's wrapper left (its exit code, or
// its cancellation), where the job's command has ended too; while a
// process of the command that left the wrapper's group still holds the
// command lock (commandRuns), the job runs. A Cancel that could not stop
// such a process ended the wrapper and marked the job cancelled, and the
// next Status read Cancelled: a drain took the attempt for stopped and
// the run moved on while the process ran, two copies writing one
// checkpoint. An error reading the lock is the Status's error: the job
// is not taken for ended on it.
func commandEnded(dir string, st backend.Status, err error) (backend.Status, error) {
	if err != nil {
		return st, err
	}
	runs, err := commandRuns(dir)
	if err != nil {
		return backend.Status{}, fmt.Errorf("whether the job's command still runs: %w", err)
	}
	if runs {
		return commandRunsOn, nil
	}
	return st, nil
}

// commandRunsOn is the status of a job whose wrapper has ended while a
// process of its command holds the command lock.
var commandRunsOn = backend.Status{State: backend.Running,
	Reason: "the job's wrapper has ended; a process of its command runs on"}

// exitStatus reads the exit code file, if there is one. The server reads
// it as its own record (readOwn): its mode set back where a workload
// changed it, never through a link, a FIFO or a directory, 64 bytes at
// most. One that is there and cannot be read so even then, or holds no
// number, once the job's wrapper has ended (it writes the file last), is
// the job's end all the same: the job failed, the reason naming the file.
// It made every Status of the job fail, naming it, and the run never
// ended. Only one whose mode a workload changes back each time it is set
// back (another job's may) is an error, naming it: the next Status may
// read it, and the job is not failed for a race another job won.
func exitStatus(dir string, cancelled bool) (backend.Status, bool, error) {
	path := filepath.Join(dir, "exitcode")
	data, err := readOwn(path, 64, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return backend.Status{}, false, nil
	}
	if errors.Is(err, os.ErrPermission) {
		return backend.Status{}, false, err
	}
	var code int
	if err == nil {
		code, err = strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			err = fmt.Errorf("%s: %q is not a number", path, data)
		}
	}
	if err != nil {
		// Whether the wrapper has ended cannot be told (its directory
		// made mode 0 for a moment): the job is not failed on it.
		held, herr := runLockHeld(dir)
		if herr != nil {
			return backend.Status{}, false, herr
		}
		if held {
			return backend.Status{}, false, nil // the wrapper has not ended
		}
		st := backend.Status{State: backend.Failed, Reason: "the job's exit code cannot be read: " + inJobDir(err, dir)}
		if cancelled {
			st.State = backend.Cancelled
		}
		return st, true, nil
	}
	switch {
	case code == 0:
		return backend.Status{State: backend.Succeeded}, true, nil
	case cancelled:
		return backend.Status{State: backend.Cancelled, ExitCode: code, Reason: "cancelled"}, true, nil
	default:
		return backend.Status{State: backend.Failed, ExitCode: code, Reason: fmt.Sprintf("exit code %d", code)}, true, nil
	}
}

// Cancel marks the job cancelled and stops its process group: SIGTERM, then
// SIGKILL after CancelGrace. It returns once the group's wrapper has ended
// and what the job started has too, or TreeWait after the wrapper if some
// of it has not (Clean then says so, and keeps the job's directory).
func (l *Local) Cancel(ctx context.Context, handle string) error {
	dir, err := l.existingJob(handle)
	if err != nil {
		return err
	}
	if ended, err := jobEnded(dir); err != nil || ended {
		return l.cancelEnded(ctx, handle, dir, err)
	}
	ended, markErr := l.markCancelled(handle, dir)
	if ended {
		return l.cancelEnded(ctx, handle, dir, nil)
	}
	killAt := l.cancelKillAt(handle, dir)
	heldAt, pid, err := stopGroup(ctx, dir, syscall.SIGTERM, l.CancelGrace)
	if err != nil {
		return withMarkErr(err, markErr)
	}
	if pid == 0 {
		pid = jobPid(dir)
	}
	// The wrapper has ended, but what the job started may not have: the
	// agent's reaper, in a process group of its own, goes on killing what
	// the workload left once the agent is gone, and a process of the job's
	// group that ignored SIGTERM outlives a wrapper whose command ended.
	// What Cancel returns to may remove the job's directory under them.
	// The job is cancelled whatever is left: Clean says so.
	waitTree(ctx, pid, max(wrapperSeen(dir), heldAt, launchedUpTo(dir, pid)), killAt, l.TreeWait)
	// What holds the job's command lock is the job's, wherever it went
	// (a process that left the session, its parent gone). While it runs
	// the job is not cancelled: its accelerators are not free.
	if err := stopCommand(ctx, dir, killAt, l.CancelGrace, l.TreeWait); err != nil {
		return withMarkErr(fmt.Errorf("local cancel %s: %w", handle, err), markErr)
	}
	if markErr != nil {
		return fmt.Errorf("local cancel %s: the job is stopped, but %w", handle, markErr)
	}
	return nil
}

// markCancelled makes the job's "cancelled" mark, which holds the time of
// its first Cancel, once: a mark there already is never written over.
// Where none was there, it says whether the job ended before the mark
// was made (jobEnded): the mark is then not made, and the job is
// cancelled as an ended one (cancelEnded). markErr says why the mark
// could not be made, or was made but not made durable; where that could
// not be told, the mark is not made and markErr says why.
//
// The mark was looked for with a stat that read it as absent while a
// workload of the server's user kept the job's directory mode 0 in a
// loop, and written outside the looks again that set the mode back:
// where the write met mode 0, Cancel returned before it signalled
// anything, and every retry did so while the job ran on; where it got
// through, it wrote over the first Cancel's time, and where TreeWait is
// shorter than the grace, no retry ever sent SIGKILL. Where the mark
// still cannot be made, the server keeps the first Cancel's time itself
// (cancelAsked), the job is stopped all the same, and the error (which
// Cancel returns once it has) says the mark is not there.
func (l *Local) markCancelled(handle, dir string) (ended bool, markErr error) {
	path := filepath.Join(dir, "cancelled")
	var marked bool
	err := lookAgain(dir, func() (err error) {
		marked, err = present(path)
		return err
	})
	if err == nil && marked {
		return false, nil
	}
	// Looked at again just before the mark: a wrapper that put its exit
	// code in place and ended since the first look has ended the job,
	// and the mark read its nonzero exit as cancelled.
	// Where that look fails each time, the first read the job running:
	// it is stopped all the same, unmarked (Cancel returned before it
	// signalled anything, and so did every retry, the job running on).
	now := time.Now()
	// What a Cancel left unmarked means, for each error.
	const unmarked = "only this server counts the grace from its first Cancel, and once stopped the job may read as failed, not cancelled"
	if ended, err := jobEnded(dir); err != nil {
		l.cancelAsked.LoadOrStore(handle, now)
		return false, fmt.Errorf("its mark (cancelled) was not made, since whether the job had ended could not be told: %s: %w", unmarked, err)
	} else if ended {
		return true, nil
	}
	var made bool
	err = lookAgain(dir, func() error {
		created, err := makeCancelMark(path, timeMark(now))
		made = made || created
		return err
	})
	if err != nil {
		l.cancelAsked.LoadOrStore(handle, now)
		if made {
			return false, fmt.Errorf("its mark (cancelled) was made but not made durable: after a crash, %s: %w", unmarked, err)
		}
		return false, fmt.Errorf("its mark (cancelled) could not be made: %s: %w", unmarked, err)
	}
	return false, nil
}

// withMarkErr is err, Cancel's, saying also why the job's mark could not
// be made, where it could not (markErr).
func withMarkErr(err, markErr error) error {
	if markErr == nil {
		return err
	}
	return fmt.Errorf("%w (and %w)", err, markErr)
}

// launchedUpTo is a time (CLOCK_BOOTTIME, in clock ticks) before which a
// member of the session of the job's wrapper, pid, is the job's
// (waitTree): the latest the wrapper may have begun (pidTimeBound), or
// now if sooner, where the server's launch record names pid and its start
// time and no later process holds pid. 0 where that cannot be told.
//
// The wrapper's pid file's time alone told it (wrapperSeen), and the
// job's command begins after the wrapper writes that file: a wrapper
// killed on its own (kill -9 of it alone) left its command running, read
// lost, and a Cancel that never saw the wrapper alive took the command
// for a later session's under the old id, never signalled it, and
// returned with it holding the job's accelerators (a Submit of the run
// again ran beside it). The id was the wrapper's from its start, and is
// given to no other session while a member of the wrapper's lives: a
// member begun within the bound, with no later process under the id,
// is the job's unless the whole session ended and another took the id
// within those seconds.
func launchedUpTo(dir string, pid int) uint64 {
	launch, ok, err := readLaunch(dir)
	if err != nil || !ok || launch.Pid != pid || launch.Start == 0 {
		return 0
	}
	if st, ok := readStat(pid); ok && st.start != launch.Start {
		return 0 // the id is another's
	}
	rec, err := launchRecord(dir)
	if err != nil {
		return 0
	}
	return bootTicksAt(minTime(pidTimeBound(rec), time.Now()))
}

// jobEnded says whether the job in dir has ended, for Cancel: its
// wrapper wrote its exit code and let go of the run lock. An exit code
// file alone, written under a running job, had Cancel stop nothing. Where
// either cannot be told, the error says so: Cancel went on where the run
// lock could not be looked at, and marked a job that had ended cancelled
// (its nonzero exit read as cancelled, not failed).
// A file that cannot be looked at for a moment (its directory made mode 0
// by another job's workload) is looked at again, as Status does.
func jobEnded(dir string) (ended bool, err error) {
	err = lookAgain(dir, func() error {
		ok, err := present(filepath.Join(dir, "exitcode"))
		if err != nil || !ok {
			ended = false
			return err
		}
		held, err := cancelLockHeld(dir)
		ended = err == nil && !held
		return err
	})
	return ended, err
}

// cancelEnded is Cancel of a job whose wrapper has ended (jobEnded; err
// where that could not be told). A process that kept the command lock
// may run on: a first Cancel that failed saying so ended the wrapper, and
// a retry returned nil at once, the job read cancelled, its accelerators
// free, while the command ran. While the lock is held it is stopped as
// the first Cancel stops it (stopCommand), and Cancel fails while it
// runs. The job is not marked cancelled here: its exit code stands.
//
// A lock that cannot be looked at (the job's directory made mode 0 in a
// loop by a workload of the server's user, once its mode is set back) is
// taken as held: Cancel returned at once on that error, signalling
// nothing, and every retry did so while the command ran on.
func (l *Local) cancelEnded(ctx context.Context, handle, dir string, err error) error {
	if err != nil {
		return cancelErr(handle, err)
	}
	var runs bool
	err = lookAgain(dir, func() (err error) {
		runs, err = commandRuns(dir)
		return err
	})
	if err == nil && !runs {
		return nil
	}
	// The first Cancel keeps its time (cancelAskedName), kept first where
	// two race, and the grace counts from it: with no mark, each retry
	// counted it afresh and, where TreeWait is shorter than the grace,
	// none ever sent SIGKILL. A job a Cancel marked cancelled has its
	// time in that mark. Where it cannot be kept (a full disk), this
	// server keeps the first Cancel's time itself (cancelAsked), and the
	// grace counts from it still; an error that the command still runs
	// says so.
	var markErr error
	var marked bool
	perr := lookAgain(dir, func() (err error) {
		marked, err = present(filepath.Join(dir, "cancelled"))
		return err
	})
	if perr != nil || !marked {
		now := time.Now()
		markErr = lookAgain(dir, func() error {
			return keepCancelAsked(filepath.Join(dir, cancelAskedName), timeMark(now))
		})
		if markErr != nil {
			l.cancelAsked.LoadOrStore(handle, now)
		}
	}
	if err := stopCommand(ctx, dir, l.cancelKillAt(handle, dir), l.CancelGrace, l.TreeWait); err != nil {
		if markErr != nil {
			return fmt.Errorf("local cancel %s: %w (the time of its first Cancel could not be written, and only this server counts its grace from it: %v)", handle, err, markErr)
		}
		return fmt.Errorf("local cancel %s: %w", handle, err)
	}
	return nil
}

// makeCancelMark makes the job's "cancelled" mark at path with data,
// once (a seam for the tests): created is false where one is there.
var makeCancelMark = createCancelMark

// createCancelMark is makeCancelMark: the first of two racing kept.
func createCancelMark(path string, data []byte) (created bool, err error) {
	return createMark(path, data, 0o644)
}

// cancelAskedName is the file (STATE/jobs/KEY/cancel.at) that keeps the
// time of the first Cancel of a job that had ended, a process of its
// command holding the command lock (cancelEnded): the grace counts from
// it as from the "cancelled" mark, which such a job is not given (its
// exit code stands).
const cancelAskedName = "cancel.at"

// keepCancelAsked makes cancelAskedName's file at path with data, once
// (a seam for the tests).
var keepCancelAsked = createCancelAsked

// createCancelAsked is keepCancelAsked: createMark, the first
// of two racing kept.
func createCancelAsked(path string, data []byte) error {
	_, err := createMark(path, data, 0o600)
	return err
}

// cancelKillAt is when Cancel of the job handle, in dir, sends SIGKILL:
// CancelGrace after the job's first Cancel, the time its "cancelled" mark
// holds, or, for a job that had ended without one, its cancelAskedName
// file, or where either could not be written, the time this server kept
// (cancelAsked), the earlier of the two where both are. Counted from each
// call, a holder deaf to SIGTERM was never killed by Cancels retried
// where TreeWait is shorter than the grace. A mark that names a time
// ahead (the clock set back since) counts from now. One that is there
// and cannot be read, once the job's directory's mode is set back, or
// holds no time, is a grace that has run out: counted from each call, a
// workload that made it unreadable (a link put in its place, its
// directory made mode 0 in a loop) kept its holders from ever being
// sent SIGKILL. Where the server kept the first Cancel's time, that time
// counts instead: a mark that could not be made (the directory kept
// mode 0) usually cannot be read either, and the job's group, an
// innocent one's too, got no grace. A killAt of now reaches waitTree
// too, which sends SIGKILL at once to what is left of the wrapper's process group; only
// the holders of the command lock outside it (stopCommand) are asked to
// end first and given one grace, kept, as a holder first seen late is.
func (l *Local) cancelKillAt(handle, dir string) time.Time {
	now := time.Now()
	var at time.Time
	err := lookAgain(dir, func() (err error) {
		at, err = readTimeMark(filepath.Join(dir, "cancelled"), 0o644)
		if errors.Is(err, os.ErrNotExist) {
			at, err = readTimeMark(filepath.Join(dir, cancelAskedName), 0o600)
		}
		return err
	})
	kept, isKept := l.cancelAsked.Load(handle)
	switch {
	case errors.Is(err, os.ErrNotExist):
		at = now
	case err != nil && isKept:
		// The mark could not be made (the directory kept mode 0), and so
		// cannot be read: the time this server kept counts.
		return minTime(kept.(time.Time), now).Add(l.CancelGrace)
	case err != nil:
		return now
	}
	if isKept {
		at = minTime(at, kept.(time.Time))
	}
	return minTime(at, now).Add(l.CancelGrace)
}

// cancelLockHeld is runLockHeld, for Cancel (a seam for the tests).
var cancelLockHeld = runLockHeld

// cancelErr is err, from Cancel of the job handle, naming it; nil where
// err is.
func cancelErr(handle string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("local cancel %s: whether the job has ended: %w", handle, err)
}

// wrapperSeen is a time (CLOCK_BOOTTIME, in clock ticks) at which the
// job's wrapper is known to have been alive: when it wrote its pid file
// (its modification time). 0 when it is not there, or not a plain file.
//
// That time is not the wrapper's word, as the file's content is: a
// workload of the server's user (the landlock sandbox) may set the times
// of any file it can name, though it can write none of the job's files,
// and a pid file's time set ahead made every later session under the
// job's old id the job's for sure, its group signalled by a Cancel of the
// job, lost long ago. The pid file's time counts no later than
// wrapperStartBound after the launch job.json records, which only the
// server writes (pidTimeBound): the wrapper began by then, and a time
// before its real one only makes fewer processes the job's for sure (see
// waitTree). Without a readable record the pid file's time is not used.
//
// The exit code file's time counted too, uncapped: set ahead, it made a
// later session under the job's old id the job's (Clean waited for it
// and kept the job's working directory; a Cancel meeting the wrapper's
// end signalled it). Nothing bounds it as the launch bounds the pid
// file's (its change time, which no one can set back, anyone can move on
// to now), and it told little: Cancel knows when it last saw the wrapper
// hold its run lock itself (stopGroup), and Clean signals nothing, the
// pid file's time telling it a later process under the id from the
// wrapper.
func wrapperSeen(dir string) uint64 {
	fi, err := plainFileInfo(filepath.Join(dir, "pid"))
	if fi == nil || err != nil {
		return 0
	}
	rec, err := launchRecord(dir)
	if err != nil {
		return 0
	}
	return bootTicksAt(minTime(fi.ModTime(), pidTimeBound(rec)))
}

// wrapperStartBound bounds how long after the launch its record names
// the wrapper begins: its record is synced, the run lock taken (waiting
// out status probes for up to runLockWait), then the wrapper started.
const wrapperStartBound = 10 * time.Second

// pidTimeBound is the latest a job's pid file's time may be taken as
// (wrapperSeen): wrapperStartBound after the launch rec names, on the
// filesystem's clock (SubmittedOnFiles), which stamped the pid file too.
// It was counted from the launching server's own clock (Submitted): a
// launcher whose clock ran ahead of the filesystem's let a workload set
// the pid file's time ahead by as much, and a later session under the
// job's old id begun within that was the job's for sure. A record
// without it (written by an older server, or when that clock could not
// be read) is counted from Submitted, as before.
func pidTimeBound(rec record) time.Time {
	if !rec.SubmittedOnFiles.IsZero() {
		return rec.SubmittedOnFiles.Add(wrapperStartBound)
	}
	return rec.Submitted.Add(wrapperStartBound)
}

// launchRecord is the job's record in dir, which must name its launch.
func launchRecord(dir string) (record, error) {
	path := filepath.Join(dir, "job.json")
	data, err := readOwn(path, maxRecord, 0o600)
	if err != nil {
		return record{}, err
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return record{}, fmt.Errorf("%s: %w", path, err)
	}
	if rec.Submitted.IsZero() {
		return record{}, fmt.Errorf("%s: no launch time", path)
	}
	return rec, nil
}

// sinceLaunch is how long ago the launch rec names was, for the bound on
// a job read as starting (submitting). It is read off the filesystem's
// clock (fileNow), on which Submit kept the launch (SubmittedOnFiles):
// the launching server's own clock (Submitted) was compared with the
// reading server's, and servers sharing the state directory whose clocks
// were more than wrapperStartBound apart read a job a Submit could still
// be launching as lost at their first look (one ahead), or kept it
// starting for as long as they were apart (one behind).
//
// The record's own change time, also the filesystem's, is not used: no
// one can set it back, but anyone may move it to now (a workload that
// changes the record's mode or times, and the server itself when it sets
// that mode back), and a later launch keeps the job starting, so a
// workload doing so each time would keep it starting for ever. The time kept in
// the record is the server's alone: no workload can write the record.
//
// A record without it (written before it was kept, or when that clock
// could not be read at the Submit), one that lies after that clock's now
// (the clock set back, or the state directory moved to another
// filesystem), or that clock failing to be read now, is counted on the
// server's own clock, as before: bounded, though not alike for every
// server. A clock that could not be read made Status fail, and the job
// was read neither as starting nor as lost for as long as it could not.
// That is not logged: Status is asked again and again.
func (l *Local) sinceLaunch(rec record) time.Duration {
	if rec.SubmittedOnFiles.IsZero() {
		return l.clock().Sub(rec.Submitted)
	}
	now, err := l.fileNow()
	if err != nil || rec.SubmittedOnFiles.After(now) {
		return l.clock().Sub(rec.Submitted)
	}
	return now.Sub(rec.SubmittedOnFiles)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's start
// time: 100 on every architecture Linux runs on today.
const clockTicks = 100

// bootTicksAt is wall-clock time t on the clock of /proc/PID/stat's start
// times (CLOCK_BOOTTIME, in clock ticks), rounded down; 0 when it cannot
// be told or lies before the boot.
func bootTicksAt(t time.Time) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	at := time.Duration(ts.Nano()) - time.Since(t)
	if at <= 0 {
		return 0
	}
	return uint64(at / (time.Second / clockTicks))
}

// treeProc is a process of a job's tree that waitTree follows.
type treeProc struct {
	start uint64 // tells it from a later process given the same pid
	pgid  int
	// sure says the process is known to be the job's; one that may be
	// another session's under the job's old id (see waitTree) is waited
	// for but never signalled.
	sure bool
}

// waitTree waits, for at most bound, until nothing is left of the job
// whose wrapper had pid (and led its session): the processes of that
// session and every process below one of them (a process that left the
// session, below the agent's reaper, which stays in it), followed by
// their start times. Unless killAt is zero, what is left of the wrapper's
// own process group gets SIGTERM (once: one forked as the group was
// signalled missed it) and, from killAt on, SIGKILL (the job's command
// ignoring SIGTERM); never the reaper, which leads a group of its own and
// ends what is below it itself. It returns how many were left at the end.
//
// A session's id is its leader's pid, which the kernel gives no other
// process while a member of the session lives; once the last has ended
// it may. A later session under the same id, another job's (each job's
// wrapper leads its own session and group) or anything's that called
// setsid, was waited for as the job's, and its members in the group of
// the same id got SIGTERM and SIGKILL from Cancel: a Cancel of a job lost
// long ago (its wrapper killed, the host restarted) killed whatever now
// led a session under the old pid. Now a member of the session is the
// job's for sure only if it began before aliveAt (CLOCK_BOOTTIME, in
// clock ticks), a time the wrapper was known to live: no process could
// have the id as its session's from before the wrapper began (the id was
// free then), and while the wrapper lived only its own session's members
// could. While such a member lives, the id has been the job's all along,
// and every member is. A process holding the id as its pid that began
// after aliveAt is not the wrapper: the id has been another's since, and
// no member is the job's. Any other member (one begun after aliveAt, with
// none of the sure ones left: the job's, or a later session's whose
// leader has gone) is waited for, never signalled. A process below one
// that is the job's is the job's.
func waitTree(ctx context.Context, pid int, aliveAt uint64, killAt time.Time, bound time.Duration) (int, error) {
	if pid <= 1 {
		return 0, nil
	}
	deadline := time.Now().Add(bound)
	known := map[int]treeProc{}
	termed := map[int]uint64{}
	for {
		left := treeLeft(pid, aliveAt, known)
		if len(left) == 0 {
			return 0, nil
		}
		for p, tp := range left {
			switch {
			case tp.pgid != pid || killAt.IsZero() || !tp.sure:
			case !time.Now().Before(killAt):
				signalStarted(p, tp.start, unix.SIGKILL)
			case termed[p] != tp.start:
				// Begun after the group's SIGTERM (forked by the
				// command as the signal came), it has not had one.
				termed[p] = tp.start
				signalStarted(p, tp.start, unix.SIGTERM)
			}
		}
		if !time.Now().Before(deadline) {
			return len(left), nil
		}
		select {
		case <-ctx.Done():
			return len(left), ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// procStat is what waitTree reads of a process in /proc/PID/stat.
type procStat struct {
	ppid, pgid, sid int
	start           uint64
	zombie          bool
}

// readStat reads /proc/PID/stat's fields waitTree needs.
func readStat(pid int) (procStat, bool) {
	data, err := backend.ReadSmallFile("/proc/"+strconv.Itoa(pid)+"/stat", 4096)
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold anything: the fields
	// are counted from its last closing parenthesis (field 3, the state).
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])                // field 4
	pgid, err2 := strconv.Atoi(f[2])                // field 5
	sid, err3 := strconv.Atoi(f[3])                 // field 6
	start, err4 := strconv.ParseUint(f[19], 10, 64) // field 22
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return procStat{}, false
	}
	return procStat{ppid: ppid, pgid: pgid, sid: sid, start: start, zombie: f[0] == "Z" || f[0] == "X"}, true
}

// treeLeft is what runs of the tree of the job whose wrapper had pid: the
// processes of its session (sure, or not: see waitTree), and those below
// a process of the tree, known holding those seen before (a process that
// left the session is found below its parent while that lives, and
// followed by its start time after). Zombies hold nothing and are left
// out.
func treeLeft(pid int, aliveAt uint64, known map[int]treeProc) map[int]treeProc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	stats := map[int]procStat{}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(p); ok {
			stats[p] = st
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	// Read again after the scan: what holds the id, and whether a member
	// begun before aliveAt has lived through the scan.
	reused, through := false, false
	if st, ok := readStat(pid); ok && st.start > aliveAt {
		reused = true
	}
	for p, st := range stats {
		if st.sid == pid && st.start < aliveAt && !through {
			now, ok := readStat(p)
			through = ok && now.start == st.start
		}
	}
	in := map[int]bool{} // true: the job's for sure
	var queue []int
	for p, st := range stats {
		k, ok := known[p]
		switch {
		case ok && k.start == st.start:
			in[p] = k.sure
		case st.sid == pid && !reused:
			in[p] = st.start < aliveAt || through
		default:
			continue
		}
		queue = append(queue, p)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if sure, seen := in[c]; !seen || in[p] && !sure {
				in[c] = in[p]
				queue = append(queue, c)
			}
		}
	}
	left := map[int]treeProc{}
	for p := range known {
		if _, ok := in[p]; !ok {
			delete(known, p)
		}
	}
	for p, sure := range in {
		st := stats[p]
		known[p] = treeProc{start: st.start, pgid: st.pgid, sure: sure}
		if !st.zombie {
			left[p] = known[p]
		}
	}
	return left
}

// signalStarted sends sig to pid if it is still the process that started
// at start: through a pidfd, so that a pid reused since it was read is
// never signalled.
func signalStarted(pid int, start uint64, sig unix.Signal) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // ended already (or a kernel before 5.3: it is left be)
	}
	defer unix.Close(fd)
	if st, ok := readStat(pid); !ok || st.start != start {
		return
	}
	unix.PidfdSendSignal(fd, sig, nil, 0)
}

// stopGroup signals the job's process group while its wrapper lives (so the
// group id cannot have been reused), escalating to SIGKILL after grace.
//
// The wrapper may be between its check for a stop and the start of its
// command when the signal comes: the command, begun just after, missed the
// signal and ran until the grace's SIGKILL. And a signal that lands in a
// child of the wrapper between its fork and its exec is taken by the
// wrapper's trap, which the child keeps until the exec: the command then
// ran on, though it was there (forked) when the group was signalled, or
// though it got the signal again 100 ms later, still not exec'd on a busy
// machine. A child of the wrapper is therefore signalled again once it
// runs its command (its command line is no longer the wrapper's), unless
// it already ran it when the group was signalled.
//
// It returns when it last found the wrapper alive (CLOCK_BOOTTIME, in
// clock ticks; 0 if it never did) and the wrapper's pid (0 if it never
// learnt it), for waitTree.
func stopGroup(ctx context.Context, dir string, sig syscall.Signal, grace time.Duration) (uint64, int, error) {
	var heldAt uint64
	pid := 0
	deadline := time.Now().Add(grace)
	sent := false
	var wrapperLine string
	// The wrapper's children, by pid, with their start times: wait is
	// false once signalled in their command, or seen running it when the
	// group was signalled; true while they may yet take a signal in the
	// wrapper's trap.
	type child struct {
		start uint64
		wait  bool
	}
	pending := map[int]child{}
	for {
		now := bootTicksAt(time.Now())
		held, err := runLockHeldBy(dir, pid)
		if err != nil || !held {
			return heldAt, pid, err
		}
		heldAt = now
		if pid > 0 && !leadsOwnSession(pid) {
			// The group signalled is gone, and the run lock is still
			// held: it was not the wrapper's (a decoy that passed for
			// it), which is looked up again. Signalled as gone, the
			// decoy's group was signalled until the caller gave up,
			// and the job ran on. The wrapper's own end (a zombie, or
			// a child of it holding the lock a moment longer) finds
			// no other, and the group it led is kept.
			if p := lookUpWrapper(dir); p > 0 && p != pid {
				pid, sent, wrapperLine = p, false, ""
				pending = map[int]child{}
			}
		}
		if pid == 0 {
			pid = lookUpWrapper(dir)
		}
		if pid > 0 && (!sent || time.Now().After(deadline)) {
			if sent {
				sig = syscall.SIGKILL
			}
			if !sent {
				wrapperLine = cmdline(pid)
				for _, c := range children(pid) {
					if st, ok := readStat(c); ok {
						pending[c] = child{st.start, wrapperLine == "" || cmdline(c) == wrapperLine}
					}
				}
			}
			if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				return heldAt, pid, fmt.Errorf("signal job group %d: %w", pid, err)
			}
			sent = true
		} else if pid > 0 && sent && sig == syscall.SIGTERM {
			for _, c := range children(pid) {
				// Its start time before its command line: the child may
				// end and its pid go to another process at any time, and
				// signalStarted then tells that process from it.
				st, ok := readStat(c)
				if !ok || st.ppid != pid {
					continue
				}
				line := cmdline(c)
				k, seen := pending[c]
				seen = seen && k.start == st.start
				switch {
				case line == "": // ended
				case line == wrapperLine:
					pending[c] = child{st.start, true} // not exec'd yet
				case !seen || k.wait:
					// Begun since the signal, or exec'd since: it runs
					// the command (or, once the command has ended, the
					// wrapper's own commands, which ignore SIGTERM).
					pending[c] = child{st.start, false}
					beforeChildSignal(c)
					signalStarted(c, st.start, sig)
				}
			}
		}
		select {
		case <-ctx.Done():
			return heldAt, pid, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lookUpWrapper is runningWrapper, for stopGroup (a seam for the tests).
var lookUpWrapper = runningWrapper

// beforeChildSignal is called by stopGroup between reading a child of the
// wrapper and signalling it (a seam for the tests).
var beforeChildSignal = func(pid int) {}

// cmdline is process pid's command line, "" when it cannot be read (it
// has ended) or is empty (a zombie).
func cmdline(pid int) string {
	data, err := backend.ReadSmallFile("/proc/"+strconv.Itoa(pid)+"/cmdline", 256<<10)
	if err != nil {
		return ""
	}
	return string(data)
}

// children lists process pid's children (Linux: /proc/PID/task/PID/children;
// none where the kernel does not say).
func children(pid int) []int {
	p := strconv.Itoa(pid)
	data, err := backend.ReadSmallFile("/proc/"+p+"/task/"+p+"/children", 64<<10)
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if c, err := strconv.Atoi(f); err == nil && c > 1 {
			out = append(out, c)
		}
	}
	return out
}

// jobPid is the pid of the job's wrapper: what its launch record or, for a
// job without one, its pid file says (wrapperPid), or, where
// the file is there but cannot be read (a landlock workload, which runs as
// the server's user, may chmod any job's files: Landlock does not cover
// metadata), the wrapper found by what the kernel says of it while it
// lives (findWrapper). A pid file made unreadable kept Cancel from
// signalling the job, which ran on. 0 when neither tells.
func jobPid(dir string) int {
	if pid, _, _ := wrapperPid(dir); pid > 0 {
		return pid
	}
	if _, err := os.Lstat(filepath.Join(dir, "pid")); err != nil {
		return 0
	}
	pid, _ := findWrapper(dir)
	return pid
}

// runningWrapper is the pid of the job's running wrapper, for stopGroup
// to signal its group: what the launch record names where that process is
// the wrapper launch started for the job (leadsJobWrapper, begun when
// the record says), or what it or, for a job without one, the pid file
// names (wrapperPid) where that process holds the job's run lock as the
// wrapper does (isWrapper), else the wrapper found by what the kernel
// says of it (findWrapper). The pid file's pid was taken on its command
// line alone too: any process leading its own session whose command line
// reads sh -c X meridian-job DIR (a decoy the workload started, named in
// a pid file it wrote) was the job's wrapper, and Cancel signalled it,
// not the job, which ran on. 0 where the pid file is not
// there yet (the wrapper writes it first thing) or no wrapper is found.
// The pid file's word alone was taken while the run lock was held: a pid
// file naming another process (a workload that could write its job's
// directory) had Cancel kill another session's group and leave the job
// running, signalling that group again until its caller gave up. Only
// the job's wrapper, or a process that made itself look like it (its
// command line, set by its own exec), passes. It costs a look at one
// process's entries in /proc, once a Cancel; the whole of /proc only
// where the pid file does not name the wrapper.
func runningWrapper(dir string) int {
	// Not before the pid file is there, though the launch record names
	// the pid from the start: the wrapper writes it first thing, and one
	// signalled before it recorded its pid ended with the attempt read as
	// never launched.
	if _, err := os.Lstat(filepath.Join(dir, "pid")); err != nil {
		return 0
	}
	if pid, start, launched := wrapperPid(dir); pid > 0 {
		if launched && leadsJobWrapper(pid, dir) && (start == 0 || startedAt(pid, start)) {
			return pid
		}
		ok, err := isWrapper(dir, pid)
		if err != nil {
			return 0 // the run lock cannot be looked at: the next look tells
		}
		if ok {
			return pid
		}
	}
	pid, _ := findWrapper(dir)
	return pid
}

// leadsJobWrapper says whether process p leads its own session and group
// (launch's setsid) and runs the wrapper launch started for the job in
// dir: its command line names dir (sh -c WRAPPER meridian-job DIR
// COMMAND...). It reads no file of the job: a run lock put in place of
// the wrapper's (by a workload that could write its job's directory) is
// held by no wrapper, and the wrapper is still told.
func leadsJobWrapper(p int, dir string) bool {
	if !leadsOwnSession(p) {
		return false
	}
	args := strings.SplitN(cmdline(p), "\x00", 6)
	return len(args) == 6 && args[3] == "meridian-job" && args[4] == dir
}

// startedAt says whether process p began at start (clock ticks since
// boot, as /proc/PID/stat tells it).
func startedAt(p int, start uint64) bool {
	st, ok := readStat(p)
	return ok && st.start == start
}

// leadsOwnSession says whether process p, a live one, leads its own
// session and group.
func leadsOwnSession(p int) bool {
	if p <= 1 {
		return false
	}
	st, ok := readStat(p)
	return ok && st.sid == p && st.pgid == p && !st.zombie
}

// findWrapper finds the job's running wrapper without reading any of the
// job's files, whose modes a workload may change: it is the process that
// leads its own session and group (launch's setsid), runs the wrapper
// (its command line), and holds the job's run lock (its inode, which stat
// tells whatever its mode) open to read and write, as its fd 3 or where
// its shell moved it while the command runs. A workload cannot hold such
// a file: its sandbox lets it open no file of the state directory
// (Landlock, or the directory's mode for a workload run as another user);
// it may open one O_PATH, which fdinfo tells. It reads /proc once (one
// stat file a process, and the command line and at most
// maxWrapperFds fds of those that lead a session), and says 0 when it
// finds none; an error where the run lock cannot be looked at.
func findWrapper(dir string) (int, error) {
	want, err := runLockStat(dir)
	if want == nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil && wrapperOf(p, want) {
			return p, nil
		}
	}
	return 0, nil
}

// isWrapper says whether process pid is the job's running wrapper, as
// findWrapper judges one.
func isWrapper(dir string, pid int) (bool, error) {
	want, err := runLockStat(dir)
	return want != nil && wrapperOf(pid, want), err
}

// runLockStat is what stat tells of the job's run lock, whatever its
// mode; nil when it is not there or not a regular file. One that cannot
// be looked at (its directory made mode 0 for a moment by a workload of
// the server's user) is an error: read as absent, no wrapper held it,
// and a running job whose run.lock could not be opened either read as
// lost.
func runLockStat(dir string) (*syscall.Stat_t, error) {
	fi, err := os.Lstat(filepath.Join(dir, "run.lock"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	return st, nil
}

// wrapperOf says whether process p leads its own session and group, runs
// the wrapper, and holds the run lock want describes open to read and
// write.
func wrapperOf(p int, want *syscall.Stat_t) bool {
	if !leadsOwnSession(p) {
		return false
	}
	// sh -c WRAPPER meridian-job DIR COMMAND...
	if args := strings.SplitN(cmdline(p), "\x00", 5); len(args) < 5 || args[3] != "meridian-job" {
		return false
	}
	return holdsFile(p, uint64(want.Dev), want.Ino)
}

// maxWrapperFds bounds the file descriptors findWrapper looks at in a
// process: a wrapper has a handful.
const maxWrapperFds = 64

// holdsFile says whether process pid has the file dev and ino name open
// to read and write (not O_PATH) among its first maxWrapperFds file
// descriptors.
func holdsFile(pid int, dev, ino uint64) bool {
	fds := "/proc/" + strconv.Itoa(pid) + "/fd"
	f, err := os.Open(fds)
	if err != nil {
		return false
	}
	names, _ := f.Readdirnames(maxWrapperFds)
	f.Close()
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		var got unix.Stat_t
		if unix.Stat(fds+"/"+name, &got) != nil || got.Dev != dev || got.Ino != ino {
			continue
		}
		if flags, ok := fdFlags(pid, fd); ok && flags&unix.O_PATH == 0 && flags&unix.O_ACCMODE == unix.O_RDWR {
			return true
		}
	}
	return false
}

// fdFlags reads the open flags of process pid's file descriptor fd
// (/proc/PID/fdinfo/FD).
func fdFlags(pid, fd int) (int, bool) {
	data, err := backend.ReadSmallFile("/proc/"+strconv.Itoa(pid)+"/fdinfo/"+strconv.Itoa(fd), 4096)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return int(flags), err == nil
		}
	}
	return 0, false
}

func readPid(dir string) int {
	pid, _ := pidFile(dir)
	return pid
}

// pidFile is the pid the job's pid file names: 0 and no error where there
// is none (or it names none). A pid file whose mode a workload changed
// has it set back (restoreMode): once the wrapper has ended, the pid is
// all that names the session whose processes Cancel and Clean wait for,
// and Clean removed the working directory under them. An error says the
// file is there but cannot be read.
func pidFile(dir string) (int, error) {
	data, err := readOwn(filepath.Join(dir, "pid"), 64, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, nil
	}
	return pid, nil
}

// Logs returns the job's output so far. The file must be a plain file,
// not a link: one put in output.log's place had the file it named read as
// the job's output, and a FIFO there kept the open waiting for a writer.
func (l *Local) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	dir, err := l.existingJob(handle)
	if err != nil {
		return nil, err
	}
	f, err := backend.OpenPlainFile(filepath.Join(dir, "output.log"))
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// LogsAt is Logs from byte off on: it seeks, reading nothing before off,
// and names the file it opened (backend.FileLogsAt), so that a follower
// of the output sees a file written anew as such. The file must be a plain
// file, not a link.
func (l *Local) LogsAt(ctx context.Context, handle string, off int64) (io.ReadCloser, backend.LogInfo, error) {
	if off < 0 {
		return nil, backend.LogInfo{}, fmt.Errorf("log offset %d: want 0 or more", off)
	}
	dir, err := l.existingJob(handle)
	if err != nil {
		return nil, backend.LogInfo{}, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "output.log"), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), backend.LogInfo{}, nil
	}
	if err != nil {
		return nil, backend.LogInfo{}, err
	}
	return backend.FileLogsAt(f, off)
}

// Find returns the handle of the job for runID and attempt, if it was
// launched.
func (l *Local) Find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	if err := backend.ValidRunID(runID); err != nil {
		return "", false, err
	}
	key := backend.Spec{RunID: runID, Attempt: attempt}.Key()
	dir := l.jobDir(key)
	if err := ownJobDir(dir); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	} else if err != nil {
		return "", false, fmt.Errorf("find %s: %w", key, err)
	}
	// A job whose submit was interrupted before its process started is not
	// found, so that the caller submits it again (and Submit launches it).
	found, err := foundJob(dir)
	if err != nil {
		return "", false, fmt.Errorf("find %s: %w", key, err)
	}
	if found {
		return key, true, nil
	}
	return "", false, nil
}

// foundJob says whether the job in dir has a record and was launched or
// cancelled (Find); an error where a file cannot be looked at, never a
// job not found (its caller would submit it again).
func foundJob(dir string) (bool, error) {
	if ok, err := present(filepath.Join(dir, "job.json")); err != nil || !ok {
		return false, err
	}
	if ok, err := launched(dir); err != nil || ok {
		return ok, err
	}
	return present(filepath.Join(dir, "cancelled"))
}

// FailSite simulates the loss of this site: it marks the site failed (Submit
// then fails with backend.ErrSiteDown and Status reports unfinished jobs
// Lost) and kills every running job's process group.
func (l *Local) FailSite(ctx context.Context) error {
	if err := atomicfile.WriteFile(filepath.Join(l.stateDir, "site-failed"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return fmt.Errorf("fail site: %w", err)
	}
	entries, err := os.ReadDir(filepath.Join(l.stateDir, "jobs"))
	if err != nil {
		return fmt.Errorf("fail site: %w", err)
	}
	for _, e := range entries {
		if _, _, err := stopGroup(ctx, filepath.Join(l.stateDir, "jobs", e.Name()), syscall.SIGKILL, 0); err != nil {
			return fmt.Errorf("fail site: job %s: %w", e.Name(), err)
		}
	}
	return nil
}

// RestoreSite ends a simulated loss: new jobs may be submitted again. Jobs
// killed by FailSite stay Lost.
func (l *Local) RestoreSite(ctx context.Context) error {
	err := os.Remove(filepath.Join(l.stateDir, "site-failed"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore site: %w", err)
	}
	return atomicfile.SyncDir(l.stateDir)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// present says whether the file at path is there: false only where it is
// not (ENOENT), an error where that cannot be told. exists reads a file
// it cannot stat as absent: a workload of the server's user (the
// landlock sandbox) that made a job's directory mode 0 for a moment made
// its job.json absent (Status and Cancel answered that the job was not
// there, and the run controller ended a run whose job ran on as one its
// site no longer knew) and its pid file absent (a running job read as
// starting, or as lost).
func present(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// waitCommand waits until the job's command lock is free (commandRuns),
// or deadline has passed (looking at least once), or ctx is done.
func waitCommand(ctx context.Context, dir string, deadline time.Time) error {
	for {
		runs, err := commandRuns(dir)
		if err == nil && !runs {
			return nil
		}
		if err == nil {
			err = errors.New("a process of the job's command still runs (it holds the job's command lock)")
		}
		if !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Clean removes the working directory of an ended job: what the agent
// would have wiped had it not been killed. A running job is left alone, and
// so is the directory of a job whose wrapper has ended while processes it
// started have not (the agent's reaper still killing what the workload
// left): Clean waits TreeWait for them, and if some still run then, keeps
// the directory and says so.
func (l *Local) Clean(ctx context.Context, handle string) error {
	dir, err := l.existingJob(handle)
	if errors.Is(err, backend.ErrNotFound) {
		// Its directory gone, nothing of the job is left to count a
		// grace for: the time kept was kept for the server's life.
		l.cancelAsked.Delete(handle)
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean %s: %w; its working directory is kept", handle, err)
	}
	if held, err := runLockHeld(dir); err != nil || held {
		return err
	}
	// Its run has ended with it: what unreadableFor kept of it (a job
	// read as lost kept it) bounds nothing any more, and was kept for good.
	l.forgetUnreadable(dir)
	// So was the time of its first Cancel that this server kept
	// (cancelAsked), one entry for each such job for the server's life;
	// it is kept while a process of the job's command holds its lock,
	// which a later Cancel still counts the grace for.
	if runs, err := commandRuns(dir); err == nil && !runs {
		l.cancelAsked.Delete(handle)
	}
	// The pid names the session whose processes are waited for, and the
	// launch record both it and the working directory, where the job has
	// one (launchesDir): one that cannot be read keeps the directory.
	launch, kept, err := readLaunch(dir)
	if err != nil {
		return fmt.Errorf("clean %s: the job's launch record names its working directory and cannot be read: %w; its working directory is kept", handle, err)
	}
	pid := launch.Pid
	if !kept {
		if pid, err = pidFile(dir); err != nil {
			return fmt.Errorf("clean %s: the job's pid file names the processes to wait for and cannot be read: %w; its working directory is kept", handle, err)
		}
	}
	// Nothing is killed here: a job that ended by itself is not stopped.
	deadline := time.Now().Add(l.TreeWait)
	if left, err := waitTree(ctx, pid, wrapperSeen(dir), time.Time{}, l.TreeWait); err != nil || left > 0 {
		if err == nil {
			err = fmt.Errorf("%d processes it started still run %s after its wrapper ended; its working directory is kept", left, l.TreeWait)
		}
		return fmt.Errorf("clean %s: %w", handle, err)
	}
	// A process of the job's command that left its session (its parent
	// gone) is found by nothing else: its working directory was removed
	// under it. It is waited for as the tree is, within the same bound:
	// the agent's reaper of an agent that handed it the lock, ending what
	// the workload left, made Clean fail at once, and the controller asks
	// Clean once.
	if err := waitCommand(ctx, dir, deadline); err != nil {
		return fmt.Errorf("clean %s: %w; its working directory is kept", handle, err)
	}
	wd := launch.WorkDir
	if !kept {
		if wd, err = l.recordedWorkDir(handle, dir); err != nil {
			return fmt.Errorf("clean %s: %w", handle, err)
		}
	}
	return removeUnder(l.workRoot, wd)
}

// maxRecord bounds the job.json the server reads back.
const maxRecord = 1 << 20

// recordedWorkDir is the working directory job.json records for the job
// in dir, read as the server's own record (readOwn). Where it cannot be
// read (a workload changed its mode, or put something else in its
// place), it is the directory a job is given by default (WorkDir), when
// that is there: os.ReadFile, which read it, followed a link, waited on
// a FIFO and read a file of any size, and any of these, or a mode it
// could not set back, kept the directory for good.
func (l *Local) recordedWorkDir(handle, dir string) (string, error) {
	path := filepath.Join(dir, "job.json")
	b, err := readOwn(path, maxRecord, 0o600)
	if err == nil {
		var rec record
		if err = json.Unmarshal(b, &rec); err == nil {
			return rec.WorkDir, nil
		}
		err = fmt.Errorf("%s: %w", path, err)
	}
	wd := filepath.Join(l.workRoot, handle)
	if _, serr := os.Lstat(wd); serr == nil {
		return wd, nil
	}
	return "", fmt.Errorf("the job's record names its working directory and cannot be read: %w; its working directory is kept", err)
}

// removeUnder removes dir when it lies strictly inside root.
func removeUnder(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return nil
	}
	return removeTree(dir)
}
