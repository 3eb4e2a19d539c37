package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSweepRootNamedThroughALink: a sweep directory named through a link
// (a site's /scratch on another disk) was refused at its first dead
// scratch, which was left. It is now resolved once, and swept, where
// only root and the sweeping user could have put or changed the link;
// a link in a directory others may write is still refused, naming it
// and how to fix it, and nothing where it leads is removed.
func TestSweepRootNamedThroughALink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "disk", "scratch")
	dead := filepath.Join(real, "run-dead-1")
	deadScratch := func() {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dead, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dead, "data", "plain"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dead+LockSuffix, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sweep := func(root string) (int, string) {
		var out, errs bytes.Buffer
		code := SweepMain([]string{root}, &out, &errs)
		return code, out.String() + errs.String()
	}

	deadScratch()
	link := filepath.Join(dir, "scratch")
	if err := os.Symlink(filepath.Join("disk", "scratch"), link); err != nil {
		t.Fatal(err)
	}
	if code, out := sweep(link); code != 0 || !strings.Contains(out, "removed 1 ") {
		t.Errorf("sweep through a link only root and its user could set: exit %d, %q; want the dead scratch removed", code, out)
	}
	if _, err := os.Lstat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead scratch through the link: %v; want it removed", err)
	}

	// The link in a directory every user may write (no sticky bit).
	deadScratch()
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(shared, "scratch")
	if err := os.Symlink(real, open); err != nil {
		t.Fatal(err)
	}
	code, out := sweep(open)
	if code == 0 || !strings.Contains(out, "the link "+open) || !strings.Contains(out, shared+",") || !strings.Contains(out, "without links") {
		t.Errorf("sweep through a link in a directory every user may write: exit %d, %q; want it refused, naming the link, the directory and the fix", code, out)
	}
	if _, err := os.Lstat(filepath.Join(dead, "data", "plain")); err != nil {
		t.Errorf("what the refused link led to: %v; want it left", err)
	}
}
