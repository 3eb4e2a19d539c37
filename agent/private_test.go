package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAttackLandlockWorkloadReadsStateDir: in the landlock sandbox the
// workload runs as the server's user, and Landlock alone keeps it from
// the backend's state directory (job records with other attempts'
// credentials, the server's keys and database beside it). A state
// directory under a path every workload may read (/opt, /etc, or a --ro
// path of the operator's) was readable whole; the agent now refuses to
// start such a workload, naming both paths, before it unseals anything.
func TestAttackLandlockWorkloadReadsStateDir(t *testing.T) {
	real := landlockABI
	defer func() { landlockABI = real }()
	landlockABI = func() int { return minLandlockABI }

	root := t.TempDir()
	opt := filepath.Join(root, "opt")
	state := filepath.Join(opt, "meridian", "sites", "local")
	other := filepath.Join(root, "models")
	for _, d := range []string{filepath.Join(state, "jobs"), other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "linked")
	if err := os.Symlink(filepath.Join(opt, "meridian"), link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		mode    string
		private string
		ro      []string
		refused bool
	}{
		{"a read-only path above the state directory", SandboxLandlock, state, []string{opt}, true},
		{"the state directory itself", SandboxLandlock, state, []string{state}, true},
		{"a read-only path inside it", SandboxLandlock, state, []string{filepath.Join(state, "jobs")}, true},
		{"a link to a directory above it", SandboxLandlock, state, []string{link}, true},
		{"the state directory named through a link", SandboxLandlock, filepath.Join(link, "sites", "local"), []string{opt}, true},
		{"a read-only path beside it", SandboxLandlock, state, []string{other}, false},
		{"the uid sandbox (another user, who cannot read the server's files)", SandboxUID, state, []string{opt}, false},
	} {
		wd := filepath.Join(root, "scratch")
		a := &attempt{wd: wd, cfg: Config{PrivateDir: tc.private},
			m: &Manifest{Sandbox: Sandbox{Mode: tc.mode, ReadOnly: tc.ro}}}
		err := a.prepare(t.Context())
		refused := err != nil && strings.Contains(err.Error(), "state directory")
		if refused != tc.refused {
			t.Errorf("%s: prepare: %v; want refused %v", tc.name, err, tc.refused)
			continue
		}
		if refused && (!strings.Contains(err.Error(), tc.private) || !strings.Contains(err.Error(), tc.ro[0])) {
			t.Errorf("%s: the refusal does not name both paths: %v", tc.name, err)
		}
	}
}

// TestPrivateDirFromEnv: the backend names its state directory to the
// agent in the agent's own environment; a relative one is refused.
func TestPrivateDirFromEnv(t *testing.T) {
	t.Setenv(EnvServer, "http://127.0.0.1:1")
	t.Setenv(EnvRun, "r1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv(EnvPrivateDir, "/var/lib/meridian/sites/local")
	cfg, err := FromEnv()
	if err != nil || cfg.PrivateDir != "/var/lib/meridian/sites/local" {
		t.Fatalf("FromEnv: %q, %v", cfg.PrivateDir, err)
	}
	t.Setenv(EnvPrivateDir, "state")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvPrivateDir) {
		t.Fatalf("a relative %s: %v; want an error naming it", EnvPrivateDir, err)
	}
}

