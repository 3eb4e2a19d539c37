package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/textsafe"
)

func init() { backend.Register("slurm", Factory) }

// Factory makes the backend of a Slurm site (a backend.Factory): through
// slurmrestd when the site has a restURL, else through Slurm's commands.
func Factory(site catalog.BackendSpec, stateDir string) (backend.Backend, error) {
	if site.RestURL != "" {
		return NewREST(site, stateDir)
	}
	return New(site, stateDir)
}

// Slurm submits jobs to one partition of a Slurm cluster. It is safe for
// concurrent use, and several values may share a state directory.
type Slurm struct {
	rec      records
	workRoot string
	// siteWork is a site's own work root, one outside the state
	// directory, opened once at start (openSiteWorkRoot); nil for one
	// inside, which goes through the state directory's root.
	siteWork  *os.Root
	partition string
	gres      string // name[:type], e.g. gpu:h100
	conf      string
	// CommandTimeout bounds each Slurm client command.
	CommandTimeout time.Duration
}

var (
	_ backend.Backend    = (*Slurm)(nil)
	_ backend.Finder     = (*Slurm)(nil)
	_ backend.SiteFailer = (*Slurm)(nil)
	_ backend.Cleaner    = (*Slurm)(nil)
)

// New makes a Slurm backend for site, keeping its job files (batch scripts,
// output, exit codes) in stateDir, which the cluster's nodes must be able to
// write (a shared file system, or the same machine). The records naming
// its jobs are signed with the key of the site's recordKeyFile
// (LoadSiteRecordKey), else the key opts give (RecordKey, RecordKeyFile),
// by default one of its own in stateDir (DefaultRecordKeyFile). Its log of
// retires lies beside the key file opts give (RecordKeyFile), which must
// be outside stateDir; a key kept out of stateDir with no key file to
// keep the log beside is refused (retireLogParent).
func New(site catalog.BackendSpec, stateDir string, opts ...Option) (_ *Slurm, err error) {
	if site.RestURL != "" {
		return nil, fmt.Errorf("backend.restURL: set (%s); that site is reached through slurmrestd (NewREST), not Slurm's commands", site.RestURL)
	}
	if err := settingsError(site); err != nil {
		return nil, err
	}
	abs, work, err := backend.Dirs("slurm", site, stateDir)
	if err != nil {
		return nil, err
	}
	// The work root first, so that the directories above it are made open
	// to pass through; the records' directories are the backend's alone.
	// Each synced into its parent (the state directory among them).
	if err := makeWorkRoot(abs, work); err != nil {
		return nil, fmt.Errorf("slurm backend: %w", err)
	}
	siteWork, err := openSiteWorkRoot(abs, work)
	if err != nil {
		return nil, fmt.Errorf("slurm backend: %w", err)
	}
	// Held for the backend's life once made; a start that fails after
	// this point would otherwise leave it open, one descriptor per try.
	defer func() {
		if err != nil && siteWork != nil {
			siteWork.Close()
		}
	}()
	rec, err := newRecords(abs)
	if err != nil {
		return nil, fmt.Errorf("slurm backend: %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if site.RecordKeyFile != "" {
		// The site's own key, over the server's.
		if o.key, err = LoadSiteRecordKey(site.RecordKeyFile, abs); err != nil {
			return nil, fmt.Errorf("slurm backend: %w", err)
		}
	}
	// Before the key is made: a key file that cannot go where it is
	// asked for makes none.
	logDir, err := retireLogParent(o, site, abs)
	if err != nil {
		return nil, fmt.Errorf("slurm backend: %w", err)
	}
	if rec.seal, err = newSealer(o, abs); err != nil {
		return nil, fmt.Errorf("slurm backend: %w", err)
	}
	if rec.retireLog, err = openRetireLog(filepath.Join(logDir, retireLogDir), abs, rec.seal.key, rec.retiredSeen, o.logger); err != nil {
		return nil, fmt.Errorf("slurm backend: %w", err)
	}
	if n := rec.removeStaleTemps(); n > 0 && o.logger != nil {
		o.logger.Info("slurm: removed temporary files that killed writers left", "dir", abs, "files", n)
	}
	return &Slurm{rec: rec, workRoot: work, siteWork: siteWork, partition: site.Partition, gres: siteGres(site.Gres, site.GresType),
		conf: site.Endpoint, CommandTimeout: 30 * time.Second}, nil
}

// settingsError is the first of the site's settings that cannot work.
func settingsError(site catalog.BackendSpec) error {
	if ps := site.Problems(); len(ps) > 0 {
		return fmt.Errorf("backend.%s: %s", ps[0].Field, ps[0].Msg)
	}
	return nil
}

func validName(s string) bool { return catalog.SlurmName(s) }

// JobName is the Slurm job name of one attempt of one run.
func JobName(runID string, attempt int) string {
	return "meridian-" + backend.Spec{RunID: runID, Attempt: attempt}.Key()
}

// makeWorkRoot makes the work root and the directories above it (0755,
// open to pass through). One below the state directory (the default
// work/, or a relative workDir) is made through an os.Root of the state
// directory, as Submit makes an attempt's directory there
// (records.mkdirAll): a workload may have put a link in place of a
// directory on its way, and a start that followed it made the rest of a
// nested work root (workDir work/jobs) wherever it pointed. The state
// directory itself, as configured, is made by its path.
func makeWorkRoot(state, work string) error {
	r := records{dir: state}
	if _, ok := r.inState(work); !ok {
		return atomicfile.MkdirAll(work, 0o755)
	}
	if err := atomicfile.MkdirAll(state, 0o755); err != nil {
		return err
	}
	return r.mkdirAll(work, 0o755)
}

// openSiteWorkRoot opens a site's own work root, one outside the state
// directory (backend.workDir), once, as an os.Root that Clean removes
// each attempt's work directory through; nil for a work root inside the
// state directory, which goes through the state directory's root
// (records.removeAll). Removed by its path, the attempt's directory went
// wherever a link put since in place of the work root, or of a directory
// above it, led: any directory of the attempt's name that the server's
// user may remove, with all it held. It is opened as WORK/., so that a
// FIFO in its place fails at once rather than wait for a writer.
func openSiteWorkRoot(state, work string) (*os.Root, error) {
	if _, in := (records{dir: state}).inState(work); in {
		return nil, nil
	}
	root, err := os.OpenRoot(work + string(filepath.Separator) + ".")
	if err != nil {
		return nil, fmt.Errorf("backend.workDir %s: %w", work, err)
	}
	return root, nil
}

// removeWorkDir removes the work directory of the attempt key, with all
// it holds: through the site's work root as opened at start when it has
// one of its own (a link put in its place, or above it, since leads the
// removal nowhere; one in the attempt's directory's place is removed
// itself, never what it points to), else through the state directory's
// root.
func (s *Slurm) removeWorkDir(key string) error {
	if s.siteWork == nil {
		return s.rec.removeAll(filepath.Join(s.workRoot, key))
	}
	if err := s.siteWork.RemoveAll(key); err != nil {
		return fmt.Errorf("work root %s: %w", s.workRoot, err)
	}
	return nil
}

// workDirPerm is the mode an attempt's work directory is made with: the
// job's to write, no one else's.
const workDirPerm = 0o755

// makeWorkDir makes wd, the directory the job runs in (own: the default
// per-attempt directory, spec.WorkDir unset, which Meridian makes and
// owns; else one the site or the job named). One below the work root is
// made through it (openWorkRoot): a site's own as opened at start, else
// through the state directory's root. Made by its path, a link put since
// in place of the work root, or of a directory above it, had Submit make
// the attempt's directory wherever it led, and one in the attempt's
// directory's own place had the job run where it pointed. Each directory
// between the work root and wd (a named workDir a/b/c) is walked and
// made one at a time, a link there refused (walkWorkDir). sbatch
// (--chdir) and the batch script (cd) are given wd's path, though, so in
// a site's own work root the directory checked must also be the one that
// path names now (samePlace). Elsewhere (a named workDir outside the work
// root) it is made as resolveWorkDir walked to it, from /, through the
// directories it held open, and its path must name it still
// (pathNamesMade).
func (s *Slurm) makeWorkDir(wd string, own bool) error {
	way, err := s.namedWay(wd)
	if err != nil {
		return err
	}
	if !way.below {
		defer way.dir.Close()
		fi, err := way.dir.Stat()
		if err := s.refuseSharedDir(wd, fi, err); err != nil {
			return err
		}
		return pathNamesMade(wd, way.dir)
	}
	base, err := s.openWorkRoot()
	if err != nil {
		return fmt.Errorf("workDir %s: work root %s: %w", wd, s.workRoot, err)
	}
	defer base.Close()
	parent, name, err := walkWorkDir(base, way.rel, s.workRoot, workDirPerm)
	if err != nil {
		return err
	}
	defer parent.Close()
	checked, err := checkWorkDir(parent, name, wd, own)
	if err != nil {
		return err
	}
	// Below the work root, but perhaps the state directory or above it,
	// where the state directory lies in a site's own work root.
	if err := s.refuseSharedDir(wd, checked, nil); err != nil {
		return err
	}
	if s.siteWork == nil {
		return pathNamesChecked(wd, s.workRoot, checked)
	}
	return s.samePlace(wd, checked)
}

// pathNamesMade says whether wd's path (which sbatch and the batch
// script are given, its links followed) names d, the directory a named
// workDir outside the work root was made or found as, walked from /: a
// directory on its way renamed and another put in its place (or a link)
// once the walk went through it had the job sent to run where it led.
func pathNamesMade(wd string, d *os.File) error {
	made, err := d.Stat()
	if err != nil {
		return fmt.Errorf("workDir %s: %w", wd, err)
	}
	if !made.IsDir() {
		return fmt.Errorf("workDir %s: not a directory", wd)
	}
	if now, err := os.Stat(wd); err != nil || !os.SameFile(now, made) {
		return fmt.Errorf("workDir %s: not the directory made on its way from / (its path %s); a directory on its way was replaced while it was made; not sending a job to run there", wd, namesNow(err))
	}
	return nil
}

// samePlace says whether wd's path names checked, the work directory
// looked at through the site's work root as opened at start, and the
// work root's path that root. The work root's path, or a directory above
// it, renamed since the start and another put there (or a file system
// mounted over it) is a lasting swap, not a race: the directory checked
// (its owner, its mode, not a link) was one, and the job sent, by path,
// to run in another, which anyone who could make it made as they liked.
// Refused until the server is started again on the work root as it is.
func (s *Slurm) samePlace(wd string, checked os.FileInfo) error {
	opened, err := s.siteWork.Stat(".")
	if err != nil {
		return fmt.Errorf("workDir %s: work root %s: %w", wd, s.workRoot, err)
	}
	if now, err := os.Stat(s.workRoot); err != nil || !os.SameFile(now, opened) {
		return fmt.Errorf("workDir %s: work root %s replaced since the server started (its path %s); not sending a job to run there until the server is started again", wd, s.workRoot, namesNow(err))
	}
	if now, err := os.Lstat(wd); err != nil || !os.SameFile(now, checked) {
		return fmt.Errorf("workDir %s: not the directory made in the work root %s as opened at start (its path %s); a directory on its way was replaced since the server started; not sending a job to run there", wd, s.workRoot, namesNow(err))
	}
	return nil
}

// pathNamesChecked says whether wd's path names checked, the job's
// directory made and looked at through the default work root (root, its
// path), opened through the state directory's root. sbatch (--chdir) and
// the batch script are given the path: the work root, or a directory on
// its way, renamed and another put in its place after it was opened had
// the job sent to run in a directory never checked (its owner, its mode,
// not a link).
func pathNamesChecked(wd, root string, checked os.FileInfo) error {
	if now, err := os.Lstat(wd); err != nil || !os.SameFile(now, checked) {
		return fmt.Errorf("workDir %s: not the directory made in the work root %s (its path %s); a directory on its way was replaced while it was made; not sending a job to run there", wd, root, namesNow(err))
	}
	return nil
}

// namesNow says what a path that no longer names the directory it did
// names now: err looking at it, or another directory.
func namesNow(err error) string {
	if err != nil {
		return "cannot be looked at: " + err.Error()
	}
	return "names another directory now"
}

// namedWay returns wd relative to the work root where it lies below it
// (below): by its path as given, or (a named workDir spelled through
// another path to the work root, such as a link the site keeps to its
// scratch) by resolving it from / (resolveWorkDir), its links followed
// only where trusted, to the first directory on its way that is the work
// root, by identity. Taken for a directory outside, such a workDir was
// made by its path, following any link a workload put on its way below
// the work root; and looked at deepest first, parent by parent with
// their links followed, a workload's link below the work root back to it
// (x -> .) read as the work root itself. A workDir whose way never
// reaches the work root is made on that way (resolveWorkDir) and
// returned open.
func (s *Slurm) namedWay(wd string) (namedWay, error) {
	rel, err := filepath.Rel(s.workRoot, wd)
	if err == nil && rel != "." && filepath.IsLocal(rel) {
		return namedWay{rel: rel, below: true}, nil
	}
	if !filepath.IsAbs(wd) {
		return namedWay{}, fmt.Errorf("workDir %s: not an absolute path", wd)
	}
	root, err := s.workRootStat()
	if errors.Is(err, fs.ErrNotExist) {
		// No work root yet (the default one, made with the first
		// attempt's directory): nothing lies below it.
		root, err = nil, nil
	}
	if err != nil {
		return namedWay{}, fmt.Errorf("workDir %s: work root %s: %w", wd, s.workRoot, err)
	}
	return resolveWorkDir(wd, root, workDirPerm)
}

// workRootStat is what the work root is: a site's own as opened at
// start, else the default one as its path names it now.
func (s *Slurm) workRootStat() (os.FileInfo, error) {
	if s.siteWork != nil {
		return s.siteWork.Stat(".")
	}
	return os.Stat(s.workRoot)
}

// serverUID is this server's user, whose an attempt's work directory must
// be (checkWorkDir); tests set another to stand for a directory another
// user made.
var serverUID = os.Geteuid

// checkWorkDir checks that name, in parent, the job's work directory
// (full is its path, to name it), is a directory, not a link (opened
// with O_NOFOLLOW: os.Root followed one that stays inside, to another
// attempt's directory), and returns what it is. The default per-attempt
// directory (own), which Meridian makes itself, must also be this
// server's user's, not one another user made first on a shared work root
// for the job to run in; one of the server's that others may write (its
// job made it so, on an earlier try) has group and other write taken
// back, through the descriptor opened here (never by a path that a link
// could lead elsewhere), its setgid and sticky bits kept. A directory the
// site or the job named is the site's: a group-shared project directory,
// made by root or a project account, with its group write and setgid bit
// on purpose; it is used as it is.
func checkWorkDir(parent *os.File, name, full string, own bool) (os.FileInfo, error) {
	fd, err := openDirAt(int(parent.Fd()), parent.Name(), name)
	if errors.Is(err, errWorkDirLink) {
		return nil, fmt.Errorf("workDir %s: is a symbolic link; want a directory", full)
	}
	if err != nil {
		return nil, fmt.Errorf("workDir %s: %w", full, err)
	}
	d := os.NewFile(uintptr(fd), full)
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return nil, fmt.Errorf("workDir %s: %w", full, err)
	}
	if !own {
		return fi, nil
	}
	return fi, ownWorkDir(d, fi, full)
}

