package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	seccomparch "github.com/elastic/go-seccomp-bpf/arch"
	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"meridian.dev/meridian/internal/fdexec"
)

// systemReadOnly are the directories every workload may read and execute
// from: the system's programs, libraries and configuration. Nothing under a
// user's home, the server's state directory or another attempt's scratch.
var systemReadOnly = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys/devices/system/cpu"}

// walkedReadOnly are the directories of systemReadOnly where the operator
// puts files of their own, and so where a file of the server's user may
// lie (a TLS key, a record key, a catalog): each time a workload starts in
// the landlock sandbox they are walked, and what is that user's and not
// every user's is kept from it (systemGrants). The rest (/usr's programs
// and libraries, /bin, /lib and the like) is the package manager's, root's
// and readable by every user, and is granted whole: a walk of /usr, about
// 150,000 entries on a typical machine, takes a second or more at every
// start, for files no operator puts there.
var walkedReadOnly = []string{"/etc", "/opt", "/usr/local"}

// maxSystemEntries bounds the entries looked at in walkedReadOnly at each
// start; past it the workload is refused, since what was not looked at
// could hold a file of the server's user. A few thousand to some tens of
// thousands are there on a typical machine (a walk of 18,000 takes about
// a quarter of a second); the bound, more than all of /usr, /etc and /opt
// hold on such a machine, leaves room for a CUDA toolkit and Python
// environments under /opt or /usr/local, and is walked in a few seconds.
var maxSystemEntries = 250_000

// deviceFiles are the device nodes a workload may use.
var deviceFiles = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

// landlockABI returns the kernel's Landlock ABI version, 0 when it has none
// (a variable, so that a test can stand in for an older kernel).
var landlockABI = func() int {
	v, err := llsys.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}

// minLandlockABI is the Landlock ABI the landlock sandbox needs: 6, for
// its scoping of signals (and, before it, 4 for TCP and 3 for truncate).
const minLandlockABI = 6

// checkSandbox refuses a mode this agent cannot provide, before anything
// runs: failing closed rather than running a workload unconfined.
func checkSandbox(sb Sandbox) error {
	switch sb.Mode {
	case SandboxUID:
		if os.Geteuid() != 0 {
			return fmt.Errorf("sandbox %q needs the agent to run as root (it runs as uid %d)", sb.Mode, os.Geteuid())
		}
		if sb.UID <= 0 || sb.GID <= 0 {
			return fmt.Errorf("sandbox %q: uid %d gid %d: want unprivileged ids", sb.Mode, sb.UID, sb.GID)
		}
	case SandboxLandlock:
		if landlockABI() < 1 {
			return errors.New("sandbox \"landlock\": this kernel has no Landlock; refusing to run the workload unconfined")
		}
		// The workload runs as the server's user here: only Landlock's
		// scoping (ABI 6) keeps it from signalling the server and the
		// other tenants' jobs, which an older ruleset silently left out.
		if abi := landlockABI(); abi < minLandlockABI {
			return fmt.Errorf("sandbox \"landlock\": this kernel's Landlock is ABI %d; ABI %d (Linux 6.12) is needed to keep the workload from signalling the server and other jobs of its user; refusing (run the server as root for the uid sandbox, or on a newer kernel)", abi, minLandlockABI)
		}
	case SandboxNone:
	default:
		return fmt.Errorf("sandbox mode %q is not known", sb.Mode)
	}
	return nil
}

// checkPrivate refuses, in the landlock sandbox, to give the workload a
// path to read that holds cfg.PrivateDir or lies inside it: the workload
// runs as the server's user there, and Landlock alone kept it from the
// backend's records (other attempts' credentials) and the server's keys
// and database. A state directory under /opt or /etc, which every
// workload may read, or under a --ro path the operator named, was read
// whole. Paths are compared with their links resolved, as Landlock sees
// them. In the uid sandbox the workload's own user cannot read those
// files anyway.
func checkPrivate(cfg Config, sb Sandbox) error {
	if sb.Mode != SandboxLandlock || cfg.PrivateDir == "" {
		return nil
	}
	priv, err := filepath.EvalSymlinks(cfg.PrivateDir)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", EnvPrivateDir, cfg.PrivateDir, err)
	}
	paths := append(append([]string(nil), systemReadOnly...), sb.ReadOnly...)
	if filepath.IsAbs(cfg.Exe) {
		paths = append(paths, cfg.Exe)
	}
	for _, p := range paths {
		rp, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue // not there: restrictSelf leaves it out too
		}
		if pathWithin(priv, rp) || pathWithin(rp, priv) {
			return fmt.Errorf("sandbox \"landlock\": the workload may read %s, which holds the backend's state directory %s or lies in it (the workload runs as the server's user and would read its keys, its database and other attempts' credentials); refusing to run it: move the state directory out of it, or run the server as root for the uid sandbox", p, cfg.PrivateDir)
		}
	}
	return nil
}

