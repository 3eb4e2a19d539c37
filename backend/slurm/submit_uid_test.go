package slurm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestSubmitRefusesAJobOfAnotherUser: the backend takes its jobs to run
// as its own uid, and reads any other's as another user's job. Behind an
// sbatch wrapper that submits as another user (ssh, sudo), or with a uid
// mapped on the cluster, each job it submitted read so: Status said the
// attempt lost, and Cancel returned without running scancel, the job
// left to run. Submit now reads the new job's user once and, where it is
// not the expected one, cancels the job and fails naming both; the
// server's own job is still taken. The refusal was retried at every
// step as a site not answering, and refused each time: it is now
// backend.ErrSiteDown, and the run loses the site at once.
func TestSubmitRefusesAJobOfAnotherUser(t *testing.T) {
	other := strconv.Itoa(os.Getuid() + 1)
	for _, uid := range []string{other, ownUID} {
		t.Run(uid, func(t *testing.T) {
			dir := t.TempDir()
			state, calls := filepath.Join(dir, "state"), filepath.Join(dir, "scancel.calls")
			b := fakeSlurm(t, state, map[string]string{
				"sbatch":  "#!/bin/sh\necho 4242\n",
				"squeue":  columnSqueue(state, uid),
				"scancel": "#!/bin/sh\necho \"$@\" >>" + calls + "\n",
			})
			h, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
			if uid == ownUID {
				if err != nil || h != "4242" || lines(calls) != 0 {
					t.Fatalf("Submit of the server's own job = %q, %v, scancel run %d times; want job 4242, none cancelled", h, err, lines(calls))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), `"`+other+`"`) || !strings.Contains(err.Error(), ownUID) {
				t.Fatalf("Submit of a job that runs as user %s = %q, %v; want an error naming both users", other, h, err)
			}
			if !errors.Is(err, backend.ErrSiteDown) {
				t.Errorf("Submit of a job that runs as user %s = %v; want backend.ErrSiteDown, the site lost at once", other, err)
			}
			if data, _ := os.ReadFile(calls); string(data) != "4242\n" {
				t.Errorf("scancel ran with %q; want it run once, for job 4242", data)
			}
		})
	}
}
