// Package captest helps tests of what the server does with files a
// workload made unreadable: the tests run as root here, and root reads a
// file of mode 0 and searches a directory of mode 0 whatever their modes,
// so such a test could not fail without dropping that power first.
package captest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// AsTheServersUser runs fn on a thread of its own that reads files by
// their modes, as the server's user: where the test runs as root, the
// thread has neither CAP_DAC_OVERRIDE nor CAP_DAC_READ_SEARCH. The thread
// ends with fn (it is never unlocked), its capabilities with it; a
// process fn starts is forked from it, without them too.
func AsTheServersUser(t *testing.T, fn func() error) error {
	t.Helper()
	type result struct {
		err   error
		setup bool
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if os.Geteuid() == 0 {
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				done <- result{err, true}
				return
			}
			for _, c := range []uint{unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH} {
				data[c/32].Effective &^= 1 << (c % 32)
			}
			if err := unix.Capset(&hdr, &data[0]); err != nil {
				done <- result{err, true}
				return
			}
		}
		done <- result{fn(), false}
	}()
	r := <-done
	if r.setup {
		t.Fatalf("drop the thread's capabilities: %v", r.err)
	}
	return r.err
}

// Nobody is the uid and gid RerunAsNobody runs a test as.
const Nobody = 65534

// RerunAsNobody runs the calling test again in a process of its own, as
// uid and gid Nobody, with env added to this process's environment (the
// child tells itself apart by it), and fails t with the child's output
// when the child fails: what a test of directory modes looks at happens
// only to a user without root's powers, and dropping capabilities on one
// thread (AsTheServersUser) does not change who owns what the code makes.
// The test's executable is copied into dir, which Nobody must be able to
// search, so that Nobody may run it.
func RerunAsNobody(t *testing.T, dir string, env ...string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, filepath.Base(self))
	if err := copyExecutable(self, exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s as uid %d: %v\n%s", t.Name(), Nobody, err, out)
	}
}

// copyExecutable copies the file src to dst, which must not exist yet,
// mode 0755.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