// checkCommandPath refuses, in the landlock sandbox, a workload whose
// command names by an absolute path a file that the workload could not
// read otherwise and that is the server's user's: that one file is given
// to the workload to read and execute, and the workload runs as the
// server's user there, so a tenant who knew the path of an executable file
// of that user (a Slurm batch script holding its attempt's credential, a
// script with a secret in it) had it read. A file of another user is
// refused too when the server's user may write it, or may read it where
// not every user may (through its group). A program in the paths every
// workload may read anyway (the system's, the --ro paths, its scratch wd)
// or the agent's own executable gives nothing away. Paths are compared
// with their links resolved, as Landlock sees them; a file that cannot be
// resolved is refused too.
//
// The file is opened once (O_PATH, links followed) and judged as opened:
// the helper grants the workload that open file (--ro-fd), not whatever
// the path names by the time it confines itself. Judged by its path, a
// file swapped in under it after the check, by whoever may write a
// directory on it, was the one granted. The open file is returned for
// the helper (nil where nothing is granted by it).
func checkCommandPath(cfg Config, sb Sandbox, wd, exe string) (*os.File, error) {
	if sb.Mode != SandboxLandlock || !filepath.IsAbs(exe) {
		return nil, nil
	}
	fd, err := unix.Open(exe, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox \"landlock\": the command %s cannot be resolved (%w); refusing to give it to the workload to read", exe, err)
	}
	f := os.NewFile(uintptr(fd), exe)
	if err := judgeCommand(cfg, sb, wd, exe, f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// commandField names the manifest's field that holds the command, for
// errors about it.
const commandField = "spec.workload.command[0]"

// commandPath is the file the landlock sandbox judges and runs for the
// command exe: exe itself when it is absolute, else the file it names
// now, found as exec would find it in the sandbox, with the job's PATH
// (the last PATH= of env, as sandbox-exec reads it) and wd for the
// working directory. Found by sandbox-exec instead, at the exec, after
// the check, nothing of it was judged: the tenant's PATH, and whoever may
// write a directory on it, chose the program run then. The file found is
// judged and run as a command named by its absolute path is
// (checkCommandPath, runByPath). Elsewhere nothing is judged or granted, and exe is
// returned as it is: it is found at the exec, by the kernel's own check of
// the workload's user.
//
// The lookup follows exec.LookPath's: a name with a slash is taken from
// wd; one without from each directory of PATH in turn, the first
// executable file there; one found through a relative directory of PATH
// is refused, as LookPath refuses it (exec.ErrDot).
//
// A name found but then refused (checkCommandPath) is refused saying why,
// also in a directory of PATH the workload may not list, where "not
// found" would hide that the name is there: the refusal tells the tenant
// nothing the workload could not tell itself, since Landlock does not
// cover stat(2) (a confined workload sees that a name is there, its owner
// and its mode, wherever the server's user may look), and "not found" for
// a program the tenant can see is there would mislead where the reason
// helps (TestCommandRefusalTellsNoMoreThanTheWorkloadSees).
func commandPath(sb Sandbox, wd, exe string, env []string) (string, error) {
	if sb.Mode != SandboxLandlock || filepath.IsAbs(exe) {
		return exe, nil
	}
	if strings.Contains(exe, "/") {
		return filepath.Join(wd, exe), nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		found := filepath.Join(dir, exe)
		if !filepath.IsAbs(found) {
			if executable(filepath.Join(wd, found)) {
				return "", fmt.Errorf("%s %q: found in the relative directory %q of the job's PATH (spec.workload.env PATH %q); refusing it, as exec does: name the command by its path (./%s)", commandField, exe, dir, path, exe)
			}
			continue
		}
		if executable(found) {
			return found, nil
		}
	}
	return "", fmt.Errorf("%s %q: no executable file of that name in the directories of the job's PATH (%q)", commandField, exe, path)
}

// runByPath reports whether the command judged, f, opened from path, may
// be run by that path rather than through its descriptor: where path is
// clean and lies in the attempt's scratch wd, and names f there with no
// link below wd. A script run through its descriptor is given
// /proc/self/fd/N for its path ($0), and one in the scratch (the tenant's
// own, unsealed from a dataset) looks for its other files next to it.
// Only the workload itself, confined, and the server's user change what
// a path in the scratch names; whatever that is by the exec is what the
// workload may run anyway, as nothing is granted for it but the scratch.
// Elsewhere (the system's directories, the --ro paths) another user may
// put another program there after the check, and f is run.
func runByPath(wd, path string, f *os.File) bool {
	if wd == "" || !filepath.IsAbs(path) || path != filepath.Clean(path) {
		return false
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return false
	}
	rwd, err := filepath.EvalSymlinks(wd)
	if err != nil {
		return false
	}
	// A scratch that another user may write (its entries swapped) is
	// not the workload's alone.
	var st unix.Stat_t
	if unix.Lstat(rwd, &st) != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return false
	}
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	return err == nil && real == filepath.Join(rwd, rel)
}

// scratchExecPath is how sandbox-exec is told to run the program found at
// path in the scratch wd for the command exe: "./" and its path below the
// scratch where exe was written relative to the scratch (data/ds/run.sh),
// so that the exec resolves it from the scratch held, and a script sees
// a relative path as $0, as written; else path. A command named by an
// absolute path, or found in the job's PATH, keeps that path as its $0.
func scratchExecPath(wd, exe, path string) string {
	if filepath.IsAbs(exe) || !strings.Contains(exe, "/") {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || !filepath.IsLocal(rel) {
		return path
	}
	return "./" + rel
}

// executable reports whether path names a file, not a directory, that
// this process may execute, as exec.LookPath judges it.
func executable(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		return false
	}
	return unix.Faccessat(unix.AT_FDCWD, path, unix.X_OK, unix.AT_EACCESS) == nil
}

// judgeCommand is checkCommandPath's judgement of f, the command exe
// opened: by its descriptor, never by exe again.
func judgeCommand(cfg Config, sb Sandbox, wd, exe string, f *os.File) error {
	self := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	var fst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
		return fmt.Errorf("sandbox \"landlock\": the command %s: %w; refusing to give it to the workload to read", exe, err)
	}
	if filepath.IsAbs(cfg.Exe) {
		var est unix.Stat_t
		if unix.Stat(cfg.Exe, &est) == nil && est.Dev == fst.Dev && est.Ino == fst.Ino {
			return nil
		}
	}
	// Where the open file lies, links resolved, as the kernel names it.
	real, err := os.Readlink(self)
	if err != nil || !filepath.IsAbs(real) {
		return fmt.Errorf("sandbox \"landlock\": the command %s cannot be resolved (%v); refusing to give it to the workload to read", exe, err)
	}
	refuse := func(why string) error {
		name := exe
		if real != exe {
			name += " (" + real + ")"
		}
		return fmt.Errorf("sandbox \"landlock\": the command %s %s and lies outside the paths every workload may read (the system's directories, the --ro paths, its scratch); the workload runs as that user and would be given the file to read: refusing to run it (install the program under /usr or /opt, or use the uid sandbox, the server run as root)", name, why)
	}
	readable := append(append([]string(nil), systemReadOnly...), sb.ReadOnly...)
	if wd != "" {
		readable = append(readable, wd)
	}
	for _, p := range readable {
		rp, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue // not there: restrictSelf leaves it out too
		}
		// A file of the server's user in the system's directories is
		// kept from the workload there (systemGrants): not one it may
		// read anyway.
		if pathWithin(real, rp) && !hiddenInSystem(real) {
			return nil
		}
	}
	if euid := os.Geteuid(); int(fst.Uid) == euid {
		return refuse(fmt.Sprintf("is owned by the server's user (uid %d)", euid))
	}
	// A file that every user of the machine may read is no secret; one
	// the server's user reads through its group (or as root) may be.
	// Access through /proc/self/fd judges the open file itself.
	if fst.Mode&0o004 == 0 && unix.Access(self, unix.R_OK) == nil {
		return refuse(fmt.Sprintf("may be read by the server's user (uid %d), not by every user,", os.Geteuid()))
	}
	if unix.Access(self, unix.W_OK) == nil {
		return refuse(fmt.Sprintf("may be written by the server's user (uid %d)", os.Geteuid()))
	}
	return nil
}

// pathWithin reports whether p is dir or lies below it (both clean and
// absolute).
func pathWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// helperArgs is how to start this agent's helpers (sandbox-exec, pack).
func helperArgs(cfg Config) []string {
	if len(cfg.SandboxExec) > 0 {
		return append([]string(nil), cfg.SandboxExec...)
	}
	return []string{cfg.Exe, "agent"}
}

