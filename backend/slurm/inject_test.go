package slurm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// forgedComment is what a workload running as its job's user writes into
// the job's comment (scontrol update JobId=ID Comment=...), which
// `scontrol show job -o` prints unquoted among slurmctld's own fields.
const forgedComment = "done JobState=COMPLETED Reason=None ExitCode=0:0 NodeList=(null) StartTime=2000-01-01T00:00:00 EndTime=2000-01-01T00:00:01 StdOut=/etc/passwd"

// TestStatusNotSwayedByValuesTheOwnerSets: the job's state is read from
// slurmctld's own fields only. Here `scontrol show job` prints a comment
// that repeats JobState=COMPLETED after the real RUNNING (what the real
// scontrol prints for such a comment), and squeue prints what Slurm 22.05's
// squeue printed for a running job of the test cluster: the job reads
// running, with no error. Before, Status read scontrol's line and refused
// it, and the run read its site as lost.
func TestStatusNotSwayedByValuesTheOwnerSets(t *testing.T) {
	scontrol := `#!/bin/sh
case "$2" in
job) echo "JobId=4242 JobName=meridian-r1-1 UserId=m(1000) GroupId=m(1000) JobState=RUNNING Reason=None Dependency=(null) ExitCode=0:0 NodeList=n1 BatchHost=n1 Command=/state/jobs/r1-1/job.sh WorkDir=/work/r1-1 Comment=` + forgedComment + ` StdErr=/state/jobs/r1-1/output.log StdOut=/state/jobs/r1-1/output.log Power=" ;;
node) echo "NodeName=n1 Arch=x86_64 State=ALLOCATED Partitions=p" ;;
esac
`
	stateDir := t.TempDir()
	squeue := `#!/bin/sh
printf '4242\037RUNNING\0370\0372026-12-04T19:43:15\037NONE\037n1\037None\037` + stateDir + `/jobs/r1-1/output.log\037` + stateDir + `/jobs/r1-1/job.sh\037` + ownUID + `\037\n'
`
	b := fakeSlurm(t, stateDir, map[string]string{"scontrol": scontrol, "squeue": squeue})
	st, err := b.Status(context.Background(), "4242")
	if err != nil || st.State != backend.Running || st.Started.IsZero() || !st.Ended.IsZero() {
		t.Fatalf("Status = %+v, %v; want running since its start, no error", st, err)
	}
}

