package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"meridian.dev/meridian/catalog"
)

// Spec is one attempt of one run to start at a site.
type Spec struct {
	RunID   string
	Attempt int
	Command []string
	Env     map[string]string
	// Secret holds variables the job needs that no one else may read from
	// its description (the attempt's credential). A backend whose job
	// descriptions others can read keeps them apart: Kubernetes puts them
	// in a Secret the pod reads, owned by the Job. The local and Slurm
	// backends pass them as Env, in files and scripts only the job's user
	// reads. A name may not be in both.
	Secret map[string]string
	// WorkDir is the job's working directory (checkpoints, data) on the site.
	// An empty or relative WorkDir is resolved under the site's work root
	// (BackendSpec.WorkDir, else a "work" directory under the backend's state
	// directory); an empty one becomes <work root>/<RunID>.
	WorkDir      string
	Accelerators int
	// Partition and GresType override the site's settings when not empty.
	Partition string
	GresType  string
	// Image is the container image for backends that run containers; the
	// site's backend.image when empty.
	Image string
}

// Key names the job of one attempt of one run, e.g. "r42-3". Backends use it
// for file and job names, so that a second submit of the same attempt finds
// the first.
func (s Spec) Key() string { return fmt.Sprintf("%s-%d", s.RunID, s.Attempt) }

// Validate reports the first field of s that a backend cannot accept; the
// error wraps ErrInvalid.
func (s Spec) Validate() error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (s Spec) validate() error {
	if err := ValidRunID(s.RunID); err != nil {
		return err
	}
	if s.Attempt < 0 {
		return fmt.Errorf("attempt: must be >= 0, got %d", s.Attempt)
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		return errors.New("command: must name a program")
	}
	if s.Accelerators < 0 {
		return fmt.Errorf("accelerators: must be >= 0, got %d", s.Accelerators)
	}
	for k := range s.Env {
		if !validEnvName(k) {
			return fmt.Errorf("env: %q is not a valid variable name (letters, digits, _; not starting with a digit)", k)
		}
	}
	for k := range s.Secret {
		if !validEnvName(k) {
			return fmt.Errorf("secret: %q is not a valid variable name (letters, digits, _; not starting with a digit)", k)
		}
		if _, dup := s.Env[k]; dup {
			return fmt.Errorf("secret: %q is in env as well", k)
		}
	}
	return nil
}

// JobEnv is Env and Secret together: the variables of a backend that does
// not keep secrets apart.
func (s Spec) JobEnv() map[string]string {
	if len(s.Secret) == 0 {
		return s.Env
	}
	env := make(map[string]string, len(s.Env)+len(s.Secret))
	for k, v := range s.Env {
		env[k] = v
	}
	for k, v := range s.Secret {
		env[k] = v
	}
	return env
}

// ValidRunID reports whether id can name a job: 1 to 64 characters from
// [A-Za-z0-9_.-], not starting with '.' or '-'.
func ValidRunID(id string) error {
	if id == "" {
		return errors.New("runID: must not be empty")
	}
	if len(id) > 64 {
		return fmt.Errorf("runID: %d characters, at most 64", len(id))
	}
	if id[0] == '.' || id[0] == '-' {
		return fmt.Errorf("runID: %q must not start with %q", id, id[0])
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("runID: %q contains %q; allowed are letters, digits, '-', '_' and '.'", id, r)
		}
	}
	return nil
}

func validEnvName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// InheritedEnv names the only variables of the controller's environment that
// a job inherits; everything else it gets comes from Spec.Env, so no key or
// token of the controller leaks into a workload.
var InheritedEnv = []string{"HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ", "USER"}

// State is a job's lifecycle state as the scheduler reports it.
type State string

// States.
const (
	Pending   State = "pending"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
	// Lost means the site or node failed under the job.
	Lost State = "lost"
)

// Final reports whether s can no longer change.
func (s State) Final() bool {
	switch s {
	case Succeeded, Failed, Cancelled, Lost:
		return true
	}
	return false
}

// Status is a snapshot of a job.
type Status struct {
	State    State
	ExitCode int
	Reason   string
	// Started and Ended are when the job's workload started and ended, as
	// the site tells them; zero when the site does not say (or not yet).
	// They are the site's word, on the site's clock: the controller bounds
	// them by its own stamps before it counts them.
	Started time.Time `json:",omitzero"`
	Ended   time.Time `json:",omitzero"`
}