// sandboxed is a command sandboxCommand made: started with Start, which
// hands a confining helper the command's environment.
type sandboxed struct {
	*exec.Cmd
	// env is the command's environment when the helper reads it from a
	// pipe (fd 3), nil when the command has it as its own.
	env []string
	// prog, when set, is the command's program, open (fd 4: --exec-fd 4).
	prog *os.File
	// reap says the command is the workload's reaper, which gets the
	// write end of a pipe for its report (fd 4: --status-fd 4); report
	// then carries what was read from it once the reaper has ended.
	reap   bool
	report chan []byte
	// grant, when set, is the workload's command, opened when it was
	// judged (checkCommandPath): the helper grants the workload this
	// file (fd 5: --ro-fd 5), not what its path names by then. Start
	// closes the agent's copy.
	grant *os.File
}

// grantFD is the descriptor on which the reaper and its sandbox-exec get
// the workload's command as judged (sandboxed.grant): after the
// environment's pipe (3) and the reaper's report (reapStatusFD).
const grantFD = 5

// helpers is every helper process this agent started and has not yet
// waited for: the workload's reaper and the pack helper. The agent is a
// subreaper too (runWorkload): what its reaper leaves when it dies comes
// to it, and its sweep (sweepOrphans) ends everything below it but these.
// A helper is started with the lock held, so that a sweep never sees it
// before it is listed.
var helpers = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

// Wait waits for the command and takes it off the list of helpers.
func (s *sandboxed) Wait() error {
	err := s.Cmd.Wait()
	helpers.Lock()
	delete(helpers.pids, s.Process.Pid)
	helpers.Unlock()
	return err
}

