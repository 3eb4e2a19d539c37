package dataset

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/restic/chunker"

	"meridian.dev/meridian/seal"
)

// Chunk size bounds. A cut may fall only after MinChunk bytes, then with
// probability 2^-averageBits per byte, so chunks average about
// MinChunk + 512 KiB = 1.5 MiB. The chunker skips rolling-hash work on the
// first MinChunk bytes of each chunk, so a large minimum with fewer average
// bits chunks faster (about 1.4x here) for the same mean chunk size.
const (
	MinChunk    = 1 << 20
	MaxChunk    = 8 << 20
	averageBits = 19
)

// AddOptions says what to pack and where.
type AddOptions struct {
	Name    string            // dataset name (DNS label)
	Root    string            // directory to read
	Store   *Store            // home store
	Sealer  *seal.Sealer      // from the dataset's key
	Workers int               // files processed at once; 0 means GOMAXPROCS
	OnStart func(total int64) // optional: called once with the bytes to read, before reading
	OnBytes func(n int64)     // optional: called (concurrently) as plaintext bytes are processed
}

// AddResult reports what Add did.
type AddResult struct {
	Manifest   *Manifest
	Files      int
	Bytes      int64 // plaintext bytes read
	Chunks     int   // distinct chunks in the dataset
	NewChunks  int   // chunks written this time
	NewBytes   int64 // sealed bytes written this time
	Polynomial string
	// ManifestSHA256 is the hex SHA-256 of the sealed manifest as written.
	ManifestSHA256 string
}

