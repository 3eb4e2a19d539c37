package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"meridian.dev/meridian/seal"
)

// Store is a blob store holding sealed datasets: a directory (file://) or
// an S3 bucket (s3://), plus what Meridian needs beyond reading and writing
// objects: the URL it was opened from, a key prefix for a tenant's view and
// a way to make completed writes durable.
type Store struct {
	b   bucket
	URL string
	dir string // set for file:// stores
	// prefix is the key prefix of a Sub store (its keys are relative to it).
	prefix string
}

// ReadIdle is how long a read of the store's objects may go without a byte
// arriving: an s3:// store's read_idle, as it was opened, or
// DefaultReadIdle. A write to the store is held to it too.
func (s *Store) ReadIdle() time.Duration {
	if b, ok := s.b.(*s3Bucket); ok && b.idle > 0 {
		return b.idle
	}
	return DefaultReadIdle
}

// bucket is what a Store needs of the system holding its objects. Keys are
// full keys: a Sub store's prefix is already on them.
type bucket interface {
	// get opens an object for reading and returns its size. A missing
	// object wraps ErrNotFound.
	get(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// put stores data under key so that readers see the old object or all
	// of the new one, never a part.
	put(ctx context.Context, key string, data []byte) error
	// del removes an object; removing a missing one is not an error.
	del(ctx context.Context, key string) error
	// delMany removes objects as del does, as many at once as the system
	// takes (S3's DeleteObjects: a thousand a request).
	delMany(ctx context.Context, keys []string) error
	// list yields every object whose key starts with prefix.
	list(ctx context.Context, prefix string) iter.Seq2[Object, error]
	// abortUploads aborts the unfinished multipart uploads under prefix
	// begun before before (what a writer killed mid-upload left), reading
	// at most limit, and returns how many it aborted.
	abortUploads(ctx context.Context, prefix string, before time.Time, limit int) (int, error)
	// uploads lists the unfinished multipart uploads under prefix to the
	// keys want takes, each with the bytes of its parts, reading at most
	// limit; abortUpload aborts one (UnfinishedWrites, Discard).
	uploads(ctx context.Context, prefix string, want func(key string) bool, limit int) ([]Unfinished, error)
	abortUpload(ctx context.Context, key, id string) error
	close() error
}

// Object describes one stored object, as List yields it.
type Object struct {
	Key     string // relative to the store's prefix
	Size    int64
	ModTime time.Time
}

// Sub returns a view of s under a key prefix ("t/acme/data/"): every key
// the view reads or writes is the prefix plus the key. Closing the view
// closes s. A tenant's objects at a shared site store live under the
// tenant's own prefix, so names chosen by tenants never meet.
func (s *Store) Sub(prefix string) *Store {
	if prefix == "" {
		return s
	}
	return &Store{b: s.b, URL: s.URL, dir: s.dir, prefix: s.prefix + prefix}
}

// Prefix is the key prefix of a Sub store.
func (s *Store) Prefix() string { return s.prefix }

// Close releases what the store holds open.
func (s *Store) Close() error { return s.b.close() }

// Delete removes the object key. Removing an object that is not there is
// not an error: the caller wanted it gone, and it is.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.b.del(ctx, s.prefix+key); err != nil {
		// The key may be one a store listed, of its own choosing.
		return objectErr(key, fmt.Errorf("delete %q: %w", clipKey(key), err))
	}
	return nil
}

// ObjectError is a store's failure to read, write or remove one object:
// Key, as its caller named it (relative to a Sub store's prefix). Its
// text is Err's, which names the object already. It is there for a
// caller that may not pass Err's words on (a run's tenant is told a site
// store's failure by its class: the store's words are the server's), so
// that it can still say which object failed without reading it out of
// the text. The key is made of the tenant's own names (a dataset's, a
// chunk's digest), or, for an object a store listed, of the store's
// choosing: whoever shows it escapes and bounds it.
type ObjectError struct {
	Key string
	Err error
}

func (e *ObjectError) Error() string { return e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

// objectErr is err as a failure of the object key (ObjectError); nil
// stays nil.
func objectErr(key string, err error) error {
	if err == nil {
		return nil
	}
	return &ObjectError{Key: key, Err: err}
}

// FailedObject is the key of the object err says failed (the first
// ObjectError it wraps), or false when it names none.
func FailedObject(err error) (string, bool) {
	var oe *ObjectError
	if errors.As(err, &oe) {
		return oe.Key, true
	}
	return "", false
}

// deleteBatch is how many keys Remove hands the store at once: S3's
// DeleteObjects takes up to a thousand a request.
const deleteBatch = 1000

// deleteMany removes the objects keys (relative to the store's prefix), as
// Delete does each.
func (s *Store) deleteMany(ctx context.Context, keys []string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.prefix + k
	}
	if err := s.b.delMany(ctx, full); err != nil {
		return fmt.Errorf("delete %d objects from %s: %w", len(keys), keys[0], err)
	}
	return nil
}

