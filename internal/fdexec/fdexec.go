// Package fdexec keeps a process's descriptors from the programs it
// starts: Go opens its own descriptors close-on-exec, but leaves those the
// process was handed as they came, and they would reach every program it
// execs (and a sandbox judges paths, not descriptors already open).
package fdexec

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseOnExecAbove2 marks every descriptor above standard error
// close-on-exec: close_range with CLOSE_RANGE_CLOEXEC, or, on Linux
// before 5.11, which lacks the flag (EINVAL) or the call (ENOSYS), each
// descriptor /proc/self/fd lists. It fails where it can do neither, so
// that the caller does not start a program unsure.
func CloseOnExecAbove2() error {
	err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("mark descriptors close-on-exec: %w", err)
	}
	return markEach()
}

// markEach marks each descriptor above standard error that /proc/self/fd
// lists close-on-exec (the directory's own among them, which is closed
// anyway).
func markEach() error {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("mark descriptors close-on-exec: %w", err)
	}
	for _, e := range es {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark descriptor %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
