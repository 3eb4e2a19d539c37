package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestSubmitRefusesAWorkDirThatIsTheWorkRoot: a workDir of ".", "./", the
// work root's own path (with or without a trailing /), the state
// directory, or a directory above either was accepted, and the agent,
// taking it for its scratch, emptied it at the attempt's end: every
// attempt's directory, or the server's records. Each is refused, naming
// workDir, and no job is sent, for both kinds of work root.
func TestSubmitRefusesAWorkDirThatIsTheWorkRoot(t *testing.T) {
	for _, root := range []string{"the site's own work root", "the default work root"} {
		t.Run(root, func(t *testing.T) {
			b, dir, work, calls := resolveSetup(t, root)
			state := filepath.Join(dir, "state")
			for _, wd := range []string{".", "./", "a/..", work, work + "/", work + "/.", state, state + "/", dir, "/"} {
				id, err := b.Submit(context.Background(), backend.Spec{RunID: "r1", Attempt: 1, WorkDir: wd, Command: []string{"true"}})
				if err == nil || !strings.Contains(err.Error(), "workDir "+wd+":") {
					t.Errorf("workDir %q: Submit = %q, %v; want it refused, naming workDir", wd, id, err)
				}
			}
			noJobSent(t, calls)
			if _, err := os.Stat(filepath.Join(work, "r1-1")); err == nil {
				t.Errorf("the default directory was made: want nothing made")
			}
		})
	}
}
