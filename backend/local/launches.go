package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
)

// launchesDir is the directory of the state directory where the server
// keeps what it launched for each job (launchRec), one file a job named
// by its key, outside the job's directory.
//
// The job's own directory holds its record (job.json) and its wrapper's
// pid file, and a workload that can write it (one the agent's check
// would refuse, its sandbox granting the state directory) could name
// there another run's working directory, which Clean removed as the
// job's, anything inside the work root, or another session's pid, whose
// members begun before the launch Cancel signalled and Clean waited for
// once the wrapper was gone. The server now keeps both where only it
// writes, and Clean and Cancel take them from there.
const launchesDir = "launches"

// launchRec is what the server launched for a job: the working directory
// it ran in, its wrapper's pid (the leader of its session and group) and
// that process's start time (/proc/PID/stat, clock ticks since boot; 0 in
// a record written before it was kept, or where it could not be read),
// which tells the wrapper from a later process given its pid.
type launchRec struct {
	WorkDir string `json:"workDir"`
	Pid     int    `json:"pid"`
	Start   uint64 `json:"start,omitempty"`
}

// maxLaunchRec bounds the launch record the server reads back.
const maxLaunchRec = 64 << 10

// launchPath is the launch record of the job whose directory is dir
// (STATE/jobs/KEY): STATE/launches/KEY.
func launchPath(dir string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(dir)), launchesDir, filepath.Base(dir))
}

// writeLaunch keeps rec for the job in dir, atomically and synced. The
// launch writes it once the wrapper has started and before the wrapper
// may start the job's command: a wrapper that records a pid has one.
func writeLaunch(dir string, rec launchRec) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(launchPath(dir), append(data, '\n'), 0o600)
}

// readLaunch is the launch record of the job in dir, read as the server's
// own (readOwn); false where there is none: a job launched before they
// were kept, whose own files are then taken as before.
func readLaunch(dir string) (launchRec, bool, error) {
	path := launchPath(dir)
	data, err := readOwn(path, maxLaunchRec, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return launchRec{}, false, nil
	}
	if err != nil {
		return launchRec{}, false, err
	}
	var rec launchRec
	if err := json.Unmarshal(data, &rec); err != nil {
		return launchRec{}, false, fmt.Errorf("%s: %w", path, err)
	}
	if rec.WorkDir == "" || rec.Pid <= 1 {
		return launchRec{}, false, fmt.Errorf("%s: names no working directory or no pid", path)
	}
	return rec, true, nil
}

// wrapperPid is the pid of the job's wrapper as the server knows it: its
// launch record's, else (a job launched before they were kept, or one
// whose record cannot be read) what the pid file says. 0 where neither
// names one. launched says which: true where the server's record named
// it (with the wrapper's start time, 0 where not kept), false where the
// pid file, which a workload that can write the job's directory may
// write, did.
func wrapperPid(dir string) (pid int, start uint64, launched bool) {
	if rec, ok, err := readLaunch(dir); err == nil && ok {
		return rec.Pid, rec.Start, true
	}
	return readPid(dir), 0, false
}

// launchEndSuffix names the file beside a job's launch record in which
// its wrapper keeps when the job's command ended (STATE/launches/KEY.end):
// seconds since the epoch, a fraction where the wrapper's date(1) tells
// one, and a newline.
const launchEndSuffix = ".end"

// maxLaunchEnd bounds the end record the server reads back.
const maxLaunchEnd = 64

// readLaunchEnd is the end the job's wrapper kept (launchEndSuffix),
// read as the server's own record (readOwn); false where there is none
// or it cannot be read or holds no time: the caller then takes the exit
// code file's change time, which is never earlier.
func readLaunchEnd(dir string) (time.Time, bool) {
	data, err := readOwn(launchPath(dir)+launchEndSuffix, maxLaunchEnd, 0o600)
	if err != nil {
		return time.Time{}, false
	}
	return parseLaunchEnd(string(data))
}

// parseLaunchEnd reads "SECONDS[.FRACTION]\n" as the wrapper writes it.
func parseLaunchEnd(text string) (time.Time, bool) {
	text, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return time.Time{}, false // torn
	}
	secText, fracText, _ := strings.Cut(text, ".")
	sec, err := strconv.ParseInt(secText, 10, 64)
	if err != nil || sec <= 0 || len(fracText) > 9 {
		return time.Time{}, false
	}
	var nsec int64
	if fracText != "" {
		frac, err := strconv.ParseUint(fracText, 10, 32)
		if err != nil {
			return time.Time{}, false
		}
		nsec = int64(frac)
		for i := len(fracText); i < 9; i++ {
			nsec *= 10
		}
	}
	return time.Unix(sec, nsec).UTC(), true
}