// Start starts the command. The environment reaches a confining helper by
// a pipe, not as its own: the dynamic loader reads LD_PRELOAD,
// LD_LIBRARY_PATH and the like when the helper starts, before it confines
// itself, and the environment is the tenant's to write. The helper starts
// with none and gives the command its environment at the exec. The parent
// keeps no end of the pipe past the start: a helper that ends unread
// fails the write (EPIPE), which ends its goroutine.
func (s *sandboxed) Start() error {
	helpers.Lock()
	defer helpers.Unlock()
	if s.grant != nil {
		defer func() {
			s.grant.Close()
			s.grant = nil
		}()
	}
	if s.env == nil {
		if err := s.Cmd.Start(); err != nil {
			return err
		}
		helpers.pids[s.Process.Pid] = true
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	s.ExtraFiles = []*os.File{r} // fd 3: --env-fd 3
	if s.prog != nil {
		s.ExtraFiles = append(s.ExtraFiles, s.prog) // fd 4: --exec-fd 4
	}
	var sr, sw *os.File
	if s.reap {
		if sr, sw, err = os.Pipe(); err != nil {
			r.Close()
			w.Close()
			return err
		}
		s.ExtraFiles = append(s.ExtraFiles, sw) // fd 4: --status-fd 4
		if s.grant != nil {
			s.ExtraFiles = append(s.ExtraFiles, s.grant) // fd 5: --ro-fd 5
		}
	}
	err = s.Cmd.Start()
	r.Close()
	if sw != nil {
		sw.Close()
	}
	if err != nil {
		w.Close()
		if sr != nil {
			sr.Close()
		}
		return err
	}
	helpers.pids[s.Process.Pid] = true
	if sr != nil {
		s.report = make(chan []byte, 1)
		go func() {
			// A report is one short line; the pipe's other end is the
			// reaper's alone and closes when it ends.
			b, _ := io.ReadAll(io.LimitReader(sr, 64))
			sr.Close()
			s.report <- b
		}()
	}
	go func() {
		// The pipe holds 64 KiB; the rest is taken as the helper reads.
		w.Write([]byte(strings.Join(s.env, "\x00")))
		w.Close()
	}()
	return nil
}

// inScratch has the command start in the scratch held open as scratch
// since its path was checked (freshScratch), whatever that path names by
// then: its working directory is the descriptor's /proc entry, which the
// child changes to after its fork, with a copy of this process's
// descriptors, before its exec. Started by the path, a scratch (or a
// directory above it) swapped for a link after the check had the
// workload start, as the tenant's user, in a directory someone else
// chose, with that directory granted to it as its scratch (--rw-cwd).
// No PWD is set: the command's environment has none of the agent's, and
// a shell finds the scratch's own path from its working directory.
//
// The entry is looked at first and must be the descriptor's file (device
// and inode): where /proc is not mounted, or is not the kernel's, the
// child's chdir failed and the start's error named only the program,
// neither the scratch nor /proc. wd names the scratch in that error.
func (s *sandboxed) inScratch(scratch *os.File, wd string) error {
	entry := heldPath(scratch)
	var held, there unix.Stat_t
	err := unix.Fstat(int(scratch.Fd()), &held)
	if err == nil {
		err = unix.Stat(entry, &there)
	}
	if err == nil && (held.Dev != there.Dev || held.Ino != there.Ino) {
		err = errors.New("it names another file (is /proc the kernel's?)")
	}
	if err != nil {
		return fmt.Errorf("scratch %s: its descriptor's /proc entry %s cannot be entered: %w", wd, entry, err)
	}
	s.Dir = entry
	return nil
}

// heldPath is the /proc entry of the open file f: a path that names that
// file, whatever its own path names by now.
func heldPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// sandboxCommand returns the command that runs args confined as sb says,
// with the environment env: the sandbox-exec helper applies the
// confinement to itself and then executes args. The workload may write
// only its data, checkpoint and temporary directories. prog, when not nil,
// is the program to run, opened before the workload started: args[0] is
// then only its name. A path may name by now a program of the workload's
// own (in uid mode the agent's executable is a link in the workload's
// scratch), which would run in place of the agent's helper.
func sandboxCommand(cfg Config, sb Sandbox, wd string, args, env []string, prog *os.File) (*sandboxed, error) {
	return helperCommand(cfg, sb, wd, args, env, false, prog)
}

// workloadCommand is sandboxCommand for the workload itself, in every mode,
// none included: the helper starts as the reaper (Reap), which runs
// sandbox-exec as its child and, when the workload ends, ends whatever it
// started, however it left the workload's process group.
func workloadCommand(cfg Config, sb Sandbox, wd string, args, env []string) (*sandboxed, error) {
	return helperCommand(cfg, sb, wd, args, env, true, nil)
}

func helperCommand(cfg Config, sb Sandbox, wd string, args, env []string, reap bool, prog *os.File) (*sandboxed, error) {
	// Without a sandbox the workload runs as the agent's user and could
	// change any of the agent's files: the program is found by its path.
	if sb.Mode == SandboxNone && !reap {
		path, err := exec.LookPath(args[0])
		if err != nil {
			return nil, err
		}
		c := exec.Command(path, args[1:]...)
		c.Env = env
		c.Dir = wd
		return &sandboxed{Cmd: c}, nil
	}
	exe := args[0]
	var grant *os.File
	// execPath, when set, is the command's program, judged, run by its
	// path (runByPath).
	var execPath string
	if reap {
		path, err := commandPath(sb, wd, exe, env)
		if err != nil {
			return nil, err
		}
		if grant, err = checkCommandPath(cfg, sb, wd, path); err != nil {
			if path != exe {
				err = fmt.Errorf("%s %q, found as %s: %w", commandField, exe, path, err)
			}
			return nil, err
		}
		if grant != nil && runByPath(wd, path, grant) {
			grant.Close()
			grant, execPath = nil, path
		}
	}
	// Checked here, just before the helper starts, as well as before the
	// datasets are unsealed (prepare): the pack helper is granted the
	// scratch too (the directory it starts in, the scratch held). The read-only paths are judged again once
	// no one else may change where they lead (checkReadOnlyWriters): a
	// swap made since prepare's check is judged as it stands.
	err := checkScratchWriters(sb, wd, execPath, cfg.logf)
	if err == nil {
		err = checkReadOnlyWriters(cfg, sb)
	}
	if err == nil {
		err = checkPrivate(cfg, sb)
	}
	if err != nil {
		if grant != nil {
			grant.Close()
		}
		return nil, err
	}
	h := helperArgs(cfg)
	hargs := h[1:]
	if reap {
		// The reaper checks that its parent is still this process
		// before it starts anything (Reap).
		hargs = append(hargs, "reap", "--parent", strconv.Itoa(os.Getpid()), "--status-fd", strconv.Itoa(reapStatusFD))
	}
	hargs = append(hargs, "sandbox-exec", "--mode", sb.Mode, "--uid", strconv.Itoa(sb.UID), "--gid", strconv.Itoa(sb.GID))
	// The directory the helper starts in, never wd's path: the caller
	// starts it in the scratch held since its check (inScratch), and
	// the helper grants that directory, not what wd names by then.
	hargs = append(hargs, "--rw-cwd")
	for _, p := range sb.ReadOnly {
		hargs = append(hargs, "--ro", p)
	}
	if grant != nil {
		// The file judged, whatever its path names by now, granted and
		// run: found again by its path, another program put there since
		// (in a directory every workload may read) ran in its place.
		hargs = append(hargs, "--ro-fd", strconv.Itoa(grantFD))
		if prog == nil {
			hargs = append(hargs, "--exec-fd", strconv.Itoa(grantFD))
		}
	} else if execPath != "" {
		// In the scratch, which the workload may read and write whole:
		// nothing to grant. A command written relative to the scratch
		// is run relative to the directory the helper starts in (the
		// scratch held, inScratch), never by the scratch's path: a swap
		// of the scratch after its check had that path lead elsewhere.
		hargs = append(hargs, "--exec-path", scratchExecPath(wd, exe, execPath))
	} else if abs, err := filepath.Abs(exe); err == nil && filepath.IsAbs(exe) {
		hargs = append(hargs, "--ro", abs)
	}
	// The workload may run Meridian's executable by $MERIDIAN_EXE whatever
	// its own command is (a shell line, say): under Landlock that is the
	// agent's own file, which must be readable (and so executable) there.
	if sb.Mode == SandboxLandlock && filepath.IsAbs(cfg.Exe) && cfg.Exe != exe {
		hargs = append(hargs, "--ro", cfg.Exe)
	}
	hargs = append(hargs, "--env-fd", "3")
	if prog != nil {
		hargs = append(hargs, "--exec-fd", "4")
	}
	hargs = append(hargs, "--")
	hargs = append(hargs, args...)
	c := exec.Command(h[0], hargs...)
	c.Env = []string{} // the helper's own: none (Start)
	c.Dir = wd         // where no scratch is held (inScratch)
	if env == nil {
		env = []string{}
	}
	return &sandboxed{Cmd: c, env: env, prog: prog, reap: reap, grant: grant}, nil
}

// workloadExe is the path by which the workload runs Meridian's own
// executable (its "meridian", and $(MERIDIAN_EXE)), and that executable,
// open: the agent's own, or, for a workload run as the tenant's user, a
// link in the scratch, since the agent's executable may sit where that
// user cannot reach it. scratch is the scratch (O_PATH) as its path was
// checked (freshScratch), named wd.
func workloadExe(cfg Config, sb Sandbox, scratch *os.File, wd string) (string, *os.File, error) {
	if sb.Mode != SandboxUID {
		f, err := os.Open(cfg.Exe)
		return cfg.Exe, f, err
	}
	return linkExe(cfg.Exe, scratch, wd, sb)
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// linkExe makes exe reachable by the sandbox's user as wd/tmp/bin/meridian:
// a hard link when the file system allows it, else a copy. It returns
// that path and the file, open.
//
// By now the scratch is the tenant's user's, and any process of that
// user (another of its jobs on the node, its own shell) may have put a
// link where tmp or bin should be. Every step is taken from the
// directory above it, opened without following a link, never by a path:
// followed, a link to /etc had the agent (as root) link or copy its
// executable there and hand that directory to the tenant's user. The
// first is the scratch's descriptor as its path was checked, not wd: a
// directory above the scratch swapped for a link since had the agent
// make tmp/bin where the link led, and give it to the tenant.
func linkExe(exe string, scratch *os.File, wd string, sb Sandbox) (string, *os.File, error) {
	dir, err := unix.Openat(int(scratch.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("scratch %s: %w", wd, err)
	}
	for _, name := range []string{"tmp", "bin"} {
		if err := unix.Mkdirat(dir, name, 0o755); err != nil && err != unix.EEXIST {
			unix.Close(dir)
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
		sub, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dir)
		if err != nil {
			return "", nil, fmt.Errorf("%s in the scratch: not a directory (%w)", name, err)
		}
		dir = sub
	}
	defer unix.Close(dir)
	dst := filepath.Join(wd, "tmp", "bin", "meridian")
	if err := unix.Unlinkat(dir, "meridian", 0); err != nil && err != unix.ENOENT {
		return "", nil, fmt.Errorf("%s: %w", dst, err)
	}
	var f *os.File
	if unix.Linkat(unix.AT_FDCWD, exe, dir, "meridian", 0) == nil {
		fd, err := unix.Openat(dir, "meridian", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", dst, err)
		}
		f = os.NewFile(uintptr(fd), dst)
		// What is there now is what was linked, not a file put in its
		// place since.
		want, err1 := os.Stat(exe)
		got, err2 := f.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(want, got) {
			f.Close()
			return "", nil, fmt.Errorf("%s: replaced while it was linked", dst)
		}
	} else {
		src, err := os.Open(exe)
		if err != nil {
			return "", nil, err
		}
		defer src.Close()
		fd, err := unix.Openat(dir, "meridian", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o755)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", dst, err)
		}
		out := os.NewFile(uintptr(fd), dst)
		_, err = io.Copy(out, src)
		if err == nil {
			err = unix.Fchmod(fd, 0o755) // past the umask
		}
		var written os.FileInfo
		if err == nil {
			written, err = out.Stat()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", nil, err
		}
		// Opened again to read only (a program open for writing cannot
		// be run), and checked to be the copy made.
		rd, err := unix.Openat(dir, "meridian", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", dst, err)
		}
		f = os.NewFile(uintptr(rd), dst)
		if got, err := f.Stat(); err != nil || !os.SameFile(written, got) {
			f.Close()
			return "", nil, fmt.Errorf("%s: replaced while it was copied", dst)
		}
	}
	if err := unix.Fchown(dir, sb.UID, sb.GID); err != nil {
		f.Close()
		return "", nil, err
	}
	return dst, f, nil
}

// chownTree gives the attempt's scratch directory, with the datasets and
// the checkpoint unsealed into it, to the sandbox's user, before the
// workload starts. Afterwards the agent opens nothing the workload could
// have swapped for a link: checkpoints are read by the pack helper inside
// the same sandbox, and the final wipe removes links without following
// them.
//
// Each directory is given over only after everything in it: any process
// of the tenant's user (another of its jobs on the node, its own shell)
// may act in a directory once it is that user's, and one given over
// before the walk went into it could have had a subdirectory swapped for
// a link to /etc, which the walk would then follow, giving what is there
// to the tenant. Until the walk leaves a directory, it and those above
// it are still the agent's.
//
// The walk starts from scratch, the descriptor (O_PATH) the scratch's
// path was checked by (freshScratch), and goes on from each directory
// to the next, never by a path: wd, checked only at the start, swapped
// for a link since (or a directory above it) had the agent, as root,
// give the tenant whatever tree the link led to. wd names what is
// changed in errors only.
func chownTree(scratch *os.File, wd string, uid, gid int) error {
	fd := int(scratch.Fd())
	if err := fdChmod(fd, 0o700); err != nil {
		return fmt.Errorf("scratch %s: %w", wd, err)
	}
	dir, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("scratch %s: %w", wd, err)
	}
	err = chownBelow(dir, wd, uid, gid)
	unix.Close(dir)
	if err != nil {
		return err
	}
	return lchownAt(fd, "", wd, uid, gid)
}

// lchownAt gives name in the directory open as dir (what dir holds, for
// an empty name), named p, to uid and gid without following a link. A
// variable, watched by tests.
var lchownAt = func(dir int, name, p string, uid, gid int) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if err := unix.Fchownat(dir, name, uid, gid, flags); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// chownBelow gives what is in the directory open as dir (named p) to uid
// and gid, each directory's entries before it, each directory opened
// from the one above it without following a link. Only what the agent
// made is given over: a file (anything but a directory) of another
// owner, or with more than one name (a hard link, whose other name may
// be /etc/shadow), is refused, and nothing after it is given over.
func chownBelow(dir int, p string, uid, gid int) error {
	euid := os.Geteuid()
	names, err := dirNames(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, name := range names {
		q := filepath.Join(p, name)
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR && (st.Nlink != 1 || int(st.Uid) != euid) {
			return fmt.Errorf("%s: owned by uid %d with %d names; the agent gives the tenant only files it made, owned by uid %d with one name: refusing to give it over (a hard link to a file elsewhere?)", q, st.Uid, st.Nlink, euid)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			sub, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			err = chownBelow(sub, q, uid, gid)
			unix.Close(sub)
			if err != nil {
				return err
			}
		}
		if err := lchownAt(dir, name, q, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// dirNames lists the directory open as fd, from its start, without "."
// and "..".
func dirNames(fd int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
		return nil, err
	}
	var names []string
	buf := make([]byte, 8<<10)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// SandboxExec is the helper that confines itself and then becomes the
// command: no new privileges, a Landlock ruleset (read-only system paths and
// the --ro paths, read-write the --rw directories, nothing else), then for
// --mode uid the tenant's user and group with no supplementary groups; for
// --mode none nothing (it only hands the command its environment, as the
// reaper's child). It never returns on success; on failure it prints why
// and returns 126.
func SandboxExec(args []string, stderr io.Writer) int {
	fl := flag.NewFlagSet("sandbox-exec", flag.ContinueOnError)
	fl.SetOutput(stderr)
	mode := fl.String("mode", "", "uid | landlock")
	uid := fl.Int("uid", 0, "user id for --mode uid")
	gid := fl.Int("gid", 0, "group id for --mode uid")
	var rw, ro multi
	fl.Var(&rw, "rw", "directory the command may write (repeatable)")
	rwCwd := fl.Bool("rw-cwd", false, "the command may write its working directory, as the helper was started in it")
	fl.Var(&ro, "ro", "path the command may read (repeatable)")
	envFD := fl.Int("env-fd", -1, "file descriptor to read the command's environment from (NUL-separated NAME=VALUE)")
	execFD := fl.Int("exec-fd", -1, "file descriptor of the program to run (the command's first word is then only its name)")
	execPath := fl.String("exec-path", "", "path of the program to run, as found and judged, absolute or ./ and a path below the working directory (the command's first word is then only its name)")
	var roFD multi
	fl.Var(&roFD, "ro-fd", "file descriptor of a file the command may read, granted as the open file (repeatable)")
	if err := fl.Parse(args); err != nil {
		return 126
	}
	env := os.Environ()
	if *envFD >= 0 {
		f := os.NewFile(uintptr(*envFD), "env")
		data, err := io.ReadAll(io.LimitReader(f, maxEnvBytes+1))
		f.Close()
		if err != nil || len(data) > maxEnvBytes {
			fmt.Fprintln(stderr, "sandbox-exec: the command's environment could not be read whole:", err)
			return 126
		}
		env = nil
		if len(data) > 0 {
			env = strings.Split(string(data), "\x00")
		}
		// The command is found by its own PATH, as exec would find it.
		os.Setenv("PATH", "")
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				os.Setenv("PATH", v)
			}
		}
	}
	if *rwCwd {
		// Landlock opens the rule's path: ".", the directory this helper
		// was started in (the scratch as the agent held it), whatever
		// its path names now.
		rw = append(rw, ".")
	}
	cmd := fl.Args()
	if len(cmd) == 0 {
		fmt.Fprintln(stderr, "sandbox-exec: no command")
		return 126
	}
	for _, v := range roFD {
		fd, err := strconv.Atoi(v)
		if err == nil && fd > 2 {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		} else if err == nil {
			err = errors.New("not a descriptor above 2")
		}
		if err != nil {
			fmt.Fprintf(stderr, "sandbox-exec: --ro-fd %q: %v\n", v, err)
			return 126
		}
		// Closed at the exec: the workload reads the file by its path,
		// as granted; kept open where it is the program run (--exec-fd),
		// whose interpreter (#!) reads it through the descriptor.
		if fd != *execFD {
			syscall.CloseOnExec(fd)
		}
		// Landlock opens the rule's path: through /proc, the file the
		// descriptor holds.
		ro = append(ro, "/proc/self/fd/"+v)
	}
	if err := checkSandbox(Sandbox{Mode: *mode, UID: *uid, GID: *gid}); err != nil {
		fmt.Fprintln(stderr, "sandbox-exec:", err)
		return 126
	}
	var path string
	var err error
	if *execFD >= 0 {
		// The open file, whatever its path names now: through /proc, the
		// kernel runs the file the descriptor holds. The descriptor stays
		// open across the exec, as an interpreter (#!) reads the file by
		// that path.
		path = "/proc/self/fd/" + strconv.Itoa(*execFD)
	} else if *execPath != "" {
		// Found and judged by the agent, not looked up again in the
		// command's PATH.
		if !execPathValid(*execPath) {
			fmt.Fprintf(stderr, "sandbox-exec: --exec-path %q: neither an absolute path nor ./ and a path below the working directory\n", *execPath)
			return 126
		}
		path = *execPath
	} else if path, err = exec.LookPath(cmd[0]); err != nil {
		fmt.Fprintln(stderr, "sandbox-exec:", err)
		return 127
	}
	if err := onlyIntendedAcrossExec(*execFD); err != nil {
		fmt.Fprintln(stderr, "sandbox-exec:", err)
		return 126
	}
	if *mode == SandboxNone {
		err = syscall.Exec(path, cmd, env)
		fmt.Fprintf(stderr, "sandbox-exec: exec %s: %v\n", path, err)
		return 127
	}
	runtime.LockOSThread() // never unlocked: the restricted thread dies with the exec or the process
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(stderr, "sandbox-exec: no_new_privs:", err)
		return 126
	}
	if landlockABI() >= 1 {
		if err := restrictSelf(rw, ro, *mode == SandboxLandlock); err != nil {
			fmt.Fprintln(stderr, "sandbox-exec: landlock:", err)
			return 126
		}
	}
	if err := denyNetwork(); err != nil {
		fmt.Fprintln(stderr, "sandbox-exec: seccomp:", err)
		return 126
	}
	if *mode == SandboxUID {
		if err := dropTo(*uid, *gid); err != nil {
			fmt.Fprintln(stderr, "sandbox-exec:", err)
			return 126
		}
	}
	err = syscall.Exec(path, cmd, env)
	fmt.Fprintf(stderr, "sandbox-exec: exec %s: %v\n", path, err)
	return 127
}

// execPathValid reports whether p may be given as --exec-path: an
// absolute path, or "./" and a path below the working directory (which
// the exec resolves from the directory the helper was started in, the
// scratch held).
func execPathValid(p string) bool {
	if filepath.IsAbs(p) {
		return true
	}
	rel, ok := strings.CutPrefix(p, "./")
	return ok && filepath.IsLocal(rel)
}

// onlyIntendedAcrossExec marks every descriptor above 2 close-on-exec
// but keep (the program run through its descriptor, -1 for none), so
// that the workload starts holding its standard streams and nothing
// else: not a descriptor this process was handed without close-on-exec
// by whoever started it, nor one the Go runtime opened for itself (the
// cgroup's CPU quota file was seen held by uid-sandbox workloads). The
// descriptors sandbox-exec was meant to pass on it has already read and
// closed, or marked. It fails where fdexec cannot mark them, rather than
// run the workload unsure.
func onlyIntendedAcrossExec(keep int) error {
	if err := fdexec.CloseOnExecAbove2(); err != nil {
		return err
	}
	if keep > 2 {
		if _, err := unix.FcntlInt(uintptr(keep), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("--exec-fd %d: %w", keep, err)
		}
	}
	return nil
}

// maxEnvBytes bounds the environment sandbox-exec reads (a job's command
// and environment are at most 64 KiB; Meridian's variables add little).
const maxEnvBytes = 1 << 20

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// restrictSelf enforces the ruleset on the calling (locked) thread. With
// hide (the landlock sandbox, where the workload runs as the server's
// user) the system's directories are granted as systemGrants says, less
// the files of that user's there; otherwise whole.
func restrictSelf(rw, ro []string, hide bool) error {
	var roDirs, roFiles []string
	system := systemReadOnly
	if hide {
		grants, err := systemGrants(systemReadOnly, walkedReadOnly, maxSystemEntries)
		if err != nil {
			return err
		}
		defer closeGrants(grants)
		for _, g := range grants {
			if g.dir {
				roDirs = append(roDirs, g.rulePath())
			} else {
				roFiles = append(roFiles, g.rulePath())
			}
		}
		system = nil
	}
	for _, p := range append(append([]string(nil), system...), ro...) {
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				roDirs = append(roDirs, p)
			} else {
				roFiles = append(roFiles, p)
			}
		}
	}
	self := "/proc/" + strconv.Itoa(os.Getpid())
	rules := []landlock.Rule{
		landlock.RODirs(roDirs...),
		landlock.ROFiles(roFiles...),
		landlock.RODirs(self).IgnoreIfMissing(),
		landlock.ROFiles("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/self").IgnoreIfMissing(),
		landlock.RWFiles(deviceFiles...).IgnoreIfMissing(),
		landlock.RWDirs(rw...).WithRefer(),
	}
	// Every access right the library knows (to ABI 11) is handled, as far
	// as the kernel knows it, so anything not granted above is denied:
	// scoping (ABI 6) keeps the workload from signalling processes outside
	// its domain, such as the server; ABI 9 keeps it from connecting to
	// Unix sockets outside its scratch (a user's D-Bus, munge, an agent's
	// socket), ABI 10 from UDP. Older kernels lack these: the network is
	// shut by denyNetwork whatever the kernel, Unix sockets are not.
	cfg := landlock.V11.BestEffort()
	fd, _, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return err
	}
	if fd < 0 {
		return errors.New("nothing to enforce")
	}
	defer syscall.Close(fd)
	return llsys.LandlockRestrictSelf(fd, 0)
}