// List yields the objects whose keys start with prefix (relative to the
// store's own prefix), in no particular order. It stops at the first error,
// which it yields.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		for o, err := range s.b.list(ctx, s.prefix+prefix) {
			if err != nil {
				yield(Object{}, fmt.Errorf("list %s: %w", prefix, err))
				return
			}
			o.Key = strings.TrimPrefix(o.Key, s.prefix)
			if !yield(o, nil) {
				return
			}
		}
	}
}

// open opens the object key for reading, with its size.
func (s *Store) open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	r, size, err := s.b.get(ctx, s.prefix+key)
	if errors.Is(err, ErrNotFound) {
		return nil, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", key, err)
	}
	return r, size, nil
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

// OpenStore opens a blob store by URL: file:///dir or file://./rel
// (created if missing), or s3://bucket?endpoint=…&use_path_style=true&region=…
// for S3 and S3-compatible servers (parameters endpoint, region,
// use_path_style, disable_https, profile, anonymous and prefix; any other
// is refused; credentials from the usual AWS_* environment variables, the
// shared credentials file, or the machine's role).
//
// file:// stores write each object to a temporary file beside its final
// name and rename it into place (Flush makes them durable), and keep no
// metadata side files.
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
		b, err := openDir(abs)
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", rawURL, err)
		}
		return &Store{b: b, URL: rawURL, dir: abs}, nil
	case "s3":
		b, err := openS3(u)
		if err != nil {
			return nil, fmt.Errorf("store %q: %w", rawURL, err)
		}
		return &Store{b: b, URL: rawURL}, nil
	default:
		return nil, fmt.Errorf("store %q: scheme %q not supported (want file:// or s3://)", rawURL, u.Scheme)
	}
}

// ListChunks returns the ids of the dataset's chunks present in the store,
// with their stored sizes. Keys that are not chunk names (temporary files)
// are ignored.
func ListChunks(ctx context.Context, b *Store, name string) (map[seal.ID]int64, error) {
	return listChunks(ctx, b, name, -1)
}

// listChunks is ListChunks reading at most limit listed objects (none
// when negative), past which it stops with ErrListTooLong.
func listChunks(ctx context.Context, b *Store, name string, limit int) (map[seal.ID]int64, error) {
	out := map[seal.ID]int64{}
	n := 0
	for obj, err := range b.List(ctx, ChunkPrefix(name)) {
		if err != nil {
			return nil, fmt.Errorf("list chunks of %s: %w", name, err)
		}
		if n++; limit >= 0 && n > limit {
			return nil, fmt.Errorf("list chunks of %s: over %d objects: %w", name, limit, ErrListTooLong)
		}
		if id, ok := chunkIDFromKey(name, obj.Key); ok {
			out[id] = obj.Size
		}
	}
	return out, nil
}

// ErrListTooLong means a store listed more objects under a dataset than
// a staging of it should find there: a faulty or hostile store, or, for a
// dataset staged in very many versions, the chunks older versions left
// (a site's copy is not pruned of them).
var ErrListTooLong = errors.New("the store lists more objects than a dataset's copy holds (a faulty or hostile store, or the chunks of very many older versions of the dataset left there: remove them at the site and stage again)")

// ListBound is how many objects a listing of a dataset's objects at a
// store that does not belong to its owner (a site's) may yield before it
// is refused with ErrListTooLong: 16 for each chunk of the version being
// staged (older versions leave theirs) and a million besides. A site
// whose listing never ends, or names billions of keys, would otherwise
// hold a staging until its deadline and fill memory with them.
func ListBound(chunks int) int { return 1<<20 + 16*chunks }

// ChunksPresent returns which of the chunks in want a store holds, with
// their stored sizes, reading at most limit listed objects (ListBound).
// Only the wanted chunks are kept, so what it holds is bounded by want,
// whatever the store lists.
func ChunksPresent(ctx context.Context, b *Store, name string, want []ChunkRef, limit int) (map[seal.ID]int64, error) {
	wanted := make(map[seal.ID]bool, len(want))
	for _, c := range want {
		wanted[c.ID] = true
	}
	out := map[seal.ID]int64{}
	n := 0
	for obj, err := range b.List(ctx, ChunkPrefix(name)) {
		if err != nil {
			return nil, fmt.Errorf("list chunks of %s: %w", name, err)
		}
		if n++; n > limit {
			return nil, fmt.Errorf("list chunks of %s: over %d objects: %w", name, limit, ErrListTooLong)
		}
		if id, ok := chunkIDFromKey(name, obj.Key); ok && wanted[id] {
			out[id] = obj.Size
		}
	}
	return out, nil
}

