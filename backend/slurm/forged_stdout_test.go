package slurm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestStatusAndCancelOfAJobWithAForgedOutputPath: the owner of a pending
// job (a workload, as this backend's user) set its output path to
// "x<SEP>OTHER<SEP><NL>y": the job's line of squeue ended early with a
// command of its choosing, and Status read the attempt as lost (its job
// another's), to be placed again while the job still waited to run, and
// Cancel left the job. Refusing such output made both fail for as long
// as the path stayed. They now ask again without the output path, and
// read and cancel the job as it is.
func TestStatusAndCancelOfAJobWithAForgedOutputPath(t *testing.T) {
	state := t.TempDir()
	cancels := filepath.Join(t.TempDir(), "scancel")
	script := state + "/jobs/r1-1/job.sh"
	squeue := `#!/bin/sh
case "$*" in
*StdOut*) printf '4242\037PENDING\0370\037N/A\037N/A\037\037Priority\037x\037/elsewhere/jobs/r9-9/job.sh\037\ny\037` + script + `\037` + ownUID + `\037\n' ;;
*) printf '4242\037PENDING\0370\037N/A\037N/A\037\037Priority\037` + script + `\037` + ownUID + `\037\n' ;;
esac
`
	b := fakeSlurm(t, state, map[string]string{"squeue": squeue, "scancel": scancelEnds(cancels)})
	slurm.WriteRecord(t, state, "jobs/r1-1/jobid", "4242")
	slurm.WriteRecord(t, state, "handles/4242", "r1-1")
	ctx := context.Background()
	if st, err := b.Status(ctx, "4242"); err != nil || st.State != backend.Pending {
		t.Errorf("Status of 4242 = %+v, %v; want pending", st, err)
	}
	if err := b.Cancel(ctx, "4242"); err != nil {
		t.Errorf("Cancel of 4242: %v", err)
	}
	if data, _ := os.ReadFile(cancels); string(data) != "4242\n" {
		t.Errorf("scancel run with %q; want job 4242 cancelled", data)
	}
}

// TestForgedOutputPathOnRealSlurm: TestStatusAndCancelOfAJobWithAForgedOutputPath
// on a real Slurm, which takes such an output path for a pending job
// (here held, so that it stays pending): the attempt reads as pending,
// not lost, and Cancel cancels its job.
func TestForgedOutputPathOnRealSlurm(t *testing.T) {
	site := cluster(t)
	sbatchPath, err := exec.LookPath("sbatch")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte("#!/bin/sh\nexec "+sbatchPath+" --hold \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	state := t.TempDir()
	b := newSlurm(t, site, state)
	spec := backend.Spec{RunID: uniqueRunID(t, "stdout"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: t.TempDir()}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runCmd("scancel", h); waitLeft(h) })
	forged := "x\x1f" + filepath.Join(state, "jobs", "r9-9", "job.sh") + "\x1f\ny"
	if out, err := exec.Command("scontrol", "update", "JobId="+h, "StdOut="+forged).CombinedOutput(); err != nil {
		t.Fatalf("scontrol update StdOut: %v: %s", err, out)
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State != backend.Pending {
		t.Fatalf("Status with a forged output path = %+v, %v; want pending", st, err)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	out, err := runCmd("squeue", "-h", "-t", "all", "-j", h, "-o", "%T")
	if err != nil || strings.TrimSpace(out) != "CANCELLED" {
		t.Errorf("job %s after Cancel: %q, %v; want CANCELLED", h, out, err)
	}
}
