package dataset

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"meridian.dev/meridian/internal/atomicfile"
)

// dirBucket keeps each object as a file under a directory, at the path its
// key names ("meridian/d/chunks/ab/ab12…" is that file under the directory).
// Every file operation goes through an os.Root of the directory: a link a
// site (or whoever else may write the directory) puts where a directory of
// keys should be is not followed out of it, so a staging cannot be made to
// write, nor a withdrawal to delete, files elsewhere on the machine.
type dirBucket struct {
	dir string
}

// sendsEachBodyOnce: a write is one file written, never sent again.
func (b *dirBucket) sendsEachBodyOnce() bool { return true }

// openDir opens (creating it if missing) a directory as a bucket.
func openDir(dir string) (*dirBucket, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return &dirBucket{dir: dir}, nil
}

// openRoot opens the directory as an os.Root for one operation (Stores are
// shared by their Sub stores and not always closed, so none is held).
// os.OpenRoot opens its path to read without O_DIRECTORY: a FIFO that
// whoever may write the directory above put in the store's place was
// opened, waiting for a writer, and every operation of the store with it,
// for good. The path is given ending in "/.", which only a directory
// has: anything else fails at once with ENOTDIR, naming it. The Root and
// what is opened through it are named by that path ("DIR/./NAME"): the
// bucket's operations clean the paths their errors name (cleanPathErr).
func (b *dirBucket) openRoot() (*os.Root, error) {
	return os.OpenRoot(b.dir + string(filepath.Separator) + ".")
}

// path maps a key to its file, refusing keys that would leave the directory
// or name it ambiguously: empty, absolute, with an empty, "." or ".."
// segment, a trailing slash, a backslash or a control character.
func (b *dirBucket) path(key string) (string, error) {
	bad := key == "" || strings.ContainsAny(key, "\\\x00")
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			bad = true
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			bad = true
		}
	}
	if bad {
		return "", fmt.Errorf("key %q: not a valid object name in a file store", key)
	}
	return filepath.Join(b.dir, filepath.FromSlash(key)), nil
}

// rel is key's file relative to the directory, for the Root's operations.
func (b *dirBucket) rel(key string) (string, error) {
	if _, err := b.path(key); err != nil {
		return "", err
	}
	return filepath.FromSlash(key), nil
}

// get opens an object's file. Anything but a regular file is refused before
// it is opened: a FIFO would block the reader forever, a device or a link
// would read what the store's owner chose. S3 has no such objects.
func (b *dirBucket) get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	r, size, err := b.getFile(key)
	return r, size, cleanPathErr(err)
}

func (b *dirBucket) getFile(key string) (io.ReadCloser, int64, error) {
	path, err := b.rel(key)
	if err != nil {
		return nil, 0, err
	}
	root, err := b.openRoot()
	if err != nil {
		return nil, 0, err
	}
	defer root.Close() // the file opened through it stays open
	fi, err := root.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: %v is not a regular file: %w", key, fi.Mode().Type(), ErrNotRegular)
	}
	// O_NONBLOCK: were the name swapped for a FIFO after the look, the
	// open returns at once instead of waiting for a writer (on a regular
	// file the flag changes nothing). O_NOFOLLOW: nor is a link followed.
	f, err := root.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrNotFound
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, 0, fmt.Errorf("%s: replaced by a link while being opened: %w", key, ErrNotRegular)
	}
	if err != nil {
		return nil, 0, err
	}
	// The name may have been swapped between the look and the open.
	opened, err := f.Stat()
	if err != nil || !os.SameFile(fi, opened) {
		f.Close()
		return nil, 0, fmt.Errorf("%s: replaced while being opened: %w", key, ErrNotRegular)
	}
	return f, opened.Size(), nil
}

// put writes data to a temporary file beside the object's file (so the
// rename never crosses file systems) and renames it into place: readers see
// the old object or the whole new one. The temporary name ends in ".tmp"; a
// writer killed before the rename leaves one, which RemoveStaleTemps
// deletes later.
//
// put does not fsync each file: Store.Flush syncs the whole file system once
// before anything that refers to the objects (a manifest, a ledger
// confirmation) is published, and is called again after the manifest. An
// fsync per chunk made staging 64 MiB 15 % dearer in CPU and 27 % slower
// (bench/trust-overhead.sh) for no stronger promise: nothing refers to an
// object before Flush, and every chunk is authenticated when read.
func (b *dirBucket) put(ctx context.Context, key string, data []byte) error {
	return cleanPathErr(b.putFile(ctx, key, data))
}

