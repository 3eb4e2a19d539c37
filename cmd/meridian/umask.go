package main

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// closeUmask adds group and other write to the process's umask, keeping
// whatever else it holds. The server makes some of what it writes under
// the state directory with modes left to the umask (a file store's
// directories 0777 and objects 0666: sealed, so readable by whoever may
// read the directory), and its jobs, their wrappers and workloads inherit
// it. Started under umask 000 (a container's or a service manager's
// setting), it made a site's store under a state directory other users
// pass through (the uid sandbox) writable by them: a workload of one
// tenant could remove or replace another's sealed chunks and manifests.
//
// The umask is read from /proc/self/status and set once. Where it cannot
// be read it is set to 077 for the moment between two calls (stricter
// than either, so that nothing made meanwhile is more open), under a lock:
// two servers starting in one process (the tests' replicas) each read
// the other's 077 as the umask to keep, and the process was left at 077
// for good, so every directory made after it was closed to the tenants'
// users and their workloads could not run (exit 126).
func closeUmask() {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	if old, ok := readUmask(); ok {
		unix.Umask(old | 0o022)
		return
	}
	old := unix.Umask(0o077)
	unix.Umask(old | 0o022)
}

var umaskMu sync.Mutex

// readUmask is the process's umask as the kernel reports it (Linux 4.7
// and later), without changing it.
func readUmask() (int, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return int(n), err == nil
		}
	}
	return 0, false
}
