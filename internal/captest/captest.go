// Package captest helps tests of what the server does with files a
// workload made unreadable: the tests run as root here, and root reads a
// file of mode 0 and searches a directory of mode 0 whatever their modes,
// so such a test could not fail without dropping that power first.
package captest

import (
	"os"
	"runtime"
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
