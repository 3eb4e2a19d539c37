package slurm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// ownUID is the user id this process's jobs run as, as squeue prints it
// (UserID).
var ownUID = strconv.Itoa(os.Getuid())

// scancelEnds is a fake scancel that notes its arguments in calls and
// ends the job as slurmctld does once it is over: the fake squeue beside
// it (a script printing the job's line) says CANCELLED from then on
// where it said RUNNING or PENDING. Cancel waits for that.
func scancelEnds(calls string) string {
	return `#!/bin/sh
echo "$@" >>` + calls + `
sed -i 's/\\037\(RUNNING\|PENDING\)\\037/\\037CANCELLED\\037/g' "$(dirname "$0")/squeue"
`
}

// endedOnDelete is the job_state a fake slurmrestd gives a job that was
// in state before: CANCELLED once a DELETE came (counted in deletes).
func endedOnDelete(deletes *atomic.Int32, before string) string {
	if deletes.Load() > 0 {
		return "CANCELLED"
	}
	return before
}

// job8Server is a fake slurmrestd, over TLS, that serves job 8 only: it
// takes a DELETE of it, counted in deletes, and answers any other request
// of it with get, the answer's Content-Type set to JSON.
func job8Server(t *testing.T, deletes *atomic.Int32, get http.HandlerFunc) (string, slurm.RESTOption) {
	t.Helper()
	return tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path != "/slurm/v0.0.38/job/8":
			http.Error(w, "not served by this fake", http.StatusNotFound)
		case r.Method == http.MethodDelete:
			deletes.Add(1)
			json.NewEncoder(w).Encode(map[string]any{"errors": []any{}})
		default:
			get(w, r)
		}
	}))
}

// recordedJob8 is a slurmrestd backend over job8Server(deletes, get),
// with job 8 recorded as attempt r1-1's.
func recordedJob8(t *testing.T, deletes *atomic.Int32, get http.HandlerFunc) *slurm.REST {
	t.Helper()
	url, trust := job8Server(t, deletes, get)
	site := catalog.BackendSpec{Type: "slurm", RestURL: url, TokenFile: writeToken(t, "cancel.token")}
	state := t.TempDir()
	recordRESTJob(t, state, "8", "r1-1")
	return newREST(t, site, state, trust)
}

// recordedJob4242 is a CLI backend of state over a fake Slurm with job
// 4242 recorded as attempt r1-1's: squeue is the script given, scancel
// notes its arguments in calls, and scontrol says node n1 is allocated.
func recordedJob4242(t *testing.T, state, calls, squeue string) *slurm.Slurm {
	t.Helper()
	b := fakeSlurm(t, state, map[string]string{
		"squeue":   squeue,
		"scancel":  "#!/bin/sh\necho \"$@\" >>" + calls + "\n",
		"scontrol": "#!/bin/sh\necho 'NodeName=n1 State=ALLOCATED'\n",
	})
	slurm.WriteRecord(t, state, "jobs/r1-1/jobid", "4242")
	slurm.WriteRecord(t, state, "handles/4242", "r1-1")
	return b
}

// endingSqueue is a fake squeue for job 4242 of attempt r1-1 of state:
// RUNNING until scancel was run (calls exists), then COMPLETING for the
// next completing answers (counted in looks), then CANCELLED; completing
// < 0: COMPLETING for ever.
func endingSqueue(state, calls, looks string, completing int) string {
	return `#!/bin/sh
st=RUNNING
if [ -e ` + calls + ` ]; then
	echo >>` + looks + `
	st=COMPLETING
	n=$(wc -l <` + looks + `)
	if [ ` + strconv.Itoa(completing) + ` -ge 0 ] && [ "$n" -gt ` + strconv.Itoa(completing) + ` ]; then st=CANCELLED; fi
fi
printf '4242\037%s\0370\0372026-12-04T19:43:15\037N/A\037n1\037None\037` + state + `/jobs/r1-1/output.log\037` + state + `/jobs/r1-1/job.sh\037` + ownUID + `\037\n' "$st"
`
}

// lines is the number of lines of the file at path (0 when there is none).
func lines(path string) int {
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), "\n")
}