// TestAttackLandlockWorkloadReadsServerFilesInSystemDirs: in the landlock
// sandbox the workload runs as the server's user and may read the
// system's directories, and Landlock only grants: a grant of /etc or /opt
// whole let it read every file of the server's user the operator kept
// there (a TLS key, backend.recordKeyFile, the catalog), 0600 or not. The
// walked directories are now granted less those files: a 0600 file of
// this user, and a 0700 directory of its with all below it, are
// unreadable by the workload, their world-readable siblings still
// readable, and a link in a directory granted entry by entry does not
// lead out of it. A command naming such a file is refused. The workload
// is confined for real: sandbox-exec, as the agent runs it, runs cat.
func TestAttackLandlockWorkloadReadsServerFilesInSystemDirs(t *testing.T) {
	if landlockABI() < minLandlockABI {
		t.Skipf("this kernel's Landlock is ABI %d; the landlock sandbox needs %d", landlockABI(), minLandlockABI)
	}
	root := t.TempDir()
	sys := filepath.Join(root, "etc")
	write := func(path, data string, mode os.FileMode) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return path
	}
	key := write(filepath.Join(sys, "meridian", "tls.key"), "KEY", 0o600)
	catalog := write(filepath.Join(sys, "meridian", "catalog.json"), "CATALOG", 0o644)
	hosts := write(filepath.Join(sys, "hosts"), "HOSTS", 0o644)
	deep := write(filepath.Join(sys, "ssl", "certs", "ca.pem"), "CA", 0o644)
	script := write(filepath.Join(sys, "meridian", "hook.sh"), "#!/bin/sh\nTOKEN=secret\n", 0o700)
	inPrivate := write(filepath.Join(sys, "private", "record.key"), "RECORD", 0o644)
	if err := os.Chmod(filepath.Dir(inPrivate), 0o700); err != nil {
		t.Fatal(err)
	}
	outside := write(filepath.Join(root, "elsewhere", "secret"), "ELSEWHERE", 0o644)
	link := filepath.Join(sys, "meridian", "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	wd := filepath.Join(root, "scratch")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) (string, error) {
		cmd := exec.Command(exe, "__agent", "sandbox-exec", "--mode", SandboxLandlock, "--rw", wd, "--", "/bin/cat", path)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "MERIDIAN_TEST_SYSTEM_DIR=" + sys}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"a world-readable file beside the key", catalog, "CATALOG"},
		{"a world-readable file at the top", hosts, "HOSTS"},
		{"a world-readable file in a directory granted whole", deep, "CA"},
	} {
		if got, err := read(tc.path); err != nil || got != tc.want {
			t.Errorf("%s: the workload read %q (%v); want %q", tc.name, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ name, path, secret string }{
		{"a 0600 file of the server's user", key, "KEY"},
		{"a file in a 0700 directory of the server's user", inPrivate, "RECORD"},
		{"an executable 0700 file of the server's user", script, "TOKEN"},
		{"a link out of the directory", link, "ELSEWHERE"},
	} {
		got, err := read(tc.path)
		if err == nil || strings.Contains(got, tc.secret) {
			t.Errorf("%s: the workload read %q (%v); want it refused", tc.name, got, err)
		}
	}

	// A command naming such a file is not one the workload may read
	// anyway: it is refused (it would be granted by its own rule).
	saved, savedWalked := systemReadOnly, walkedReadOnly
	defer func() { systemReadOnly, walkedReadOnly = saved, savedWalked }()
	systemReadOnly = append(append([]string(nil), saved...), sys)
	walkedReadOnly = append(append([]string(nil), savedWalked...), sys)
	cfg := Config{Exe: exe}
	if _, err := workloadCommand(cfg, Sandbox{Mode: SandboxLandlock}, wd, []string{script}, nil); err == nil || !strings.Contains(err.Error(), script) {
		t.Errorf("a command naming a 0700 script of the server's user in a system directory: %v; want it refused, naming it", err)
	}
	world := write(filepath.Join(sys, "bin", "train"), "#!/bin/sh\n", 0o755)
	if _, err := workloadCommand(cfg, Sandbox{Mode: SandboxLandlock}, wd, []string{world}, nil); err != nil {
		t.Errorf("a world-readable program in a system directory: %v; want it run", err)
	}
}

// TestSystemGrantsBounded: the walk of the system's directories looks at
// a bounded number of entries; past it the workload is refused, saying
// why, rather than given a directory nobody looked into. A directory with
// nothing hidden in it is granted whole, as one rule.
func TestSystemGrantsBounded(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 50; i++ {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%02d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	grants, err := systemGrants([]string{root}, []string{root}, 100)
	closeGrants(grants)
	if err != nil || len(grants) != 1 || grants[0].path != root || !grants[0].dir {
		t.Errorf("a directory with nothing hidden: %v %v; want it granted whole", grants, err)
	}
	if _, err := systemGrants([]string{root}, []string{root}, 49); !errors.Is(err, errTooManyEntries) || !strings.Contains(err.Error(), "49") || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("past the bound: %v; want a refusal naming it", err)
	}
	// Outside the walked directories nothing is looked at.
	grants, err = systemGrants([]string{root}, nil, 1)
	closeGrants(grants)
	if err != nil || len(grants) != 1 || !grants[0].dir {
		t.Errorf("an unwalked root: %v %v; want it granted whole", grants, err)
	}
}

// TestAttackSystemEntrySwappedBetweenWalkAndGrant: the entries of /etc,
// /opt and /usr/local granted one by one (a file of the server's user
// lies beside them) were granted by their paths after the walk had
// judged them: a user who may write such a directory (Debian's
// /usr/local is group staff's) swapped an entry for a link to the
// server's state directory between the walk and the grant, and the
// workload was granted what the link led to. Each is now granted as the
// file judged, held open since it was looked at.
func TestAttackSystemEntrySwappedBetweenWalkAndGrant(t *testing.T) {
	root := readableDir(t)
	if err := os.WriteFile(filepath.Join(root, "server.key"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(root, "share")
	if err := os.Mkdir(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pub, "readme"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	judged, err := os.Stat(pub)
	if err != nil {
		t.Fatal(err)
	}
	grants, err := systemGrants([]string{root}, []string{root}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer closeGrants(grants)
	// After the walk, before Landlock opens the rules' paths.
	if err := os.Rename(pub, pub+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(state, pub); err != nil {
		t.Fatal(err)
	}
	stateFI, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range grants {
		fi, err := os.Stat(g.rulePath())
		if err != nil {
			t.Errorf("grant %s: %v", g.path, err)
			continue
		}
		if os.SameFile(fi, stateFI) {
			t.Errorf("grant %s leads to the state directory swapped in after the walk; want the directory judged", g.path)
		}
		found = found || os.SameFile(fi, judged)
	}
	if !found {
		t.Errorf("grants %v: none is the directory judged, %s", grants, pub)
	}
}

// BenchmarkSystemGrants measures the walk each landlock workload (and
// pack helper) start pays: the real system directories as the agent walks
// them, and, for comparison, a walk of all of /usr, /etc and /opt.
func BenchmarkSystemGrants(b *testing.B) {
	for _, bc := range []struct {
		name   string
		walked []string
	}{
		{"walked", walkedReadOnly},
		{"usr-etc-opt", []string{"/usr", "/etc", "/opt"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				grants, err := systemGrants(systemReadOnly, bc.walked, maxSystemEntries)
				if err != nil {
					b.Fatal(err)
				}
				closeGrants(grants)
			}
		})
	}
}

// TestHiddenFileAsAnotherUser: what the walk keeps from a workload of a
// server's user that is not root: that user's files not every user may
// read, whatever their owner's bits, and others' it reads by its group; a
// directory it cannot pass through is left out only when it is its own
// (it may change the mode).
func TestHiddenFileAsAnotherUser(t *testing.T) {
	const euid, group, other = 1000, 1000, 2000
	groups := map[uint32]bool{group: true}
	st := func(uid, gid uint32, mode uint32) *unix.Stat_t {
		return &unix.Stat_t{Uid: uid, Gid: gid, Mode: mode}
	}
	for _, tc := range []struct {
		name   string
		st     *unix.Stat_t
		hidden bool
	}{
		{"its own 0600 file", st(euid, other, 0o600), true},
		{"its own 0000 file", st(euid, other, 0), true},
		{"its own 0640 file", st(euid, group, 0o640), true},
		{"its own 0644 file", st(euid, group, 0o644), false},
		{"another's file it reads by its group", st(other, group, 0o640), true},
		{"another's file of its group it may not read", st(other, group, 0o600), false},
		{"another's 0600 file", st(other, other, 0o600), false},
		{"another's 0644 file", st(other, other, 0o644), false},
	} {
		if got := hiddenFile(tc.st, euid, groups); got != tc.hidden {
			t.Errorf("%s: hidden %v, want %v", tc.name, got, tc.hidden)
		}
	}
	w := &roWalk{euid: euid, groups: groups}
	for _, tc := range []struct {
		name     string
		st       *unix.Stat_t
		passable bool
	}{
		{"its own 0700 directory", st(euid, other, 0o700), true},
		{"its own 0604 directory", st(euid, other, 0o604), false},
		{"another's 0750 directory of its group", st(other, group, 0o750), true},
		{"another's 0705 directory of its group", st(other, group, 0o705), false},
		{"another's 0755 directory", st(other, other, 0o755), true},
		{"another's 0754 directory", st(other, other, 0o754), false},
	} {
		if got := w.passable(tc.st); got != tc.passable {
			t.Errorf("%s: passable %v, want %v", tc.name, got, tc.passable)
		}
	}
	if !(&roWalk{euid: 0}).passable(st(other, other, 0)) {
		t.Error("root passes through every directory")
	}
}
