package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// An entry (a file, a directory) is durable only once the directory that
// holds it was synced after it was made. Whoever made it syncs it before
// using it (CreateFile, MkdirAll); but a maker killed between the link or
// mkdir and that sync, or whose sync failed, leaves an entry every later
// caller (a replica, the restarted server) finds there and uses, still in
// memory only: a power loss then takes it (a key, with the data sealed or
// the log signed with it meanwhile surviving elsewhere). So whoever finds
// such an entry already there syncs its directory too, once per process:
// the memo below keeps which entries this process made durable, by path
// and by the file's device and inode, so that a later use costs a lookup
// and a name made again with another file is synced again. A file made
// again in a name with the inode number of the one removed from it (file
// systems reuse them at once) is taken as the old one: that takes a
// removal, a creator killed before its sync, and a power loss together,
// in a process that synced the old one; a cheap identity that tells the
// two apart (the change time) changes at each append to a log. A caller
// that removes a tree itself says so (Forget), and the memo drops what it
// held there: only a removal by another process is left to that chance.

// fileID is what tells one file from another: its device and inode.
type fileID struct{ dev, ino uint64 }

// maxDurable bounds the memo: a server making a directory per attempt
// would grow it without end. Once full it is emptied; an entry forgotten
// costs one more sync, never less durability.
const maxDurable = 4096

var durable struct {
	sync.Mutex
	m map[string]fileID
}

// idOf is fi's device and inode, and false where fi carries none.
func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// known says whether this process made the entry at path, fi being what
// it holds now, durable already.
func known(path string, fi fs.FileInfo) bool {
	id, ok := idOf(fi)
	if !ok {
		return false
	}
	durable.Lock()
	defer durable.Unlock()
	have, ok := durable.m[path]
	return ok && have == id
}

// remember records that the entry at path, fi being what it holds, is
// durable.
func remember(path string, fi fs.FileInfo) {
	id, ok := idOf(fi)
	if !ok {
		return
	}
	durable.Lock()
	defer durable.Unlock()
	if durable.m == nil || len(durable.m) >= maxDurable {
		durable.m = make(map[string]fileID)
	}
	durable.m[path] = id
}

// Forget drops what this process remembers as durable at path and below
// it (the entries' memo and the synced directories'), for a caller that
// removes or renames away the tree at path. File systems reuse a freed
// inode number at once: an entry made again there (by another process,
// or by a maker killed before its sync) may have the old one's device
// and inode, and was taken as synced by this process, its directory
// never synced, and a power loss took it after it was used. It costs a
// pass over both memos, each bounded by maxDurable: a removal's cost,
// never a lookup's. A removal by another process is not seen here (the
// caveat above).
func Forget(path string) {
	path = filepath.Clean(path)
	prefix := below(path)
	durable.Lock()
	for p := range durable.m {
		if within(p, path, prefix) {
			delete(durable.m, p)
		}
	}
	durable.Unlock()
	dirsSynced.Lock()
	for p := range dirsSynced.m {
		if within(p, path, prefix) {
			delete(dirsSynced.m, p)
		}
	}
	dirsSynced.Unlock()
}

// below is the prefix of the paths below the clean path root: made once
// for a pass over a memo, not once an entry.
func below(root string) string {
	if strings.HasSuffix(root, string(filepath.Separator)) {
		return root
	}
	return root + string(filepath.Separator)
}

// within says whether the clean path p is root or lies below it (below
// being below(root)).
func within(p, root, below string) bool {
	return p == root || strings.HasPrefix(p, below)
}

// syncEntry makes the entry at path, fi being what it holds (taken
// before the sync: what is there then is what the sync covers), durable
// by syncing the directory at, unless this process did so already.
func syncEntry(path string, fi fs.FileInfo, at place) error {
	path = filepath.Clean(path)
	if known(path, fi) {
		return nil
	}
	dir := filepath.Dir(path)
	if coveredBySync(dir, fi, at) {
		remember(path, fi)
		return nil
	}
	// Stat before the sync: the change time it reads is one the sync
	// covers every entry older than (coveredBySync).
	before, statErr := at.statDir()
	if err := syncFoundDir(dir, fi, at); err != nil {
		return err
	}
	if statErr == nil {
		rememberDir(dir, before)
	}
	remember(path, fi)
	return nil
}

