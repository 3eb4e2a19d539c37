package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
)

// TestSubmitEnvTellsTheAgentItsBounds: a Slurm job's agent was told
// neither the state directory (MERIDIAN_PRIVATE_DIR), so it let a
// landlock workload be given a path to read that held it, nor a bound
// on the workload's output it writes to output.log there
// (MERIDIAN_SITE_LOG_LIMIT), so `yes` filled the state directory's
// filesystem. sbatch's environment, all of which the job gets, now
// holds both.
func TestSubmitEnvTellsTheAgentItsBounds(t *testing.T) {
	state := t.TempDir()
	dump := filepath.Join(t.TempDir(), "env")
	b := fakeSlurm(t, state, map[string]string{
		"sbatch": "#!/bin/sh\nenv > '" + dump + "'\necho 4242\n",
	})
	spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()}
	if _, err := b.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	abs, _ := filepath.Abs(state)
	if got := env[agent.EnvPrivateDir]; got != abs {
		t.Errorf("sbatch's %s = %q; want the state directory, %s", agent.EnvPrivateDir, got, abs)
	}
	if got := env[agent.EnvSiteLogLimit]; got != strconv.Itoa(agent.DefaultSiteLogLimit) {
		t.Errorf("sbatch's %s = %q; want %d, the agent's and the local backend's default", agent.EnvSiteLogLimit, got, agent.DefaultSiteLogLimit)
	}
}
