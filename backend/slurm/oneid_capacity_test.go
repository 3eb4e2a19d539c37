package slurm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestCapacityCountsALaterAttemptsJobOfAnEndedID: job 4242 runs attempt
// r1-2 (its batch script) on node n1, holding 1 of its 8 h100s; the id
// was recorded for attempt r1-1 first, whose job has ended and been
// cleaned up (ended/4242). r1-2's handle is 4242:r1-2, and no record
// under handles named job 4242: a capacity poll did not count it as the
// server's and reported the 7 free only. Found again (Find), its job is
// counted: 8. A state directory whose r1-2 was recorded before (its
// jobid record alone) gets the record listed again once the handle is
// read (Status).
func TestCapacityCountsALaterAttemptsJobOfAnEndedID(t *testing.T) {
	for _, via := range []string{"find", "status"} {
		t.Run(via, func(t *testing.T) {
			state := t.TempDir()
			squeue := `#!/bin/sh
case "$*" in
*tres-per-node*) printf '%s\n' '4242|n1|gres:gpu:h100:1|' '4243|n1|gres:gpu:h100:4|' ;;
*--Format=JobID:?,Command:?) printf '4242\037` + state + `/jobs/r1-2/job.sh\037\n' ;;
*) printf '4242\037RUNNING\0370\0372026-12-04T19:43:15\037N/A\037n1\037None\037` + state + `/jobs/r1-2/output.log\037` + state + `/jobs/r1-2/job.sh\037` + ownUID + `\037\n' ;;
esac
`
			sinfo := "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n"
			scontrol := "#!/bin/sh\nexit 0\n"
			b := fakeSlurm(t, state, map[string]string{"squeue": squeue, "sinfo": sinfo, "scontrol": scontrol})
			slurm.WriteRecord(t, state, "jobs/r1-1/jobid", "4242")
			slurm.WriteRecord(t, state, "ended/4242", "r1-1")
			if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-2"), 0o700); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if via == "find" {
				if h, ok, err := b.Find(ctx, "r1", 2); err != nil || !ok || h != "4242:r1-2" {
					t.Fatalf("Find of r1-2 = %q, %v, %v; want 4242:r1-2", h, ok, err)
				}
			} else {
				slurm.WriteRecord(t, state, "jobs/r1-2/jobid", "4242:r1-2")
				if _, err := b.Status(ctx, "4242:r1-2"); err != nil {
					t.Fatalf("Status of 4242:r1-2: %v", err)
				}
			}
			got, err := b.Capacity(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// 3 free, and the 1 that r1-2's job holds (4243 is no attempt's).
			if got[backend.SiteAccelerator] != 4 {
				t.Errorf("capacity %d; want 4 (job 4242, r1-2's, counted as the server's)", got[backend.SiteAccelerator])
			}
		})
	}
}

// TestCapacityCountsALaterAttemptsJobOnSlurm:
// TestCapacityCountsALaterAttemptsJobOfAnEndedID on a real Slurm. Attempt
// 2's job, holding 2 GPUs, is given an id recorded for attempt 1 first,
// whose job ended and was cleaned up (ended/ID): the server's capacity
// poll counts attempt 2's GPUs as its own, all of the node's.
func TestCapacityCountsALaterAttemptsJobOnSlurm(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	run := uniqueRunID(t, "oneid-cap")
	keyA := backend.Spec{RunID: run, Attempt: 1}.Key()
	specB := backend.Spec{RunID: run, Attempt: 2, Accelerators: 2,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: t.TempDir()}
	sbatchPath, err := exec.LookPath("sbatch")
	if err != nil {
		t.Fatal(err)
	}
	hold, bin := t.TempDir(), t.TempDir()
	wrapper := "#!/bin/sh\nPATH=/usr/bin:/bin\nout=$(" + sbatchPath + ` "$@") || exit $?
printf '%s\n' "$out" >` + hold + "/id.tmp && mv " + hold + "/id.tmp " + hold + `/id
while [ ! -e ` + hold + `/go ]; do sleep 0.05; done
printf '%s\n' "$out"
`
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b := newSlurm(t, site, dir)
	waitQuiet(t, site.Partition)

	done := make(chan error, 1)
	var hB string
	go func() {
		var err error
		hB, err = b.Submit(testCtx(t), specB)
		done <- err
	}()
	var id string
	for deadline := time.Now().Add(30 * time.Second); id == ""; time.Sleep(50 * time.Millisecond) {
		if data, err := os.ReadFile(filepath.Join(hold, "id")); err == nil {
			id, _, _ = strings.Cut(strings.TrimSpace(string(data)), ";")
		}
		if time.Now().After(deadline) {
			os.WriteFile(filepath.Join(hold, "go"), nil, 0o644)
			t.Fatal("sbatch gave no job id in 30 s")
		}
	}
	cancelAtEnd(t, id)
	// Attempt 1 was given the id first; its job ended and was cleaned up.
	slurm.WriteRecord(t, dir, filepath.Join("jobs", keyA, "jobid"), id)
	slurm.WriteRecord(t, dir, filepath.Join("ended", id), keyA)
	if err := os.WriteFile(filepath.Join(hold, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if hB != id+":"+run+"-2" {
		t.Fatalf("attempt 2's handle %q; want %s:%s-2", hB, id, run)
	}
	waitRunning(t, b, hB)
	if n := capacityOf(t, b, "attempt 2's job holds 2"); n != labGPUs {
		t.Errorf("with attempt 2's job holding 2: capacity %d, want %d (its GPUs are the server's to give)", n, labGPUs)
	}
}

// TestUnsignedIDRecordLeavesTheHandleItsJob: a workload, as this
// backend's user, replaced the record of its own job's id (handles/4242)
// with one the backend did not sign. An id record that names another
// attempt made the attempt's plain handle ID:KEY, and an unsigned one
// counted as naming another: handle 4242, which Submit had given, was
// not found, Status read nothing and Cancel cancelled nothing, so the
// workload's job ran on, beyond the server's reach. A record that does
// not verify names no attempt: the attempt's own signed record of the
// plain id stands, and its handle reads and cancels its job.
func TestUnsignedIDRecordLeavesTheHandleItsJob(t *testing.T) {
	for _, dir := range []string{"handles", "ended"} {
		t.Run(dir, func(t *testing.T) {
			state := t.TempDir()
			cancels := filepath.Join(t.TempDir(), "scancel")
			squeue := `#!/bin/sh
printf '4242\037PENDING\0370\037N/A\037N/A\037\037Priority\037` + state + `/jobs/r1-1/output.log\037` + state + `/jobs/r1-1/job.sh\037` + ownUID + `\037\n'
`
			scancel := scancelEnds(cancels)
			b := fakeSlurm(t, state, map[string]string{"squeue": squeue, "scancel": scancel})
			slurm.WriteRecord(t, state, "jobs/r1-1/jobid", "4242")
			if err := os.WriteFile(filepath.Join(state, dir, "4242"), []byte("r9-9\n"), 0o644); err != nil {
				t.Fatal(err)
			}
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
		})
	}
}
