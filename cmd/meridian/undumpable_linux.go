//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// makeUndumpable makes this process not dumpable: a process of the same
// user without CAP_SYS_PTRACE can then neither trace it nor open its
// /proc/PID/environ, mem or fd entries (the kernel gives them to root),
// and it leaves no core dump holding its keys. The flag is the
// process's, for all its threads; an exec resets it, so the agents and
// helpers serve starts are not affected (the agent sets its own).
func makeUndumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}
