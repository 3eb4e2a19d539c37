package dataset

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/seal"
)

// UnsealDir decrypts the dataset from a store into dir, which must be empty
// or absent, or hold what an unseal of the same version cut short left
// there. Each file is written under a temporary name, fsynced and renamed
// into place only after every chunk in it has authenticated, so a failure
// leaves no partial file under its real name.
//
// While it runs, dir holds a marker (unsealMarker) naming the version
// being unsealed, removed once every file is in place and every directory
// synced. An unseal cut short (a crash, a store that stopped answering)
// leaves the marker, and a later unseal of the same version into dir goes
// on: files already in place that match the manifest are kept, the others
// and the temporary files are written again. A directory that holds
// anything the manifest does not name, or whose marker names another
// version, is refused as a non-empty one is.
//
// A manifest whose files would make it write more than an unseal's bound
// (UnsealRatio) is refused, ErrUnsealBound, before anything is written.
//
// It trusts dir's path: it makes it and opens it by that path. A caller
// unsealing where another user or a workload may swap a directory on the
// way (a scratch, a shared tree) judges and opens the directory itself and
// unseals with OpenUnseal and Into, as the agent and `dataset unseal --to`
// do.
func UnsealDir(ctx context.Context, b *Store, s *seal.Sealer, name, dir string) (*Manifest, error) {
	return UnsealDirPinned(ctx, b, s, name, dir, "")
}

// UnsealDirPinned is UnsealDir for a version the caller recorded: pin is
// the hex SHA-256 of the manifest's stored form (as AddTar's caller
// computes it), and a stored manifest with another digest is refused
// (ErrManifestPin) before anything is written. An empty pin checks none.
func UnsealDirPinned(ctx context.Context, b *Store, s *seal.Sealer, name, dir, pin string) (*Manifest, error) {
	u, err := OpenUnseal(ctx, b, s, name, pin)
	if err != nil {
		return nil, err
	}
	// Clean: the directory's errors name it as a path no one wrote
	// ("out/./x/") otherwise.
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d, err := openDirNoFollow(dir)
	if err != nil {
		return nil, fmt.Errorf("--to %s: %w", dir, err)
	}
	defer d.Close()
	if err := u.Into(ctx, d); err != nil {
		return nil, err
	}
	return u.Manifest(), nil
}

// Unsealing is a dataset's manifest read, authenticated and checked
// against an unseal's bound (OpenUnseal), to be written into a directory
// (Into).
type Unsealing struct {
	b      *Store
	s      *seal.Sealer
	name   string
	m      *Manifest
	marker string
	zero   map[seal.ID]int64 // the chunks known to be zeros, with their sizes
}

// OpenUnseal reads dataset name's manifest, refusing one whose digest is
// not pin (ErrManifestPin; an empty pin checks none) and one whose files
// would make it write more than an unseal's bound (ErrUnsealBound), before
// anything is written: the caller makes and opens its directory only then.
func OpenUnseal(ctx context.Context, b *Store, s *seal.Sealer, name, pin string) (*Unsealing, error) {
	m, stored, err := readManifestStored(ctx, b, s, name, pin)
	if err != nil {
		return nil, err
	}
	zero, err := checkUnsealBound(ctx, b, s, name, m, stored.size, true)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	return &Unsealing{b: b, s: s, name: name, m: m, marker: unsealMarker(m, stored.sum), zero: zero}, nil
}

// Manifest is the manifest the unseal writes.
func (u *Unsealing) Manifest() *Manifest { return u.m }

// unsealFileHook, when set, is called with each file's path in the
// manifest once the directory it goes into is open, before the file is
// written there. Tests set it to change the directory meanwhile.
var unsealFileHook func(rel string)

