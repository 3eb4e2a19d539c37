package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMoveUpStartsPastLeftNames: the names a too-deep directory is moved
// up to (.meridian-deep-N) started at 0 for each emptier, so what an
// earlier, failed wipe left under them made the next try up to 1000 names
// for each directory it moved up, and fail once 1000 were left. It now
// starts past the highest number the top holds.
func TestMoveUpStartsPastLeftNames(t *testing.T) {
	top := t.TempDir()
	for i := range 1000 {
		d := filepath.Join(top, movedUpPrefix+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(top, "deep"), 0o700); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(top, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	e := &emptier{top: fd, queued: map[string]bool{}}
	if err := e.moveUp(fd, "deep"); err != nil {
		t.Fatalf("moving a directory up past 1000 left names: %v", err)
	}
	if want := movedUpPrefix + "1000"; len(e.queue) != 1 || e.queue[0] != want {
		t.Errorf("moved up to %q; want %q, the first number past those left", e.queue, want)
	}
}
