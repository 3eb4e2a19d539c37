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
func TestParseSqueueJobOfAnArrayOrHetID(t *testing.T) {
	line := func(id, command string) string {
		return strings.Join([]string{id, "RUNNING", "0", "N/A", "N/A", "n1", "None", "/out", command, "1001"}, columnSep) + columnSep + "\n"
	}
	const own = "/state/jobs/r1-1/job.sh"
	for _, out := range []string{
		line("42_1", own) + line("42_[2-9]", own),
		line("42+0", own) + line("42+1", own),
	} {
		job, err := parseSqueueJob(out, "42")
		if err != nil || job.ID != "42" || job.UserID != "" || job.Command != "" || job.State != "" {
			t.Errorf("parseSqueueJob(%q) = %+v, %v; want a job of no user nor command", out, job, err)
		}
	}
	for _, out := range []string{
		line("42", own) + line("42_1", own),
		line("42+0", own) + line("42", own),
		line("42", own) + line("42", own),
	} {
		if job, err := parseSqueueJob(out, "42"); !errors.Is(err, errSplitLine) {
			t.Errorf("parseSqueueJob(%q) = %+v, %v; want a split line refused", out, job, err)
		}
	}
}
