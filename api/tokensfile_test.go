package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTokensFileNotRegular: a FIFO at the state directory's tokens.json is
// refused at once, naming it, rather than waited on in its open for a
// writer, which held the server's start for ever; /dev/zero named as a
// tokens file is refused rather than read until memory runs out.
func TestTokensFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, TokensFile)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	for _, c := range []struct {
		path, kind string
		read       func() error
	}{
		{fifo, "a FIFO", func() error { _, _, err := ImportTokensFile(context.Background(), f.st, dir); return err }},
		{"/dev/zero", "a character device", func() error { _, err := ReadTokensFile("/dev/zero"); return err }},
	} {
		done := make(chan error, 1)
		go func() { done <- c.read() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.path+": not a regular file ("+c.kind+")") {
				t.Errorf("%s: %v, want a refusal naming it as %s", c.path, err, c.kind)
			}
		case <-time.After(5 * time.Second):
			if c.path != fifo {
				panic(c.path + ": still reading after 5s") // before memory runs out
			}
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			t.Fatalf("%s: still waiting after 5s", c.path)
		}
	}
}
