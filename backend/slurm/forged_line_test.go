package slurm

import (
	"strings"
	"testing"
)

// TestParseSqueueJobRefusesAForgedLine: squeue prints each value as it
// is, and a job's owner may set its output path (StdOut, while the job is
// pending) to any text, newlines and the column separator included; a
// workload runs as that owner, for the server's pending jobs too. A path
// "x<SEP>OTHER<SEP><NL>y" ended the job's line early with a Command
// column of the workload's choosing, and the rest of the line, with the
// real command, was taken for another job's and skipped: Status read the
// attempt's job as another attempt's (or none of this backend's), so the
// attempt read as lost and was placed again while its job still waited to
// run, and Cancel left that job alone. A job's command, fixed at
// submission but of the workload's choosing for its own jobs (an id given
// out again), did the same. Output with any line besides the job's one
// line is now refused.
func TestParseSqueueJobRefusesAForgedLine(t *testing.T) {
	line := func(stdout, command string) string {
		return strings.Join([]string{"42", "PENDING", "0", "N/A", "N/A", "", "Priority", stdout, command, "1000"}, columnSep) + columnSep + "\n"
	}
	const own, other = "/state/jobs/r1-1/job.sh", "/state/jobs/r9-9/job.sh"
	for _, c := range []struct{ name, out string }{
		{"stdout forging the command", line("x"+columnSep+other+columnSep+"\ny", own)},
		{"stdout forging a whole line after", line("x"+columnSep+"/none"+columnSep+"\n41\x1fCOMPLETED\x1f0\x1f\x1f\x1f\x1f\x1f\x1f", own)},
		{"command forging the command", line("/out", other+columnSep+"\nz")},
		{"command ending in a separator", line("/out", other+columnSep+"\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			job, err := parseSqueueJob(c.out, "42")
			if err == nil {
				t.Fatalf("parseSqueueJob(%q) = command %q, no error; want the output refused", c.out, job.Command)
			}
			if !strings.Contains(err.Error(), "job 42") {
				t.Errorf("error %q; want it to name job 42", err)
			}
		})
	}
	// The job's own line, with blank lines about it, is read.
	if job, err := parseSqueueJob("\n"+line("/out", own)+"\n  \n", "42"); err != nil || job.Command != own || job.StdOut != "/out" {
		t.Errorf("the job's line alone: %+v, %v", job, err)
	}
}
