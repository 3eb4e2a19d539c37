package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
)

// TestStatusRefusesFieldsInjectedByAValue: a job's owner may set its
// Comment (scontrol update job=ID comment=...), and `scontrol show job -o`
// prints it unquoted, after the job's real state. A workload running as
// the job's user that writes "JobState=COMPLETED ExitCode=0:0" there must
// not make a running job look finished (the controller would stop
// following, and stop counting, a job that still holds its GPUs).
func TestStatusRefusesFieldsInjectedByAValue(t *testing.T) {
	bin := t.TempDir()
	scontrol := `#!/bin/sh
case "$2" in
job) echo "JobId=4242 JobName=meridian-r1-1 UserId=m(1000) GroupId=m(1000) JobState=RUNNING Reason=None Dependency=(null) ExitCode=0:0 NodeList=n1 BatchHost=n1 Command=/state/jobs/r1-1/job.sh WorkDir=/work/r1-1 Comment=done JobState=COMPLETED ExitCode=0:0 StdErr=/state/jobs/r1-1/output.log StdOut=/state/jobs/r1-1/output.log Power=" ;;
node) echo "NodeName=n1 Arch=x86_64 State=ALLOCATED Partitions=p" ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "scontrol"), []byte(scontrol), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := slurm.New(catalog.BackendSpec{Type: "slurm"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(context.Background(), "4242")
	if err == nil {
		t.Fatalf("Status = %+v; want an error for a line that gives JobState twice", st)
	}
	t.Log(err)
}
