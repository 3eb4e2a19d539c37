package local_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"meridian.dev/meridian/backend/local"
)

// TestALearntLockNameIsPinned: a Cancel reused the kernel's name of the
// command lock it learnt wherever the lock's device and inode matched,
// without knowing it was still the same file: the lock removed, the
// inode number is given to the next file made (ext4 does so at once),
// and another file could pass for it. The Cancel now holds the lock's
// inode (an O_PATH descriptor) until it returns, so no other file has it:
// the hold itself is looked at (a filesystem need not give the number
// again at once), and then whether a file made in its place has it.
func TestALearntLockNameIsPinned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs", "pinned-1")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "cmd.lock")
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ino, pin, done, err := local.LearnLockPin(dir)
	defer done()
	if err != nil || ino == 0 {
		t.Fatalf("learning the lock's name: inode %d, %v", ino, err)
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if pin == nil {
		t.Fatal("the Cancel that learnt the lock's name holds nothing of its inode")
	}
	var pst syscall.Stat_t
	if err := syscall.Fstat(int(pin.Fd()), &pst); err != nil {
		t.Fatal(err)
	}
	if pst.Ino != ino || pst.Nlink != 0 {
		t.Fatalf("the Cancel holds inode %d with %d links once the lock is removed; want the lock's, %d, unlinked", pst.Ino, pst.Nlink, ino)
	}
	for i := 0; i < 8; i++ {
		if err := os.WriteFile(lock, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(lock, &st); err != nil {
			t.Fatal(err)
		}
		if st.Ino == ino {
			t.Fatalf("a file made in the removed lock's place has its inode (%d) while the Cancel that learnt it runs", ino)
		}
		if err := os.Remove(lock); err != nil {
			t.Fatal(err)
		}
	}
}