// TestStatusWithForgedCommentOnRealSlurm: on the real cluster, a running
// job whose comment is set to text that repeats slurmctld's fields
// (JobState=COMPLETED, ExitCode, StartTime, StdOut) still reads running,
// with no error and its real start; Logs of a backend of the same state
// directory that has no record of the job (it asks slurmctld for the job's
// batch script) still reads the job's own output, and one of another state
// directory reads nothing. Then the job is cancelled and reads cancelled.
func TestStatusWithForgedCommentOnRealSlurm(t *testing.T) {
	site := cluster(t)
	stateDir := t.TempDir()
	b := newSlurm(t, site, stateDir)
	spec := backend.Spec{RunID: uniqueRunID(t, "forged"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "echo from-the-job; exec sleep 300"}, WorkDir: t.TempDir()}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	// scancel too: a backend that cannot read the job's state (as before,
	// with this comment) cannot cancel it, and the job would hold the
	// partition that other tests need empty.
	t.Cleanup(func() { b.Cancel(context.Background(), h); runCmd("scancel", h) })
	waitRunning(t, b, h)
	if out, err := exec.Command("scontrol", "update", "JobId="+h, "Comment="+forgedComment).CombinedOutput(); err != nil {
		t.Fatalf("scontrol update comment: %v: %s", err, out)
	}
	// The comment is in place: scontrol shows it among slurmctld's fields.
	shown, err := runCmd("scontrol", "show", "job", "-o", h)
	if err != nil || !strings.Contains(shown, "Comment="+forgedComment) || !strings.Contains(shown, "JobState=RUNNING") {
		t.Fatalf("scontrol show job %s after the update: %v: %s", h, err, shown)
	}

	st, err := b.Status(testCtx(t), h)
	if err != nil || st.State != backend.Running {
		t.Fatalf("Status with a forged comment = %+v, %v; want running, no error", st, err)
	}
	if st.Started.Year() < 2020 || time.Since(st.Started) > 10*time.Minute {
		t.Fatalf("Status with a forged comment gives the start %v, not the job's", st.Started)
	}

	// A backend of another state directory does not read the job's output
	// (before, it read any path of the shape .../jobs/KEY/output.log that
	// slurmctld named). One of the same state directory that lost its
	// record of the job asks slurmctld which attempt the job is (its batch
	// script, not the comment) and reads that attempt's output.
	if rc, err := newSlurm(t, site, t.TempDir()).Logs(testCtx(t), h); err == nil {
		rc.Close()
		t.Fatalf("Logs of another state directory's job: no error, want a refusal")
	}
	if err := os.Remove(filepath.Join(stateDir, "handles", h)); err != nil {
		t.Fatal(err)
	}
	other := newSlurm(t, site, stateDir)
	var got string
	for deadline := time.Now().Add(10 * time.Second); ; {
		rc, err := other.Logs(testCtx(t), h)
		if err != nil {
			t.Fatalf("Logs without records: %v", err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if got = string(data); strings.Contains(got, "from-the-job") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the job's echo may not be written yet
	}
	if got != "from-the-job\n" {
		t.Fatalf("Logs without records read %q, want the job's output", got)
	}

	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		st, err = b.Status(testCtx(t), h)
		if err != nil {
			t.Fatal(err)
		}
		if st.State.Final() || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if st.State != backend.Cancelled {
		t.Fatalf("Status after cancel with a forged comment = %+v, want cancelled", st)
	}
}

// TestFindNotSwayedByAForgedListingLine: a job's command is the path its
// submitter gave sbatch, which may hold a newline and squeue's column
// separator, so one job of the user can print a line of the listing that
// pairs another job's id with the attempt's batch script. Here squeue
// lists job 777 with the attempt's script only on such a line, and asked
// for job 777 alone gives its real command: Find does not take job 777 for
// the attempt.
func TestFindNotSwayedByAForgedListingLine(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "jobs", "r1-1", "job.sh")
	squeue := `#!/bin/sh
for a in "$@"; do
	case "$a" in
	--jobs=777) printf '777\037/home/u/other.sh\037\n'; exit 0 ;;
	--jobs=*) echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1 ;;
	--name=*) exit 0 ;;
	esac
done
printf '999\037/tmp/a\037\n777\037` + script + `\037\n777\037/home/u/other.sh\037\n'
`
	b := fakeSlurm(t, dir, map[string]string{"squeue": squeue})
	if id, ok, err := b.Find(context.Background(), "r1", 1); err != nil || ok {
		t.Fatalf("Find = %q, %v, %v; want not found: job 777's command is not the attempt's script", id, ok, err)
	}
}

// TestFindBoundsForgedListingLines: a job whose command forges many lines
// ending in the attempt's script made the lookup ask slurmctld about each,
// one command apiece; past a few it now fails without asking.
func TestFindBoundsForgedListingLines(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "jobs", "r1-1", "job.sh")
	calls := filepath.Join(dir, "calls")
	squeue := `#!/bin/sh
echo x >> ` + calls + `
for a in "$@"; do
	case "$a" in
	--jobs=*) echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1 ;;
	esac
done
i=1000
while [ $i -lt 1100 ]; do printf '%d\037` + script + `\037\n' $i; i=$((i+1)); done
`
	b := fakeSlurm(t, dir, map[string]string{"squeue": squeue})
	if id, ok, err := b.Find(context.Background(), "r1", 1); err == nil || ok {
		t.Fatalf("Find = %q, %v, %v; want an error: 100 listing lines end in the attempt's script", id, ok, err)
	}
	data, _ := os.ReadFile(calls)
	if n := strings.Count(string(data), "x"); n > 10 {
		t.Errorf("the lookup ran squeue %d times for 100 forged lines", n)
	}
}

