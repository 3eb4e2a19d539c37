package agent

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestHeldScratchEntryThatCannotBeEnteredIsNamed: the workload and the
// pack helper start in the scratch's descriptor's /proc entry; where that
// entry cannot be entered (no /proc mounted, the descriptor gone) the
// child's chdir failed, and the start's error named only the program (the
// workload's start sets SysProcAttr, so Go does not look at the directory
// first). The entry is now looked at before the start, and the error
// names the scratch and /proc.
func TestHeldScratchEntryThatCannotBeEnteredIsNamed(t *testing.T) {
	cmd := &sandboxed{Cmd: exec.Command("/bin/true")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // as the workload's
	bad := os.NewFile(999999, "scratch")                  // a descriptor not open
	const wd = "/srv/scratch/run-1"
	err := cmd.inScratch(bad, wd)
	if err == nil {
		if err = cmd.Start(); err == nil {
			cmd.Wait()
		}
	}
	if err == nil || !strings.Contains(err.Error(), wd) || !strings.Contains(err.Error(), "/proc") {
		t.Errorf("got %v; want an error naming the scratch %s and /proc", err, wd)
	}
}

// TestExecPathRelativeOnlyBelowTheWorkingDirectory: sandbox-exec takes a
// relative --exec-path (a command written relative to the scratch, run
// from the scratch held) only as ./ and a path below its working
// directory.
func TestExecPathRelativeOnlyBelowTheWorkingDirectory(t *testing.T) {
	for p, want := range map[string]bool{
		"/usr/bin/train": true, "./data/ds/run.sh": true, "./run.sh": true,
		"data/ds/run.sh": false, "./../run.sh": false, "./data/../../run.sh": false, "./": false, "": false,
	} {
		if got := execPathValid(p); got != want {
			t.Errorf("execPathValid(%q) = %v; want %v", p, got, want)
		}
	}
}