// FileTime is when the file at path was last written, or zero when it
// cannot be read or is not a plain file (a link is not followed): a job's
// start or end as a file its wrapper wrote tells it, on the clock of the
// machine that wrote it.
func FileTime(path string) time.Time {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}
	}
	return fi.ModTime().UTC()
}

// ErrNotPlainFile is ReadSmallFile's answer for a path that names a link, a
// pipe, a device or a directory.
var ErrNotPlainFile = errors.New("not a plain file")

// ReadSmallFile reads the plain file at path, of at most max bytes. A job
// directory's files (an exit code, a pid, a job id, a record) sit where
// the job's workload may write: one that put a named pipe there would hang
// the reader, a link to a device or to another file would feed it without
// end or show it what it should not read, and a large file would fill the
// server's memory. So a link is not followed (ErrNotPlainFile), the file
// is opened without waiting on a pipe's writer and must be a plain file
// (ErrNotPlainFile), and one larger than max is an error that names it.
// A missing file is os.ErrNotExist, as os.ReadFile reports it.
func ReadSmallFile(path string, max int64) ([]byte, error) {
	f, err := OpenPlainFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than the %d bytes it may hold", path, max)
	}
	return data, nil
}

// OpenPlainFile opens the plain file at path to read, as ReadSmallFile
// reads it: a link in its place is not followed and anything but a plain
// file (a FIFO, whose open would wait for a writer, a device, a directory)
// is refused, both with ErrNotPlainFile; the file handed back reads as
// any other (its open's O_NONBLOCK cleared). A missing file is
// os.ErrNotExist.
func OpenPlainFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: %w (a link)", path, ErrNotPlainFile)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotPlainFile, fi.Mode().Type())
	}
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Backend is a site scheduler. Implementations must be safe for concurrent use.
type Backend interface {
	// Submit starts spec and returns a handle. It is idempotent: submitting
	// the same RunID and Attempt again returns the existing job's handle.
	Submit(ctx context.Context, spec Spec) (handle string, err error)
	// Status reports the job's state.
	Status(ctx context.Context, handle string) (Status, error)
	// Cancel stops the job; cancelling a finished job is not an error.
	Cancel(ctx context.Context, handle string) error
	// Logs returns the job's output so far. A backend that cannot reach
	// the job's output (the site's agent reports it instead) returns an
	// error wrapping ErrLogsUnavailable.
	Logs(ctx context.Context, handle string) (io.ReadCloser, error)
}

// Checker is implemented by backends that can check a site's settings
// against its scheduler before any job is submitted: that it answers, that
// it accepts the credentials, that the partition or namespace exists.
type Checker interface {
	// Check reports the first setting that does not work, naming the
	// field (backend.restURL, backend.partition, …). It submits nothing.
	Check(ctx context.Context) error
}

// Finder is implemented by backends that can find a job submitted earlier,
// by this or by an earlier process on the same state, so that a restarted
// controller picks up its job instead of submitting it twice.
type Finder interface {
	// Find returns the handle of the job for runID and attempt, and ok=false
	// without error when there is none.
	Find(ctx context.Context, runID string, attempt int) (handle string, ok bool, err error)
}

// SiteFailer is implemented by backends that can simulate the loss of their
// whole site (for tests and demos): FailSite kills the site's jobs so that
// Status reports them Lost and refuses new work; RestoreSite brings it back.
type SiteFailer interface {
	FailSite(ctx context.Context) error
	RestoreSite(ctx context.Context) error
}

// Cleaner is implemented by backends that can remove what an ended job
// left in its working directory at the site (plaintext data, checkpoints,
// if the agent could not wipe them itself). The controller calls it when an
// attempt ends; it must be idempotent and must not touch a running job.
type Cleaner interface {
	Clean(ctx context.Context, handle string) error
}

// SiteAccelerator is the key of a capacity report (run.CapacityReporter)
// that counts the one kind of accelerator a site's jobs ask for (its Slurm
// GRES, its Kubernetes GPU resource), whatever the catalog calls it: a
// backend knows its site's settings, not the catalog's accelerator names,
// so the figure applies to each of the site's pools.
const SiteAccelerator = "*"

// ErrNotFound is returned (wrapped) for a handle the backend does not know.
var ErrNotFound = errors.New("job not found")