// Add reads every file under opts.Root, splits it into content-defined
// chunks, seals and writes the chunks the store lacks, then writes the
// manifest. Chunks are written first and the manifest last, each object
// atomically, so a reader never sees a manifest naming absent chunks; an
// interrupted Add leaves only whole, unreferenced chunks, which the next Add
// reuses.
func Add(ctx context.Context, opts AddOptions) (*AddResult, error) {
	if err := CheckName(opts.Name); err != nil {
		return nil, err
	}
	_, rt, files, err := walkRoot(opts.Root)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	var walked int64
	for _, f := range files {
		walked += f.size
	}
	if opts.OnStart != nil {
		opts.OnStart(walked)
	}
	seed := opts.Sealer.ChunkerSeed()
	pol, err := chunker.DerivePolynomial(rand.NewChaCha8(seed))
	if err != nil {
		return nil, fmt.Errorf("chunker polynomial: %w", err)
	}
	// The home store's listing is its server's to choose: read within a
	// bound, not until the caller gives up.
	have, err := listChunks(ctx, opts.Store, opts.Name, addListBound(len(files), walked))
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Each worker takes whole files: chunk, name, seal and write, so that
	// chunking (the one serial step within a file) runs in parallel across
	// files. Chunk ids are claimed in a shared map so that a chunk shared by
	// two files is sealed and written once.
	m := &Manifest{Version: ManifestVersion, Dataset: opts.Name, Files: make([]File, len(files))}
	var claimed sync.Map
	var newChunks, newBytes, total atomic.Int64
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(workers, max(len(files), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &adder{opts: opts, root: rt, pol: pol, have: have, claimed: &claimed, h: opts.Sealer.NewChunkHasher(),
				buf: make([]byte, 0, MaxChunk), sealBuf: make([]byte, 0, seal.SealedSize(MaxChunk)),
				ch: chunker.NewWithBoundaries(nil, pol, MinChunk, MaxChunk)}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				f, err := w.file(ctx, files[i], &newChunks, &newBytes)
				if err != nil {
					cancel(err)
					return
				}
				m.Files[i] = f
				total.Add(f.Size)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	enc, err := m.Encode(opts.Sealer)
	if err != nil {
		return nil, err
	}
	if err := opts.Store.Flush(); err != nil {
		return nil, err
	}
	if err := Put(ctx, opts.Store, ManifestKey(opts.Name), enc); err != nil {
		return nil, err
	}
	if err := opts.Store.Flush(); err != nil {
		return nil, err
	}
	return &AddResult{
		Manifest:   m,
		Files:      len(files),
		Bytes:      total.Load(),
		Chunks:     len(m.UniqueChunks()),
		NewChunks:  int(newChunks.Load()),
		NewBytes:   newBytes.Load(),
		Polynomial: pol.String(),

		ManifestSHA256: hexSum(enc),
	}, nil
}

// adder is one Add worker's reusable state.
type adder struct {
	opts    AddOptions
	pol     chunker.Pol
	have    map[seal.ID]int64
	claimed *sync.Map
	h       hash.Hash
	ch      *chunker.Chunker
	buf     []byte
	sealBuf []byte
	// root is the tree Add reads, opened (walkRoot); nil for AddTar.
	root *os.Root
}

// file chunks, names, seals and writes one file and returns its manifest entry.
func (w *adder) file(ctx context.Context, sf srcFile, newChunks, newBytes *atomic.Int64) (File, error) {
	fd, err := openListed(w.root, sf)
	if err != nil {
		return File{}, err
	}
	defer fd.Close()
	return w.read(ctx, &notPast{r: fd, left: sf.size, size: sf.size, rel: sf.rel}, sf.rel, sf.mode, newChunks, newBytes)
}

// ErrChangedSinceListed is a source file that is not, when Add opens it,
// the one its walk listed and judged.
var ErrChangedSinceListed = errors.New("changed since it was listed")

// openListed opens sf's file as its walk judged it: not through a link
// at its last part, not waiting on a FIFO, and only the regular file of
// the device and inode the walk saw. It was opened by its name, which
// whoever may write in the tree could change between the walk and the
// open: a link to a file outside the root (a key, which was then sealed
// and staged), a FIFO (which held Add for good) or a device (read
// without end).
func openListed(rt *os.Root, sf srcFile) (*os.File, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !sf.link {
		flags |= syscall.O_NOFOLLOW
	}
	fd, err := rt.OpenFile(filepath.FromSlash(sf.open), flags, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: %w: it is now a link; nothing added", shownPath(sf.rel), ErrChangedSinceListed)
	}
	if err != nil {
		// Gone, or now leading out of the root (which the root refuses
		// to follow): not the file listed.
		return nil, fmt.Errorf("%s: %w: %v; nothing added", shownPath(sf.rel), ErrChangedSinceListed, err)
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, err
	}
	dev, ino := fileID(fi)
	if !fi.Mode().IsRegular() || dev != sf.dev || ino != sf.ino {
		fd.Close()
		what := "another file"
		if !fi.Mode().IsRegular() {
			what = "not a regular file (" + fi.Mode().Type().String() + ")"
		}
		return nil, fmt.Errorf("%s: %w: it is now %s; nothing added", shownPath(sf.rel), ErrChangedSinceListed, what)
	}
	// Read as a regular file is, waiting where it must: O_NONBLOCK was
	// only for the open (a FIFO put in its place), and left on, a file
	// system that honours it (FUSE) answered a read EAGAIN as an error.
	if err := syscall.SetNonblock(int(fd.Fd()), false); err != nil {
		fd.Close()
		return nil, err
	}
	return fd, nil
}

// notPast reads a source file up to the size its walk listed, and fails
// past it: a file that grows while it is read (appended to without end)
// is refused rather than read until the store is full.
type notPast struct {
	r          io.Reader
	left, size int64
	rel        string
}

func (n *notPast) Read(p []byte) (int, error) {
	if n.left <= 0 {
		var one [1]byte
		k, err := n.r.Read(one[:])
		if k > 0 {
			return 0, fmt.Errorf("%s: %w: it grew past the %d bytes it was listed at while it was read; nothing added", shownPath(n.rel), ErrChangedSinceListed, n.size)
		}
		return 0, err
	}
	if int64(len(p)) > n.left {
		p = p[:n.left]
	}
	k, err := n.r.Read(p)
	n.left -= int64(k)
	return k, err
}

// read chunks, names, seals and writes what r holds as the file rel.
func (w *adder) read(ctx context.Context, r io.Reader, rel string, mode fs.FileMode, newChunks, newBytes *atomic.Int64) (File, error) {
	w.ch.ResetWithBoundaries(noShortEnd{r}, w.pol, MinChunk, MaxChunk)
	w.ch.SetAverageBits(averageBits)
	out := File{Path: rel, Mode: uint32(mode)}
	for {
		if err := ctx.Err(); err != nil {
			return File{}, err
		}
		c, err := w.ch.Next(w.buf[:0])
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return File{}, fmt.Errorf("read %s: %w", shownPath(rel), err)
		}
		w.buf = c.Data[:0]
		w.h.Reset()
		w.h.Write(c.Data)
		var id seal.ID
		w.h.Sum(id[:0])
		out.Chunks = append(out.Chunks, ChunkRef{ID: id, Size: int64(len(c.Data))})
		out.Size += int64(len(c.Data))
		stored := w.have[id] == int64(seal.SealedSize(len(c.Data)))
		if _, dup := w.claimed.LoadOrStore(id, true); !dup && !stored {
			sealed, err := w.opts.Sealer.Seal(w.sealBuf[:0], id, c.Data)
			if err != nil {
				return File{}, err
			}
			w.sealBuf = sealed[:0]
			if err := Put(ctx, w.opts.Store, ChunkKey(w.opts.Name, id), sealed); err != nil {
				return File{}, err
			}
			newChunks.Add(1)
			newBytes.Add(int64(len(sealed)))
		}
		if w.opts.OnBytes != nil {
			w.opts.OnBytes(int64(len(c.Data)))
		}
	}
}

// ErrCutShort is a stream that ended inside a file: a tar entry whose
// content stops before the size its header gave.
var ErrCutShort = errors.New("the stream ended inside the file")

// noShortEnd turns a reader's io.ErrUnexpectedEOF into ErrCutShort. The
// chunker takes io.ErrUnexpectedEOF as the short last read of a file and
// reads on; a tar entry cut short answers it to every later read, with no
// bytes, so the chunker would read for ever.
type noShortEnd struct{ r io.Reader }

func (n noShortEnd) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = ErrCutShort
	}
	return k, err
}

