package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob" // registers s3://
	"gocloud.dev/gcerrors"

	"meridian.dev/meridian/seal"
)

// Store is a blob store holding sealed datasets. It is a gocloud.dev blob
// bucket plus what Meridian needs beyond it: the URL it was opened from and
// a way to make completed writes durable.
type Store struct {
	*blob.Bucket
	URL string
	dir string // set for file:// stores
	// prefix is the key prefix of a Sub store (its keys are relative to it).
	prefix string
}

// Sub returns a view of s under a key prefix ("t/acme/data/"): every key
// the view reads or writes is the prefix plus the key. Closing the view
// closes s. A tenant's objects at a shared site store live under the
// tenant's own prefix, so names chosen by tenants never meet.
func (s *Store) Sub(prefix string) *Store {
	if prefix == "" {
		return s
	}
	return &Store{Bucket: blob.PrefixedBucket(s.Bucket, prefix), URL: s.URL, dir: s.dir, prefix: s.prefix + prefix}
}

// Prefix is the key prefix of a Sub store.
func (s *Store) Prefix() string { return s.prefix }

// checkRegular refuses, on a file:// store, an object that is not a regular
// file: a FIFO would block the reader forever, a device or a link would read
// what the store's owner chose. S3 has no such objects.
func (s *Store) checkRegular(key string) error {
	if s.dir == "" {
		return nil
	}
	fi, err := os.Lstat(filepath.Join(s.dir, filepath.FromSlash(s.prefix+key)))
	if err != nil {
		return nil // missing: the reader reports it
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %v is not a regular file: %w", key, fi.Mode().Type(), ErrNotRegular)
	}
	return nil
}

// ErrNotRegular means a file:// store holds something other than a regular
// file under an object's name.
var ErrNotRegular = errors.New("not a regular file")

// Flush makes every object written so far durable before the caller
// publishes something that refers to them (a manifest). On a file:// store
// it syncs the file system that holds the store; on S3 a completed PUT is
// already durable, so it does nothing.
func (s *Store) Flush() error {
	if s.dir == "" {
		return nil
	}
	if err := syncFS(s.dir); err != nil {
		return fmt.Errorf("store %s: sync: %w", s.URL, err)
	}
	return nil
}

// OpenStore opens a blob store by URL: file:///dir (created if missing) or
// s3://bucket?endpoint=…&use_path_style=true&region=… for S3-compatible
// servers (credentials from the usual AWS_* environment variables).
//
// file:// stores write each object to a temporary file in the same directory
// and rename it into place, and keep no metadata side files.
func OpenStore(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		dir := u.Path
		if u.Host == "." {
			dir = "." + u.Path
		}
		if dir == "" {
			return nil, fmt.Errorf("store %q: file URL without a directory", rawURL)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		b, err := fileblob.OpenBucket(abs, &fileblob.Options{
			CreateDir: true,
			NoTempDir: true, // temp file beside the target, so rename never crosses devices
			Metadata:  fileblob.MetadataDontWrite,
		})
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", rawURL, err)
		}
		return &Store{Bucket: b, URL: rawURL, dir: abs}, nil
	case "s3":
		b, err := blob.OpenBucket(ctx, rawURL)
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", rawURL, err)
		}
		return &Store{Bucket: b, URL: rawURL}, nil
	default:
		return nil, fmt.Errorf("store %q: scheme %q not supported (want file:// or s3://)", rawURL, u.Scheme)
	}
}

// ListChunks returns the ids of the dataset's chunks present in the store,
// with their stored sizes. Keys that are not chunk names (temporary files)
// are ignored.
func ListChunks(ctx context.Context, b *Store, name string) (map[seal.ID]int64, error) {
	out := map[seal.ID]int64{}
	it := b.List(&blob.ListOptions{Prefix: ChunkPrefix(name)})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list chunks of %s: %w", name, err)
		}
		if id, ok := chunkIDFromKey(name, obj.Key); ok {
			out[id] = obj.Size
		}
	}
}