// denyNetwork keeps the workload off the network with a seccomp filter: it
// may open Unix sockets (IPC, which Landlock scopes) and netlink ones (the
// list of the machine's interfaces, which libraries read) and no other
// family, nor set up io_uring (whose own socket and connect operations a
// seccomp filter does not see). Landlock refuses TCP connect and bind from
// ABI 4 on, but not Multipath TCP (IPPROTO_MPTCP), which reaches TCP
// listeners, nor UDP before ABI 10: through them a workload reached the
// site's services (slurmctld, whose commands read every job's batch script
// and the attempt credentials in them, and a cloud's metadata service).
// The families are allowed by name, not refused by name: a list of those
// to refuse (IPv4 and IPv6) left AF_SMC, whose connect falls back to TCP
// over a socket of the kernel's own that neither Landlock nor this filter
// sees, AF_VSOCK, which reaches a virtual machine's host, and AF_RDS and
// AF_TIPC with their IP transports, any of which a kernel loads its module
// for at an unprivileged process's first socket of that family. The filter
// is inherited across the exec and by every process the workload starts.
func denyNetwork() error {
	// The kernel reads socket's family as a 32-bit int, the filter sees
	// all 64 bits: a family with high bits set (1<<32|AF_INET) is neither
	// of these and is refused, whatever the kernel would make of it.
	otherFamily := seccomp.NameWithConditions{Name: "socket", Conditions: seccomp.ArgumentConditions{
		{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_UNIX},
		{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_NETLINK},
	}}
	policy := seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{otherFamily}},
			{Action: seccomp.ActionErrno, Names: []string{"io_uring_setup"}},
		},
	}
	prog, err := nativeOnly(policy)
	if err != nil {
		return err
	}
	return loadSeccomp(prog)
}

