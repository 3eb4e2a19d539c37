package slurm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestSubmitRefusesNonCanonicalJobID: sbatch that printed a job id with a
// leading zero or 0 ("007", "0") had it recorded and returned: slurmctld
// writes no id so, and Status of it failed later, every poll. Submit now
// refuses it, naming the id.
func TestSubmitRefusesNonCanonicalJobID(t *testing.T) {
	for _, out := range []string{"007", "0", "00", "0042;cluster"} {
		state := t.TempDir()
		b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho '" + out + "'\n"})
		id, err := b.Submit(context.Background(), backend.Spec{RunID: "lead", Attempt: 1, Command: []string{"true"}})
		bad, _, _ := strings.Cut(out, ";")
		if err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("sbatch printed %q: Submit = %q, %v; want an error naming %q", out, id, err, bad)
		}
	}
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho '100;cluster'\n"})
	if id, err := b.Submit(context.Background(), backend.Spec{RunID: "lead", Attempt: 1, Command: []string{"true"}}); err != nil || id != "100" {
		t.Errorf("sbatch printed 100: Submit = %q, %v; want job 100", id, err)
	}
}

// TestSubmitWorkDirSyncedIntoItsParent: Submit made the attempt's work
// directory with os.MkdirAll, its entry unsynced: a power loss after
// sbatch could take it, and the job then failed to start in it (--chdir).
// It is now synced into its parent.
func TestSubmitWorkDirSyncedIntoItsParent(t *testing.T) {
	synced := syncedDirs(t)
	state := t.TempDir()
	b := fakeSlurm(t, state, map[string]string{"sbatch": "#!/bin/sh\necho 555\n"})
	root := t.TempDir()
	wd := filepath.Join(root, "w", "attempt")
	synced()
	spec := backend.Spec{RunID: "wd", Attempt: 1, Command: []string{"true"}, WorkDir: wd}
	if id, err := b.Submit(context.Background(), spec); err != nil || id != "555" {
		t.Fatalf("Submit = %q, %v; want job 555", id, err)
	}
	if fi, err := os.Stat(wd); err != nil || !fi.IsDir() {
		t.Fatalf("work dir %s: %v", wd, err)
	}
	got := synced()
	for _, d := range []string{root, filepath.Join(root, "w")} {
		if !slices.Contains(got, d) {
			t.Errorf("%s, where a directory was made, not synced (synced %q)", d, got)
		}
	}
}

// TestSubmitAfterANonCanonicalJobIDAdoptsTheJob: Submit refuses a job id
// sbatch printed with a leading zero, yet sbatch may have made the job
// (a site's wrapper that pads the id): it stays queued. The next Submit
// of the attempt finds that job by its batch script and takes it, rather
// than submitting the attempt a second time. Here the real sbatch's
// first answer is padded with a zero.
func TestSubmitAfterANonCanonicalJobIDAdoptsTheJob(t *testing.T) {
	site := cluster(t)
	sbatchPath, err := exec.LookPath("sbatch")
	if err != nil {
		t.Fatal(err)
	}
	once := filepath.Join(t.TempDir(), "padded")
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nPATH=/usr/bin:/bin\nout=$(" + sbatchPath + ` "$@") || exit $?
if [ -e ` + once + ` ]; then printf '%s\n' "$out"; else : >` + once + `; printf '0%s\n' "$out"; fi
`
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	b := newSlurm(t, site, t.TempDir())
	spec := backend.Spec{RunID: uniqueRunID(t, "padded"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: t.TempDir()}
	name := slurm.JobName(spec.RunID, spec.Attempt)
	t.Cleanup(func() {
		out, _ := runCmd("squeue", "-h", "-t", "all", "--name="+name, "-o", "%i")
		runCmd("scancel", "--name="+name)
		for _, id := range strings.Fields(out) {
			waitLeft(id)
		}
	})
	if h, err := b.Submit(testCtx(t), spec); err == nil || !strings.Contains(err.Error(), "leading zero") {
		t.Fatalf("Submit answered a padded id = %q, %v; want it refused", h, err)
	}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatalf("Submit after the refused id: %v", err)
	}
	out, err := runCmd("squeue", "-h", "-t", "all", "--name="+name, "-o", "%i")
	if err != nil || len(strings.Fields(out)) != 1 || strings.TrimSpace(out) != h {
		t.Fatalf("jobs of the attempt after the second Submit (handle %q): %q, %v; want the one job sbatch made first", h, out, err)
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State.Final() {
		t.Errorf("Status of the adopted job = %+v, %v; want it pending or running", st, err)
	}
}
