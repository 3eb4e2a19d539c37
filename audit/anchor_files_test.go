package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// withinGuard runs fn and returns its error; if fn is still blocked after
// a generous guard, it opens fifo for writing (so that the blocked open
// returns and the test process can end) and fails the test.
func withinGuard(t *testing.T, fifo, what string, fn func() error) error {
	t.Helper()
	return guarded(t, 20*time.Second, fn, func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatalf("%s hangs on a FIFO", what)
	})
}

// guarded runs fn and returns its error; if fn has not returned after
// guard, it calls stuck, which fails the test. The guard only keeps a hang
// from stalling the run.
func guarded(t *testing.T, guard time.Duration, fn func() error, stuck func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(guard):
		stuck()
		return nil
	}
}

// TestAnchorFilesNotRegularRefused: whoever can write the anchor
// directory (which the threat model counts on: a removed or replaced
// anchor is to be reported) put a FIFO where anchor.json, anchor.key or
// audit.key is read. Opening a FIFO waits for a writer, so every
// verification (each server start, each tenant's GET /v1/audit/verify) and
// every anchor update hung for good, the last two holding the anchor's
// lock: neither "verified" nor an error. Each is refused at once now.
func TestAnchorFilesNotRegularRefused(t *testing.T) {
	if err := syscall.Mkfifo(filepath.Join(t.TempDir(), "probe"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err) // no FIFOs here; nothing of the reader's to test
	}
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	ctx := context.Background()

	t.Run(AnchorFile, func(t *testing.T) {
		dir := t.TempDir()
		an, err := OpenAnchors(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := an.Advance(ctx, 3, es[2].Hash, memLog(&es), time.Now()); err != nil {
			t.Fatal(err)
		}
		fifo := filepath.Join(dir, AnchorFile)
		if err := os.Remove(fifo); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		err = withinGuard(t, fifo, "VerifyAnchored", func() error {
			r, err := c.VerifyAnchored(entriesOf(es), an)
			if err == nil && r.OK {
				return errors.New("verified")
			}
			return err
		})
		if err == nil || err.Error() == "verified" {
			t.Fatalf("verification over a FIFO for %s: %v, want an error", AnchorFile, err)
		}
		err = withinGuard(t, fifo, "Extend", func() error {
			return an.Extend(ctx, 3, es[2].Hash, memLog(&es), time.Now())
		})
		if err == nil {
			t.Fatalf("anchor update over a FIFO for %s succeeded", AnchorFile)
		}
	})

	t.Run(AnchorKeyFile, func(t *testing.T) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, AnchorKeyFile)
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		for name, open := range map[string]func(string) (*Anchors, error){"OpenAnchors": OpenAnchors, "ReadAnchors": ReadAnchors} {
			err := withinGuard(t, fifo, name, func() error { _, err := open(dir); return err })
			if err == nil {
				t.Errorf("%s over a FIFO for %s succeeded", name, AnchorKeyFile)
			}
		}
	})

	t.Run(KeyFile, func(t *testing.T) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, KeyFile)
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		for name, load := range map[string]func(string) ([]byte, error){"LoadKey": LoadKey, "ReadKey": ReadKey} {
			err := withinGuard(t, fifo, name, func() error { _, err := load(dir); return err })
			if err == nil {
				t.Errorf("%s over a FIFO for %s succeeded", name, KeyFile)
			}
		}
	})
}

// TestAnchorFileBounded: an anchor.json of any size was read whole into
// memory before its signature was checked, at every verification and
// anchor update; a planted file of gigabytes took the server's memory with
// it. An anchor is a few hundred bytes; a file over the bound is an error
// (here a valid anchor padded with whitespace, which JSON allows).
func TestAnchorFileBounded(t *testing.T) {
	c := NewChain([]byte("0123456789abcdef"))
	es := chainOf(t, c, 3)
	dir := t.TempDir()
	an, err := OpenAnchors(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := an.Advance(context.Background(), 3, es[2].Hash, memLog(&es), time.Now()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, AnchorFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := an.Read(); err != nil || !ok {
		t.Fatalf("the anchor as written: %v %v", ok, err)
	}
	padded := append(bytes.Repeat([]byte(" "), 2*maxAnchorFileBytes), b...)
	if err := os.WriteFile(path, padded, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := an.Read(); err == nil {
		t.Fatalf("an anchor file of %d bytes was read", len(padded))
	}
	if r, err := c.VerifyAnchored(entriesOf(es), an); err == nil {
		t.Fatalf("verified against an anchor file of %d bytes: %+v", len(padded), r)
	}
}
