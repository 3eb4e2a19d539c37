package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeInheritedOnExec marks every descriptor above standard error
// close-on-exec. Go opens its own descriptors so, but leaves those the
// process inherited as they came: a server started holding its parent's
// (a shell's `5>file`, a supervisor's pipe or socket) handed them to every
// job the local backend starts, and through the agent to the workload,
// whose sandbox does not reach a descriptor already open. The backend
// passes a job's wrapper only what it names (exec.Cmd's ExtraFiles), so
// nothing the server means to share is lost.
func closeInheritedOnExec() error {
	err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Linux before 5.11 lacks the flag (EINVAL) or the call (ENOSYS):
	// each descriptor /proc lists is marked instead.
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	return markEachOnExec()
}

// markEachOnExec marks each descriptor above standard error that
// /proc/self/fd lists close-on-exec (the directory's own among them, which
// is closed anyway).
func markEachOnExec() error {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	for _, e := range es {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark inherited descriptor %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
