package slurm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestSubmitNotFailedByJunkWhereItsRecordsGo: a workload, as the cluster
// user, can make anything in the state directory, and the id sbatch gives
// next and the attempt's key are easy to guess. A directory where the
// job's records go (handles/ID:KEY once handles/ID is junk, or the
// attempt's jobs/KEY/jobid) made the write of the record fail after
// sbatch: Submit answered "submitted but not recorded", and the next
// Submit found the job by its script and failed the same way, every
// time. The directory is now moved aside (refused/), the record written,
// and the job counted by a capacity poll as the server's.
func TestSubmitNotFailedByJunkWhereItsRecordsGo(t *testing.T) {
	for _, c := range []struct {
		name   string
		junk   []string
		handle string
	}{
		{"handles", []string{"handles/4242", "handles/4242:r1-1"}, "4242:r1-1"},
		{"jobid", []string{"jobs/r1-1/jobid"}, "4242"},
		{"plain id", []string{"handles/4242:r9-9", "handles/x"}, "4242"},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			b := fakeSlurm(t, state, map[string]string{
				"sbatch": "#!/bin/sh\necho 4242\n",
				"sinfo":  "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
				"squeue": "#!/bin/sh\nprintf '%s\\n' '4242|n1|gres:gpu:h100:4|'\n",
			})
			for _, j := range c.junk {
				if err := os.MkdirAll(filepath.Join(state, j, "sub"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()}
			h, err := b.Submit(ctx, spec)
			if err != nil || h != c.handle {
				t.Fatalf("Submit with directories at %q = %q, %v; want handle %s", c.junk, h, err, c.handle)
			}
			if again, err := b.Submit(ctx, spec); err != nil || again != h {
				t.Errorf("Submit again = %q, %v; want %s", again, err, h)
			}
			got, err := b.Capacity(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := got[backend.SiteAccelerator]; n != 7 {
				t.Errorf("capacity %d; want 7 (3 free, and the 4 of job 4242, the attempt's)", n)
			}
		})
	}
}

// TestCapacityNotFailedByDirectoriesInHandles: a poll kept the key of
// every name in handles that reads as a later attempt's record (ID:KEY),
// whatever it was, and failed once there were more than maxLaterRecords:
// a workload, as the cluster user, that made that many directories there
// failed every poll, the server's own running jobs counted by none. Only
// plain files are records: the rest are skipped by the type the listing
// gives, neither kept nor read.
func TestCapacityNotFailedByDirectoriesInHandles(t *testing.T) {
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{
		"sinfo":  "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
		"squeue": "#!/bin/sh\nprintf '%s\\n' '4242|n1|gres:gpu:h100:4|'\n",
	})
	slurm.WriteRecord(t, state, "jobs/r1-1/jobid", "4242")
	slurm.WriteRecord(t, state, "handles/4242", "r1-1")
	handles := filepath.Join(state, "handles")
	bound := slurm.SetMaxLaterRecords(t, 64)
	for i := range bound + 1 {
		if err := os.Mkdir(filepath.Join(handles, strconv.Itoa(100000+i)+":r1-1"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// More in the job's own names: a directory, a FIFO, a link.
	if err := os.Mkdir(filepath.Join(handles, "4242:r2-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(handles, "4242:r3-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(handles, "4242"), filepath.Join(handles, "4242:r4-1")); err != nil {
		t.Fatal(err)
	}
	got, err := b.Capacity(context.Background())
	if err != nil {
		t.Fatalf("capacity with %d directories in handles: %v; want them skipped", bound+1, err)
	}
	if n := got[backend.SiteAccelerator]; n != 7 {
		t.Errorf("capacity %d; want 7 (3 free, and the 4 of job 4242, r1-1's)", n)
	}
}

// TestCapacityNotFailedByFilesInHandles: more than maxLaterRecords
// plain files named as later attempts' records (ID:KEY), which a
// workload, as the cluster user, can make, failed every poll: the
// server's own running jobs were counted by none. A poll now skips the
// unknown ones past the bound, and the record of a real later attempt's
// job, once the backend has written or read it (Status of its handle,
// after a restart), is counted whatever else is there.
func TestCapacityNotFailedByFilesInHandles(t *testing.T) {
	state := t.TempDir()
	scripts := map[string]string{
		"sinfo": "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
		"squeue": "#!/bin/sh\ncase \"$*\" in\n*tres-per-node*) printf '%s\\n' '4242|n1|gres:gpu:h100:4|' ;;\n" +
			"*) printf '4242\\037RUNNING\\0370\\0372026-12-04T19:43:15\\037N/A\\037n1\\037None\\037" + state + "/jobs/r1-1/output.log\\037" + state + "/jobs/r1-1/job.sh\\037" + ownUID + "\\037\\n' ;;\nesac\n",
		"scontrol": "#!/bin/sh\necho 'NodeName=n1 State=MIXED'\n",
	}
	// The id was r0-1's first: r1-1's job of it has handle 4242:r1-1.
	slurm.WriteRecord(t, state, "ended/4242", "r0-1")
	slurm.WriteRecord(t, state, "jobs/r1-1/jobid", "4242:r1-1")
	slurm.WriteRecord(t, state, "handles/4242:r1-1", "r1-1")
	handles := filepath.Join(state, "handles")
	bound := slurm.SetMaxLaterRecords(t, 8)
	for i := range 64 * bound {
		// Named after the running job, and after others.
		name := "4242:x" + strconv.Itoa(i) + "-1"
		if i%2 == 1 {
			name = strconv.Itoa(100000+i) + ":r1-1"
		}
		if err := os.WriteFile(filepath.Join(handles, name), []byte("r1-1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A server started anew: nothing of the state directory known yet.
	b := fakeSlurm(t, state, scripts)
	ctx := context.Background()
	if _, err := b.Capacity(ctx); err != nil {
		t.Fatalf("capacity with %d files named as later attempts' records: %v; want the unknown ones past the bound skipped", 64*bound, err)
	}
	if st, err := b.Status(ctx, "4242:r1-1"); err != nil || st.State != backend.Running {
		t.Fatalf("Status 4242:r1-1 = %+v, %v; want running", st, err)
	}
	got, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := got[backend.SiteAccelerator]; n != 7 {
		t.Errorf("capacity %d; want 7 (3 free, and the 4 of job 4242, r1-1's)", n)
	}
}

// TestStatusListsAgainARecordReplacedByJunk: a workload, as the cluster
// user, that replaced the record a capacity poll lists for a server's
// running job (handles/ID, or handles/ID:KEY of a later attempt's) with
// junk (a directory, an unsigned file) had the poll count that job as
// another's for good: the record was written again only when missing,
// and for a plain id not even then. Status, which reads the job as the
// attempt's (its batch script, and the attempt's own signed record of the
// handle), now writes it again, and the next poll counts the job.
func TestStatusListsAgainARecordReplacedByJunk(t *testing.T) {
	for _, c := range []struct{ name, handle, key string }{
		{"plain id, directory", "4242", ""},
		{"plain id, unsigned", "4242", "r1-1\n"},
		{"plain id, removed", "4242", "-"},
		{"later attempt, directory", "4242:r1-1", ""},
		{"later attempt, unsigned", "4242:r1-1", "r1-1\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			b := fakeSlurm(t, state, map[string]string{
				"sinfo": "#!/bin/sh\nprintf '%s\\n' 'n1|gpu*|up|mixed|gpu:h100:8|gpu:h100:5(IDX:0-4)|'\n",
				"squeue": "#!/bin/sh\ncase \"$*\" in\n*tres-per-node*) printf '%s\\n' '4242|n1|gres:gpu:h100:4|' ;;\n" +
					"*) printf '4242\\037RUNNING\\0370\\0372026-12-04T19:43:15\\037N/A\\037n1\\037None\\037" + state + "/jobs/r1-1/output.log\\037" + state + "/jobs/r1-1/job.sh\\037" + ownUID + "\\037\\n' ;;\nesac\n",
				"scontrol": "#!/bin/sh\necho 'NodeName=n1 State=MIXED'\n",
			})
			slurm.WriteRecord(t, state, "jobs/r1-1/jobid", c.handle)
			if c.handle != "4242" {
				slurm.WriteRecord(t, state, "ended/4242", "r0-1") // the id was r0-1's first
			}
			rec := filepath.Join(state, "handles", c.handle)
			switch c.key {
			case "":
				if err := os.MkdirAll(filepath.Join(rec, "sub"), 0o700); err != nil {
					t.Fatal(err)
				}
			case "-":
			default:
				if err := os.WriteFile(rec, []byte(c.key), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			capacity := func() int {
				t.Helper()
				got, err := b.Capacity(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return got[backend.SiteAccelerator]
			}
			if n := capacity(); n != 3 {
				t.Fatalf("capacity with the record replaced: %d; want 3 (the job not known as the server's yet)", n)
			}
			if st, err := b.Status(ctx, c.handle); err != nil || st.State != backend.Running {
				t.Fatalf("Status %s = %+v, %v; want running", c.handle, st, err)
			}
			if n := capacity(); n != 7 {
				t.Errorf("capacity after Status: %d; want 7 (the 4 GPUs of job 4242, r1-1's, counted as the server's)", n)
			}
		})
	}
}

// TestCleanEmptiesRefusedOfItsJob: what a workload put where a job's
// records go, moved aside to refused/ (Submit, Status), stayed there for
// good, one more entry each time. Clean, once the job has ended, now
// removes what was moved out of its records' places, and leaves the rest
// (another attempt's, and whatever else is there).
func TestCleanEmptiesRefusedOfItsJob(t *testing.T) {
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{
		"sbatch": "#!/bin/sh\necho 4242\n",
		// The job has ended and slurmctld has forgotten it.
		"squeue": "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
	})
	if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-1", "jobid", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(state, "refused")
	// Moved aside before: of this job's records, and of another's (and
	// names of no record's directory).
	mine := []string{"handles_4242/0123456789abcdef", "jobs_r1-1_cancelled/00000000000000ff"}
	others := []string{"jobs_r2-1_jobid", "handles_4243", "handles_4242.0123456789abcdef", "notes"}
	for _, name := range append(append([]string{}, mine...), others...) {
		if err := os.MkdirAll(filepath.Join(refused, name, "deep"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	spec := backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()}
	h, err := b.Submit(ctx, spec)
	if err != nil || h != "4242" {
		t.Fatalf("Submit with a directory at jobs/r1-1/jobid = %q, %v; want 4242", h, err)
	}
	names := func() []string {
		t.Helper()
		ents, err := os.ReadDir(refused)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		return got
	}
	// The moved directory is in jobs_r1-1_jobid, of this job's.
	if n := len(names()); n != len(mine)+len(others)+1 {
		t.Fatalf("refused/ before Clean: %q; want the moved directory there too", names())
	}
	if err := os.WriteFile(filepath.Join(state, "jobs", "r1-1", "exitcode"), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(ctx, h); err != nil {
		t.Fatal(err)
	}
	got := names()
	slices.Sort(got)
	want := slices.Clone(others)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("refused/ after Clean: %q; want only %q", got, want)
	}
}

// TestCleanRemovesNothingThroughARefusedLink: refused/ is in the state
// directory, which a workload, as the cluster user, writes: made a link
// to a directory of the server's machine, Clean's removal of the job's
// entries must not reach through it.
func TestCleanRemovesNothingThroughARefusedLink(t *testing.T) {
	state, outside := t.TempDir(), t.TempDir()
	b := fakeSlurm(t, state, map[string]string{
		"sbatch": "#!/bin/sh\necho 4242\n",
		"squeue": "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
	})
	victim := filepath.Join(outside, "handles_4242.0123456789abcdef")
	if err := os.WriteFile(victim, []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(state, "refused")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := b.Submit(ctx, backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "jobs", "r1-1", "exitcode"), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("Clean with refused/ a link: %v; want %s left alone", err, victim)
	}
}

// TestCleanRemovesItsRefusedWhateverJunk: Clean read the first 4,096
// names of refused/ and removed the job's among them, so a workload, as
// the cluster user, that filled refused/ with junk names, or made the
// place of one of the job's records a directory again each time the
// record was written (one more entry each), kept the job's entries past
// that scan in refused/ for good. Clean now opens the directories of the
// job's records there by name, whatever else refused/ holds.
func TestCleanRemovesItsRefusedWhateverJunk(t *testing.T) {
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{
		"sbatch": "#!/bin/sh\necho 4242\n",
		"squeue": "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
	})
	refused := filepath.Join(state, "refused")
	if err := os.MkdirAll(refused, 0o700); err != nil {
		t.Fatal(err)
	}
	const junk = 4100
	for i := range junk {
		if err := os.WriteFile(filepath.Join(refused, fmt.Sprintf("junk-%05d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// After the junk, the job's own: a directory where its job id's
	// record goes, moved aside by Submit.
	if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-1", "jobid", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := b.Submit(ctx, backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()})
	if err != nil || h != "4242" {
		t.Fatalf("Submit = %q, %v; want 4242", h, err)
	}
	// And more of the job's than such a scan reads, whatever the order
	// of the listing: the place of a record of the job (handles/ID:KEY,
	// as a later attempt's job of the id has) made a directory again at
	// each write. One is moved aside as a write moves it; the rest are
	// put where the moves would leave them (each move syncs two
	// directories, and 4,097 of them took most of the test's time).
	if err := os.Mkdir(filepath.Join(state, "handles", "4242:r1-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	slurm.MoveAside(t, b, "handles/4242:r1-1")
	for i := range 4096 {
		if err := os.Mkdir(filepath.Join(refused, "handles_4242:r1-1", fmt.Sprintf("moved-%04d", i)), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(state, "jobs", "r1-1", "exitcode"), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Clean(ctx, h); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(refused)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "junk-") {
			left = append(left, e.Name())
		}
	}
	if len(left) > 0 || len(ents) != junk {
		t.Errorf("refused/ after Clean: %d entries, of the job's %d (%q…); want the %d junk names only", len(ents), len(left), left[:min(len(left), 3)], junk)
	}
}

// TestSubmitNotFailedByJunkWhereRefusedGoes: refused/ is in the state
// directory, which a workload, as the cluster user, writes. Made a file
// there, the directory in a record's place was never moved aside, and
// Submit answered "submitted but not recorded" at every try; made a link
// to a directory outside, the workload's directory was moved there, out
// of the state directory. What is in refused/'s place (or in a record's
// directory's there) that is no directory is now removed, with one
// unlink, and a directory made in its stead.
func TestSubmitNotFailedByJunkWhereRefusedGoes(t *testing.T) {
	for _, c := range []string{"file", "link out", "record's directory a file"} {
		t.Run(c, func(t *testing.T) {
			state, outside := t.TempDir(), t.TempDir()
			b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho 4242\n"})
			if err := os.MkdirAll(filepath.Join(state, "jobs", "r1-1", "jobid", "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			refused := filepath.Join(state, "refused")
			var err error
			switch c {
			case "file":
				err = os.WriteFile(refused, []byte("x\n"), 0o600)
			case "link out":
				err = os.Symlink(outside, refused)
			default:
				if err = os.Mkdir(refused, 0o700); err == nil {
					err = os.WriteFile(filepath.Join(refused, "jobs_r1-1_jobid"), []byte("x\n"), 0o600)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			h, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, Command: []string{"true"}, WorkDir: t.TempDir()})
			if err != nil || h != "4242" {
				t.Fatalf("Submit with refused/ %s = %q, %v; want 4242", c, h, err)
			}
			if ents, err := os.ReadDir(outside); err != nil || len(ents) > 0 {
				t.Errorf("outside the state directory: %d entries, %v; want nothing moved there", len(ents), err)
			}
			if ents, err := os.ReadDir(filepath.Join(refused, "jobs_r1-1_jobid")); err != nil || len(ents) != 1 {
				t.Errorf("refused/jobs_r1-1_jobid: %d entries, %v; want the moved directory", len(ents), err)
			}
		})
	}
}
