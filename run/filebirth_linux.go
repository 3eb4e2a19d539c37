package run

import (
	"os"

	"golang.org/x/sys/unix"
)

// fileBirth is the birth time of the file open as f, in nanoseconds
// since the epoch, or 0 where its filesystem does not keep one: with its
// device and inode it names the file, where those alone may name a file
// made again with a freed inode number.
func fileBirth(f *os.File) int64 {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var stx unix.Statx_t
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BTIME, &stx)
	}); err != nil || serr != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
}