// ownWorkDir applies the rules of the default per-attempt directory to
// d (fi, its stat; full, its path): the server's user's, and only its
// owner may write it.
func ownWorkDir(d *os.File, fi os.FileInfo, full string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("workDir %s: its owner cannot be read", full)
	}
	if uid := serverUID(); int(st.Uid) != uid {
		return fmt.Errorf("workDir %s: belongs to user %d, not to this server's (%d)", full, st.Uid, uid)
	}
	// The mode's bits as the kernel keeps them (os.FileMode moves setgid
	// and sticky elsewhere, and Chmod of a Perm() dropped them).
	if mode := uint32(st.Mode) & 0o7777; mode&0o022 != 0 {
		if err := syscall.Fchmod(int(d.Fd()), mode&^0o022); err != nil {
			return fmt.Errorf("workDir %s: others may write it (mode %#o), and its mode cannot be set back: %w", full, mode, err)
		}
	}
	return nil
}

// WorkDir returns the directory the job for spec runs in.
func (s *Slurm) WorkDir(spec backend.Spec) string {
	switch {
	case spec.WorkDir == "":
		return filepath.Join(s.workRoot, spec.Key())
	case filepath.IsAbs(spec.WorkDir):
		return spec.WorkDir
	default:
		return filepath.Join(s.workRoot, spec.WorkDir)
	}
}

func (s *Slurm) jobDir(key string) string { return s.rec.jobDir(key) }

// run runs one Slurm client with a timeout and returns its stdout; a non-zero
// exit becomes an error carrying stderr.
func (s *Slurm) run(ctx context.Context, name string, args ...string) (string, error) {
	return s.runEnv(ctx, nil, name, args...)
}

// maxCommandOutput bounds what is kept of one Slurm client's output (the
// job listing for a lookup and a capacity poll's answers have their own
// bound, maxCapacityOutput), and maxCommandStderr what is kept of its
// stderr: a client's output carries values others set (a job's output
// path, a node's reason), and each call must cost a bounded amount
// whatever they are. A client that writes more is stopped (its output
// pipe closes) and the call fails.
const (
	maxCommandOutput = 8 << 20
	maxCommandStderr = 64 << 10
)

// runEnv is run with the environment env (nil: this process's).
func (s *Slurm) runEnv(ctx context.Context, env []string, name string, args ...string) (string, error) {
	return s.runCapped(ctx, env, maxCommandOutput, name, args...)
}

// runCapped runs one Slurm client in env (nil: this process's) with a
// timeout, keeping at most limit bytes of its output; more fails the call.
func (s *Slurm) runCapped(ctx context.Context, env []string, limit int, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.CommandTimeout)
	defer cancel()
	cmd := s.command(ctx, env, name, args...)
	out := &capped{max: limit}
	errb := &capped{max: maxCommandStderr, keepGoing: true}
	cmd.Stdout, cmd.Stderr = out, errb
	err := cmd.Run()
	if out.over {
		return "", fmt.Errorf("%s: more than %d bytes of output", name, limit)
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// It exited, but something it started still held its output
		// open: what it printed may not be whole.
		return "", fmt.Errorf("%s %s: exited, but a process it started kept its output open for more than %s after", name, strings.Join(args, " "), clientPipeGrace)
	}
	if err != nil {
		if ctx.Err() != nil {
			return out.b.String(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), ctx.Err())
		}
		return out.b.String(), newCmdError(name, err, strings.TrimSpace(errb.b.String()))
	}
	return out.b.String(), nil
}

// clientPipeGrace is how long a call waits, once its client has exited
// or been killed, for the client's output to close. A client may start
// processes of its own that inherit its output (a site's wrapper around
// the real command, an ssh connection kept open for the next call): the
// call would otherwise wait as long as they live, whatever its timeout.
const clientPipeGrace = 2 * time.Second

