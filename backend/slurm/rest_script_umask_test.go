package slurm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestRESTScriptMakesItsDirectoriesPrivate: the REST batch script's
// mkdir -p ran under the job's umask, so at a site whose umask is 002 a
// directory it made on the way to the working directory was 0775, which
// the agent's landlock sandbox refuses above its scratch (the group could
// rename the working directory away). Run with sh under umask 002, the
// script now makes each of them 0700, and the command keeps the job's
// umask.
func TestRESTScriptMakesItsDirectoriesPrivate(t *testing.T) {
	base := t.TempDir()
	wd := filepath.Join(base, "work", "run-1", "wd")
	spec := backend.Spec{RunID: "run-1", Attempt: 1, Command: []string{"sh", "-c", "umask > umask.txt"}}
	script := filepath.Join(base, "job.sh")
	if err := os.WriteFile(script, []byte(restScript(spec, wd)), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "umask 002 && exec sh \"$0\"", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the script: %v: %s", err, out)
	}
	for _, d := range []string{filepath.Join(base, "work"), filepath.Dir(wd), wd} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %04o; want 0700", d, fi.Mode().Perm())
		}
	}
	if got, err := os.ReadFile(filepath.Join(wd, "umask.txt")); err != nil || string(got) != "0002\n" {
		t.Errorf("the command's umask: %q (%v); want the job's, 0002", got, err)
	}
}
