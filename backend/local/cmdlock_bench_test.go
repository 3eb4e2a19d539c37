package local

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkCmdLockHolders is one scan of every process for the holders
// of a job's command lock (Cancel's, every holderScanEvery while a
// holder is left), with one holder, a child given the lock on fd 5.
func BenchmarkCmdLockHolders(b *testing.B) {
	dir := b.TempDir()
	f, err := openCmdLock(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c := exec.Command("sleep", "600")
	c.ExtraFiles = []*os.File{f, f, f}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { c.Process.Kill(); c.Wait() }()
	for b.Loop() {
		if held, _ := cmdLockHolders(dir, time.Now().Add(time.Hour)); len(held) != 1 {
			b.Fatalf("holders %v; want the child alone", held)
		}
	}
}