// nativeOnly is policy's program behind a check that refuses every system
// call made through another architecture's entry: the library's program
// gives such a call its default action, which here allows, and a workload
// on an x86-64 kernel made i386 calls (int $0x80: socket is 359 there) or
// on arm64 32-bit ARM ones, past every rule written for the native
// numbers. The library refuses x32 calls itself.
func nativeOnly(policy seccomp.Policy) ([]bpf.RawInstruction, error) {
	native, err := seccomparch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	body, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	const archOffset = 4 // seccomp_data.arch
	prog := append([]bpf.Instruction{
		bpf.LoadAbsolute{Off: archOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(native.ID), SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	}, body...)
	return bpf.Assemble(prog)
}

// loadSeccomp sets no_new_privs and loads prog on every thread of the
// process.
func loadSeccomp(prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("seccomp: a program of %d instructions", len(prog))
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: no_new_privs: %w", err)
	}
	filters := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filters[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return fmt.Errorf("seccomp: load the filter: %w", e)
	}
	if r != 0 {
		// TSYNC could not bring thread r under the filter: none was
		// loaded, and the workload would run without it.
		return fmt.Errorf("seccomp: thread %d could not take the filter: none loaded", r)
	}
	runtime.KeepAlive(filters)
	return nil
}

// dropTo switches the calling (locked) thread to uid and gid with no
// supplementary groups; the exec that follows carries the change.
func dropTo(uid, gid int) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups: %v", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid %d: %v", gid, e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid %d: %v", uid, e)
	}
	return nil
}