// Put writes one object so that readers see either nothing (or the old
// object) or all of it: nothing is published on any error. A write that
// failed after the store took part of it and then dropped it (an S3
// upload's parts, aborted), or that the store received and refused (a
// part, or a whole PUT), says how many bytes it delivered (Crossed(err)).
func Put(ctx context.Context, b *Store, key string, data []byte) error {
	_, err := PutResent(ctx, b, key, data)
	return err
}

// PutResent is Put, and says, of a write that succeeded, how many bytes
// beyond the object's own crossed to the store: the tries of its body
// (or of a part's) that the store did not keep, answered 5xx or cut off,
// and the client sent again. Nothing there shows them.
func PutResent(ctx context.Context, b *Store, key string, data []byte) (int64, error) {
	var resent int64
	var err error
	if rp, ok := b.b.(resentPutter); ok {
		resent, err = rp.putResent(ctx, b.prefix+key, data)
	} else {
		err = b.b.put(ctx, b.prefix+key, data)
	}
	if err != nil {
		return 0, objectErr(key, fmt.Errorf("write %s: %w", key, err))
	}
	return resent, nil
}

// SendsEachBodyOnce reports whether the store's opener says that a write
// sends an object's body to the system holding it once: a file store's
// does (it writes a file), S3's client sends it again when a try fails.
// A store that says nothing is taken to send it again: a ledger counts
// what a write may have sent unrecorded by it.
func (s *Store) SendsEachBodyOnce() bool {
	o, ok := s.b.(onceSender)
	return ok && o.sendsEachBodyOnce()
}

// onceSender is a bucket that says whether its writes send each body once.
type onceSender interface {
	sendsEachBodyOnce() bool
}

// resentPutter is a bucket whose writes may send a body more than once
// (S3's client, trying again), and count what they sent beyond it.
type resentPutter interface {
	putResent(ctx context.Context, key string, data []byte) (int64, error)
}

// ReadManifest reads and authenticates a dataset's manifest from a store.
func ReadManifest(ctx context.Context, b *Store, s *seal.Sealer, name string) (*Manifest, error) {
	return readManifest(ctx, b, s, name, "")
}

// ErrManifestPin means a stored manifest authenticated but is not the one
// the caller recorded (its SHA-256 differs): an older or other version of
// the same name.
var ErrManifestPin = errors.New("manifest is not the version recorded")

// ErrWrongKey means a manifest of the version recorded (its digest is
// the pin) did not authenticate under the key given: the manifest is the
// one sealed, so the key is not the one it was sealed with. A key file
// replaced at the site does this: age does not say who wrapped a key, so
// anyone can wrap another for the job's public recipient. It is also an
// ErrManifestAuth.
var ErrWrongKey = fmt.Errorf("%w: the manifest is the version recorded, so the key is not the one it was sealed with (a key file replaced at the site, or another dataset's key)", ErrManifestAuth)

// CheckPin refuses (ErrManifestPin) the stored form of dataset name's
// manifest unless its hex SHA-256 is pin; an empty pin checks nothing
// (a hand-run unseal or verify without --manifest-sha256). A caller that
// must hold a store to one version refuses an empty pin itself, as the
// agent does for every dataset key it is given.
func CheckPin(name string, stored []byte, pin string) error {
	if pin == "" {
		return nil
	}
	if sum := sha256.Sum256(stored); hex.EncodeToString(sum[:]) != pin {
		return fmt.Errorf("dataset %s: stored manifest has SHA-256 %x, recorded %s: %w", name, sum, pin, ErrManifestPin)
	}
	return nil
}

// readManifest is ReadManifest; when pin is set (the hex SHA-256 of the
// manifest's stored form), a manifest with another digest is refused.
func readManifest(ctx context.Context, b *Store, s *seal.Sealer, name, pin string) (*Manifest, error) {
	m, _, err := readManifestStored(ctx, b, s, name, pin)
	return m, err
}

// storedManifest is what readManifestStored says of a manifest's stored
// form: its hex SHA-256 and its length.
type storedManifest struct {
	sum  string
	size int64
}