// clientEnv is the environment of a Slurm client other than sbatch (which
// gets jobEnv): this process's, less the variables through which Slurm's
// clients take options (SQUEUE_PARTITION, SCANCEL_INTERACTIVE,
// SLURM_CLUSTERS, SLURM_TIME_FORMAT, ...; all of SLURM_* but SLURM_CONF),
// which a site's login profile may set for its users. Each call means
// what its arguments say: with SQUEUE_PARTITION set, squeue hid the
// backend's own jobs of another partition, so a job read as unknown and an
// attempt whose id was not recorded was submitted again; with
// SCANCEL_INTERACTIVE, scancel asked for a yes on a closed input without
// end and cancelled nothing. Times are asked for in the standard form
// (parseTime reads no other: "relative" or a strftime format read as no
// time) in UTC (a local time without its zone is ambiguous for an hour a
// year where clocks go back).
func clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "SLURM_CONF" && slurmOptionVar(k) {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SLURM_TIME_FORMAT=standard", "TZ=UTC0")
}

// slurmOptionVar says whether the variable k may set an option of a Slurm
// client that this backend runs.
func slurmOptionVar(k string) bool {
	for _, p := range []string{"SLURM_", "SQUEUE_", "SINFO_", "SCANCEL_", "SCONTROL_", "SBATCH_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// command is one Slurm client in the environment env (nil: clientEnv),
// with the site's slurm.conf. It runs in a process group of
// its own, which its context's end kills whole: killing the client alone
// would leave what it started running, holding its output open, once per
// call to a site that hangs.
func (s *Slurm) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = clientPipeGrace
	if env == nil {
		env = clientEnv()
	}
	if s.conf != "" {
		env = append(env, "SLURM_CONF="+s.conf)
	}
	cmd.Env = env
	return cmd
}

type cmdError struct {
	cmd    string
	err    error
	stderr string // clipped to maxClientErrorText
	// invalidJob says the whole stderr said "Invalid job id".
	invalidJob bool
}

// newCmdError is the error of client cmd that failed with err, having
// written stderr: it keeps what its text shows of stderr, not all of it
// (up to the 64 KiB a client's stderr is read to) for as long as it lives,
// each character textsafe flags escaped (the site's client, or a wrapper
// around it, may write terminal escapes, line breaks or bidirectional
// overrides there, and the error is logged and may become a run's reason).
func newCmdError(cmd string, err error, stderr string) *cmdError {
	return &cmdError{cmd: cmd, err: err, stderr: textsafe.Escape(clipText(stderr, maxClientErrorText)),
		invalidJob: strings.Contains(stderr, "Invalid job id")}
}

func (e *cmdError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.cmd, e.err, e.stderr)
}

// maxClientErrorText bounds what an error repeats of a client's stderr:
// the error is logged at every poll and may become a run's reason, and a
// site's wrapper around a client may print anything there.
const maxClientErrorText = 2 << 10

func (e *cmdError) Unwrap() error { return e.err }

func isInvalidJob(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce) && ce.invalidJob
}

// Submit writes the batch script and submits it, unless this attempt was
// submitted before: the job id recorded in the state directory answers that,
// and when an earlier submit was interrupted between writing its script and
// recording the id, slurmctld is asked for the job whose command is that
// script (findByScript). (squeue is slow on a
// cluster with many jobs, so it is not asked for every new job; a controller
// that lost its state directory calls Find first, which asks slurmctld and
// records what it finds.)
func (s *Slurm) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("slurm submit: %w", err)
	}
	partition := firstNonEmpty(spec.Partition, s.partition)
	if partition != "" && !validName(partition) {
		return "", fmt.Errorf("slurm submit: partition: %q is not a valid name", partition)
	}
	if spec.GresType != "" && !validName(spec.GresType) {
		return "", fmt.Errorf("slurm submit: gresType: %q is not a valid name", spec.GresType)
	}
	if err := relWorkDirStaysIn(spec.WorkDir); err != nil {
		return "", fmt.Errorf("slurm submit: %w", err)
	}
	key := spec.Key()
	dir := s.jobDir(key)
	if err := s.rec.ensureJobDir(key); err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	unlock, err := s.rec.lockJob(ctx, key)
	if err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	defer unlock()
	id, recErr := s.rec.recordedErr(key)
	if id != "" {
		return id, nil
	}
	script := s.scriptPath(key)
	// One that cannot be looked at (a link out of the state directory
	// in its place) counts as there: slurmctld is asked first.
	if _, err := s.rec.stat(filepath.Join("jobs", key, "job.sh")); !errors.Is(err, os.ErrNotExist) {
		// An earlier submit got as far as writing the script, and maybe
		// through sbatch, but did not record a job id: ask slurmctld.
		if id, ok, err := s.find(ctx, spec.RunID, spec.Attempt); err != nil || ok {
			return id, err
		}
		// slurmctld knows no job of the script, yet one may have run:
		// slurmctld forgets a finished job (MinJobAge), and a server that
		// stopped between sbatch and recording the id for longer than
		// that finds nothing there. The job leaves its own marks here (the
		// script's start mark and exit code, the output slurmd opens): the
		// attempt is not run a second time then.
		if mark := s.rec.ranMark(key); mark != "" {
			if recErr != nil {
				return "", fmt.Errorf("slurm submit %s: a job of the attempt was submitted and ran (its %s is in the attempt's directory), its id's record is refused (%v) and slurmctld no longer knows it; not running the attempt a second time: %w", key, mark, recErr, backend.ErrAttemptUnknown)
			}
			return "", fmt.Errorf("slurm submit %s: a job of the attempt was submitted and ran (its %s is in the attempt's directory), but its id was never recorded and slurmctld no longer knows it; not running the attempt a second time: %w", key, mark, backend.ErrAttemptUnknown)
		}
	}
	if partition != "" {
		if err := s.partitionUp(ctx, partition); err != nil {
			return "", fmt.Errorf("slurm submit %s: %w", key, err)
		}
	}
	wd := s.WorkDir(spec)
	if err := s.makeWorkDir(wd, spec.WorkDir == ""); err != nil {
		// Each of makeWorkDir's errors names workDir itself.
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	if err := s.rec.writeFile(filepath.Join("jobs", key, "job.sh"), []byte(batchScript(spec, dir, wd)), 0o700); err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	args := []string{"--parsable", "--no-requeue",
		"--export=ALL", // of jobEnv, the only environment sbatch gets
		"--job-name=" + JobName(spec.RunID, spec.Attempt),
		"--output=" + filepath.Join(dir, "output.log"),
		"--chdir=" + wd}
	if partition != "" {
		args = append(args, "--partition="+partition)
	}
	if g := gresRequest(s.gres, spec.GresType, spec.Accelerators); g != "" {
		args = append(args, "--gres="+g)
	}
	out, err := s.runEnv(ctx, s.jobEnv(), "sbatch", append(args, script)...)
	if err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	id, _, _ = strings.Cut(strings.TrimSpace(out), ";")
	if !isJobID(id) {
		return "", fmt.Errorf("slurm submit %s: sbatch printed %q, not a job id", key, truncateOut(out))
	}
	// slurmctld writes no id with a leading zero, nor 0: recorded, such
	// an id named no job Status could read, and failed every poll.
	if n, ok := jobNumber(id); !ok || n == 0 {
		// A job sbatch made stays queued: the attempt's next submit
		// finds it by its batch script and takes it (find).
		return "", fmt.Errorf("slurm submit %s: sbatch printed job id %q, which slurmctld does not write (a leading zero, or 0); a job it made is found by its batch script at the attempt's next submit", key, id)
	}
	if err := s.checkJobUser(ctx, key, id); err != nil {
		return "", err
	}
	h, err := s.rec.recordHandle(key, id)
	if err != nil {
		return "", fmt.Errorf("slurm submit %s: job %s submitted but not recorded: %w", key, id, err)
	}
	return h, nil
}

// checkJobUser reads, once, the user the job of id that sbatch just made
// for the attempt of key runs as, and fails, the job cancelled, where it
// is not the user this backend takes its jobs to run as (jobUID): behind
// an sbatch wrapper that submits as another user (ssh, sudo), or with a
// uid mapped otherwise on the cluster, every job of the backend read as
// another user's (jobsKey), so Status said it lost and Cancel left it
// running without a word. The error wraps backend.ErrSiteDown: the site
// is lost at once, not retried as unreachable. A look that fails says
// nothing of the user: the job is kept (Status and Cancel look again).
func (s *Slurm) checkJobUser(ctx context.Context, key, id string) error {
	job, err := s.queryJob(ctx, id)
	if err != nil {
		return nil
	}
	want := strconv.Itoa(jobUID())
	if job.UserID == want {
		return nil
	}
	if k, ok := s.scriptKey(job.Command); !ok || k != key {
		// No attempt's job (an array's or another's line): not the one
		// sbatch made, so nothing to say of its user.
		return nil
	}
	msg := fmt.Sprintf("slurm submit %s: job %s runs as user %q, but this server's jobs are taken to run as user %s (its own uid); an sbatch that submits as another user (a wrapper through ssh or sudo, a uid mapped on the cluster) is not supported", key, id, printable([]byte(job.UserID), maxNodeText), want)
	// backend.ErrSiteDown: every job the backend submits runs so, and a
	// Submit retried at each step, as a site not answering, is refused
	// each time.
	if _, err := s.run(ctx, "scancel", id); err != nil && !isInvalidJob(err) {
		return fmt.Errorf("%s; the job could not be cancelled: %w: %w", msg, err, backend.ErrSiteDown)
	}
	return fmt.Errorf("%s; the job was cancelled: %w", msg, backend.ErrSiteDown)
}