func (b *dirBucket) putFile(ctx context.Context, key string, data []byte) error {
	path, err := b.rel(key)
	if err != nil {
		return err
	}
	root, err := b.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	if err := ctx.Err(); err != nil {
		return err // nothing written: nothing crossed
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := path + "." + hex.EncodeToString(rnd[:]) + ".tmp"
	f, err := createIn(root, tmp)
	if err != nil {
		return err
	}
	n, err := f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err() // a cancelled write publishes nothing
	}
	if err == nil {
		err = root.Rename(tmp, path)
	}
	if err != nil {
		root.Remove(tmp)
		if n > 0 {
			// The bytes written reached the store's disk (a site's, on a
			// shared mount) and are gone: they crossed, and no reading of
			// the store will find them (Crossed), as an S3 upload's
			// aborted parts.
			return &UploadError{Crossed: int64(n), Err: err}
		}
		return err
	}
	return nil
}

// createIn creates the new file name (a path inside root), and the
// directories above it. Emptied directories are removed (del, and the
// listing's walk): one removed between making it and creating the file in
// it is made again, a few times, so a writer never loses to a remover.
func createIn(root *os.Root, name string) (*os.File, error) {
	dir := filepath.Dir(name)
	for try := 0; ; try++ {
		var err error
		if dir != "." {
			err = root.MkdirAll(dir, 0o777)
		}
		if err == nil && beforeCreate != nil {
			beforeCreate()
		}
		if err == nil {
			// 0666 (less the umask), as the objects' directories are 0777:
			// the store's contents are sealed, and whoever may read the
			// directory may read the files.
			var f *os.File
			if f, err = root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
				return f, nil
			}
		}
		// Made, then removed before the file was in it: ErrNotExist, or
		// ErrExist from MkdirAll when it went between being made and
		// being looked at.
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) || try == createTries-1 {
			return nil, err
		}
	}
}

// createTries is how many times createIn makes a file's directories, each
// time another removed one of them as emptied before the file was in it.
const createTries = 16

// beforeCreate, set by tests, runs in createIn between making the
// directories and creating the file: where a remover may strike.
var beforeCreate func()

// del removes an object's file, then the directories of the layout above
// it (layoutDirs) that this left empty: a dataset's chunks are spread
// over 256 directories, and a removed dataset's empty ones, left behind,
// counted against every later listing's budget (listDirBudget) until
// listings of the store failed.
func (b *dirBucket) del(ctx context.Context, key string) error {
	return cleanPathErr(b.delFile(key))
}

func (b *dirBucket) delFile(key string) error {
	path, err := b.rel(key)
	if err != nil {
		return err
	}
	root, err := b.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, dir := range layoutDirs(path) {
		if !removeEmptyDir(root, dir) {
			break
		}
	}
	return nil
}

// layoutDirs returns the directories above the file path (innermost
// first) that the store's layout made for it: those below its nearest
// "meridian" directory (a dataset's, its chunks', a chunk directory).
// That directory and those above it (a tenant's, a site's prefix, which
// an operator may have made, with permissions of their own) stay, and a
// key outside the layout has none.
func layoutDirs(path string) []string {
	var dirs []string
	for dir := filepath.Dir(path); dir != "."; dir = filepath.Dir(dir) {
		if filepath.Base(dir) == strings.TrimSuffix(rootPrefix, "/") {
			return dirs
		}
		dirs = append(dirs, dir)
	}
	return nil
}

// removeEmptyDir removes dir (inside root) if it is an empty directory,
// and reports whether it did. A directory that is not empty (a writer put
// a file in it) stays; a writer that made it and is about to put a file
// in it makes it again (createIn).
func removeEmptyDir(root *os.Root, dir string) bool {
	// Only a directory: a link where one was is not the store's to remove.
	if fi, err := root.Lstat(dir); err != nil || !fi.IsDir() {
		return false
	}
	return root.Remove(dir) == nil
}

// delMany removes keys one at a time: a directory has no batch delete.
func (b *dirBucket) delMany(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.del(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// list walks the directory that holds every key with the prefix (the
// prefix up to its last slash) and yields the files, and other things that
// are not directories, whose keys start with the prefix.
//
// Each directory is read a batch of entries at a time, never whole, and
// the walk is bounded: the caller counts the keys it is given, and the
// walk counts every entry that is not one (a directory, a name without
// the prefix), refusing (ErrListTooLong) once they pass listDirBudget and
// one for each key yielded, and a tree deeper than maxListDepth. A site's
// directory holding millions of empty directories, or one directory of
// millions of names, used to be read whole, level by level, into memory
// and walked until the caller's deadline, since only keys were counted.
//
// A directory the walk finds empty, or empties of such directories, it
// removes (below the directory listed), and up to listDirBudget of them
// do not count: what removed datasets left before del removed emptied
// directories, or a writer killed between making a directory and putting
// its file there, would otherwise count against every listing for ever,
// until a store holding enough of them could not be listed.
func (b *dirBucket) list(ctx context.Context, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		root := "."
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			if _, err := b.path(prefix[:i]); err != nil {
				yield(Object{}, err)
				return
			}
			root = prefix[:i]
		}
		// Walked inside a Root: a link is listed as what it is, never
		// followed out of the directory, even where a directory of keys
		// should be.
		r, err := b.openRoot()
		if err != nil {
			yield(Object{}, cleanPathErr(err))
			return
		}
		defer r.Close()
		w := &dirWalk{r: r, prefix: prefix, root: root, yield: yield}
		if _, err := w.walk(ctx, root, 0); err != nil && err != errStopList {
			yield(Object{}, cleanPathErr(err))
		}
	}
}