// Into writes the dataset's files into the directory open at dir, as
// UnsealDir describes: dir must be empty or hold an unseal of this
// version cut short. Every file and directory is made, renamed or removed
// through dir's handle, each directory below it opened from the one above
// without following a link (dirChain), so that no swap of dir, of a
// directory above it or of one below it, after the caller opened dir, can
// lead the plaintext elsewhere. Its errors name dir by dir.Name().
func (u *Unsealing) Into(ctx context.Context, dir *os.File) error {
	to := filepath.Clean(dir.Name())
	ents, err := readDirAt(dir)
	if err != nil {
		return fmt.Errorf("--to %s: %w", to, err)
	}
	kept := map[string]bool{} // files a cut unseal left, already whole
	if len(ents) > 0 {
		if kept, err = resumable(u.s, u.m, dir, u.marker); err != nil {
			return fmt.Errorf("--to %s: directory is not empty: %w", to, err)
		}
	} else if err := writeMarker(dir, u.marker); err != nil {
		return fmt.Errorf("--to %s: %w", to, err)
	}
	var buf []byte
	chain := &dirChain{top: dir}
	defer chain.close()
	for _, f := range u.m.Files {
		// Paths were checked by ParseManifest (relative, no "..",
		// sorted). A kept file's directory is entered too: it is
		// synced as it is left, as one written to.
		d, err := chain.enter(path.Dir(f.Path))
		if err != nil {
			return err
		}
		if kept[f.Path] {
			continue
		}
		if unsealFileHook != nil {
			unsealFileHook(f.Path)
		}
		if err := writeFileFromChunks(ctx, u.b, u.s, u.name, f, d, path.Base(f.Path), &buf, u.zero); err != nil {
			return err
		}
	}
	// The renames, and the directories made, are durable before the marker
	// goes: a crash before then leaves the marker, and an unseal after it
	// checks every file again.
	if err := chain.leaveTo(0); err != nil {
		return err
	}
	if err := atomicfile.SyncOpenDir(dir); err != nil {
		return err
	}
	if err := unix.Unlinkat(int(dir.Fd()), u.marker, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: filepath.Join(to, u.marker), Err: err}
	}
	return atomicfile.SyncOpenDir(dir)
}

// unsealMarker is the name of the marker an unseal of m keeps in its
// directory while it runs: ".meridian-unseal." and sum, the hex SHA-256 of
// the manifest's stored form, so that the name says which version (an
// empty file takes no room on a full disk); should the dataset hold a
// file or directory of that name, the first with ".1", ".2", … added that
// it does not.
func unsealMarker(m *Manifest, sum string) string {
	top := map[string]bool{}
	for _, f := range m.Files {
		first, _, _ := strings.Cut(f.Path, "/")
		top[first] = true
	}
	name := ".meridian-unseal." + sum
	for i := 1; top[name]; i++ {
		name = ".meridian-unseal." + sum + "." + strconv.Itoa(i)
	}
	return name
}

// writeMarker creates the (empty) marker in the directory open at dir,
// and makes it durable, with dir's own entry in its parent.
func writeMarker(dir *os.File, marker string) error {
	fd, err := unix.Openat(int(dir.Fd()), marker, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "open", Path: filepath.Join(dir.Name(), marker), Err: err}
	}
	if err := unix.Close(fd); err != nil {
		return err
	}
	if err := atomicfile.SyncOpenDir(dir); err != nil {
		return err
	}
	return syncParentOf(dir)
}

// resumable checks that the directory open at dir holds only what an
// unseal of m cut short
// wrote there: its marker, naming this version, the manifest's files and
// the directories above them, and temporary files beside them, which it
// removes. It returns the files that are whole (the manifest's size, mode
// and chunks); the others are to be written again.
func resumable(s *seal.Sealer, m *Manifest, dir *os.File, marker string) (map[string]bool, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), marker, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errors.New("it holds no unseal of this version cut short")
	}
	files := make(map[string]*File, len(m.Files))
	parents := map[string]bool{}
	for i := range m.Files {
		p := m.Files[i].Path
		files[p] = &m.Files[i]
		for d := path.Dir(p); d != "." && !parents[d]; d = path.Dir(d) {
			parents[d] = true
		}
	}
	// Temporary files are named "." + the file's name + ".<random>.tmp",
	// beside it (writeFileFromChunks).
	isTemp := func(rel string) bool {
		d, base := path.Split(rel)
		if !strings.HasPrefix(base, ".") || !strings.HasSuffix(base, ".tmp") {
			return false
		}
		stem := strings.TrimSuffix(base[1:], ".tmp")
		i := strings.LastIndexByte(stem, '.')
		if i < 0 {
			return false
		}
		return files[d+stem[:i]] != nil
	}
	kept := map[string]bool{}
	seen := 0
	var buf []byte
	err := walkAt(dir, ".", func(rel string, in *os.File, d fs.DirEntry) error {
		if seen++; seen > 2*len(m.Files)+len(parents)+1 {
			return errors.New("it holds more than an unseal of the dataset writes")
		}
		switch {
		case rel == marker:
			return nil
		case d.IsDir() && parents[rel]:
			return nil
		case d.Type().IsRegular() && files[rel] != nil:
			ok, err := sameFile(s, in, d.Name(), files[rel], &buf)
			if err != nil {
				return err
			}
			kept[rel] = ok
			return nil
		case d.Type().IsRegular() && isTemp(rel):
			if err := unix.Unlinkat(int(in.Fd()), d.Name(), 0); err != nil {
				return &fs.PathError{Op: "remove", Path: filepath.Join(in.Name(), d.Name()), Err: err}
			}
			return nil
		}
		return fmt.Errorf("it holds %s, which the dataset does not", rel)
	})
	if err != nil {
		return nil, err
	}
	return kept, nil
}

