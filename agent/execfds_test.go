package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSandboxExecPassesOnlyTheStandardStreams: sandbox-exec ran the
// workload holding whatever descriptors it had been handed without
// close-on-exec (and, in the uid sandbox, a file the Go runtime had
// opened for itself): the workload could read or write through them
// whatever its sandbox grants. A descriptor handed to sandbox-exec is
// now closed at the workload's exec.
func TestSandboxExecPassesOnlyTheStandardStreams(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "held")
	f, err := os.Create(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The workload lists what its descriptors 3 to 9 lead to.
	script := `for n in 3 4 5 6 7 8 9; do readlink /proc/$$/fd/$n; done; true`
	cmd := exec.Command(exe, "__agent", "sandbox-exec", "--mode", SandboxNone, "--", "/bin/sh", "-c", script)
	cmd.ExtraFiles = []*os.File{f, f, f} // fds 3, 4 and 5, open across exec
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sandbox-exec: %v\n%s", err, out)
	}
	if strings.Contains(string(out), secret) {
		t.Errorf("the workload holds a descriptor sandbox-exec was handed:\n%s", out)
	}
}