// jobEnv is the environment sbatch runs in, all of which (--export=ALL)
// the job gets: the variables of backend.InheritedEnv that this process
// has, and SLURM_CONF, which sbatch needs. A narrower --export list would do
// the same filtering, but makes slurmd load the user's login environment on
// the node first (su - user), which costs seconds per job, and minutes where
// a login shell is slow.
//
// The job's agent is told two things of the backend's own, which no spec
// sets (MERIDIAN_* is the server's): MERIDIAN_PRIVATE_DIR, the state
// directory, which the agent refuses to let a landlock workload read
// (before, unset here, the agent checked nothing at Slurm sites), and
// MERIDIAN_SITE_LOG_LIMIT, how much of the workload's output it writes to
// output.log in the state directory (before, unset, every byte: `yes`
// filled the state directory's filesystem).
func (s *Slurm) jobEnv() []string {
	// agent.DefaultSiteLogLimit, as the local backend's default.
	const siteLogLimit = 256 << 20
	env := []string{}
	for _, k := range append(append([]string{}, backend.InheritedEnv...), "SLURM_CONF") {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env,
		"MERIDIAN_PRIVATE_DIR="+s.rec.dir,
		"MERIDIAN_SITE_LOG_LIMIT="+strconv.Itoa(siteLogLimit))
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func isJobID(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// partitionUp fails with backend.ErrSiteDown when the partition is not up.
func (s *Slurm) partitionUp(ctx context.Context, partition string) error {
	out, err := s.run(ctx, "sinfo", "-h", "-p", partition, "-o", "%a")
	if err != nil {
		return err
	}
	return partitionAvail(out, partition)
}

// partitionAvail reads sinfo's availabilities of partition (%a, a word
// a line): an error unless there is one and each is "up".
func partitionAvail(out, partition string) error {
	// Word by word, stopping at the first that is not "up": split whole,
	// 8 MiB of one-letter words cost 64 MiB of string headers.
	n := 0
	for a := range strings.FieldsSeq(out) {
		if n++; n > maxListedLines {
			return fmt.Errorf("partition %s: sinfo printed more than %d availabilities", partition, maxListedLines)
		}
		if a != "up" {
			return fmt.Errorf("partition %s is %s: %w", partition, printable([]byte(a), maxNodeText), backend.ErrSiteDown)
		}
	}
	if n == 0 {
		return fmt.Errorf("partition %q: not found in sinfo", partition)
	}
	return nil
}

// batchScript is the job: mark its start, export the environment, run the
// command, record its exit code atomically next to the output, exit with
// it. The start mark's and the exit code's times are the job's start and
// end once slurmctld has forgotten it (forgottenStatus).
func batchScript(spec backend.Spec, dir, wd string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Meridian job " + spec.Key() + "\n")
	b.WriteString(": >" + quote(dir) + "/started\n")
	b.WriteString("cd " + quote(wd) + " || exit 1\n")
	vars := spec.JobEnv()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("export " + k + "=" + quote(vars[k]) + "\n")
	}
	fmt.Fprintf(&b, "export MERIDIAN_RUN_ID=%s MERIDIAN_ATTEMPT=%d MERIDIAN_WORKDIR=%s MERIDIAN_ACCELERATORS=%d\n",
		quote(spec.RunID), spec.Attempt, quote(wd), spec.Accelerators)
	for i, a := range spec.Command {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quote(a))
	}
	b.WriteString("\nc=$?\n")
	d := quote(dir)
	b.WriteString("printf '%s\\n' \"$c\" >" + d + "/.exitcode.tmp\n")
	b.WriteString("sync " + d + "/.exitcode.tmp 2>/dev/null\n")
	b.WriteString("mv -f " + d + "/.exitcode.tmp " + d + "/exitcode\n")
	b.WriteString("exit \"$c\"\n")
	return b.String()
}

// quote makes s one single-quoted shell word.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Find returns the job id for runID and attempt: the one recorded in the
// state directory, else the job that slurmctld knows by its batch script,
// this state directory's script of the attempt (findByScript).
func (s *Slurm) Find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	if err := backend.ValidRunID(runID); err != nil {
		return "", false, err
	}
	// Under the attempt's lock, as Submit: a lookup may cancel the
	// attempt's duplicate jobs (find), which must not race a submit of
	// the attempt that is about to record one of them.
	key := backend.Spec{RunID: runID, Attempt: attempt}.Key()
	if err := s.rec.ensureJobDir(key); err != nil {
		return "", false, fmt.Errorf("find %s: %w", key, err)
	}
	unlock, err := s.rec.lockJob(ctx, key)
	if err != nil {
		return "", false, fmt.Errorf("find %s: %w", key, err)
	}
	defer unlock()
	return s.find(ctx, runID, attempt)
}

// scriptPath is the batch script of the attempt of key, the path sbatch is
// given and slurmctld keeps as the job's command.
func (s *Slurm) scriptPath(key string) string { return filepath.Join(s.jobDir(key), "job.sh") }

// find is Find with the attempt's lock held. When slurmctld knows several
// jobs of the attempt's batch script (a submit repeated after a crash that
// lost its answer, by this server or another of the same state
// directory), the oldest is the attempt's and the others are duplicates:
// they run the same attempt, with its credential, in its work directory,
// and no one would watch or cancel them. They are cancelled before the
// oldest is recorded (a failure leaves nothing recorded, and the next
// lookup tries again), and their ids kept in the attempt's directory
// (duplicates). Only jobs whose command is this state directory's script
// of the attempt are cancelled: nothing else bears that mark. A recorded
// id is never looked past, so the recorded job is never one of them.
func (s *Slurm) find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	key := backend.Spec{RunID: runID, Attempt: attempt}.Key()
	if id, ok := s.rec.recorded(key); ok {
		return id, true, nil
	}
	ids, err := s.findByScript(ctx, runID, attempt)
	if err != nil || len(ids) == 0 {
		return "", false, err
	}
	id := ids[0]
	if dups := ids[1:]; len(dups) > 0 {
		if err := s.rec.saveDuplicates(key, dups); err != nil {
			return "", false, fmt.Errorf("find %s: %w", key, err)
		}
		for _, d := range dups {
			if _, err := s.run(ctx, "scancel", d); err != nil && !isInvalidJob(err) {
				return "", false, fmt.Errorf("find %s: cancelling job %s, a duplicate of the attempt's job %s: %w", key, d, id, err)
			}
		}
	}
	h, err := s.rec.recordHandle(key, id)
	if err != nil {
		return "", false, fmt.Errorf("find %s: %w", key, err)
	}
	return h, true, nil
}

// findByScript asks slurmctld for the job of the attempt that has no
// recorded id. The job is told by its command, the path of the batch script
// sbatch was given (in this state directory, named after the attempt):
// slurmctld fixes it at submission and refuses to update it, even for the
// job's owner. Not by its name: the owner may rename a job at any time
// (scontrol update JobId=N Name=...), and a workload runs as that owner, so
// a job found by name could be renamed away (and the attempt submitted
// twice) or be another job given the attempt's name. Its working directory
// and output path are no better: the owner may change both while the job is
// pending.
//
// Only this user's jobs are listed (squeue --me: jobs of another user were
// not submitted by this backend, and slurmctld then filters them itself). A
// command may hold a newline and the column separator, so a line of the
// listing could be forged by another job's command: each job whose line
// names the script is asked for again on its own, and counts only if that
// answer is exactly its id and the script. They are returned oldest first
// (find takes the oldest). When no job has the script but one of this
// user's jobs bears the attempt's name, the lookup fails rather than
// answering "not found": the job may be the attempt's, submitted from
// another state directory (its path changed), and a caller told "not
// found" would submit it again.
// maxFindCandidates bounds the jobs findByScript asks slurmctld about one
// by one: the attempt's own job is one, a resubmission after a crash
// another.
const maxFindCandidates = 8

func (s *Slurm) findByScript(ctx context.Context, runID string, attempt int) ([]string, error) {
	key := backend.Spec{RunID: runID, Attempt: attempt}.Key()
	script := s.scriptPath(key)
	if strings.ContainsAny(script, "\n"+columnSep) {
		return nil, fmt.Errorf("find %s: the batch script's path %q holds a newline or the column separator, which squeue's listing cannot show unambiguously", key, script)
	}
	format := "--Format=JobID:" + columnSep + ",Command:" + columnSep
	// Every job of this user that slurmctld knows: bounded as a capacity
	// poll's answer is, as the user's other jobs may be many.
	out, err := s.runLimited(ctx, "squeue", "--me", "--states=all", "--noheader", format)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", key, err)
	}
	var ids []uint64
	asked := 0
	for i, line := range outputLines(out) {
		if i > maxListedLines {
			return nil, fmt.Errorf("find %s: squeue listed more than %d lines of this user's jobs; not looking further", key, maxListedLines)
		}
		id, ok := strings.CutSuffix(line, columnSep+script+columnSep)
		if !ok || !isJobID(id) {
			continue
		}
		// Each candidate costs a command; a job's command that forges
		// many such lines must not make the lookup run for ever.
		if asked++; asked > maxFindCandidates {
			return nil, fmt.Errorf("find %s: more than %d jobs' listings end in the attempt's batch script %s; not trusting any", key, maxFindCandidates, script)
		}
		// The line may be the tail of another job's command: ask for the
		// job by its id, and take it only if its command is the script.
		one, err := s.run(ctx, "squeue", "--me", "--states=all", "--noheader", "--jobs="+id, format)
		if isInvalidJob(err) {
			continue // no such job, or it is no longer known
		}
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", key, err)
		}
		if one != id+columnSep+script+columnSep+"\n" {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("find %s: squeue printed job id %q, not a number", key, id)
		}
		ids = append(ids, n)
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		ids = slices.Compact(ids)
		found := make([]string, len(ids))
		for i, n := range ids {
			found[i] = strconv.FormatUint(n, 10)
		}
		return found, nil
	}
	// Job ids only: a name, which the owner sets, is never parsed.
	named, err := s.run(ctx, "squeue", "--me", "--states=all", "--noheader", "--name="+JobName(runID, attempt), "--format=%i")
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", key, err)
	}
	// The first few, for the error: split whole, a listing of 8 MiB of
	// one-character words cost 64 MiB of string headers.
	var others []string
	for id := range strings.FieldsSeq(named) {
		if others = append(others, id); len(others) == maxFindCandidates {
			break
		}
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("find %s: job %s bears the attempt's name %s, but its batch script is not %s, the one this backend submits the attempt with; "+
			"not taking it for the attempt, nor submitting the attempt again while it may be the attempt's",
			key, textsafe.Escape(truncateOut(strings.Join(others, ","))), JobName(runID, attempt), script)
	}
	return nil, nil
}

