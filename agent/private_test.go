package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