// addTarListBound is how many objects AddTar reads of a listing of the
// chunks already stored under its name: addTarListBase besides one for
// each chunk a stream of maxFiles files and maxBytes bytes can make.
func addTarListBound(maxFiles int, maxBytes int64) int {
	chunks := int64(max(maxFiles, 0)) + max(maxBytes, 0)/MinChunk
	return int(min(chunks, 1<<40)) + addTarListBase
}

// addListBound is how many listed objects Add reads of its store's
// listing of the dataset's chunks, for files holding bytes in all: as
// ListBound, 16 for each chunk they can make (older versions leave
// theirs) and a million besides (addTarListBase).
func addListBound(files int, bytes int64) int {
	chunks := int64(max(files, 0)) + max(bytes, 0)/MinChunk
	return int(min(16*chunks, 1<<40)) + addTarListBase
}

// addTarListBase is the part of addTarListBound that is not the stream's
// own chunks (older versions', as ListBound allows); a variable for tests.
var addTarListBase = 1 << 20

// MaxTarEntries bounds the entries of every kind (files, directories, and
// any other the stream names before it is refused) that AddTar reads of
// one stream. Files are bounded by maxFiles and their content by
// maxBytes, but a directory entry adds nothing to the manifest and costs
// only its header: without this bound a stream of directory entries that
// never ends would keep AddTar reading and parsing until its caller gave
// up. A checkpoint holds a directory entry for each of its directories,
// so the bound is well above any maxFiles a caller passes.
const MaxTarEntries = 1 << 18

// maxTarHeaderBytes bounds what one entry's headers take of a tar stream:
// its header block, the extended headers before it (PAX records, GNU long
// names) and the padding of the file before. The tar reader reads any
// number of extended headers for the one entry they precede, so a stream
// of them without end would be read whole, none of it an entry that
// MaxTarEntries counts. An entry Pack writes takes a few KiB at most.
const maxTarHeaderBytes = 64 << 10

// headerBound is the reader AddTar reads a tar stream through: while
// left >= 0 (the tar reader looking for the next entry) it reads at most
// left more bytes, then fails.
type headerBound struct {
	r    io.Reader
	left int64
}

func (h *headerBound) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.r.Read(p)
	}
	if h.left == 0 {
		return 0, errHeaderTooLong
	}
	n, err := h.r.Read(p[:min(int64(len(p)), h.left)])
	h.left -= int64(n)
	return n, err
}

var errHeaderTooLong = fmt.Errorf("an entry's headers take more than %d bytes", maxTarHeaderBytes)

