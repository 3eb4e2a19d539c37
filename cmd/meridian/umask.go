package main

import "golang.org/x/sys/unix"

// closeUmask adds group and other write to the process's umask, keeping
// whatever else it holds. The server makes some of what it writes under
// the state directory with modes left to the umask (a file store's
// directories 0777 and objects 0666: sealed, so readable by whoever may
// read the directory), and its jobs, their wrappers and workloads inherit
// it. Started under umask 000 (a container's or a service manager's
// setting), it made a site's store under a state directory other users
// pass through (the uid sandbox) writable by them: a workload of one
// tenant could remove or replace another's sealed chunks and manifests.
// The umask is set to 077 for the moment between the two calls, stricter
// than either, so that nothing made meanwhile is more open.
func closeUmask() {
	old := unix.Umask(0o077)
	unix.Umask(old | 0o022)
}
