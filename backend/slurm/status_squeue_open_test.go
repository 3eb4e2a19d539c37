package slurm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestStatusHoldsNoStateDirectoryAcrossSqueue: Status opened the state
// directory before squeue and held it while squeue ran (up to
// CommandTimeout), on every poll. It is now opened once squeue has
// answered. squeue here looks at the server's descriptors
// (/proc/PPID/fd) for the state directory and writes what it finds.
func TestStatusHoldsNoStateDirectoryAcrossSqueue(t *testing.T) {
	s := forgottenJob(t)
	dir := filepath.Dir(s.rec.dir)
	seen := filepath.Join(dir, "seen")
	squeue := "#!/bin/sh\nfor f in /proc/$PPID/fd/*; do\n" +
		"  if [ \"$(readlink \"$f\")\" = '" + s.rec.dir + "' ]; then echo held >> '" + seen + "'; fi\ndone\n" +
		"echo ran >> '" + seen + "'\n" +
		"echo 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "bin", "squeue"), []byte(squeue), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(context.Background(), "777")
	if err != nil || st.State != backend.Succeeded {
		t.Fatalf("Status = %+v, %v; want succeeded", st, err)
	}
	got, err := os.ReadFile(seen)
	if err != nil || !strings.Contains(string(got), "ran") {
		t.Fatalf("squeue not run (%v)", err)
	}
	if strings.Contains(string(got), "held") {
		t.Errorf("the state directory %s was open while squeue ran; want it opened once squeue has answered", s.rec.dir)
	}
}