// TestCancelWaitsForTheJobToEnd: scancel returns once slurmctld has taken
// the request, while the job may run on for a while (a workload that
// traps SIGTERM runs until KillWait, an epilog runs, a node does not
// answer: COMPLETING). Cancel answered then, the run recorded the attempt
// stopped, and its next attempt started beside the job, on the data and
// accelerators it still held. Cancel now returns once slurmctld says the
// job ended, and fails, naming the state it saw, when its context ends
// first.
func TestCancelWaitsForTheJobToEnd(t *testing.T) {
	for _, completing := range []int{3, -1} {
		t.Run(strconv.Itoa(completing), func(t *testing.T) {
			dir := t.TempDir()
			state, calls, looks := filepath.Join(dir, "state"), filepath.Join(dir, "scancel.calls"), filepath.Join(dir, "looks")
			b := recordedJob4242(t, state, calls, endingSqueue(state, calls, looks, completing))
			if completing >= 0 {
				if err := b.Cancel(testCtx(t), "4242"); err != nil {
					t.Fatalf("Cancel of a job that ends after %d looks: %v", completing, err)
				}
				if n := lines(looks); n != completing+1 {
					t.Fatalf("Cancel returned after %d looks at the job once scancel ran; want %d, the first that says it ended", n, completing+1)
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := b.Cancel(ctx, "4242")
			if err == nil || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, backend.ErrStopping) || !strings.Contains(err.Error(), "COMPLETING") {
				t.Fatalf("Cancel of a job still completing when its context ends = %v; want backend.ErrStopping naming COMPLETING", err)
			}
			if lines(calls) != 1 {
				t.Fatalf("scancel ran %d times, want once", lines(calls))
			}
		})
	}
}

// TestRESTCancelWaitsForTheJobToEnd: TestCancelWaitsForTheJobToEnd
// through slurmrestd, whose DELETE answers once slurmctld took it.
func TestRESTCancelWaitsForTheJobToEnd(t *testing.T) {
	for _, completing := range []int32{3, -1} {
		t.Run(strconv.Itoa(int(completing)), func(t *testing.T) {
			var deletes, looks atomic.Int32
			b := recordedJob8(t, &deletes, func(w http.ResponseWriter, r *http.Request) {
				st := "RUNNING"
				if deletes.Load() > 0 {
					st = "COMPLETING"
					if n := looks.Add(1); completing >= 0 && n > completing {
						st = "CANCELLED"
					}
				}
				json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
					"job_id": 8, "name": "meridian-r1-1", "comment": "meridian run r1 attempt 1",
					"job_state": st, "state_reason": "None", "exit_code": 0}}})
			})
			if completing >= 0 {
				if err := b.Cancel(testCtx(t), "8"); err != nil {
					t.Fatalf("Cancel of a job that ends after %d looks: %v", completing, err)
				}
				if n := looks.Load(); n != completing+1 {
					t.Fatalf("Cancel returned after %d looks at the job once DELETE was sent; want %d, the first that says it ended", n, completing+1)
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := b.Cancel(ctx, "8")
			if err == nil || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, backend.ErrStopping) || !strings.Contains(err.Error(), "COMPLETING") {
				t.Fatalf("Cancel of a job still completing when its context ends = %v; want backend.ErrStopping naming COMPLETING", err)
			}
			if n := deletes.Load(); n != 1 {
				t.Fatalf("Cancel sent %d DELETEs, want 1", n)
			}
		})
	}
}

// sigtermTrap is a job's command that outlives SIGTERM by 5 s: its shell
// replaces the batch script's (exec), so that slurmd's SIGTERM reaches it
// rather than ending the job.
var sigtermTrap = []string{"exec", "/bin/sh", "-c", "trap 'sleep 5; exit 0' TERM; sleep 300 & wait"}

// jobState is what squeue says of job h now ("" once it is forgotten).
func jobState(t *testing.T, h string) string {
	t.Helper()
	out, _ := runCmd("squeue", "-h", "-t", "all", "-j", h, "-O", "State")
	return strings.TrimSpace(out)
}

// TestCancelWaitsForAJobTrappingSIGTERMOnRealSlurm: on the real cluster,
// a job whose workload traps SIGTERM runs on for 5 s after scancel
// (COMPLETING). A Cancel whose context ends first fails naming that
// state; one given the time returns once the job has ended, and not
// before.
func TestCancelWaitsForAJobTrappingSIGTERMOnRealSlurm(t *testing.T) {
	site := cluster(t)
	b := newSlurm(t, site, t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID(t, "sigterm"), Attempt: 1, Command: sigtermTrap, WorkDir: t.TempDir()}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, h)
	waitRunning(t, b, h)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.Cancel(ctx, h); err == nil || !strings.Contains(err.Error(), "COMPLETING") {
		t.Fatalf("Cancel within 2 s of a job that ends 5 s after SIGTERM = %v (squeue now says %q); want an error naming COMPLETING", err, jobState(t, h))
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatalf("Cancel given the time: %v", err)
	}
	if st := jobState(t, h); st != "CANCELLED" {
		t.Fatalf("squeue says %q of job %s once Cancel returned; want CANCELLED", st, h)
	}
}

