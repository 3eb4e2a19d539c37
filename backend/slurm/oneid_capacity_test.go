package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
*) printf '4242\037RUNNING\0370\0372026-12-04T19:43:15\037N/A\037n1\037None\037` + state + `/jobs/r1-2/output.log\037` + state + `/jobs/r1-2/job.sh\037\n' ;;
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
