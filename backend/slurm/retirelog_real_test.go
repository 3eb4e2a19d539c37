package slurm_test

import (
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend/slurm"
)

// TestRecordPutBackAfterRestartOnRealSlurm: on the real cluster, a job
// of the server's retired (its record moved to ended/ by Clean) under an
// id slurmctld now gives a workload's job (as once ids wrap), then the
// server restarts; the workload puts back the kept record and removes
// the ended one. A capacity poll of the restarted backend counted the
// workload's job as the server's, its GPUs as free. The retire is now
// read back from the log beside the server's record key.
func TestRecordPutBackAfterRestartOnRealSlurm(t *testing.T) {
	site := cluster(t)
	dir, server := t.TempDir(), t.TempDir()
	key := slurm.RecordKeyFile(filepath.Join(server, "slurm-record-key"))
	b, err := slurm.New(site, dir, key)
	if err != nil {
		t.Fatal(err)
	}
	waitQuiet(t, site.Partition)
	id := foreignJob(t, site, 3)
	kept := slurm.RecordAndRetire(t, b, "r1-1", id)
	if n := capacityOf(t, b, "a workload's job holds 3 under a retired id"); n != labGPUs-3 {
		t.Fatalf("capacity %d; want %d", n, labGPUs-3)
	}
	b, err = slurm.New(site, dir, key) // the server restarted
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "handles", id), kept, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "ended", id)); err != nil {
		t.Fatal(err)
	}
	if n := capacityOf(t, b, "the retired record put back after a restart"); n != labGPUs-3 {
		t.Errorf("capacity %d with the retired record put back, its ended record removed, after a restart; want %d (the job is the workload's)", n, labGPUs-3)
	}
}
