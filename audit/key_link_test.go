package audit

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLoadKeyDanglingLink: whoever can write the state directory made
// audit.key a link to nothing. Reading it found no key, creating one found
// the name taken, and LoadKey called itself again, for ever, writing and
// syncing a file each time: the server's start and every CLI command that
// writes the log hung. It now fails, naming the file.
func TestLoadKeyDanglingLink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	var key []byte
	err := guarded(t, 20*time.Second, func() error {
		var err error
		key, err = LoadKey(dir)
		return err
	}, func() { t.Fatal("LoadKey over a link to nothing still runs") })
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKey over a link to nothing = %x, %v; want an error", key, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the link's target was created: %v", err)
	}
}