// hiddenFile reports whether a file whose status is st must be kept from
// a workload that runs as the server's user (the landlock sandbox): it is
// not readable by every user and it is that user's (euid), or that user
// may read it all the same, through its group or as root. Whoever owns a
// file may change its mode, so one of the server's user's is hidden
// whatever its owner's bits say.
func hiddenFile(st *unix.Stat_t, euid int, groups map[uint32]bool) bool {
	if st.Mode&0o004 != 0 {
		return false
	}
	return euid == 0 || int(st.Uid) == euid || (st.Mode&0o040 != 0 && groups[st.Gid])
}

// userGroups is the set of the process's effective and supplementary
// groups.
func userGroups() map[uint32]bool {
	groups := map[uint32]bool{uint32(os.Getegid()): true}
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			groups[uint32(g)] = true
		}
	}
	return groups
}

// hiddenInSystem reports whether systemGrants keeps the file real (links
// resolved) from the workload: whether it, or a directory it lies in, lies
// in walkedReadOnly and is hidden (hiddenFile). A path that cannot be
// looked at is hidden too.
func hiddenInSystem(real string) bool {
	w := &roWalk{euid: os.Geteuid(), groups: userGroups()}
	for _, p := range walkedReadOnly {
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			w.walked = append(w.walked, rp)
		}
	}
	for p := real; ; p = filepath.Dir(p) {
		if w.judged(p) {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil || hiddenFile(&st, w.euid, w.groups) {
				return true
			}
		}
		if p == filepath.Dir(p) {
			return false
		}
	}
}

// roGrant is one path systemGrants grants: path, as judged, held open
// (O_PATH) as fd, the very file judged, a directory or not.
type roGrant struct {
	path string
	fd   int
	dir  bool
}

// rulePath is the path Landlock is given for g: the open file, through
// its /proc entry, whatever g.path names by then.
func (g roGrant) rulePath() string {
	return "/proc/self/fd/" + strconv.Itoa(g.fd)
}

// closeGrants closes the descriptors of grants.
func closeGrants(grants []roGrant) {
	for _, g := range grants {
		unix.Close(g.fd)
	}
}

// errTooManyEntries is systemGrants' refusal past its bound.
var errTooManyEntries = errors.New("too many")

