// Package flock takes advisory file locks that the kernel drops when their
// holder dies, so a killed controller never leaves a lock behind.
package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock takes an exclusive lock on path (creating the file), waiting until
// ctx is done. The returned function releases it.
//
// The lock file must be a regular file. Lock files live in directories
// others may write (a state directory's anchor directory, a site's job
// directories, the temporary directory): a link in the lock's place made
// the opener create, or lock, a file wherever the link pointed; a FIFO or a
// device is no lock file, and opening one must not wait on a writer.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("lock file %s is a symbolic link; want a regular file", path)
		}
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("lock file %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}
