package slurm

import (
	"errors"
	"strings"
	"testing"
)

// TestParseSqueueJobOfAnArrayOrHetID: a recorded id that slurmctld gave
// to another user's job array or heterogeneous job prints as its tasks'
// or parts' lines (ID_N, ID+N), which were refused as a split line before
// the job's user was looked at: Status and Cancel of the attempt failed
// for as long as the other job stayed. Such lines alone now read as a job
// of no user and no command (another's, jobsKey). A second line of the
// job's own id, or such a line beside it, is still refused, and as a
// split line (errSplitLine), so that it is asked for again without its
// output path.
//
// The lines are as real squeue (22.05) prints them with the id asked as
// JobArrayID: asked for an array's id (--jobs=42), every task, each as
// 42_N whatever its own id (42, 43, 57); asked for a task's own id
// (--jobs=57), that task alone, as 42_N; a heterogeneous job's leader
// (--jobs=42), each part as 42+N; a part's own id (--jobs=43), that part
// alone. Asked as JobID, each printed its own id (43, 57), which the
// check for ID_N and ID+N never matched: the lines were refused.
func TestParseSqueueJobOfAnArrayOrHetID(t *testing.T) {
	line := func(id, command string) string {
		return strings.Join([]string{id, "RUNNING", "0", "N/A", "N/A", "n1", "None", "/out", command, "1001"}, columnSep) + columnSep + "\n"
	}
	const own = "/state/jobs/r1-1/job.sh"
	if jobColumns[0] != "JobArrayID" {
		t.Fatalf("squeue is asked for the job's id as %s; these lines are JobArrayID's", jobColumns[0])
	}
	for _, c := range []struct{ handle, out string }{
		{"42", line("42_2", own) + line("42_1", own) + line("42_0", own)},
		{"42", line("42_1", own) + line("42_[2-9]", own)},
		{"42", line("42_[0-40%4]", own)},
		{"57", line("42_1", own)},
		{"42", line("42+0", own) + line("42+1", own)},
		{"43", line("42+1", own)},
	} {
		job, err := parseSqueueJob(c.out, c.handle)
		if err != nil || job.ID != c.handle || job.UserID != "" || job.Command != "" || job.State != "" {
			t.Errorf("parseSqueueJob(%q, %s) = %+v, %v; want a job of no user nor command", c.out, c.handle, job, err)
		}
	}
	for _, out := range []string{
		line("42", own) + line("42_1", own),
		line("42+0", own) + line("42", own),
		line("42", own) + line("42", own),
		line("42", own) + line("7_1", own),
		line("42", own) + line("42_x", own),
	} {
		if job, err := parseSqueueJob(out, "42"); !errors.Is(err, errSplitLine) {
			t.Errorf("parseSqueueJob(%q) = %+v, %v; want a split line refused", out, job, err)
		}
	}
}
