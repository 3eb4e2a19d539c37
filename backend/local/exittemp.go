package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/internal/atomicfile"
)

// exitTemp puts the job's complete .exitcode.tmp in dir in place as its
// exitcode, where the job has a pid and no exit code and its run lock is
// free: the wrapper is gone and none will come (removeKilledWrapperTemps),
// and it wrote that exit code before it was killed, or before a power
// loss took the rename that was to follow. The temp was removed as a
// killed wrapper's: a job that succeeded read as lost (killed or host
// restarted), and the only durable copy of its exit code went with it.
//
// Complete is a number ending in a newline, the wrapper's one write: "1"
// with no newline may be the start of "137\n", torn, and is removed as
// before, the job read as lost. The temp is read as exitcode is (readOwn:
// never through a link, a regular file of the server's user, 64 bytes at
// most, its mode set back), synced, renamed without replacing an exitcode
// that came meanwhile, and the directory synced. It says whether it put
// one in place; an error where one is there that it could not put in
// place, or where a file could not be looked at: the caller then keeps
// the temp, and the job is not read as lost on it.
//
// The job's end (jobTimes) was then when the server put the file in
// place (its change time), later than the job's own, and a copy or a
// restore of the state directory since moved it on to then: the job was
// charged until the copy. Where its wrapper kept no end, the temp's
// change time, stamped when the wrapper wrote it as the command ended
// (no one can set it back; anyone may move it on, to no later than the
// rename's), is now kept as its end, as the wrapper would have
// (keepTempEnd).
func exitTemp(dir string) (bool, error) {
	for _, name := range []string{"pid", "exitcode"} {
		ok, err := present(filepath.Join(dir, name))
		if err != nil {
			return false, err
		}
		if ok != (name == "pid") {
			return false, nil // no pid (a Submit may launch it), or an exit code there
		}
	}
	temp := filepath.Join(dir, exitCodeTemp)
	f, err := openOwnRead(temp, 64, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 65))
	if err != nil {
		return false, fmt.Errorf("%s: %w", temp, err)
	}
	if !completeExitCode(data) {
		return false, nil
	}
	if held, err := runLockHeld(dir); err != nil || held {
		return false, err
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("%s: %w", temp, err)
	}
	keepTempEnd(dir, f)
	if err := renameNoReplace(temp, filepath.Join(dir, "exitcode")); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrExist) {
			return false, nil // another look put it (or the wrapper's) in place
		}
		return false, err
	}
	return true, atomicfile.SyncDir(dir)
}

// keepTempEnd keeps the change time of the exit code temp f of the job
// in dir as its end (launchEndSuffix), read before it is renamed (which
// stamps it anew), where the wrapper kept no end. Where that fails the
// exit code file's change time is the end, as before.
func keepTempEnd(dir string, f *os.File) {
	if _, ok := readLaunchEnd(dir); ok {
		return
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return
	}
	end := fmt.Sprintf("%d.%09d\n", st.Ctim.Sec, st.Ctim.Nsec)
	atomicfile.WriteFile(launchPath(dir)+launchEndSuffix, []byte(end), 0o600) //nolint:errcheck
}

// completeExitCode says whether data is an exit code as the wrapper
// writes it whole: a number, as exitStatus reads one, and a newline.
func completeExitCode(data []byte) bool {
	if len(data) < 2 || data[len(data)-1] != '\n' {
		return false
	}
	_, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return err == nil
}

// renameNoReplace renames from to to unless to is there (os.ErrExist). A
// filesystem or filter that does not offer that (renameUnsupported:
// EINVAL, ENOSYS, EOPNOTSUPP, EPERM) has it renamed as os.Rename does:
// only a wrapper, gone by then, or another such rename of the same file
// puts an exit code there.
func renameNoReplace(from, to string) error {
	err := markRename(from, to)
	if renameUnsupported(err) {
		return os.Rename(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
