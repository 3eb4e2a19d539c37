package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
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
// two apart (the change time) changes at each append to a log.

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

// rememberPath is remember for path as it is now (lstat).
func rememberPath(path string) {
	if fi, err := os.Lstat(path); err == nil {
		remember(filepath.Clean(path), fi)
	}
}

// syncEntry makes the entry at path, fi being what it holds, durable by
// calling sync (which syncs path's directory), unless this process did so
// already.
func syncEntry(path string, fi fs.FileInfo, sync func() error) error {
	path = filepath.Clean(path)
	if known(path, fi) {
		return nil
	}
	if err := sync(); err != nil {
		return err
	}
	remember(path, fi)
	return nil
}

// SyncEntry makes the entry at path (the name itself: a link is not
// followed) durable, by syncing the directory that holds it, unless this
// process did so already for the same file. A caller that uses a file or
// directory that another process made (a key a replica created, one a
// killed creator left before it synced its directory) calls it before the
// first use that must outlive a power loss: sealing data with the key,
// signing with it, acknowledging a record appended to it.
func SyncEntry(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	return syncEntry(path, fi, func() error { return SyncDir(filepath.Dir(path)) })
}
