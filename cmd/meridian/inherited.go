package main

import "meridian.dev/meridian/internal/fdexec"

// closeInheritedOnExec marks every descriptor above standard error
// close-on-exec (fdexec). Go opens its own descriptors so, but leaves those
// the process inherited as they came: a server started holding its
// parent's (a shell's `5>file`, a supervisor's pipe or socket) handed them
// to every job the local backend starts, and through the agent to the
// workload, whose sandbox does not reach a descriptor already open. The
// backend passes a job's wrapper only what it names (exec.Cmd's
// ExtraFiles), so nothing the server means to share is lost.
func closeInheritedOnExec() error {
	return fdexec.CloseOnExecAbove2()
}