// AddTar is Add over a tar stream instead of a directory: regular files and
// directories only (a link, device or other entry is an error), paths
// relative and clean, at most maxFiles files and maxBytes bytes of file
// content, at most MaxTarEntries entries of any kind, each in at most
// maxTarHeaderBytes of headers. It is how a process seals what a less trusted one hands it,
// without opening any path that process chose. It reads at most
// 1<<20 objects of the store's listing of chunks already there, besides
// one for each chunk the stream can make (ErrListTooLong past that).
func AddTar(ctx context.Context, name string, r io.Reader, store *Store, sealer *seal.Sealer, maxFiles int, maxBytes int64) (*AddResult, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	pol, err := chunker.DerivePolynomial(rand.NewChaCha8(sealer.ChunkerSeed()))
	if err != nil {
		return nil, fmt.Errorf("chunker polynomial: %w", err)
	}
	// The store is where the less trusted process's output goes (a
	// site's): its listing is read within a bound, each chunk the stream
	// may make and a million besides, as ListBound has it.
	have, err := listChunks(ctx, store, name, addTarListBound(maxFiles, maxBytes))
	if err != nil {
		return nil, err
	}
	w := &adder{opts: AddOptions{Name: name, Store: store, Sealer: sealer}, pol: pol, have: have, claimed: &sync.Map{},
		h: sealer.NewChunkHasher(), buf: make([]byte, 0, MaxChunk), sealBuf: make([]byte, 0, seal.SealedSize(MaxChunk)),
		ch: chunker.NewWithBoundaries(nil, pol, MinChunk, MaxChunk)}
	m := &Manifest{Version: ManifestVersion, Dataset: name}
	var newChunks, newBytes atomic.Int64
	var total int64
	bound := &headerBound{r: r}
	tr := tar.NewReader(bound)
	for entries := 0; ; entries++ {
		bound.left = maxTarHeaderBytes
		hdr, err := tr.Next()
		bound.left = -1
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("tar: %w", err)
		}
		if entries >= MaxTarEntries {
			return nil, fmt.Errorf("tar entry %q: more than %d entries", hdr.Name, MaxTarEntries)
		}
		rel := strings.TrimSuffix(path.Clean(hdr.Name), "/")
		if err := CheckPath(rel); err != nil {
			return nil, fmt.Errorf("tar entry: %w", err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("tar entry %s: type %q is not a regular file", shownPath(rel), hdr.Typeflag)
		}
		// A PAX sparse file reads as a regular one of its whole size, the
		// holes as zeros: a stream of a few KiB would be chunked, hashed
		// and sealed as gigabytes. Pack never writes one.
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return nil, fmt.Errorf("tar entry %s: a sparse file (PAX %q) is not a regular file", shownPath(rel), k)
			}
		}
		if len(m.Files) >= maxFiles {
			return nil, fmt.Errorf("tar: more than %d files", maxFiles)
		}
		// The tar reader stops each file at its header's size, so the
		// headers bound what is read and sealed.
		if hdr.Size < 0 || hdr.Size > maxBytes-total {
			return nil, fmt.Errorf("tar entry %s: more than %d bytes in all", shownPath(rel), maxBytes)
		}
		f, err := w.read(ctx, tr, rel, fs.FileMode(hdr.Mode)&fs.ModePerm, &newChunks, &newBytes)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, f)
		total += f.Size
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	if err := m.Validate(); err != nil {
		return nil, err
	}
	enc, err := m.Encode(sealer)
	if err != nil {
		return nil, err
	}
	if err := store.Flush(); err != nil {
		return nil, err
	}
	if err := Put(ctx, store, ManifestKey(name), enc); err != nil {
		return nil, err
	}
	if err := store.Flush(); err != nil {
		return nil, err
	}
	return &AddResult{Manifest: m, Files: len(m.Files), Bytes: total, Chunks: len(m.UniqueChunks()),
		NewChunks: int(newChunks.Load()), NewBytes: newBytes.Load(), Polynomial: pol.String(), ManifestSHA256: hexSum(enc)}, nil
}

