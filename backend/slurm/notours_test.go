package slurm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestCancelLeavesAJobThisBackendNeverSubmitted: a handle with no record
// here (the record removed, as the workload, running as this backend's
// user, may do; or refused, being from before records were signed) whose
// id slurmctld now gives to a job that is no attempt's of this state
// directory (its command is no attempt's batch script: another user's
// job, the workload's own, another state directory's) was taken for the
// attempt's: Status reported that job's state as the attempt's and Cancel
// scancelled it. Every job this backend submits runs an attempt's batch
// script, so such a job is not the attempt's: Status reads the handle as
// unknown and Cancel leaves the job alone.
func TestCancelLeavesAJobThisBackendNeverSubmitted(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	calls := filepath.Join(dir, "scancel.calls")
	b := fakeSlurm(t, state, map[string]string{
		"squeue":  "#!/bin/sh\nprintf '777\\037RUNNING\\0370\\037N/A\\037N/A\\037\\037None\\037/home/other/slurm-777.out\\037/home/other/train.sh\\037" + ownUID + "\\037\\n'\n",
		"scancel": "#!/bin/sh\necho \"$@\" >>" + calls + "\n",
	})
	if st, err := b.Status(context.Background(), "777"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Status of a job whose command is no attempt's batch script = %+v, %v; want not found", st, err)
	}
	if err := b.Cancel(context.Background(), "777"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Cancel of a job whose command is no attempt's batch script = %v; want not found", err)
	}
	if data, err := os.ReadFile(calls); err == nil {
		t.Errorf("scancel was called (%q) for a job this backend never submitted", data)
	}
}

// TestCancelLeavesAJobThisBackendNeverSubmittedOnRealSlurm: as
// TestCancelLeavesAJobThisBackendNeverSubmitted, on the real cluster: a
// job of the same user that runs no attempt's batch script, asked for by
// a backend with no record of its id, reads not found and is not
// cancelled.
func TestCancelLeavesAJobThisBackendNeverSubmittedOnRealSlurm(t *testing.T) {
	site := cluster(t)
	b := newSlurm(t, site, t.TempDir())
	out, err := runCmd("sbatch", "--parsable", "--partition="+site.Partition, "--output=/dev/null", "--chdir="+t.TempDir(), "--wrap=sleep 300")
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	other := strings.TrimSpace(out)
	cancelAtEnd(t, other)
	if st, err := b.Status(testCtx(t), other); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Status of a job this backend never submitted = %+v, %v; want not found", st, err)
	}
	if err := b.Cancel(testCtx(t), other); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Cancel of a job this backend never submitted = %v; want not found", err)
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "-j", other, "-o", "%T"); err != nil || (strings.TrimSpace(out) != "RUNNING" && strings.TrimSpace(out) != "PENDING") {
		t.Fatalf("the other job after Cancel: %q, %v; want it still pending or running", out, err)
	}
}