// ErrSiteDown is returned (wrapped) by Submit when the site is failed.
var ErrSiteDown = errors.New("site is down")

// ErrAttemptUnknown is returned (wrapped) by Submit when an earlier submit
// of the same attempt may have made a job whose outcome the site no longer
// knows (it ran and was forgotten): the attempt is not run a second time,
// and the controller gives it up as lost.
var ErrAttemptUnknown = errors.New("the attempt's earlier job may have run; its outcome is unknown")

// ErrStopping is returned (wrapped) by Cancel when the site took the
// cancel and answered each look since, but the job has not ended yet (it
// traps SIGTERM and writes its last checkpoint, its epilog runs, its node
// is slow to answer). It is no failure of the site: the caller asks again
// later (Cancel is idempotent) and counts the site reachable.
var ErrStopping = errors.New("the site accepted the cancel; the job is still ending")

// ErrInvalid is returned (wrapped) by Submit for a job the site can never
// take as it is (a spec it refuses, an argument list too long): retrying
// cannot help.
var ErrInvalid = errors.New("job refused as invalid")

// ErrLogsUnavailable is returned (wrapped) by Logs when the backend cannot
// read a job's output, as for a Slurm reached through slurmrestd, which
// serves no output files; the site's agent reports the output instead.
var ErrLogsUnavailable = errors.New("the backend cannot serve job output")

// Factory makes a backend for one site. stateDir is the backend's own
// directory for that site; each site needs its own.
type Factory func(site catalog.BackendSpec, stateDir string) (Backend, error)

var (
	regMu     sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a backend type available to For. Backend packages call it
// from init; registering a type twice panics.
func Register(typ string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := factories[typ]; dup {
		panic("backend: Register called twice for " + typ)
	}
	factories[typ] = f
}

// Types lists the registered backend types, sorted.
func Types() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(factories))
	for t := range factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// For makes the backend that a site's settings name. An empty type means
// "local". The backend packages must be linked in (import
// meridian.dev/meridian/backend/local and …/backend/slurm).
func For(site catalog.BackendSpec, stateDir string) (Backend, error) {
	typ := site.Type
	if typ == "" {
		typ = "local"
	}
	regMu.RLock()
	f, ok := factories[typ]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("backend.type: %q is not available (linked in: %v)", typ, Types())
	}
	if stateDir == "" {
		return nil, errors.New("backend state directory must not be empty")
	}
	return f(site, stateDir)
}

// Dirs resolves a backend's state directory to an absolute path and its jobs'
// working-directory root: site.WorkDir when set (relative to the state
// directory unless absolute), else "work" inside it. name prefixes errors.
func Dirs(name string, site catalog.BackendSpec, stateDir string) (state, work string, err error) {
	if stateDir == "" {
		return "", "", fmt.Errorf("%s backend: state directory must not be empty", name)
	}
	state, err = filepath.Abs(stateDir)
	if err != nil {
		return "", "", fmt.Errorf("%s backend: state directory: %w", name, err)
	}
	work = filepath.Join(state, "work")
	if site.WorkDir != "" {
		work = site.WorkDir
		if !filepath.IsAbs(work) {
			work = filepath.Join(state, work)
		}
	}
	return state, work, nil
}

// Set is the backend types a program runs, each with its factory. A
// program names them explicitly, so that what its catalogs accept does not
// depend on which packages happen to be linked in (as with Register).
type Set map[string]Factory

// Types lists the set's backend types, sorted.
func (s Set) Types() []string {
	out := make([]string, 0, len(s))
	for t := range s {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ErrNoBackend is returned (wrapped) by Set.For for a site without a
// configured backend: such a site is for planning only.
var ErrNoBackend = errors.New("the site has no configured backend (planning only)")

// For makes the backend a site's settings name. Unlike the package-level
// For, an empty type is not "local": a site runs jobs only once its
// backend is configured.
func (s Set) For(site catalog.BackendSpec, stateDir string) (Backend, error) {
	if site.Type == "" {
		return nil, ErrNoBackend
	}
	f, ok := s[site.Type]
	if !ok {
		return nil, fmt.Errorf("backend.type: %q cannot run in this program (it runs %v)", site.Type, s.Types())
	}
	if stateDir == "" {
		return nil, errors.New("backend state directory must not be empty")
	}
	return f(site, stateDir)
}