// Status asks slurmctld for the job; once slurmctld has forgotten it, the
// exit code file decides. A job recorded as an attempt's is the attempt's
// only while its command is the attempt's batch script: otherwise the id
// is another job's now, and the attempt's job reads as forgotten.
func (s *Slurm) Status(ctx context.Context, handle string) (backend.Status, error) {
	id, ok := handleID(handle)
	if !ok {
		return backend.Status{}, fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
	}
	job, qerr := s.queryJob(ctx, id)
	// The state directory is opened once for the poll (records.held),
	// against the seven opens a forgotten job's records and marks took,
	// but only once squeue has answered: opened before it, a descriptor
	// was held for as long as squeue took (up to CommandTimeout), on
	// every poll.
	rec, release := s.rec.held()
	release = sync.OnceFunc(release)
	defer release()
	ref, err := rec.parse(handle)
	if err != nil {
		return backend.Status{}, err
	}
	if isInvalidJob(qerr) {
		return rec.forgottenStatus(handle, ref)
	}
	if qerr != nil {
		return backend.Status{}, fmt.Errorf("slurm status %s: %w", handle, qerr)
	}
	key, ok := s.jobsKey(job)
	if ok && ref.key != "" && key != ref.key {
		// Another attempt's job of this state directory: slurmctld
		// gave the handle's attempt's id to it (its id counter
		// wrapped, or its state was lost). Its state is not the
		// handle's attempt's.
		return rec.forgottenStatus(handle, ref)
	}
	if ok && ref.key == "" && rec.notItsHandle(key, handle) {
		return backend.Status{}, fmt.Errorf("handle %q: %w (slurmctld's job of that id is attempt %s's, whose handle is another)", handle, backend.ErrNotFound, key)
	}
	if !ok {
		// The job is no attempt's of this state directory, so not one
		// this backend submitted: slurmctld forgot the attempt's job and
		// has given its id to another job since (its id counter wrapped,
		// or its state was lost). That job's state is not the attempt's,
		// nor is it this backend's to cancel; with no record of the id
		// either, the handle is unknown.
		return rec.forgottenStatus(handle, ref)
	}
	st := job.status()
	if st.State == backend.Running {
		if validNodeList(job.NodeList) {
			// Where the job runs, for Clean once slurmctld forgets it.
			rec.saveNodes(key, job.NodeList) //nolint:errcheck // best effort
		}
		// Not held across sinfo either.
		release()
		if down, err := s.downNode(ctx, job.NodeList); err != nil {
			return backend.Status{}, fmt.Errorf("slurm status %s: %w", handle, err)
		} else if down != "" {
			return backend.Status{State: backend.Lost, Reason: down}, nil
		}
	}
	return st, nil
}

// jobsKey is the attempt whose job slurmctld knows by handle, told by
// the job's command, which slurmctld fixes at submission and lets no one
// update: the attempt whose batch script in this state directory it is.
// The record naming the id's attempt (handles/ID) is no proof: it lies in
// a directory the cluster's nodes write, and a workload runs as this
// backend's user; pointed at another attempt, it made Status read the
// job as one that had taken over a forgotten job's id, and Cancel leave it
// running. ok is false for a job that is no attempt's of this state
// directory, whether or not the id has a record: every job this backend
// submits runs an attempt's batch script, so such a job is another's
// (slurmctld gave the id to it once the attempt's was forgotten), and with
// the id's record gone (a workload may remove it) it was still taken for
// the attempt's: its state read as the attempt's, and Cancel cancelled it.
//
// Its user must be this server's too: squeue --jobs=ID --all lists the job
// of that id whoever's it is, and any user may submit a job whose command
// is an attempt's batch script's path (sbatch reads the script once, and
// keeps the path it was given as the job's command), so once slurmctld
// gave a recorded id to such a job, its state read as the attempt's and
// Cancel cancelled it (where this server's user may: a site's operator
// account, root). The REST path does the same (REST.ownsID).
func (s *Slurm) jobsKey(job slurmJob) (key string, ok bool) {
	if job.UserID != strconv.Itoa(jobUID()) {
		return "", false
	}
	return s.scriptKey(job.Command)
}

// jobUID is the user this server's jobs run as: sbatch submits as its
// real user.
var jobUID = os.Getuid

// scriptKey is the attempt whose batch script in this state directory
// (STATE/jobs/KEY/job.sh) command is.
func (s *Slurm) scriptKey(command string) (string, bool) {
	key, ok := strings.CutPrefix(command, filepath.Join(s.rec.dir, "jobs")+string(filepath.Separator))
	if ok {
		key, ok = strings.CutSuffix(key, string(filepath.Separator)+"job.sh")
	}
	if !ok || !validKey(key) || s.scriptPath(key) != command {
		return "", false
	}
	return key, true
}

// forgottenStatus is the state of a job that slurmctld no longer knows,
// with its start and end as the batch script's files tell them, all read
// through one open of the state directory (the caller's, else its own).
func (r records) forgottenStatus(handle string, ref handleRef) (backend.Status, error) {
	r, release := r.held()
	defer release()
	key := ref.key
	if key == "" {
		if ref.recErr != nil {
			return backend.Status{}, fmt.Errorf("handle %q: %w (%v)", handle, backend.ErrNotFound, ref.recErr)
		}
		return backend.Status{}, fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
	}
	st, err := exitFileStatus(r, key, r.cancelled(key))
	if err != nil || st.State == backend.Lost {
		return st, err
	}
	// Each not known (zero) where its mark cannot tell it; an end before
	// the start is none, as slurmctld's are read (withTimes).
	st.Started, st.Ended = r.markTimes(key)
	return st, nil
}

// maxExitFile bounds the exit code file the batch script writes (a number
// and a newline); maxReasonFile bounds the records this backend writes in a
// job's directory (a final status with the site's reason, a sweep's
// command).
const (
	maxExitFile   = 64
	maxReasonFile = 1 << 20
)

// exitFileStatus is the final state the exit code file in the directory
// of key (of rec) gives its job, which slurmctld has forgotten
// (cancelled: it was cancelled).
func exitFileStatus(rec records, key string, cancelled bool) (backend.Status, error) {
	data, err := rec.readFile(filepath.Join("jobs", key, "exitcode"), maxExitFile)
	if cancelled && (err != nil || strings.TrimSpace(string(data)) != "0") {
		return backend.Status{State: backend.Cancelled, Reason: "cancelled"}, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return backend.Status{State: backend.Lost, Reason: "job no longer known to slurmctld and left no exit code"}, nil
	}
	if errors.Is(err, backend.ErrNotPlainFile) || errors.Is(err, errTooLarge) || unreadableByWorkload(err) {
		return exitCodeNotKnown(err), nil
	}
	if err != nil {
		return backend.Status{}, err
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return exitCodeNotKnown(fmt.Errorf("exit code file of %s: %q is not a number", key, printable(data, maxExitFile))), nil
	}
	if code == 0 {
		return backend.Status{State: backend.Succeeded}, nil
	}
	return backend.Status{State: backend.Failed, ExitCode: code, Reason: fmt.Sprintf("exit code %d", code)}, nil
}

// exitCodeNotKnown is the final state of a forgotten job whose exit code
// file is there but tells no exit code (why says why): a link, a FIFO or
// another file that is not a plain one, one too large, one that holds
// no number, or one that cannot be read (unreadableByWorkload). Only the job writes that file, in the attempt's directory,
// which a workload running as the job's user may write too: taken as an
// error, its Status failed every poll, for good, as the workload chose.
// Its end is not known, as that of a job that left no exit code.
func exitCodeNotKnown(why error) backend.Status {
	return backend.Status{State: backend.Lost, Reason: "job no longer known to slurmctld and its exit code is not known: " + why.Error()}
}

// unreadableByWorkload says whether err, reading a forgotten job's exit
// code file, is one its workload can cause for good: the file, or the
// job's directory (jobs/KEY), made mode 0 (EACCES, EPERM), or that
// directory replaced by a FIFO or a plain file (ENOTDIR). The workload
// runs as the job's user, who may write that directory: taken as an
// error, Status failed every poll, for good, as the workload chose.
func unreadableByWorkload(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOTDIR)
}

