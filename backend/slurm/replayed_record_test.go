package slurm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestCapacityCountsNoRecordPutBackAfterRetire: a job's signed record
// (handles/ID, or handles/ID:KEY of a later attempt's job) moved to
// ended/ once the job ended and was cleaned up could be put back in
// handles/ by a workload, as the cluster user, that kept a copy of it: it
// still verifies, and a capacity poll counted whatever job slurmctld then
// ran under the id (a workload's own, once the id was given out again)
// as the server's, reporting its GPUs as the server's to use. The ended
// record of the same id and attempt now wins: the job is not counted.
//
// A workload that also removed the ended record, or put an older one of
// the same name in its place (another attempt's, signed), left nothing in
// the state directory to tell the copy from a live record: the backend
// now remembers the retires it saw.
func TestCapacityCountsNoRecordPutBackAfterRetire(t *testing.T) {
	for _, c := range []struct{ name, handle, ended string }{
		{"plain id", "4242", ""},
		{"later attempt", "4242:r2-2", ""},
		{"plain id, ended removed", "4242", "removed"},
		{"later attempt, ended removed", "4242:r2-2", "removed"},
		{"plain id, older ended put back", "4242", "older"},
		{"later attempt, older ended put back", "4242:r2-2", "older"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin, dir := t.TempDir(), t.TempDir()
			for name, script := range map[string]string{
				"sinfo": "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
				// The poll's running jobs: 4242, on n1, holding 4 GPUs
				// (the id given out again, to a job of the workload's);
				// -j ID: slurmctld has forgotten the cleaned-up job.
				"squeue": "#!/bin/sh\ncase \"$*\" in\n*tres-per-node*) printf '%s\\n' '4242|n1|gres:gpu:h100:4|' ;;\n" +
					"*) echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1 ;;\nesac\n",
			} {
				if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			b, err := New(catalog.BackendSpec{Type: "slurm", WorkDir: filepath.Join(dir, "work")}, filepath.Join(dir, "state"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			key := "r1-1"
			if err := b.rec.record(key, "4242"); err != nil {
				t.Fatal(err)
			}
			if c.handle != "4242" {
				// The id was r1-1's first: r2-2's job of it has handle
				// 4242:r2-2 and its own record handles/4242:r2-2.
				key = "r2-2"
				if h, err := b.rec.recordHandle(key, "4242"); err != nil || h != c.handle {
					t.Fatalf("recordHandle = %q, %v; want %s", h, err, c.handle)
				}
				if err := b.rec.retire("4242", "r1-1"); err != nil {
					t.Fatal(err)
				}
			}
			live := filepath.Join(b.rec.dir, "handles", c.handle)
			kept, err := os.ReadFile(live)
			if err != nil {
				t.Fatal(err)
			}
			// The job ran, wrote its exit code and was forgotten.
			if err := os.WriteFile(filepath.Join(b.rec.jobDir(key), "exitcode"), []byte("0\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			capacity := func() int {
				t.Helper()
				got, err := b.Capacity(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return got[backend.SiteAccelerator]
			}
			if n := capacity(); n != 7 {
				t.Fatalf("capacity before Clean %d; want 7 (3 free, 4 held by the recorded job)", n)
			}
			if err := b.Clean(ctx, c.handle); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(live); !os.IsNotExist(err) {
				t.Fatalf("after Clean, %s: %v; want it moved to ended", live, err)
			}
			if n := capacity(); n != 3 {
				t.Fatalf("capacity after Clean %d; want 3 (the free GPUs only)", n)
			}
			// The workload puts the signed record back.
			if err := os.WriteFile(live, kept, 0o644); err != nil {
				t.Fatal(err)
			}
			ended := filepath.Join(b.rec.dir, "ended", c.handle)
			switch c.ended {
			case "removed":
				if err := os.Remove(ended); err != nil {
					t.Fatal(err)
				}
			case "older":
				// A signed ended record of the same name, of another
				// attempt given the id before (kept by the workload).
				if err := b.rec.writeRecord(filepath.Join("ended", c.handle), "r0-1"); err != nil {
					t.Fatal(err)
				}
			}
			if n := capacity(); n != 3 {
				t.Errorf("capacity with %s put back after retire: %d; want 3 (the job under the id is not the server's)", c.handle, n)
			}
			// Its status is still the ended attempt's.
			if st, err := b.Status(ctx, c.handle); err != nil || st.State != backend.Succeeded {
				t.Errorf("Status %s = %+v, %v; want succeeded", c.handle, st, err)
			}
		})
	}
}
