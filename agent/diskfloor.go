package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

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

// FlagScratchFloor and FlagScratchInodeFloor, given first on the agent's
// command line (as --scratch-floor=BYTES), set the scratch's floors in
// place of the defaults, lower or higher: on a small disk the defaults
// kept every workload from starting. The command line is the backend's
// own (the site's agent command and what its backend adds), where the
// environment may pass through a tenant's hands.
const (
	FlagScratchFloor      = "--scratch-floor"
	FlagScratchInodeFloor = "--scratch-inode-floor"
)

// siteFloorFlags takes the floor flags off the front of args, returning
// the rest and the floors they set (bytes, inodes; 0 where not given). A
// value that is not a whole number above 0, or a flag given twice, is
// refused, naming the flag.
func siteFloorFlags(args []string) ([]string, [2]int64, error) {
	var floor [2]int64
	for len(args) > 0 && strings.HasPrefix(args[0], "--scratch-") {
		name, v, _ := strings.Cut(args[0], "=")
		i := 0
		switch name {
		case FlagScratchFloor:
		case FlagScratchInodeFloor:
			i = 1
		default:
			return nil, floor, fmt.Errorf("%s: unknown flag (want %s=BYTES or %s=INODES)", name, FlagScratchFloor, FlagScratchInodeFloor)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, floor, fmt.Errorf("%s=%q: want a whole number above 0", name, v)
		}
		if floor[i] != 0 {
			return nil, floor, fmt.Errorf("%s given twice", name)
		}
		floor[i] = n
		args = args[1:]
	}
	return args, floor, nil
}

// fstatfs is unix.Fstatfs (a seam for the tests).
var fstatfs = unix.Fstatfs

// scratchStatfs is the filesystem of the scratch held open as dir (its
// path wd, named in errors only), asked through the descriptor: by its
// /proc entry, a /proc not mounted failed with an error naming neither.
func scratchStatfs(dir *os.File, wd string, st *unix.Statfs_t) error {
	if err := fstatfs(int(dir.Fd()), st); err != nil {
		return fmt.Errorf("the scratch %s's filesystem: %w", wd, err)
	}
	return nil
}

// scratchFloor returns the floor for the filesystem of dir: the defaults
// (bounded by floorShare of the filesystem) or the backend's
// (cfg.SiteScratchFloor, from the command line), raised to the site's
// bytes (cfg.ScratchFloor) where it asks for more. The site's variables
// cannot lower it: the agent's environment may pass through a tenant's
// hands.
func scratchFloor(cfg Config, dir *os.File, wd string) (diskFloor, error) {
	var st unix.Statfs_t
	if err := scratchStatfs(dir, wd, &st); err != nil {
		return diskFloor{}, err
	}
	size := st.Blocks * uint64(st.Bsize)
	f := diskFloor{
		bytes:  min(defaultFloorBytes, size*floorShare/100),
		inodes: min(defaultFloorInodes, st.Files*floorShare/100),
	}
	if cfg.SiteScratchFloor > 0 {
		f.bytes = uint64(cfg.SiteScratchFloor)
	}
	if cfg.SiteScratchInodeFloor > 0 {
		f.inodes = uint64(cfg.SiteScratchInodeFloor)
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
func (f diskFloor) below(dir *os.File, wd string) (string, error) {
	var st unix.Statfs_t
	if err := scratchStatfs(dir, wd, &st); err != nil {
		return "", err
	}
	if free := st.Bavail * uint64(st.Bsize); free < f.bytes {
		return fmt.Sprintf("the scratch's filesystem has %d bytes free, below the %d bytes the agent keeps free (%s, %s)", free, f.bytes, EnvScratchFloor, FlagScratchFloor), nil
	}
	if st.Files > 0 && st.Ffree < f.inodes {
		return fmt.Sprintf("the scratch's filesystem has %d inodes free, below the %d the agent keeps free (%s, %s)", st.Ffree, f.inodes, EnvScratchInodeFloor, FlagScratchInodeFloor), nil
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