// hexSum is the hex SHA-256 of b.
func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Remove deletes a dataset from a store: the manifest first, so no reader
// finds a manifest whose chunks are going, then its unfinished uploads
// (on S3) and every object under its prefix. It returns how many objects
// it deleted, the manifest counted. It reads at most limit listed objects
// (ListBound), and as many uploads, past which it stops with
// ErrListTooLong: a site's store whose listing never ends would otherwise
// hold the call, sending a delete for every key it names, until the
// caller's deadline. What it deleted before stopping stays deleted, so
// on a genuine store holding more than limit objects, calling it again
// goes on where it stopped.
func Remove(ctx context.Context, b *Store, name string, limit int) (int, error) {
	if err := CheckName(name); err != nil {
		return 0, err
	}
	if err := b.Delete(ctx, ManifestKey(name)); err != nil {
		return 0, fmt.Errorf("remove %s: %w", name, err)
	}
	prefix := rootPrefix + name + "/"
	// Uploads a writer killed mid-way left hold parts of the dataset's
	// objects that no listing of objects shows: they go too.
	if _, err := b.b.abortUploads(ctx, b.prefix+prefix, time.Now(), limit); err != nil {
		return 1, fmt.Errorf("remove %s: %w", name, err)
	}
	n, listed := 1, 0
	// Keys are deleted a batch at a time as the listing goes: what is
	// kept of it is one batch, whatever the dataset's size.
	batch := make([]string, 0, deleteBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := b.deleteMany(ctx, batch); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for obj, err := range b.List(ctx, prefix) {
		if err != nil {
			return n, errors.Join(fmt.Errorf("remove %s: %w", name, err), flush())
		}
		if listed++; listed > limit {
			return n, errors.Join(fmt.Errorf("remove %s: list: over %d objects: %w", name, limit, ErrListTooLong), flush())
		}
		// A store may answer with keys it was not asked about: only the
		// dataset's own are deleted.
		if !strings.HasPrefix(obj.Key, prefix) {
			continue
		}
		if batch = append(batch, obj.Key); len(batch) == deleteBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// NamesWithPrefix lists the datasets in a store whose names begin with
// prefix (a sealed checkpoint's run, say), sorted: every name under which
// the store holds any object, a manifest or only chunks. It reads at most
// limit listed objects; past that it returns the names found so far with
// ErrListTooLong, so that a caller that removes them and lists again goes
// on where it stopped. Keys that do not name a valid dataset are skipped.
func NamesWithPrefix(ctx context.Context, b *Store, prefix string, limit int) ([]string, error) {
	names, _, err := ListedWithPrefix(ctx, b, prefix, limit, 0)
	return names, err
}

// Listed is what a store holds under one dataset's name, as listed.
type Listed struct {
	Objects int   // how many objects
	Bytes   int64 // what they hold
}

// ListedWithPrefix is NamesWithPrefix, with what the store holds under
// each name it returns. With most > 0 it stops, with ErrListTooLong, at
// the first object of a name past the first most: a store lists a name's
// objects together (one key prefix, or one directory), so each name it
// returns is whole.
func ListedWithPrefix(ctx context.Context, b *Store, prefix string, limit, most int) ([]string, map[string]Listed, error) {
	held := map[string]Listed{}
	listed := 0
	var err error
	for obj, lerr := range b.List(ctx, rootPrefix+prefix) {
		if lerr != nil {
			err = lerr
			break
		}
		if listed++; listed > limit {
			err = fmt.Errorf("list %s: over %d objects: %w", prefix, limit, ErrListTooLong)
			break
		}
		// A store may answer with keys it was not asked about.
		rest, ok := strings.CutPrefix(obj.Key, rootPrefix+prefix)
		if !ok {
			continue
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			continue
		}
		name := prefix + rest[:i]
		h, seen := held[name]
		if !seen && CheckName(name) != nil {
			continue
		}
		if !seen && most > 0 && len(held) == most {
			err = fmt.Errorf("list %s: over %d names: %w", prefix, most, ErrListTooLong)
			break
		}
		h.Objects++
		// Sizes are the store's claim: the sum stops at the largest
		// an int64 holds rather than wrap.
		h.Bytes += min(max(obj.Size, 0), math.MaxInt64-h.Bytes)
		held[name] = h
	}
	out := make([]string, 0, len(held))
	for name := range held {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, held, err
}
