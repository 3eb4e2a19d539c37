package agent

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// The scratch's filesystem keeps free at least the larger of these and
// what the site asks (EnvScratchFloor): a limit on one file's size
// (RLIMIT_FSIZE) bounds no sum, and a workload that wrote many files, or
// many empty ones, filled the disk its scratch lies on. On the local
// backend that disk holds the server's database and audit log too, and
// every other run's scratch: full, it stopped them all.
const (
	// defaultFloorBytes is kept free, or floorShare of the filesystem
	// when that is less (a small scratch volume).
	defaultFloorBytes = 1 << 30
	// defaultFloorInodes is kept free of the filesystem's inodes, or
	// floorShare of them when that is less.
	defaultFloorInodes = 10000
	// floorShare is the share of a filesystem, in parts per hundred, that
	// bounds the default floors on a small one.
	floorShare = 2
)

// diskFloor is what the scratch's filesystem keeps free while the workload
// runs: below either, the agent kills the workload.
type diskFloor struct {
	bytes, inodes uint64
}

// scratchFloor returns the floor for the filesystem of dir: the defaults
// (bounded by floorShare of the filesystem), raised to the site's bytes
// (cfg.ScratchFloor) where it asks for more. A site cannot lower it: the
// agent's environment may pass through a tenant's hands.
func scratchFloor(cfg Config, dir string) (diskFloor, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return diskFloor{}, fmt.Errorf("the scratch's filesystem: %w", err)
	}
	size := st.Blocks * uint64(st.Bsize)
	f := diskFloor{
		bytes:  min(defaultFloorBytes, size*floorShare/100),
		inodes: min(defaultFloorInodes, st.Files*floorShare/100),
	}
	if cfg.ScratchFloor > 0 {
		f.bytes = max(f.bytes, uint64(cfg.ScratchFloor))
	}
	if cfg.ScratchInodeFloor > 0 {
		f.inodes = max(f.inodes, uint64(cfg.ScratchInodeFloor))
	}
	return f, nil
}

// below says which of the floor's limits dir's filesystem has gone below,
// naming it and what is left, or "" when neither. Free space is what an
// unprivileged process may still use (f_bavail); a filesystem that
// counts no inodes (f_files 0: btrfs, some network ones) is judged by its
// bytes alone. One statfs: cheap enough for every poll.
func (f diskFloor) below(dir string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", fmt.Errorf("the scratch's filesystem: %w", err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < f.bytes {
		return fmt.Sprintf("the scratch's filesystem has %d bytes free, below the %d bytes the agent keeps free (%s)", free, f.bytes, EnvScratchFloor), nil
	}
	if st.Files > 0 && st.Ffree < f.inodes {
		return fmt.Sprintf("the scratch's filesystem has %d inodes free, below the %d the agent keeps free (%s)", st.Ffree, f.inodes, EnvScratchInodeFloor), nil
	}
	return "", nil
}

// errorIf is an error saying msg when cond is not empty, nil otherwise.
func errorIf(cond, msg string) error {
	if cond == "" {
		return nil
	}
	return errors.New(msg)
}