// readManifestStored is readManifest, also returning the hex SHA-256 and
// the length of the manifest's stored form.
func readManifestStored(ctx context.Context, b *Store, s *seal.Sealer, name, pin string) (*Manifest, storedManifest, error) {
	data, err := ReadObject(ctx, b, ManifestKey(name), int64(maxManifestBytes))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, storedManifest{}, fmt.Errorf("dataset %s: no manifest in the store: %w", name, ErrNotFound)
		}
		return nil, storedManifest{}, fmt.Errorf("dataset %s: read manifest: %w", name, err)
	}
	if err := CheckPin(name, data, pin); err != nil {
		return nil, storedManifest{}, err
	}
	m, err := ParseManifest(data, s)
	if err != nil {
		if pin != "" && errors.Is(err, ErrManifestAuth) {
			// The pin vouches for the bytes: only the key can be wrong.
			err = ErrWrongKey
		}
		return nil, storedManifest{}, fmt.Errorf("dataset %s: %w", name, err)
	}
	if m.Dataset != name {
		return nil, storedManifest{}, fmt.Errorf("dataset %s: manifest names dataset %q", name, m.Dataset)
	}
	sum := sha256.Sum256(data)
	return m, storedManifest{hex.EncodeToString(sum[:]), int64(len(data))}, nil
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
// visible under a chunk's name. On S3 it aborts the dataset's multipart
// uploads begun longer than age ago, what a writer killed mid-upload
// leaves: parts no listing of objects shows, kept (and billed) at the
// site. It reads at most limit listed objects (ListBound), and as many
// uploads, past which it stops with ErrListTooLong. It returns how many
// temporary objects it removed and uploads it aborted.
func RemoveStaleTemps(ctx context.Context, b *Store, name string, age time.Duration, limit int) (int, error) {
	cutoff := time.Now().Add(-age)
	n, listed := 0, 0
	for obj, err := range b.List(ctx, rootPrefix+name+"/") {
		if err != nil {
			return n, fmt.Errorf("list %s: %w", name, err)
		}
		if listed++; listed > limit {
			return n, fmt.Errorf("list %s: over %d objects: %w", name, limit, ErrListTooLong)
		}
		if !strings.HasSuffix(obj.Key, ".tmp") || obj.ModTime.After(cutoff) {
			continue
		}
		if err := b.Delete(ctx, obj.Key); err != nil {
			return n, fmt.Errorf("remove a stale temporary object of %s: %w", name, err)
		}
		n++
	}
	aborted, err := b.b.abortUploads(ctx, b.prefix+rootPrefix+name+"/", cutoff, limit)
	n += aborted
	if err != nil {
		return n, fmt.Errorf("abort stale uploads of %s: %w", name, err)
	}
	return n, nil
}

// ErrTooLarge means an object is larger than the caller allows; a store
// serving it is faulty or hostile.
var ErrTooLarge = errors.New("object larger than expected")

// SameObject reports whether the object key holds exactly want. It reads
// the object in small pieces and compares as it goes, so checking what was
// just written costs no buffer the size of the object.
func SameObject(ctx context.Context, b *Store, key string, want []byte) (bool, error) {
	same, err := sameObject(ctx, b, key, want)
	return same, objectErr(key, err)
}

func sameObject(ctx context.Context, b *Store, key string, want []byte) (bool, error) {
	r, size, err := b.open(ctx, key)
	if err != nil {
		return false, err
	}
	defer r.Close()
	// An undeclared length (-1) is found out by reading.
	if size >= 0 && size != int64(len(want)) {
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
	data, err := readObject(ctx, b, key, limit)
	if err != nil {
		return nil, objectErr(key, err)
	}
	return data, nil
}

func readObject(ctx context.Context, b *Store, key string, limit int64) ([]byte, error) {
	r, size, err := b.open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if size > limit {
		return nil, fmt.Errorf("%s: %d bytes, over %d: %w (%w)", key, size, limit, ErrTooLarge, seal.ErrAuth)
	}
	// The declared size is the store's claim: it is allocated at once only
	// up to a sealed chunk's size (so a chunk is read into one buffer),
	// and beyond that the buffer grows as bytes arrive, so a store that
	// declares 1 GiB and sends little costs little. One byte more than
	// declared is read, to notice an object longer than the store said.
	// The buffer doubles, up to the declared size and one: grown by
	// append's smaller steps near 1 GiB (a large manifest), it left some
	// four times the object in discarded buffers, and overshot the size.
	// A store that streams the object without declaring its length (-1)
	// is read up to the caller's limit.
	declared := size >= 0
	if !declared {
		size = limit
	}
	buf := make([]byte, 0, min(size, int64(seal.SealedSize(MaxChunk)))+1)
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), size+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):min(int64(cap(buf)), size+1)])
		buf = buf[:len(buf)+n]
		switch {
		case int64(len(buf)) > size && !declared:
			return nil, fmt.Errorf("%s: over %d bytes: %w (%w)", key, limit, ErrTooLarge, seal.ErrAuth)
		case int64(len(buf)) > size:
			return nil, fmt.Errorf("%s: longer than the %d bytes the store declared: %w (%w)", key, size, ErrTooLarge, seal.ErrAuth)
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
	}
}