// A restarted server finds many entries of one directory already there
// (a key per dataset, a directory per attempt): one sync of the directory
// covers them all, where a sync per entry cost a thousand for a thousand
// attempts, and the entry memo, emptied past maxDurable, a sync again for
// each. So this process also remembers, for each directory it synced for
// an entry found there, what the directory was just before that sync
// began: its identity and its change time. An entry found later is taken
// as covered by that sync, without one more, when
//
//   - the directory is the same and its change time unchanged: no entry
//     was added, removed or renamed there since, but for one made in the
//     same tick of the filesystem's clock as the change time read; and
//   - the entry's own change time is strictly before the directory's:
//     an entry's change time is at least the time it was linked in
//     (creation, link and rename set it), so it was linked before the
//     directory's last change, before the stat, before the sync. This
//     rules out the entry made in that same tick.
//
// Both times are stamped by one clock, the filesystem's (the file
// server's, for a shared one): a caller's clock, which may run apart,
// is never read. A clock set back makes the directory's change time
// differ, and the sync is made again. An entry that is a link (MkdirAll
// follows one) is synced as before: the times read through it are its
// target's. What this does not cover is a filesystem whose rename leaves
// the renamed file's change time alone, where a file renamed in within
// that same tick as the directory's last change, after the stat, would
// be taken as covered; Linux's local filesystems and NFS set it.

// dirSync is what a directory was when this process began a sync of it:
// its identity and its change time (nanoseconds).
type dirSync struct {
	id    fileID
	ctime int64
}

var dirsSynced struct {
	sync.Mutex
	m map[string]dirSync
}

// ctimeOf is fi's change time in nanoseconds, and false where fi carries
// none.
func ctimeOf(fi fs.FileInfo) (int64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ctim.Nano(), true
}

// rememberDir records that this process synced dir, dfi being what stat
// saw of it before the sync began. Bounded as the entry memo is.
func rememberDir(dir string, dfi fs.FileInfo) {
	id, ok := idOf(dfi)
	ct, ok2 := ctimeOf(dfi)
	if !ok || !ok2 {
		return
	}
	dirsSynced.Lock()
	defer dirsSynced.Unlock()
	if dirsSynced.m == nil || len(dirsSynced.m) >= maxDurable {
		dirsSynced.m = make(map[string]dirSync)
	}
	dirsSynced.m[dir] = dirSync{id: id, ctime: ct}
}

// coveredBySync says whether a sync of dir this process made covers the
// entry found there, fi being what it holds (the comment above says
// when). It costs a stat of dir and an lstat of the entry, only where dir
// was synced: never a sync.
func coveredBySync(dir string, fi fs.FileInfo, at place) bool {
	dirsSynced.Lock()
	last, ok := dirsSynced.m[dir]
	dirsSynced.Unlock()
	if !ok {
		return false
	}
	dfi, err := at.statDir()
	if err != nil {
		return false
	}
	if id, ok := idOf(dfi); !ok || id != last.id {
		return false
	}
	if ct, ok := ctimeOf(dfi); !ok || ct != last.ctime {
		return false
	}
	// The entry itself, not a link's target, and still fi's file.
	lfi, err := at.lstatEntry()
	if err != nil || lfi.Mode()&fs.ModeSymlink != 0 || !os.SameFile(lfi, fi) {
		return false
	}
	ct, ok := ctimeOf(lfi)
	return ok && ct < last.ctime
}

// place is where an entry found already there lies, opened by path or
// inside an os.Root: its directory, and the entry itself.
type place struct {
	// openDir opens the directory to read, statDir stats it.
	openDir func() (*os.File, error)
	statDir func() (fs.FileInfo, error)
	// lstatEntry stats the entry itself, a link not followed.
	lstatEntry func() (fs.FileInfo, error)
	// openEntry opens the entry to read (a directory with O_DIRECTORY).
	openEntry func(dir bool) (*os.File, error)
}

