package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// TestJobEnvironmentIsTheAllowList: a job's wrapper and agent get the
// server's variables that backend.InheritedEnv names, the spec's and the
// backend's own, and nothing else of the server's environment: not a
// cloud's credentials, a database's address, nor Meridian's own settings
// (MERIDIAN_HOME, the local backend's limits), which the server reads
// from its environment and the job's command line carries where the
// agent needs them.
func TestJobEnvironmentIsTheAllowList(t *testing.T) {
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "MERIDIAN_HOME", "MERIDIAN_TOKEN", "LD_PRELOAD"} {
		t.Setenv(k, "server-only-"+k)
	}
	// A valid setting, which the backend reads and the job must not get.
	t.Setenv("MERIDIAN_LOCAL_LIMITS", "core=0")
	state := t.TempDir()
	b := newLocal(t, state)
	h, err := b.Submit(context.Background(), backend.Spec{RunID: "envlist", Attempt: 1,
		Command: []string{"/usr/bin/env"}, Env: map[string]string{"FROM_SPEC": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.WaitFinal(t, b, h)
	out, err := os.ReadFile(filepath.Join(state, "jobs", h, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"FROM_SPEC": true, "PWD": true, "SHLVL": true, "_": true}
	for _, k := range backend.InheritedEnv {
		allowed[k] = true
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, _, _ := strings.Cut(line, "=")
		names = append(names, k)
		if strings.Contains(line, "server-only-") || !allowed[k] && !strings.HasPrefix(k, "MERIDIAN_") {
			t.Errorf("the job got %q", line)
		}
	}
	for _, k := range []string{"MERIDIAN_HOME", "MERIDIAN_TOKEN", "MERIDIAN_LOCAL_LIMITS"} {
		for _, n := range names {
			if n == k {
				t.Errorf("the job got the server's %s", k)
			}
		}
	}
	if !strings.Contains(string(out), "FROM_SPEC=1") {
		t.Errorf("the spec's variable is missing: %v", names)
	}
}