// downNode names the first node of nodelist that is down or failed, or "".
func (s *Slurm) downNode(ctx context.Context, nodelist string) (string, error) {
	if !hostList(nodelist) {
		// None ("" or "(null)"), or no host list: passed to scontrol as
		// it is, one starting with "-" would be read as its options.
		return "", nil
	}
	out, err := s.run(ctx, "scontrol", "show", "node", "-o", nodelist)
	if err != nil {
		return "", err
	}
	for i, line := range outputLines(out) {
		if i > maxListedLines {
			return "", fmt.Errorf("scontrol show node %s: more than %d lines", nodelist, maxListedLines)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		node := ParseKeyValues(line)
		for flag := range strings.SplitSeq(node["State"], "+") {
			if flag == "DOWN" || flag == "FAIL" || flag == "DOWN*" {
				// The site's words become the run's reason: bounded.
				return fmt.Sprintf("node %s is %s", printable([]byte(node["NodeName"]), maxNodeText), printable([]byte(node["State"]), maxNodeText)), nil
			}
		}
	}
	return "", nil
}

// jobColumns are the fields of a job that Status and Logs read, asked of
// squeue (-O) in this order, each followed by columnSep. The owner cannot
// set any of them on a running job; StdOut it may change while the job is
// pending, so Logs never opens the path as such (jobKey).
// `scontrol show job -o`
// would give them too, but it prints values the owner may set with
// `scontrol update` (Comment, JobName, ...) unquoted among slurmctld's
// fields, so a workload running as the job's user could write
// "JobState=COMPLETED ExitCode=0:0" into its comment and no parser could
// tell which JobState is slurmctld's. squeue prints only what is asked.
// exit_code is the batch script's wait status, as slurmrestd gives it.
// Command is the batch script's path, which slurmctld fixes at submission
// and lets no one update: a recorded job id names the attempt's job only
// while its command is the attempt's script and its user (UserID, which
// no one but root changes) is this server's (Status), as slurmctld reuses
// an id once its counter wraps (MaxJobId), for any job of any user, and
// any user may submit a job whose command is that path (squeue --all
// lists every user's jobs). The job's id is asked as JobArrayID, which
// squeue prints as the job's id for a job of neither kind, as ID_N (or
// ID_[N-M] while pending) for an array's task and as ID+N for a
// heterogeneous job's part, ID its array's or leader's id: JobID prints
// each task's or part's own id, which names neither. squeue --jobs=ID
// prints every task of the array whose id is ID, and every part of the
// heterogeneous job it leads.
var jobColumns = []string{"JobArrayID", "State", "exit_code", "StartTime", "EndTime", "NodeList", "Reason", "StdOut", "Command", "UserID"}

// columnSep ends each column: a control character that no job state,
// time, node list, reason or output path this backend writes contains
// (squeue prints it as given, without padding or truncating the value).
const columnSep = "\x1f"

// squeueArgs asks squeue for the job's columns, whatever its state and
// whether or not its partition is hidden. For a job slurmctld does not
// know, squeue fails with "Invalid job id specified" (isInvalidJob), as
// scontrol does.
func squeueArgs(handle string) []string { return squeueColumnArgs(handle, jobColumns) }

// stateColumns are jobColumns less StdOut, the one the job's owner may
// set: what Status, Cancel and Clean need, asked again when the output
// path split the job's line (errSplitLine).
var stateColumns = slices.DeleteFunc(slices.Clone(jobColumns), func(c string) bool { return c == "StdOut" })

// squeueColumnArgs asks squeue for the job's columns cols (squeueArgs).
func squeueColumnArgs(handle string, columns []string) []string {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = c + ":" + columnSep
	}
	return []string{"--states=all", "--all", "--noheader", "--jobs=" + handle, "--Format=" + strings.Join(cols, ",")}
}

// slurmJob is what slurmctld says of a job (jobColumns).
type slurmJob struct {
	ID, State, Reason, NodeList, StdOut string
	// Command is the batch script's path as sbatch was given it.
	Command string
	// UserID is the user the job runs as, a number.
	UserID string
	// ExitStatus is the batch script's wait status.
	ExitStatus int64
	Start, End time.Time
}

// queryJob asks slurmctld for the job handle. When the job's output path
// splits its line (errSplitLine: its owner, a workload as this backend's
// user, may set it on a pending job), the job is asked for again without
// it, its StdOut left unknown (""): its state and command are slurmctld's
// own, and Status, Cancel and Clean go on reading the job as it is rather
// than failing for as long as the path stays.
func (s *Slurm) queryJob(ctx context.Context, handle string) (slurmJob, error) {
	out, err := s.run(ctx, "squeue", squeueArgs(handle)...)
	if err != nil {
		return slurmJob{}, err
	}
	job, err := parseSqueueJob(out, handle)
	if !errors.Is(err, errSplitLine) {
		return job, err
	}
	out, err = s.run(ctx, "squeue", squeueColumnArgs(handle, stateColumns)...)
	if err != nil {
		return slurmJob{}, err
	}
	return parseSqueueColumns(out, handle, stateColumns)
}

// errSplitLine is the error (wrapped) of squeue output with a line that
// is not the job's own (parseSqueueJob).
var errSplitLine = errors.New("a value of the job (its output path, its command) may hold a line break, and its columns cannot be told apart")

// parseSqueueJob reads the line of squeue's output (squeueArgs) that is
// job handle's. Output that does not have the columns asked for (another
// Slurm's squeue, which may not know one of them and print it empty with
// an error on stderr) is refused, naming what is wrong.
//
// squeue prints each value as it is, and the job's owner may set its
// output path (StdOut, on a pending job) to any text, newlines and the
// column separator included; so is a command of the owner's choosing (a
// job of the owner's that slurmctld gave an attempt's id). Such a value
// could end the job's line early with columns of the owner's making (an
// attempt's batch script as the command), the rest of it taken for a line
// of another job: output with any line but the job's own is refused
// (squeue --jobs=ID prints that job alone).
func parseSqueueJob(out, handle string) (slurmJob, error) {
	return parseSqueueColumns(out, handle, jobColumns)
}

// parseSqueueColumns is parseSqueueJob of output with columns (jobColumns,
// or stateColumns); a column not asked for reads as "".
//
// The output is walked a line at a time, at most maxJobLines of them, and
// the job's line split into at most as many columns as asked for: split
// whole, the 8 MiB a call keeps of a client's output, all line breaks or
// column separators, cost 128 MiB of string headers.
func parseSqueueColumns(out, handle string, columns []string) (slurmJob, error) {
	var line, other string
	n := 0
	for i, l := range outputLines(out) {
		if i > maxJobLines {
			return slurmJob{}, fmt.Errorf("squeue printed more than %d lines for job %s", maxJobLines, handle)
		}
		if strings.TrimSpace(l) == "" {
			continue
		}
		id, _, _ := strings.Cut(l, columnSep)
		if id != handle {
			if isArrayOrHetID(id) {
				// An array's task or a heterogeneous job's part
				// (ID_N, ID+N, as JobArrayID prints them; ID the
				// handle's, or the array's or leader's of the task
				// or part whose own id it is): another job given the
				// id, unless the job's own line comes too (below).
				if other == "" {
					other = l
				}
				continue
			}
			return slurmJob{}, fmt.Errorf("squeue printed, asked for job %s, a line that is not the job's own (%q): %w", handle, truncateOut(l), errSplitLine)
		}
		if n++; n > 1 {
			return slurmJob{}, fmt.Errorf("squeue printed %d lines for job %s: %w", n, handle, errSplitLine)
		}
		line = l
	}
	if n > 0 && other != "" {
		return slurmJob{}, fmt.Errorf("squeue printed, asked for job %s, a line that is not the job's own (%q): %w", handle, truncateOut(other), errSplitLine)
	}
	if n == 0 && other != "" {
		// The id is an array's or a heterogeneous job's, whose lines
		// alone squeue printed (ID_N, ID+N): never a job this backend
		// submitted (it submits neither), so another's, given the id
		// once the attempt's was forgotten. Read with no user nor
		// command, it is no attempt's (jobsKey), as another user's job.
		return slurmJob{ID: handle}, nil
	}
	if n == 0 {
		return slurmJob{}, fmt.Errorf("squeue printed no line for job %s (output %q)", handle, truncateOut(out))
	}
	var buf [16]string
	if len(columns) >= len(buf) {
		return slurmJob{}, fmt.Errorf("squeue asked for %d columns for job %s, at most %d", len(columns), handle, len(buf)-1)
	}
	f := buf[:len(columns)+1]
	if nf := fieldsInto(line, columnSep, f); nf != len(f) || strings.TrimSpace(f[len(columns)]) != "" {
		return slurmJob{}, fmt.Errorf("squeue printed %d columns for job %s, want %d (%s): %q",
			nf-1, handle, len(columns), strings.Join(columns, ","), truncateOut(line))
	}
	raw := func(name string) string {
		if i := slices.Index(columns, name); i >= 0 {
			return f[i]
		}
		return ""
	}
	col := func(name string) string { return strings.TrimSpace(raw(name)) }
	// The output path as given: a path may end in a space.
	job := slurmJob{ID: handle, State: col("State"), Reason: col("Reason"), NodeList: col("NodeList"), StdOut: raw("StdOut"),
		Command: raw("Command"), UserID: col("UserID"), Start: parseTime(col("StartTime")), End: parseTime(col("EndTime"))}
	if !isSlurmState(job.State) {
		return slurmJob{}, fmt.Errorf("squeue printed State %q for job %s, not a Slurm job state", truncateOut(job.State), handle)
	}
	if _, err := strconv.ParseUint(job.UserID, 10, 32); slices.Contains(columns, "UserID") && err != nil {
		return slurmJob{}, fmt.Errorf("squeue printed UserID %q for job %s, not a user id", truncateOut(job.UserID), handle)
	}
	ws, err := strconv.ParseInt(col("exit_code"), 10, 64)
	if err != nil {
		return slurmJob{}, fmt.Errorf("squeue printed exit_code %q for job %s, not a number", truncateOut(col("exit_code")), handle)
	}
	job.ExitStatus = ws
	return job, nil
}

// isArrayOrHetID says id has the form squeue (JobArrayID) prints an
// array's task or a heterogeneous job's part in: a job id, then _ and the
// task's index (or [...] while pending), or + and the part's offset.
func isArrayOrHetID(id string) bool {
	i := strings.IndexAny(id, "_+")
	if i <= 0 || i == len(id)-1 || !isJobID(id[:i]) {
		return false
	}
	rest := id[i+1:]
	if id[i] == '_' && strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]") {
		rest = rest[1 : len(rest)-1]
	}
	return rest != "" && strings.Trim(rest, "0123456789-,%") == ""
}

