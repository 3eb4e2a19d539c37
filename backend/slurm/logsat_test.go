package slurm_test

import (
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// TestLogsAtTellsReplacedOutput: the output file of a job read at an
// offset, through the state directory as Logs reads it, is named by the
// file opened, so that a follower sees a file put in its place, or
// truncated and written anew (a job requeued), as other output, not as the
// old one grown; a link in its place is not followed.
func TestLogsAtTellsReplacedOutput(t *testing.T) {
	site := cluster(t)
	dir := t.TempDir()
	s := newSlurm(t, site, dir)
	spec := backend.Spec{RunID: "logsat-" + filepath.Base(dir), Attempt: 1, Command: []string{"/bin/sh", "-c", "echo hello"},
		WorkDir: t.TempDir(), Accelerators: 1}
	h, err := s.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.WaitFinal(t, s, h)
	backendtest.LogsReplaced(t, s, h, filepath.Join(dir, "jobs", spec.Key(), "output.log"))
}
