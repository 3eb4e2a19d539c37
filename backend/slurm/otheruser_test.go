package slurm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// columnSqueue is a fake squeue that prints job 4242 with the columns it
// is asked for (--Format=NAME:SEP,...), whatever they are: running on n1,
// its command the batch script of attempt r1-1 of state, run as user uid.
func columnSqueue(state, uid string) string {
	return `#!/bin/sh
for a in "$@"; do case "$a" in --Format=*) f=${a#--Format=} ;; esac; done
IFS=,
for c in $f; do
	case "${c%%:*}" in
	JobID|JobArrayID) v=4242 ;;
	State) v=RUNNING ;;
	exit_code) v=0 ;;
	StartTime) v=2026-12-04T19:43:15 ;;
	EndTime) v=N/A ;;
	NodeList) v=n1 ;;
	Reason) v=None ;;
	StdOut) v=` + state + `/jobs/r1-1/output.log ;;
	Command) v=` + state + `/jobs/r1-1/job.sh ;;
	UserID) v=` + uid + ` ;;
	*) v= ;;
	esac
	printf '%s\037' "$v"
done
printf '\n'
`
}

// TestJobOfAnotherUserIsNotTheAttempts: Status, Cancel and Clean ask
// squeue for a recorded id's job among every user's (--all), and took it
// for the attempt's whenever its command was the attempt's batch script.
// Any user may submit a job with that command (sbatch keeps the path it
// is given), so once slurmctld gave the recorded id to such a job, its
// state read as the attempt's (running, here), Cancel cancelled it, and
// Clean waited on it. The job must now run as this server's user too:
// another user's reads as the attempt's job forgotten (lost, with no exit
// code), is not cancelled, and does not hold Clean; the server's own is
// still read and cancelled.
func TestJobOfAnotherUserIsNotTheAttempts(t *testing.T) {
	for _, c := range []struct {
		uid  string
		ours bool
	}{{strconv.Itoa(os.Getuid() + 1), false}, {ownUID, true}} {
		t.Run(c.uid, func(t *testing.T) {
			dir := t.TempDir()
			state, calls := filepath.Join(dir, "state"), filepath.Join(dir, "scancel.calls")
			b := fakeSlurm(t, state, map[string]string{
				"squeue":   columnSqueue(state, c.uid),
				"scancel":  "#!/bin/sh\necho \"$@\" >>" + calls + "\nexit 1\n",
				"scontrol": "#!/bin/sh\necho 'NodeName=n1 State=ALLOCATED'\n",
			})
			writeSignedRecord(t, state, "r1-1", "4242")
			st, err := b.Status(context.Background(), "4242")
			if c.ours {
				if err != nil || st.State != backend.Running {
					t.Fatalf("Status of the server's own job = %+v, %v; want running", st, err)
				}
				if err := b.Cancel(context.Background(), "4242"); err == nil || lines(calls) != 1 {
					t.Fatalf("Cancel of the server's own job = %v, scancel run %d times; want it run (and its failure said)", err, lines(calls))
				}
				return
			}
			if err != nil || st.State != backend.Lost {
				t.Fatalf("Status of the attempt whose id is another user's job = %+v, %v; want lost (its own job forgotten)", st, err)
			}
			if err := b.Cancel(context.Background(), "4242"); err != nil {
				t.Fatalf("Cancel of the attempt whose id is another user's job: %v", err)
			}
			if data, err := os.ReadFile(calls); err == nil {
				t.Fatalf("scancel run with %q for another user's job", data)
			}
			if err := b.Clean(context.Background(), "4242"); err != nil {
				t.Fatalf("Clean: %v", err)
			}
		})
	}
}

// TestJobOfAnotherUserIsNotTheAttemptsOnRealSlurm: as
// TestJobOfAnotherUserIsNotTheAttempts on the real cluster: root submits
// a job as another user (slurm) whose command is the attempt's batch
// script's path, and the attempt's record names its id. Status reads the
// attempt lost, and Cancel leaves the job running.
func TestJobOfAnotherUserIsNotTheAttemptsOnRealSlurm(t *testing.T) {
	site := cluster(t)
	if os.Getuid() != 0 {
		t.Skip("submitting a job as another user needs root")
	}
	dir := t.TempDir()
	b := newSlurm(t, site, dir)
	script := filepath.Join(dir, "jobs", "r1-1", "job.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 300\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sbatch", "--parsable", "--uid=slurm", "--gid=slurm", "--partition="+site.Partition,
		"--output=/dev/null", "--chdir=/", script).CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch --uid=slurm: %v: %s", err, out)
	}
	other := strings.TrimSpace(string(out))
	cancelAtEnd(t, other)
	if cmd, err := runCmd("squeue", "-h", "-t", "all", "-j", other, "-O", "Command:|,UserID:|"); err != nil || strings.HasPrefix(cmd, script+"|0|") || !strings.HasPrefix(cmd, script+"|") {
		t.Fatalf("squeue of the other user's job: %q, %v; want its command %s and a user other than root", cmd, err, script)
	}
	writeSignedRecord(t, dir, "r1-1", other)
	if st, err := b.Status(testCtx(t), other); err != nil || st.State != backend.Lost {
		t.Fatalf("Status of the attempt whose id is another user's job = %+v, %v; want lost", st, err)
	}
	if err := b.Cancel(testCtx(t), other); err != nil {
		t.Fatal(err)
	}
	if st := jobState(t, other); st != "RUNNING" && st != "PENDING" {
		t.Fatalf("the other user's job after Cancel of the attempt: %q; want it still pending or running", st)
	}
}