// listDirBudget is how many entries that are not keys (directories, names
// without the prefix asked) a listing of a file store may read, besides
// one for each key it yields and as many empty directories it removes,
// before it is refused: a dataset's chunks are spread over 256
// directories, so a store holding thousands of datasets stays far within
// it.
var listDirBudget = 1 << 20

// maxListDepth is how deep below the directory listed a file store's walk
// goes before it is refused: a key is a few segments deep, a site's
// prefix and a tenant's a few more.
const maxListDepth = 64

// listBatch is how many entries of a directory are read at a time.
const listBatch = 256

// dirWalk is one listing of a file store.
type dirWalk struct {
	r            *os.Root
	prefix, root string
	yield        func(Object, error) bool
	keys, others int
	// removed is how many emptied directories the walk removed and did
	// not count, at most listDirBudget.
	removed int
}

// walk lists dir (a slash-separated path inside the root), depth levels
// below the directory listed, and reports whether it removed dir as empty
// (never the directory listed itself) or found it gone.
func (w *dirWalk) walk(ctx context.Context, dir string, depth int) (gone bool, err error) {
	if depth > maxListDepth {
		return false, fmt.Errorf("%s: directories more than %d deep: %w", clipKey(dir), maxListDepth, ErrListTooLong)
	}
	// Opened as a directory (O_DIRECTORY): os.Root.Open opens the last
	// name as whatever it is, and a FIFO put in place of a directory
	// listed a moment before (or of the directory of the prefix) was
	// opened to read, waiting for a writer, and the listing with it, for
	// good. Anything but a directory now fails at once with ENOTDIR.
	f, err := atomicfile.OpenDirIn(w.r, filepath.FromSlash(dir))
	if err != nil {
		if dir == w.root && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			return false, nil // nothing under the prefix yet, or a file's directory part
		}
		if dir != w.root && errors.Is(err, fs.ErrNotExist) {
			return true, nil // removed while listing
		}
		// A directory listed a moment ago and something else now is
		// refused, naming it (as a directory replaced by a file always
		// was): its keys may be anywhere by now.
		return false, err
	}
	// kept counts the entries still there: a directory none of whose
	// entries stayed is empty now.
	kept := 0
	for {
		if err := ctx.Err(); err != nil {
			f.Close()
			return false, err
		}
		ents, err := f.ReadDir(listBatch)
		for _, d := range ents {
			gone, err := w.entry(ctx, dir, d, depth)
			if err != nil {
				f.Close()
				return false, err
			}
			if !gone {
				kept++
			}
		}
		switch {
		case err == io.EOF:
			f.Close()
			if kept > 0 || dir == w.root {
				return false, nil
			}
			return removeEmptyDir(w.r, filepath.FromSlash(dir)), nil
		case err != nil && errors.Is(err, fs.ErrNotExist):
			// Removed, emptied, while being read: nothing more is in it.
			f.Close()
			return dir != w.root, nil
		case err != nil:
			f.Close()
			return false, err
		}
	}
}

// entry lists one entry of dir: a key it yields, a directory it walks, or
// another it counts against the budget. It reports whether the entry was
// a directory the walk removed as empty, or found gone.
func (w *dirWalk) entry(ctx context.Context, dir string, d fs.DirEntry, depth int) (gone bool, err error) {
	key := d.Name()
	if dir != "." {
		key = dir + "/" + key
	}
	isKey := !d.IsDir() && strings.HasPrefix(key, w.prefix)
	if !isKey {
		if w.others++; w.others > listDirBudget+w.keys {
			return false, fmt.Errorf("over %d directories and other entries that are not objects: %w", listDirBudget+w.keys, ErrListTooLong)
		}
	}
	if d.IsDir() {
		// Skip directories that cannot hold a key with the prefix.
		if !strings.HasPrefix(key+"/", w.prefix) && !strings.HasPrefix(w.prefix, key+"/") {
			return false, nil
		}
		gone, err := w.walk(ctx, key, depth+1)
		if gone && w.removed < listDirBudget {
			w.removed++
			w.others--
		}
		return gone, err
	}
	if !isKey {
		return false, nil
	}
	fi, err := d.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed while listing
	}
	if err != nil {
		return false, err
	}
	w.keys++
	if !w.yield(Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil) {
		return false, errStopList
	}
	return false, nil
}

// errStopList ends a walk whose consumer stopped early.
var errStopList = errors.New("listing stopped")

// abortUploads does nothing: a file store's writes are single files.
func (b *dirBucket) abortUploads(ctx context.Context, prefix string, before time.Time, limit int) (int, error) {
	return 0, nil
}

func (b *dirBucket) close() error { return nil }