// Put writes one object so that readers see either nothing or all of it:
// the store's writer is aborted (nothing published) on any error.
func Put(ctx context.Context, b *Store, key string, data []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/octet-stream", DisableContentTypeDetection: true})
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if _, err := w.Write(data); err != nil {
		cancel() // abort: the blob library discards a write whose context ended
		_ = w.Close()
		return fmt.Errorf("write %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// ReadManifest reads and authenticates a dataset's manifest from a store.
func ReadManifest(ctx context.Context, b *Store, s *seal.Sealer, name string) (*Manifest, error) {
	data, err := ReadObject(ctx, b, ManifestKey(name), maxManifestBytes)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("dataset %s: no manifest in the store: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("dataset %s: read manifest: %w", name, err)
	}
	m, err := ParseManifest(data, s)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	if m.Dataset != name {
		return nil, fmt.Errorf("dataset %s: manifest names dataset %q", name, m.Dataset)
	}
	return m, nil
}

// ErrNotFound means a manifest or chunk is not in the store.
var ErrNotFound = errors.New("not found")

// ReadChunk reads a sealed chunk and opens it, returning its plaintext
// (appended to dst). Missing chunks wrap ErrNotFound; altered ones wrap
// seal.ErrAuth or seal.ErrIDMismatch.
func ReadChunk(ctx context.Context, b *Store, s *seal.Sealer, name string, c ChunkRef, dst []byte) ([]byte, error) {
	sealed, err := ReadObject(ctx, b, ChunkKey(name, c.ID), int64(seal.SealedSize(int(c.Size))))
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", c.ID, err)
	}
	if int64(len(sealed)) != int64(seal.SealedSize(int(c.Size))) {
		return nil, fmt.Errorf("chunk %s: %d bytes stored, want %d (truncated or padded): %w", c.ID, len(sealed), seal.SealedSize(int(c.Size)), seal.ErrAuth)
	}
	return s.Open(dst, c.ID, sealed)
}

// RemoveStaleTemps deletes temporary objects (names ending in ".tmp") under
// the dataset's prefix that are older than age: what a writer killed in the
// middle of a write leaves behind on a file:// store. They were never
// visible under a chunk's name. It returns how many it removed.
func RemoveStaleTemps(ctx context.Context, b *Store, name string, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	n := 0
	it := b.List(&blob.ListOptions{Prefix: rootPrefix + name + "/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("list %s: %w", name, err)
		}
		if !strings.HasSuffix(obj.Key, ".tmp") || obj.ModTime.After(cutoff) {
			continue
		}
		if err := b.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return n, fmt.Errorf("remove stale %s: %w", obj.Key, err)
		}
		n++
	}
}

// ErrTooLarge means an object is larger than the caller allows; a store
// serving it is faulty or hostile.
var ErrTooLarge = errors.New("object larger than expected")

// SameObject reports whether the object key holds exactly want. It reads
// the object in small pieces and compares as it goes, so checking what was
// just written costs no buffer the size of the object.
func SameObject(ctx context.Context, b *Store, key string, want []byte) (bool, error) {
	if err := b.checkRegular(key); err != nil {
		return false, err
	}
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return false, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		return false, nil
	}
	var piece [64 << 10]byte
	for {
		n, err := r.Read(piece[:])
		if n > len(want) || !bytes.Equal(piece[:n], want[:n]) {
			return false, nil
		}
		want = want[n:]
		switch {
		case err == io.EOF:
			return len(want) == 0, nil
		case err != nil:
			return false, fmt.Errorf("read %s: %w", key, err)
		}
	}
}

// ReadObject reads one object, refusing to read more than limit bytes (plus
// one, to notice). A missing object wraps ErrNotFound; an oversized one
// wraps ErrTooLarge and seal.ErrAuth, since it cannot be genuine.
func ReadObject(ctx context.Context, b *Store, key string, limit int64) ([]byte, error) {
	if err := b.checkRegular(key); err != nil {
		return nil, err
	}
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	if r.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, over %d: %w (%w)", key, r.Size(), limit, ErrTooLarge, seal.ErrAuth)
	}
	// One allocation of the declared size plus one byte, to notice an object
	// longer than the store said.
	buf := make([]byte, max(r.Size(), 0)+1)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%s: longer than the %d bytes the store declared: %w (%w)", key, r.Size(), ErrTooLarge, seal.ErrAuth)
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return buf[:n], nil
	default:
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
}