// isSlurmState says s has the form of a Slurm job state (RUNNING,
// NODE_FAIL, ...).
func isSlurmState(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

// truncateOut bounds what an error quotes of a command's output.
func truncateOut(s string) string { return clipText(s, 200) }

// clipText is at most the first limit bytes of s, cut where a character
// ends, marked when cut.
func clipText(s string, limit int) string {
	if len(s) > limit {
		return strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}

// ParseKeyValues splits one line of `scontrol show -o` output into its
// Key=Value fields. A space-separated word without '=' continues the previous
// value (values such as Command or Reason may contain spaces), and so does
// a word naming a key already on the line: a value of free text (a node's
// Reason, which health checks write and may fill with what a job runs)
// may hold "State=IDLE", and must not overwrite the State that scontrol
// printed before it.
//
// Its cost is linear in the line, however many words a value has: a
// node's reason is free text and may run to a client's whole output
// (maxCommandOutput).
func ParseKeyValues(line string) map[string]string {
	vals := map[string]*strings.Builder{}
	var last *strings.Builder
	for word := range strings.FieldsSeq(line) {
		k, v, ok := strings.Cut(word, "=")
		_, seen := vals[k]
		if !ok || k == "" || strings.ContainsAny(k, "()") || seen {
			if last != nil {
				last.WriteByte(' ')
				last.WriteString(word)
			}
			continue
		}
		last = &strings.Builder{}
		last.WriteString(v)
		vals[k] = last
	}
	out := make(map[string]string, len(vals))
	for k, b := range vals {
		out[k] = b.String()
	}
	return out
}

// Cancel scancels the job and returns once slurmctld has ended it
// (waitCancelled), or fails when ctx ends first; cancelling a finished job
// is not an error.
// Whether the job has ended is slurmctld's word, not Status's: Status
// reads a job lost while it waits on a partition that is down (it then
// starts when the partition is back) or runs on a node that is down (it
// may run on there), and such a job was left to run, unwatched, beside
// the attempt that replaced it. A job that runs no attempt's batch script
// of this state directory (jobsKey) is not cancelled, whether or not the
// id has a record: slurmctld gave the id to another job.
func (s *Slurm) Cancel(ctx context.Context, handle string) error {
	ref, err := s.rec.parse(handle)
	if err != nil {
		return err
	}
	job, err := s.queryJob(ctx, ref.id)
	if isInvalidJob(err) {
		if ref.key == "" {
			return fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
		}
		return nil // forgotten: it ended long ago
	}
	if err != nil {
		return fmt.Errorf("slurm cancel %s: %w", handle, err)
	}
	key, ok := s.jobsKey(job)
	if ok && ref.key != "" && key != ref.key {
		// Another attempt's job, given the id since (Status): left
		// alone; the handle's attempt's job is forgotten.
		return nil
	}
	if ok && ref.key == "" && s.rec.notItsHandle(key, handle) {
		return fmt.Errorf("handle %q: %w (slurmctld's job of that id is attempt %s's, whose handle is another)", handle, backend.ErrNotFound, key)
	}
	if !ok {
		// Not a job this backend submitted (jobsKey): left alone.
		if ref.key == "" {
			return fmt.Errorf("handle %q: %w (slurmctld's job of that id runs no attempt's batch script of this backend)", handle, backend.ErrNotFound)
		}
		return nil // the id is another job's now
	}
	if slurmEnded(job.State) {
		return nil
	}
	// Remembered for when slurmctld has forgotten the job.
	if err := s.rec.markCancelled(key); err != nil {
		return fmt.Errorf("slurm cancel %s: %w", handle, err)
	}
	if _, err := s.run(ctx, "scancel", ref.id); err != nil && !isInvalidJob(err) {
		return fmt.Errorf("slurm cancel %s: %w", handle, err)
	}
	return s.waitCancelled(ctx, handle, ref.id, key, job.State)
}

// Between two looks at a cancelled job that has not ended yet
// (waitCancelled, REST.waitCancelled): the first wait, doubled after each
// look up to the last. A job that ignores nothing ends within a look or
// two; one that traps SIGTERM ends at the site's KillWait (30 s by
// default), when slurmd kills it.
const (
	cancelPollFirst = 100 * time.Millisecond
	cancelPollMax   = time.Second
)

// waitCancelled waits, within ctx, until slurmctld has ended the job of
// id, which scancel was just asked to end (state: its state before):
// scancel returns once slurmctld has taken the request, while the job
// may still run for a while (its workload traps SIGTERM until KillWait
// ends it, its epilog runs, its node does not answer: COMPLETING). A
// Cancel that answered then was taken for a stop, and the attempt that
// replaced the job started beside it, on the data and accelerators it
// still held. The job has ended once slurmctld says so (a final state,
// COMPLETING not among them), forgets the job, or knows the id as
// another job than the attempt key's (it forgot this one). Where ctx ends
// first, the error names the state seen last, and the caller asks
// again.
func (s *Slurm) waitCancelled(ctx context.Context, handle, id, key, state string) error {
	return pollCancelled(ctx, handle, state, func(ctx context.Context) (bool, string, error) {
		job, err := s.queryJob(ctx, id)
		if isInvalidJob(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		k, ok := s.jobsKey(job)
		return !ok || k != key || slurmEnded(job.State), job.State, nil
	})
}

// pollCancelled is the loop of both backends' waitCancelled: it asks
// slurmctld about the job (look), waiting cancelPollFirst between looks,
// doubled each time up to cancelPollMax, until look says the job has
// ended or ctx ends. look answers whether the job has ended (forgotten
// by slurmctld counts) and, where not, the state slurmctld reports;
// state is the job's state before the first look. Where a look fails, or
// ctx ends first, the error names the state seen last.
func pollCancelled(ctx context.Context, handle, state string, look func(context.Context) (ended bool, seen string, err error)) error {
	wait := cancelPollFirst
	for {
		ended, seen, err := look(ctx)
		if err != nil && ctx.Err() != nil {
			// The cancel was taken and a look answered (the one before
			// it): ctx ended while slurmctld was asked again, which is
			// a job still ending, not a site that does not answer.
			return stillEndingError(handle, state, ctx.Err())
		}
		if err != nil {
			return notEndedError(handle, state, err)
		}
		if ended {
			return nil
		}
		state = seen
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return stillEndingError(handle, state, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, cancelPollMax)
	}
}

// notEndedError is Cancel's error for a job that was asked to end but not
// seen ended, in state (as last seen), for err.
func notEndedError(handle, state string, err error) error {
	return fmt.Errorf("slurm cancel %s: the job was asked to end, but slurmctld has not said it ended (state %s when last seen): %w", handle, printable([]byte(state), maxNodeText), err)
}

// stillEndingError is Cancel's error for a job that was asked to end and
// that slurmctld, at each look, said was still ending (state, as last
// seen) when ctx ended (err): backend.ErrStopping, for the site answered
// and took the cancel, not a site that did not answer.
func stillEndingError(handle, state string, err error) error {
	return fmt.Errorf("%w: %w", notEndedError(handle, state, backend.ErrStopping), err)
}

// Logs returns the job's output file, read from this backend's state
// directory only: STATE/jobs/KEY/output.log, KEY an attempt's key, opened
// one component at a time without following a link (records.openJobFile).
// For a job with no record here, slurmctld is asked which attempt the job
// is (jobKey); the job's owner can point a pending job's output anywhere
// (scontrol update StdOut=), another state directory's or another
// attempt's output included, so the path slurmctld prints is never opened
// as such.
func (s *Slurm) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	f, err := s.openOutput(ctx, handle)
	if f == nil && err == nil {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return f, err
}

// LogsAt is Logs from byte off on, the file found by the same path Logs
// takes: it seeks, reading nothing before off, and names the file it
// opened (backend.FileLogsAt), so that a follower of the output sees a
// file written anew (a job requeued, its output truncated) as such.
func (s *Slurm) LogsAt(ctx context.Context, handle string, off int64) (io.ReadCloser, backend.LogInfo, error) {
	if off < 0 {
		return nil, backend.LogInfo{}, fmt.Errorf("log offset %d: want 0 or more", off)
	}
	f, err := s.openOutput(ctx, handle)
	if err != nil {
		return nil, backend.LogInfo{}, err
	}
	if f == nil {
		return io.NopCloser(strings.NewReader("")), backend.LogInfo{}, nil
	}
	rc, info, err := backend.FileLogsAt(f, off)
	if err != nil {
		return nil, backend.LogInfo{}, fmt.Errorf("slurm logs %s: %w", handle, err)
	}
	return rc, info, nil
}

// openOutput opens the job's output file as Logs describes; nil without
// error when the job has written none yet.
func (s *Slurm) openOutput(ctx context.Context, handle string) (*os.File, error) {
	ref, err := s.rec.parse(handle)
	if err != nil {
		return nil, err
	}
	key := ref.key
	if key == "" {
		k, err := s.jobKey(ctx, ref.id)
		if err != nil {
			return nil, err
		}
		if s.rec.notItsHandle(k, handle) {
			return nil, fmt.Errorf("handle %q: %w (slurmctld's job of that id is attempt %s's, whose handle is another)", handle, backend.ErrNotFound, k)
		}
		key = k
	}
	f, err := s.rec.openJobFile(key, "output.log")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("slurm logs %s: %w", handle, err)
	}
	return f, nil
}

// jobKey is the attempt of a job this backend has no record of, as
// slurmctld tells it: the job must be this user's (squeue --me), its
// command (which slurmctld fixes at submission and lets no one update)
// must be the batch script of an attempt in this state directory, and its
// output path must still be the one that attempt was submitted with. Any
// other job is refused, naming why.
func (s *Slurm) jobKey(ctx context.Context, handle string) (string, error) {
	job, err := s.queryJob(ctx, handle)
	if isInvalidJob(err) {
		return "", fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("slurm logs %s: %w", handle, err)
	}
	out, err := s.run(ctx, "squeue", "--me", "--states=all", "--noheader", "--jobs="+handle,
		"--Format=JobID:"+columnSep+",Command:"+columnSep)
	if isInvalidJob(err) {
		return "", fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("slurm logs %s: %w", handle, err)
	}
	if strings.TrimSpace(out) == "" {
		return "", fmt.Errorf("slurm logs %s: the job is not this user's, so not one this backend submitted: not read", handle)
	}
	cmd, ok := strings.CutPrefix(out, handle+columnSep)
	if ok {
		cmd, ok = strings.CutSuffix(cmd, columnSep+"\n")
	}
	if !ok || strings.ContainsAny(cmd, "\n"+columnSep) {
		return "", fmt.Errorf("slurm logs %s: squeue printed %q for the job's command, not one line with its id and command", handle, truncateOut(out))
	}
	key, ok := s.scriptKey(cmd)
	if !ok {
		return "", fmt.Errorf("slurm logs %s: the job's batch script %q is not an attempt's in this backend's state directory (%s/KEY/job.sh): not read", handle, truncateOut(cmd), filepath.Join(s.rec.dir, "jobs"))
	}
	if want := filepath.Join(s.jobDir(key), "output.log"); job.StdOut != want {
		return "", fmt.Errorf("slurm logs %s: the job's output path is %q, not %s, where attempt %s was submitted to write it: not read", handle, truncateOut(job.StdOut), want, key)
	}
	return key, nil
}

// FailSite simulates the loss of the site: the partition is set DOWN (new
// jobs do not start; Submit fails with backend.ErrSiteDown) and its nodes are
// set DOWN, which kills their jobs (NODE_FAIL, reported Lost).
func (s *Slurm) FailSite(ctx context.Context) error {
	if s.partition == "" {
		return errors.New("fail site: the site has no partition")
	}
	if _, err := s.run(ctx, "scontrol", "update", "partitionname="+s.partition, "state=down"); err != nil {
		return fmt.Errorf("fail site: %w", err)
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return fmt.Errorf("fail site: %w", err)
	}
	if _, err := s.run(ctx, "scontrol", "update", "nodename="+nodes, "state=down", "reason=meridian-fail-site"); err != nil {
		return fmt.Errorf("fail site: %w", err)
	}
	return nil
}

// RestoreSite brings the partition and its nodes back.
func (s *Slurm) RestoreSite(ctx context.Context) error {
	if s.partition == "" {
		return errors.New("restore site: the site has no partition")
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return fmt.Errorf("restore site: %w", err)
	}
	// Resuming a node that came back by itself is refused; that is fine.
	s.run(ctx, "scontrol", "update", "nodename="+nodes, "state=resume") //nolint:errcheck
	if _, err := s.run(ctx, "scontrol", "update", "partitionname="+s.partition, "state=up"); err != nil {
		return fmt.Errorf("restore site: %w", err)
	}
	// The site is back when its nodes take jobs: a node slurmd has not yet
	// re-registered, or one drained late because killing the loss's jobs
	// took too long ("Kill task failed"), refuses a submission meanwhile.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := s.run(ctx, "sinfo", "-h", "-p", s.partition, "-o", "%T")
		if err != nil {
			return fmt.Errorf("restore site: %w", err)
		}
		usable := true
		for _, st := range strings.Fields(out) {
			// A flag after the state says the node cannot take a job yet:
			// "*" not responding (slurmd has not answered since the
			// resume), "~", "#", "%", "!" power, "@", "^" reboot, "$" a
			// maintenance reservation. Only "-" (planned) is harmless.
			state := strings.TrimRight(st, "*~#!%$@^-")
			flags := st[len(state):]
			switch state {
			case "idle", "mixed", "allocated", "completing", "planned":
				if strings.Trim(flags, "-") != "" {
					usable = false
				}
			default:
				usable = false
			}
			if strings.HasPrefix(state, "drain") || state == "down" {
				s.run(ctx, "scontrol", "update", "nodename="+nodes, "state=resume") //nolint:errcheck
			}
		}
		if usable {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("restore site: nodes %s not taking jobs after 30 s: %s", nodes, strings.Join(strings.Fields(out), " "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("restore site: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond): // polling interval
		}
	}
}

func (s *Slurm) nodes(ctx context.Context) (string, error) {
	out, err := s.run(ctx, "sinfo", "-h", "-p", s.partition, "-o", "%N")
	if err != nil {
		return "", err
	}
	nodes := strings.TrimSpace(out)
	if nodes == "" {
		return "", fmt.Errorf("partition %s has no nodes", s.partition)
	}
	return strings.Fields(nodes)[0], nil
}

// Clean removes the working directory of an attempt's job once no process
// of the job can still use it (what the agent would have wiped had it not
// been killed); until then it leaves the directory and says nothing, and
// is asked again when the run next ends. Status's word is not enough:
// it reads a running job as lost as soon as its node is down, and a node
// that stopped responding may still run the job. The directory goes only
// when slurmctld itself has ended the job (not pending, running or
// completing) and every node it ran on responds and is neither down nor
// failing (slurmd, back, has ended what slurmctld no longer runs there),
// or when the batch script wrote its exit code, or when the job never
// started. Once slurmctld has forgotten the job, the nodes it ran on are
// those Status or Clean saw it on; where that is not known, the directory
// stays.
func (s *Slurm) Clean(ctx context.Context, handle string) error {
	ref, err := s.rec.parse(handle)
	if err != nil || ref.key == "" {
		return nil
	}
	key := ref.key
	done, err := s.jobDone(ctx, ref.id, key)
	if err != nil {
		return fmt.Errorf("slurm clean %s: %w", handle, err)
	}
	if !done {
		return nil
	}
	if err := s.removeWorkDir(key); err != nil {
		return err
	}
	// No process of the job runs: its record need not be listed by
	// each capacity poll from now on.
	if err := s.rec.retire(ref.id, key); err != nil {
		return fmt.Errorf("slurm clean %s: %w", handle, err)
	}
	// What a workload put where the job's records go, moved aside
	// (records.moveAside), is of no more use.
	s.rec.removeRefused(ref.id, key)
	return nil
}

// jobDone says whether no process of the job of key (handle) can still
// run (Clean).
func (s *Slurm) jobDone(ctx context.Context, handle, key string) (bool, error) {
	job, err := s.queryJob(ctx, handle)
	forgotten := isInvalidJob(err)
	if err != nil && !forgotten {
		return false, err
	}
	if !forgotten {
		if k, ours := s.jobsKey(job); !ours {
			forgotten = true // the id is another job's now (Status)
		} else if k != key {
			// Another attempt's job: the id's record is not to be
			// believed (jobsKey), and neither attempt's directory goes.
			return false, nil
		}
	}
	if forgotten {
		if s.rec.exited(key) || s.rec.ranMark(key) == "" {
			return true, nil // its command returned, or it never started
		}
		nodes := s.rec.nodes(key)
		if nodes == "" {
			return false, nil // it may still run where it ran
		}
		return s.nodesSettled(ctx, nodes)
	}
	if !slurmEnded(job.State) {
		return false, nil
	}
	if !validNodeList(job.NodeList) {
		// Never placed on a node ("" or "(null)"), or a list no node
		// is named by.
		return job.NodeList == "" || job.NodeList == "(null)", nil
	}
	s.rec.saveNodes(key, job.NodeList) //nolint:errcheck // best effort, for once slurmctld forgets the job
	return s.nodesSettled(ctx, job.NodeList)
}

// slurmEnded says whether slurmctld has ended a job in state: one of the
// final states, its epilog done (COMPLETING is not).
func slurmEnded(state string) bool {
	switch state {
	case "COMPLETED", "FAILED", "OUT_OF_MEMORY", "DEADLINE", "TIMEOUT", "CANCELLED", "NODE_FAIL", "BOOT_FAIL", "PREEMPTED":
		return true
	}
	return false
}

// validNodeList says whether list is a Slurm host list (node names,
// brackets, ranges, commas) that can be passed to scontrol as one
// argument: the record of one is in a directory the job's user can write.
func validNodeList(list string) bool {
	return len(list) <= maxNodeListLen && hostList(list)
}

// hostList says whether list has the form of a Slurm host list, and is
// no option of a Slurm client.
func hostList(list string) bool {
	if list == "" || list[0] == '-' {
		return false
	}
	for _, r := range list {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.,[]", r)) {
			return false
		}
	}
	return true
}

const maxNodeListLen = 4096

// nodesSettled says whether every node of the host list responds and is
// neither down nor failing: a job slurmctld ended there is then ended on
// the node too, as slurmd, responding, is told to end it.
func (s *Slurm) nodesSettled(ctx context.Context, nodelist string) (bool, error) {
	if !validNodeList(nodelist) {
		return false, nil
	}
	out, err := s.run(ctx, "scontrol", "show", "node", "-o", nodelist)
	if err != nil {
		return false, err
	}
	n := 0
	for i, line := range outputLines(out) {
		if i > maxListedLines {
			return false, fmt.Errorf("scontrol show node %s: more than %d lines", nodelist, maxListedLines)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		n++
		state := ParseKeyValues(line)["State"]
		if state == "" || strings.Contains(state, "*") {
			return false, nil // not responding, or not said
		}
		for flag := range strings.SplitSeq(state, "+") {
			switch flag {
			case "DOWN", "FAIL", "FAILING", "NOT_RESPONDING", "UNKNOWN", "FUTURE":
				return false, nil
			}
		}
	}
	return n > 0, nil
}
