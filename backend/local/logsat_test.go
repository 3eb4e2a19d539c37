package local_test

import (
	"context"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestLogsAtTellsReplacedOutput: the output file of a job read at an
// offset is named by the file opened, so that a follower of the output
// sees a file put in its place, or truncated and written anew, as other
// output, not as the old one grown.
func TestLogsAtTellsReplacedOutput(t *testing.T) {
	dir := t.TempDir()
	l, err := local.New(catalog.BackendSpec{Type: "local"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: "logsat", Attempt: 1, Command: []string{"/bin/sh", "-c", "echo hello"}, WorkDir: t.TempDir()}
	h, err := l.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.WaitFinal(t, l, h)
	backendtest.LogsReplaced(t, l, h, filepath.Join(dir, "jobs", spec.Key(), "output.log"))
}