// TestRESTCancelWaitsForAJobTrappingSIGTERMOnRealSlurm:
// TestCancelWaitsForAJobTrappingSIGTERMOnRealSlurm through slurmrestd.
func TestRESTCancelWaitsForAJobTrappingSIGTERMOnRealSlurm(t *testing.T) {
	site, _ := restCluster(t)
	b := newREST(t, site, t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID(t, "rest-sigterm"), Attempt: 1, Command: sigtermTrap[1:], WorkDir: restWorkDir(t)}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, h)
	for deadline := time.Now().Add(30 * time.Second); jobState(t, h) != "RUNNING"; time.Sleep(100 * time.Millisecond) { // polling interval
		if time.Now().After(deadline) {
			t.Fatalf("job %s not running after 30 s: %q", h, jobState(t, h))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.Cancel(ctx, h); err == nil || !strings.Contains(err.Error(), "COMPLETING") {
		t.Fatalf("Cancel within 2 s of a job that ends 5 s after SIGTERM = %v (squeue now says %q); want an error naming COMPLETING", err, jobState(t, h))
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatalf("Cancel given the time: %v", err)
	}
	if st := jobState(t, h); st != "CANCELLED" {
		t.Fatalf("squeue says %q of job %s once Cancel returned; want CANCELLED", st, h)
	}
}

// TestCancelEndingWhileLookingIsStillEnding: a Cancel whose context ends
// while squeue is asked again, after scancel was taken, said the site
// had not answered (no backend.ErrStopping), and the run counted its
// site unreachable for a job that was only slow to end. It is now the
// same still-ending error as one whose context ends between two looks.
func TestCancelEndingWhileLookingIsStillEnding(t *testing.T) {
	dir := t.TempDir()
	state, calls := filepath.Join(dir, "state"), filepath.Join(dir, "scancel.calls")
	// RUNNING until scancel ran; after it, squeue answers nothing before
	// the caller's context ends.
	squeue := `#!/bin/sh
if [ -e ` + calls + ` ]; then exec sleep 30; fi
printf '4242\037RUNNING\0370\0372026-12-04T19:43:15\037N/A\037n1\037None\037` + state + `/jobs/r1-1/output.log\037` + state + `/jobs/r1-1/job.sh\037` + ownUID + `\037\n'
`
	b := recordedJob4242(t, state, calls, squeue)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := b.Cancel(ctx, "4242")
	if err == nil || !errors.Is(err, backend.ErrStopping) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "RUNNING") {
		t.Fatalf("Cancel whose context ends while squeue is asked after scancel = %v; want backend.ErrStopping naming the state seen last (RUNNING)", err)
	}
	if lines(calls) != 1 {
		t.Fatalf("scancel ran %d times, want once", lines(calls))
	}
}

// TestRESTCancelEndingWhileLookingIsStillEnding:
// TestCancelEndingWhileLookingIsStillEnding through slurmrestd, whose GET
// after the DELETE answers nothing before the context ends.
func TestRESTCancelEndingWhileLookingIsStillEnding(t *testing.T) {
	var deletes atomic.Int32
	b := recordedJob8(t, &deletes, func(w http.ResponseWriter, r *http.Request) {
		if deletes.Load() > 0 {
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"errors": []any{}, "jobs": []any{map[string]any{
			"job_id": 8, "name": "meridian-r1-1", "comment": "meridian run r1 attempt 1",
			"job_state": "RUNNING", "state_reason": "None", "exit_code": 0}}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := b.Cancel(ctx, "8")
	if err == nil || !errors.Is(err, backend.ErrStopping) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "RUNNING") {
		t.Fatalf("Cancel whose context ends while the job is asked after DELETE = %v; want backend.ErrStopping naming the state seen last (RUNNING)", err)
	}
	if n := deletes.Load(); n != 1 {
		t.Fatalf("Cancel sent %d DELETEs, want 1", n)
	}
}