// systemGrants returns what of roots a workload that runs as the server's
// user may read. Landlock only grants: a grant of /etc let the workload
// read a TLS key, a record key or a catalog of the server's user that the
// operator kept there, and no rule could take them back. So each root
// that lies in one of walked, or holds one, is walked: a directory is
// granted whole when nothing below it is hidden (hiddenFile), else by its
// entries one by one, each directory among them in turn; a hidden file or
// directory is left out, with everything below it. Outside walked nothing
// is judged: a root there is granted whole, and a directory that holds a
// walked one has its other entries granted whole.
//
// Links are never followed: a root that is a link is taken where it leads
// (once, when another root holds it), and a link below a root is not
// granted in a directory granted entry by entry (the kernel judges a
// link's target where it lies, as with every link in a directory granted
// whole).
//
// Each grant is the file judged, held open: opened from the directory it
// was listed in (O_PATH|O_NOFOLLOW) and kept only if it is still the file
// looked at and, judged again as opened, not hidden; the caller grants
// that descriptor (roGrant.rulePath) and closes it. Granted by its path
// instead, an entry that a user who may write its directory (Debian's
// /usr/local is group staff's) swapped for a link after the walk was
// granted where the link led: the server's state directory, its keys. An
// entry changed since it was listed is left out.
//
// A walked directory this user may not list is left out when it may pass
// through it (what lies there cannot be told), or owns it, and granted
// when neither (nothing below it can be reached). At most limit entries
// are looked at: past that the walk fails, and the workload is refused.
func systemGrants(roots, walked []string, limit int) (grants []roGrant, err error) {
	w := &roWalk{euid: os.Geteuid(), groups: userGroups(), left: limit, limit: limit}
	for _, p := range walked {
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			w.walked = append(w.walked, rp)
		}
	}
	var rs []string
	for _, p := range roots {
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			rs = append(rs, rp)
		} // not there: nothing to grant
	}
	for i, r := range rs {
		inOther := false
		for j, o := range rs {
			if i != j && pathWithin(r, o) && (r != o || j < i) {
				inOther = true
			}
		}
		if inOther {
			continue // granted, or walked, with the root that holds it
		}
		var st unix.Stat_t
		if err := unix.Lstat(r, &st); err != nil {
			continue
		}
		open := func(flags int) (int, error) { return unix.Open(r, flags, 0) }
		var perr error
		if _, err := w.judge(r, &st, open, func(p string, st unix.Stat_t) {
			perr = w.pin(p, &st, open)
		}); err != nil || perr != nil {
			closeGrants(w.grants)
			return nil, errors.Join(err, perr)
		}
	}
	return w.grants, nil
}

// roWalk is the state of one systemGrants.
type roWalk struct {
	euid        int
	groups      map[uint32]bool
	walked      []string
	left, limit int
	grants      []roGrant
}

// judged reports whether p lies in a walked directory; leads whether a
// walked directory lies in p.
func (w *roWalk) judged(p string) bool {
	for _, d := range w.walked {
		if pathWithin(p, d) {
			return true
		}
	}
	return false
}

func (w *roWalk) leads(p string) bool {
	for _, d := range w.walked {
		if pathWithin(d, p) {
			return true
		}
	}
	return false
}

// judge judges the file p, whose status is st: grant is called with it
// when it may be granted whole, and it reports whether it was (false when
// it is left out, or granted by its entries, which judge has added, held
// open). open opens p with the flags given, from the directory it was
// listed in.
func (w *roWalk) judge(p string, st *unix.Stat_t, open func(flags int) (int, error), grant func(string, unix.Stat_t)) (bool, error) {
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	judged := w.judged(p)
	whole := func() (bool, error) {
		grant(p, *st)
		return true, nil
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		// Not granted on its own: what it names is judged where it
		// lies.
		return true, nil
	case judged && hiddenFile(st, w.euid, w.groups):
		return false, nil
	case !isDir:
		return whole()
	case !judged && !w.leads(p):
		return whole()
	case judged && !w.passable(st) && int(st.Uid) != w.euid:
		// Nothing below it can be reached by this user.
		return whole()
	case judged && !w.passable(st):
		// This user's: it may make it passable (Landlock does not
		// cover a file's mode).
		return false, nil
	}
	fd, err := open(unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC)
	switch {
	case err == nil:
	case err == unix.EACCES && judged:
		return false, nil // what lies there cannot be told
	case err == unix.EACCES:
		return whole()
	case err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP:
		return false, nil // changed since it was listed: left out
	default:
		return false, fmt.Errorf("%s: %w", p, err)
	}
	all, err := w.dir(p, fd)
	if err != nil || !all {
		return false, err
	}
	return whole()
}

// pin opens p (open, O_PATH|O_NOFOLLOW) and adds it, open, to the
// grants when it is still the file st describes (the same file, of the
// same type) and, in a walked directory, not hidden as it is now. An
// entry changed since it was looked at is left out. Only what is granted
// in the end is opened: a directory granted whole needs none of the
// grants its walk found below it, and opening every entry the walk
// looked at made the walk nearly twice as slow.
func (w *roWalk) pin(p string, st *unix.Stat_t, open func(flags int) (int, error)) error {
	fd, err := open(unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC)
	switch {
	case err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP || err == unix.EACCES:
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", p, err)
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		unix.Close(fd)
		return fmt.Errorf("%s: %w", p, err)
	}
	if now.Dev != st.Dev || now.Ino != st.Ino || now.Mode&unix.S_IFMT != st.Mode&unix.S_IFMT || (w.judged(p) && hiddenFile(&now, w.euid, w.groups)) {
		unix.Close(fd)
		return nil
	}
	w.grants = append(w.grants, roGrant{path: p, fd: fd, dir: now.Mode&unix.S_IFMT == unix.S_IFDIR})
	return nil
}

// passable reports whether this user may pass through the directory whose
// status is st (root passes through every one).
func (w *roWalk) passable(st *unix.Stat_t) bool {
	var x uint32
	switch {
	case w.euid == 0:
		return true
	case int(st.Uid) == w.euid:
		x = 0o100
	case w.groups[st.Gid]:
		x = 0o010
	default:
		x = 0o001
	}
	return st.Mode&x != 0
}

// dir walks the directory path, open as fd (which it closes), and reports
// whether it may be granted whole; when not, it has added the grants of
// its entries.
func (w *roWalk) dir(path string, fd int) (bool, error) {
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	type grant struct {
		path string
		st   unix.Stat_t
	}
	var grants []grant
	add := func(p string, st unix.Stat_t) { grants = append(grants, grant{p, st}) }
	whole := true
	for {
		names, rerr := f.Readdirnames(256)
		for _, name := range names {
			if w.left--; w.left < 0 {
				return false, fmt.Errorf("the system's directories the workload may read hold more than %d entries where files of the server's user may lie (%s; at %s): %w to tell which are that user's own; refusing to run the workload (keep large trees out of them, or use the uid sandbox)", w.limit, strings.Join(w.walked, " "), path, errTooManyEntries)
			}
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if err == unix.ENOENT {
					continue // gone since it was listed
				}
				return false, fmt.Errorf("%s: %w", filepath.Join(path, name), err)
			}
			ok, err := w.judge(filepath.Join(path, name), &st, func(flags int) (int, error) {
				return unix.Openat(fd, name, flags, 0)
			}, add)
			if err != nil {
				return false, err
			}
			whole = whole && ok
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return false, fmt.Errorf("%s: %w", path, rerr)
		}
	}
	if whole {
		return true, nil
	}
	for _, g := range grants {
		name := filepath.Base(g.path)
		if err := w.pin(g.path, &g.st, func(flags int) (int, error) { return unix.Openat(fd, name, flags, 0) }); err != nil {
			return false, err
		}
	}
	return false, nil
}