// sameFile reports whether the regular file name in the directory open
// at dir holds f: its size, its mode and, chunk by chunk, its content.
func sameFile(s *seal.Sealer, dir *os.File, name string, f *File, buf *[]byte) (bool, error) {
	p := filepath.Join(dir.Name(), name)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	fh := os.NewFile(uintptr(fd), p)
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != f.Size || fi.Mode().Perm() != os.FileMode(f.Mode)&0o700 {
		return false, nil
	}
	r := bufio.NewReaderSize(fh, 1<<20)
	for _, c := range f.Chunks {
		if int64(cap(*buf)) < c.Size {
			*buf = make([]byte, c.Size)
		}
		piece := (*buf)[:c.Size]
		if _, err := io.ReadFull(r, piece); err != nil {
			return false, nil
		}
		if s.ChunkID(piece) != c.ID {
			return false, nil
		}
	}
	return true, nil
}

// writeFileFromChunks writes f as base in the directory open at dir,
// under a temporary name renamed over base once whole. zero holds the
// chunks known to be zeros, with their sizes; those it finds are added.
func writeFileFromChunks(ctx context.Context, b *Store, s *seal.Sealer, name string, f File, dir *os.File, base string, buf *[]byte, zero map[seal.ID]int64) error {
	tmp, tmpName, err := createTempBelow(dir, base)
	if err != nil {
		return err
	}
	fd := int(dir.Fd())
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			unix.Unlinkat(fd, tmpName, 0)
		}
	}()
	// A chunk of zeros is skipped over, not written: the file keeps the
	// holes it had where it was packed (a sparse checkpoint stays sparse,
	// rather than taking its whole size on the next site's disk). The
	// chunker cuts a run of zeros into chunks of one id, so that chunk is
	// read and authenticated once and each later one is a seek.
	var at int64
	for _, c := range f.Chunks {
		if n, ok := zero[c.ID]; ok {
			if c.Size != n {
				// Read, it would fail to authenticate at that size.
				return fmt.Errorf("%s: chunk %s listed at %d bytes, read at %d: %w", f.Path, c.ID, c.Size, n, seal.ErrAuth)
			}
			at += n
			continue
		}
		out, err := ReadChunk(ctx, b, s, name, c, (*buf)[:0])
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		*buf = out
		if allZero(out) {
			zero[c.ID] = int64(len(out))
			at += int64(len(out))
			continue
		}
		if _, err := tmp.WriteAt(out, at); err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		at += int64(len(out))
	}
	if err := tmp.Truncate(at); err != nil { // the length, where it ends in zeros
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	if err := tmp.Chmod(os.FileMode(f.Mode) & 0o700); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := unix.Renameat(fd, tmpName, fd, base); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp.Name(), New: filepath.Join(dir.Name(), base), Err: err}
	}
	ok = true
	return nil
}

// allZero reports whether p holds only zero bytes.
func allZero(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p) != 0 {
			return false
		}
		p = p[8:]
	}
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

// UnsealTar streams the dataset as a tar archive to w, for a job prologue
// that pipes it straight into its scratch space. Each chunk is authenticated
// before any of its bytes are written; on failure the stream stops with an
// error and without the tar end marker, so `tar -x` reports it truncated.
// A manifest whose files would make the stream longer than an unseal's
// bound (UnsealRatio; zeros count here) is refused, ErrUnsealBound, before
// anything is written.
func UnsealTar(ctx context.Context, b *Store, s *seal.Sealer, name string, w io.Writer) (*Manifest, error) {
	return UnsealTarPinned(ctx, b, s, name, w, "")
}

// UnsealTarPinned is UnsealTar for the version whose stored manifest has
// the hex SHA-256 pin (see UnsealDirPinned); another is refused
// (ErrManifestPin) before anything is written. An empty pin checks none.
func UnsealTarPinned(ctx context.Context, b *Store, s *seal.Sealer, name string, w io.Writer, pin string) (*Manifest, error) {
	m, stored, err := readManifestStored(ctx, b, s, name, pin)
	if err != nil {
		return nil, err
	}
	if _, err := checkUnsealBound(ctx, b, s, name, m, stored.size, false); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	tw := tar.NewWriter(w)
	var buf []byte
	for _, f := range m.Files {
		hdr := &tar.Header{Name: f.Path, Mode: int64(f.Mode & 0o700), Size: f.Size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		for _, c := range f.Chunks {
			out, err := ReadChunk(ctx, b, s, name, c, buf[:0])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			buf = out
			if _, err := tw.Write(out); err != nil {
				return nil, err
			}
		}
	}
	return m, tw.Close()
}
