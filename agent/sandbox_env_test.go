package agent

import (
	"os"
	"testing"
)

// TestSandboxedStartKeepsNoPipe: a confined command gets its environment
// through a pipe the agent keeps no end of once it started: the agent
// kept the read end of each, one file descriptor lost per workload and per
// checkpoint packed, for the agent's life. The helper (here a shell in its
// place) reads the environment whole from fd 3.
func TestSandboxedStartKeepsNoPipe(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/env"
	cfg := Config{SandboxExec: []string{"/bin/sh", "-c", `cat <&3 | tr '\0' '\n' > "$OUT_FILE"`, "helper"}}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	for i := 0; i < 20; i++ {
		cmd, err := sandboxCommand(cfg, Sandbox{Mode: SandboxLandlock}, dir, []string{"/bin/true"}, []string{"A=1", "B=two words"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Cmd.Env = []string{"OUT_FILE=" + out} // the stand-in helper's own, to name its output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != "A=1\nB=two words" {
		t.Errorf("the helper read %q (%v), want the environment", got, err)
	}
	if after := fds(); after > before+2 {
		t.Errorf("%d file descriptors open after 20 starts, %d before", after, before)
	}
}
