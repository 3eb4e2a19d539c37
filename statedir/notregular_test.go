package statedir

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStateFilesNotRegular: a FIFO at client.json (read by every client
// command) or at a secret's name is refused at once, naming it, rather
// than waited on in its open for a writer; a link to /dev/zero there is
// refused rather than read until memory runs out.
func TestStateFilesNotRegular(t *testing.T) {
	for _, kind := range []string{"a FIFO", "a character device"} {
		d := Dir{Path: t.TempDir()}
		for _, name := range []string{ClientFile, "secret.key"} {
			path := d.Join(name)
			if kind == "a FIFO" {
				if err := syscall.Mkfifo(path, 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}
		for name, read := range map[string]func() error{
			ClientFile:   func() error { _, err := d.ReadClient(); return err },
			"secret.key": func() error { _, err := d.Secret("secret.key"); return err },
		} {
			done := make(chan error, 1)
			go func() { done <- read() }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), d.Join(name)+": not a regular file ("+kind+")") {
					t.Errorf("%s as %s: %v, want a refusal naming it", name, kind, err)
				}
			case <-time.After(5 * time.Second):
				if kind != "a FIFO" {
					panic(name + " as /dev/zero: still reading after 5s") // before memory runs out
				}
				if f, err := os.OpenFile(d.Join(name), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatalf("%s as %s: still waiting after 5s", name, kind)
			}
		}
	}
}
