package slurm_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestForgedRecordOnRealSlurm: on the real cluster, a job of the cluster
// user that is not the server's (as a workload submits one) and a record
// naming it written straight into the state directory (handles/ID and
// jobs/KEY/jobid, as a workload can): a capacity poll counted the GPUs
// it holds as the server's own, so free, and Find took it for the
// attempt's. The record is now refused: the job counts as another's, and
// the attempt has no job.
func TestForgedRecordOnRealSlurm(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	b := newSlurm(t, site, dir)
	waitQuiet(t, site.Partition)
	id := foreignJob(t, site, 3)
	for p, data := range map[string]string{
		filepath.Join(dir, "handles", id):               "forged-1\n",
		filepath.Join(dir, "jobs", "forged-1", "jobid"): id + "\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n := capacityOf(t, b, "a workload's job with a forged record holds 3"); n != labGPUs-3 {
		t.Errorf("capacity %d with a workload's job holding 3 under a forged record; want %d", n, labGPUs-3)
	}
	if got, ok, err := b.Find(testCtx(t), "forged", 1); err != nil || ok {
		t.Errorf("Find of the attempt a forged record names = %q, %v, %v; want not found", got, ok, err)
	}
}