// TestLogsReadsOnlyItsOwnJobOutput: the owner of a pending job may point
// its output path anywhere (scontrol update StdOut=), and a job runs as
// this backend's user, who may put links in its state directory. A
// backend with no record of a job read whatever path of the shape
// .../jobs/KEY/output.log slurmctld then named, another state directory's
// included, and followed a link at any directory on the way, with a record
// too. It now reads only its own state directory's output of the attempt
// whose batch script the job runs, one component at a time without
// following a link.
func TestLogsReadsOnlyItsOwnJobOutput(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "st")
	write := func(p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	own := func(key string) (script, out string) {
		return filepath.Join(st, "jobs", key, "job.sh"), filepath.Join(st, "jobs", key, "output.log")
	}
	script1, out1 := own("r1-1")
	write(out1, "from-the-job\n")
	secret := filepath.Join(dir, "secret")
	write(secret, "the server's secret\n")
	// Another backend's state directory, on the same machine.
	otherScript := filepath.Join(dir, "other", "jobs", "r9-1", "job.sh")
	otherOut := filepath.Join(dir, "other", "jobs", "r9-1", "output.log")
	write(otherOut, "another backend's job\n")
	// A link as the output file, and a link as the attempt's directory.
	script2, out2 := own("r1-2")
	link(secret, out2)
	write(filepath.Join(dir, "elsewhere", "output.log"), "through a linked directory\n")
	link(filepath.Join(dir, "elsewhere"), filepath.Join(st, "jobs", "r1-3"))
	script3, out3 := own("r1-3")
	// A directory that no attempt's key names.
	write(filepath.Join(st, "jobs", "notakey", "output.log"), "not an attempt's\n")

	for _, c := range []struct {
		name            string
		command, stdout string // "" command: not this user's job
		want            string // "" for a refusal
	}{
		{"own attempt", script1, out1, "from-the-job\n"},
		{"another state directory", otherScript, otherOut, ""},
		{"output pointed at a secret", script1, secret, ""},
		{"output pointed at another attempt's", script2, out1, ""},
		{"output file a link", script2, out2, ""},
		{"attempt directory a link", script3, out3, ""},
		{"not a key", filepath.Join(st, "jobs", "notakey", "job.sh"), filepath.Join(st, "jobs", "notakey", "output.log"), ""},
		{"dot-dot", script1, filepath.Join(st, "jobs", "r1-1", "..", "..", "..", "secret"), ""},
		{"another user's job", "", out1, ""},
	} {
		cmdLine := ""
		if c.command != "" {
			cmdLine = fmt.Sprintf("printf '4242\\037%s\\037\\n'", c.command)
		}
		squeue := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
	case "$a" in
	--Format=JobID:?,Command:?) %s; exit 0 ;;
	esac
done
printf '4242\037PENDING\0370\037N/A\037N/A\037\037None\037%%s\037/state/jobs/r1-1/job.sh\037`+ownUID+`\037\n' '%s'
`, cmdLine, c.stdout)
		b := fakeSlurm(t, st, map[string]string{"squeue": squeue})
		rc, err := b.Logs(context.Background(), "4242")
		if c.want == "" {
			if err == nil {
				data, _ := io.ReadAll(rc)
				rc.Close()
				t.Errorf("%s: read %q, want a refusal", c.name, data)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if string(data) != c.want {
			t.Errorf("%s: read %q, want %q", c.name, data, c.want)
		}
	}

	// With a record of the job, a link at the attempt's directory is not
	// followed either.
	slurm.WriteRecord(t, st, filepath.Join("handles", "4343"), "r1-3")
	b := fakeSlurm(t, st, nil)
	if rc, err := b.Logs(context.Background(), "4343"); err == nil {
		data, _ := io.ReadAll(rc)
		rc.Close()
		t.Errorf("recorded job whose directory is a link: read %q, want a refusal", data)
	}
}

// fakeSlurm is a Slurm backend over stateDir whose Slurm commands are the
// given shell scripts, by name, put first on PATH for the test.
func fakeSlurm(t *testing.T, stateDir string, scripts map[string]string) *slurm.Slurm {
	t.Helper()
	bin := t.TempDir()
	for name, script := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := slurm.New(catalog.BackendSpec{Type: "slurm"}, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSubmitDoesNotRerunAForgottenJob: a server that stopped between
// sbatch and recording the job id, for longer than slurmctld keeps a
// finished job, found no job of the attempt's batch script on restart and
// submitted the attempt a second time, though the first job had run (its
// start mark, exit code and output are in the attempt's directory). Submit
// now refuses; an attempt whose earlier sbatch left only the script (it
// failed, or never ran) is still submitted.
func TestSubmitDoesNotRerunAForgottenJob(t *testing.T) {
	for _, c := range []struct {
		marks  []string
		refuse bool
	}{
		{[]string{"started", "exitcode", "output.log"}, true},
		{[]string{"output.log"}, true}, // killed before its first line
		{nil, false},
	} {
		dir := t.TempDir()
		calls := filepath.Join(dir, "sbatch-calls")
		jobDir := filepath.Join(dir, "jobs", "r1-1")
		if err := os.MkdirAll(jobDir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range append([]string{"job.sh"}, c.marks...) {
			if err := os.WriteFile(filepath.Join(jobDir, f), []byte("0\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		b := fakeSlurm(t, dir, map[string]string{
			"squeue": "#!/bin/sh\nexit 0\n", // slurmctld has forgotten every job
			"sbatch": "#!/bin/sh\necho x >> " + calls + "\necho 555\n",
		})
		id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
		data, _ := os.ReadFile(calls)
		switch {
		case c.refuse && (err == nil || len(data) > 0):
			t.Errorf("marks %v: Submit = %q, %v, sbatch run %d times; want an error and no sbatch", c.marks, id, err, strings.Count(string(data), "x"))
		case !c.refuse && (err != nil || id != "555"):
			t.Errorf("marks %v: Submit = %q, %v; want job 555 submitted", c.marks, id, err)
		}
	}
}

// TestCommandOutputBounded: a Slurm client's output carries values others
// set, and was read whole into memory, for as long as the client wrote
// (up to the command timeout). Here squeue writes 256 MiB for one job's
// status: Status now fails, saying the output is over its bound, having
// kept at most a few MiB of it, and the client is stopped rather than
// read to its end.
func TestCommandOutputBounded(t *testing.T) {
	squeue := "#!/bin/sh\nhead -c 268435456 /dev/zero | tr '\\0' x\n"
	b := fakeSlurm(t, t.TempDir(), map[string]string{"squeue": squeue})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := b.Status(context.Background(), "4242")
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Status with 256 MiB of squeue output = %v, want an error saying the output is over its bound", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("Status allocated %d MiB for 256 MiB of squeue output, want at most 64", alloc>>20)
	}
	t.Logf("over the bound after %v, %d MiB allocated", took.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20)
}

// TestCleanTakesOnlyAnAttemptsKey: the record of a job id names the
// attempt's key, and Clean removes the work directory of that key. A record
// that named "../victim" made Clean remove a directory beside the work
// root; a record that is not an attempt's key is now no record.
func TestCleanTakesOnlyAnAttemptsKey(t *testing.T) {
	dir := t.TempDir()
	squeue := "#!/bin/sh\nprintf '777\\037COMPLETED\\0370\\0372026-01-01T00:00:00\\0372026-01-01T00:00:01\\037n1\\037None\\037/x/jobs/r1-1/output.log\\037/x/jobs/r1-1/job.sh\\037" + ownUID + "\\037\\n'\n"
	b := fakeSlurm(t, filepath.Join(dir, "state"), map[string]string{"squeue": squeue})
	work := b.WorkDir(backend.Spec{RunID: "r1", Attempt: 1})
	victim := filepath.Join(filepath.Dir(filepath.Dir(work)), "victim")
	if err := os.MkdirAll(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Dir(work), victim)
	if err != nil {
		t.Fatal(err)
	}
	// Signed, as by the backend: the key is refused for what it is.
	slurm.WriteRecord(t, filepath.Join(dir, "state"), filepath.Join("handles", "777"), rel)
	if err := b.Clean(context.Background(), "777"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("Clean of a job recorded as %q removed %s: %v", rel, victim, err)
	}
}

// TestSubmitRepairsAHalfWrittenRecord: a submit records the job id under
// the attempt, then the attempt under the job id. A server that crashed
// between the two got the job id back from its next Submit, but once
// slurmctld had forgotten the job, its status was "not found" (it goes by
// the id's record to the job's exit code) and the run lost a job that had
// succeeded. Submit now writes the missing half.
func TestSubmitRepairsAHalfWrittenRecord(t *testing.T) {
	dir := t.TempDir()
	jobDir := filepath.Join(dir, "jobs", "r1-1")
	if err := os.MkdirAll(jobDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"job.sh": "", "started": "", "exitcode": "0\n"} {
		if err := os.WriteFile(filepath.Join(jobDir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	slurm.WriteRecord(t, dir, filepath.Join("jobs", "r1-1", "jobid"), "555")
	b := fakeSlurm(t, dir, map[string]string{
		"squeue": "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
		"sbatch": "#!/bin/sh\necho 999\n",
	})
	id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
	if err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want the recorded job 555", id, err)
	}
	st, err := b.Status(context.Background(), id)
	if err != nil || st.State != backend.Succeeded {
		t.Fatalf("Status of the recorded job once slurmctld forgot it = %+v, %v; want succeeded, from its exit code", st, err)
	}
}

// TestSiteWordsBounded: what Slurm's clients print of a partition's or a
// node's state, a word of any length, was said whole: in Submit's error
// for a partition not up, and in the reason of a job whose node is down,
// which the run keeps. Each now says a bounded part of it.
func TestSiteWordsBounded(t *testing.T) {
	const junk = "head -c 1048576 /dev/zero | tr '\\0' X"
	stateDir := t.TempDir()
	squeue := `#!/bin/sh
printf '4242\037RUNNING\0370\0372026-12-04T19:43:15\037NONE\037n1\037None\037` + stateDir + `/jobs/r1-1/output.log\037` + stateDir + `/jobs/r1-1/job.sh\037` + ownUID + `\037\n'
`
	b := fakeSlurm(t, stateDir, map[string]string{
		"sinfo":    "#!/bin/sh\nprintf 'down'; " + junk + "\n",
		"scontrol": "#!/bin/sh\nprintf 'NodeName=n1 Arch=x86_64 State=DOWN+'; " + junk + "; echo ' Partitions=p'\n",
		"squeue":   squeue,
	})
	st, err := b.Status(context.Background(), "4242")
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "node n1 is DOWN+XXX") {
		t.Fatalf("Status of a job on a down node = %s %.200q, %v; want lost naming the node", st.State, st.Reason, err)
	}
	if n := len(st.Reason); n > 1<<10 {
		t.Errorf("the lost job's reason is %d bytes, want at most 1 KiB", n)
	}

	b = fakeSlurmPartition(t, t.TempDir(), "p")
	_, err = b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}})
	if !errors.Is(err, backend.ErrSiteDown) || !strings.Contains(err.Error(), "is downXXX") {
		t.Fatalf("Submit to a partition not up = %.200v; want ErrSiteDown naming the state", err)
	}
	if n := len(err.Error()); n > 1<<10 {
		t.Errorf("Submit's error is %d bytes, want at most 1 KiB", n)
	}
}

// fakeSlurmPartition is a backend of the fake clients on PATH (fakeSlurm)
// that submits to partition.
func fakeSlurmPartition(t *testing.T, stateDir, partition string) *slurm.Slurm {
	t.Helper()
	b, err := slurm.New(catalog.BackendSpec{Type: "slurm", Partition: partition}, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStatusPassesNoNodeListAsOptions: the node list squeue printed for a
// running job was passed to scontrol as it was, so one starting with "-"
// was read as scontrol's options. A node list that is no host list is now
// not asked about.
func TestStatusPassesNoNodeListAsOptions(t *testing.T) {
	stateDir := t.TempDir()
	args := filepath.Join(t.TempDir(), "args")
	squeue := `#!/bin/sh
printf '4242\037RUNNING\0370\0372026-12-04T19:43:15\037NONE\037--clusters=other\037None\037` + stateDir + `/jobs/r1-1/output.log\037` + stateDir + `/jobs/r1-1/job.sh\037` + ownUID + `\037\n'
`
	b := fakeSlurm(t, stateDir, map[string]string{
		"scontrol": "#!/bin/sh\necho \"$@\" >>" + args + "\necho 'NodeName=n1 State=IDLE'\n",
		"squeue":   squeue,
	})
	st, err := b.Status(context.Background(), "4242")
	if err != nil || st.State != backend.Running {
		t.Fatalf("Status = %+v, %v; want running", st, err)
	}
	if data, err := os.ReadFile(args); err == nil {
		t.Errorf("scontrol was run with %q; want no run for a node list that is no host list", data)
	}
}
