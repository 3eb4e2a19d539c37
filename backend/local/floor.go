package local

import (
	"fmt"
	"os"
	"strconv"

	"meridian.dev/meridian/agent"
)

// EnvScratchFloor and EnvScratchInodeFloor name the variables of the
// server's environment that set a new Local's ScratchFloor and
// ScratchInodeFloor: a whole number of bytes, or of inodes, above 0.
const (
	EnvScratchFloor      = "MERIDIAN_LOCAL_SCRATCH_FLOOR"
	EnvScratchInodeFloor = "MERIDIAN_LOCAL_SCRATCH_INODE_FLOOR"
)

// floorsFromEnv reads EnvScratchFloor and EnvScratchInodeFloor; 0 where
// one is not set.
func floorsFromEnv() (bytes, inodes int64, err error) {
	if bytes, err = floorFromEnv(EnvScratchFloor, "bytes"); err != nil {
		return 0, 0, err
	}
	if inodes, err = floorFromEnv(EnvScratchInodeFloor, "inodes"); err != nil {
		return 0, 0, err
	}
	return bytes, inodes, nil
}

func floorFromEnv(name, unit string) (int64, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a whole number of %s above 0 (leave it unset for the agent's own floor)", name, v, unit)
	}
	return n, nil
}

// floorArgs are the flags that give the job's agent the backend's floors
// (agent.FlagScratchFloor, agent.FlagScratchInodeFloor), put after the
// job's command, which is the agent's ("meridian agent"): its command
// line is the backend's, where its environment only raises the floors.
// None where neither floor is set.
func (l *Local) floorArgs() ([]string, error) {
	var args []string
	for _, f := range []struct {
		field, flag string
		v           int64
	}{{"ScratchFloor", agent.FlagScratchFloor, l.ScratchFloor}, {"ScratchInodeFloor", agent.FlagScratchInodeFloor, l.ScratchInodeFloor}} {
		switch {
		case f.v < 0:
			return nil, fmt.Errorf("local backend: %s %d: want 0 (the agent's own floor) or more", f.field, f.v)
		case f.v > 0:
			args = append(args, f.flag+"="+strconv.FormatInt(f.v, 10))
		}
	}
	return args, nil
}