// pathPlace is the place of path, reached by path.
func pathPlace(path string) place {
	dir := filepath.Dir(path)
	return place{
		openDir:    func() (*os.File, error) { return OpenDir(dir) },
		statDir:    func() (fs.FileInfo, error) { return os.Stat(dir) },
		lstatEntry: func() (fs.FileInfo, error) { return os.Lstat(path) },
		openEntry: func(isDir bool) (*os.File, error) {
			if isDir {
				return OpenDir(path)
			}
			return openFileNoFollow(path)
		},
	}
}

// openFileNoFollow opens the file at path to read without following a
// link, waiting for no writer (a FIFO put in its place) and taking no
// terminal.
func openFileNoFollow(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// syncFoundDir syncs dir, which holds an entry found already there (fi,
// what it held before the sync), as SyncDir does, SyncHook included, but
// for two cases a found entry must not fail on, where the caller only
// uses what is there and started before SyncEntry existed:
//
//   - A directory this user may search but not read (mode 0711, root's;
//     a root_squash export's; a search-only SELinux or AppArmor rule)
//     cannot be opened to sync (EACCES, EPERM): the filesystem holding
//     the entry is synced instead (syncfs(2), through the entry itself,
//     which this user may open), which syncs every directory on it, dir
//     included. An O_PATH handle on dir cannot be synced (EBADF), and a
//     sync of the entry alone is not promised to make its name durable.
//   - A filesystem without directory syncs (squashfs, iso9660, procfs:
//     EINVAL) or one mounted read-only (EROFS) has nothing to sync.
func syncFoundDir(dir string, fi fs.FileInfo, at place) error {
	if SyncHook != nil {
		SyncHook(dir)
	}
	d, err := at.openDir()
	if errors.Is(err, fs.ErrPermission) {
		return syncFSThrough(fi, at, err)
	}
	if err != nil {
		return err
	}
	defer d.Close()
	return nothingToSync(d.Sync())
}

// syncFSThrough syncs the filesystem holding the entry fi, through a
// handle on the entry (at.openEntry), where its directory could not be
// opened for denied (returned as it was where the entry cannot serve).
// Only a directory or a regular file is opened, and it must be fi's
// file still. An entry on another device than its directory (a mount
// point, or for MkdirAll a link to another filesystem's directory) has
// its name on a filesystem no handle of this user's reaches: it is left
// unsynced, being one that an administrator made in a directory this
// user cannot read, never one that this program's creators leave.
func syncFSThrough(fi fs.FileInfo, at place, denied error) error {
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return denied
	}
	f, err := at.openEntry(fi.IsDir())
	if err != nil {
		return denied
	}
	defer f.Close()
	got, err := f.Stat()
	if err != nil || !os.SameFile(got, fi) {
		return denied
	}
	dfi, err := at.statDir()
	if err != nil {
		return err
	}
	if idOfOrZero(dfi).dev != idOfOrZero(got).dev {
		return nil
	}
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return nothingToSync(&fs.PathError{Op: "syncfs", Path: f.Name(), Err: err})
	}
	return nil
}

// idOfOrZero is idOf(fi), zero where fi carries none.
func idOfOrZero(fi fs.FileInfo) fileID {
	id, _ := idOf(fi)
	return id
}

// nothingToSync is err, nil where it says that the filesystem has no
// directory sync (EINVAL) or is read-only (EROFS): nothing is there to
// sync.
func nothingToSync(err error) error {
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EROFS) {
		return nil
	}
	return err
}

// SyncEntry makes the entry at path (the name itself: a link is not
// followed) durable, by syncing the directory that holds it, unless this
// process did so already for the same file. A caller that uses a file or
// directory that another process made (a key a replica created, one a
// killed creator left before it synced its directory) calls it before the
// first use that must outlive a power loss: sealing data with the key,
// signing with it, acknowledging a record appended to it. A directory
// this user may only search, or a filesystem without directory syncs, is
// handled as syncFoundDir says.
func SyncEntry(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	return syncEntry(path, fi, pathPlace(path))
}
