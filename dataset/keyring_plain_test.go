package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKeyringReadsOnlyPlainKeyFiles: a key file was judged by os.Stat on
// its name and then read with os.ReadFile: a FIFO put in its place hung
// every read of the key (the open waits for a writer), and a link to
// /dev/zero was read until memory ran out. Each is now refused at once,
// naming the key file and what it is; a plain key still reads.
func TestKeyringReadsOnlyPlainKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k := Keyring{Dir: dir}
	if _, err := k.GetOrCreate("good"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get("good"); err != nil {
		t.Fatalf("a plain key: %v", err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.key")); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.key")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"fifo": "not a regular file", "zero": "not a regular file", "big": "too large"} {
		done := make(chan error, 1)
		go func() { _, err := k.Get(name); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name+".key") {
				t.Errorf("key %s: %v, want a refusal naming the file and saying %q", name, err, want)
			}
		case <-time.After(30 * time.Second): // a guard: the read hangs
			t.Fatalf("key %s: the read did not return", name)
		}
	}
}
