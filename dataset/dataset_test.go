package dataset

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"meridian.dev/meridian/internal/tinyfs"
	"meridian.dev/meridian/seal"
)

// genTree writes n files of size bytes of seeded random data under dir.
func genTree(t testing.TB, dir string, n, size int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range n {
		p := filepath.Join(dir, "part-"+string(rune('a'+i%26)), "f"+itoa(i)+".bin")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := OpenStore(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

func newSealer(t testing.TB, name string) *seal.Sealer {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(k, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameTree fails unless every regular file under a is in b with equal bytes, and vice versa.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	read := func(root string) map[string][]byte {
		out := map[string][]byte{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			out[filepath.ToSlash(rel)] = data
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ma, mb := read(a), read(b)
	if len(ma) != len(mb) {
		t.Fatalf("trees differ: %d files vs %d", len(ma), len(mb))
	}
	for k, v := range ma {
		if !bytes.Equal(v, mb[k]) {
			t.Fatalf("file %s differs", k)
		}
	}
}

func TestAddUnsealRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	genTree(t, src, 6, 700<<10, 1)
	if err := os.WriteFile(filepath.Join(src, "empty.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("part-a/f0.bin", filepath.Join(src, "link-inside")); err != nil {
		t.Fatal(err)
	}
	store, storeDir := newStore(t)
	s := newSealer(t, "corpus")
	res, err := Add(ctx, AddOptions{Name: "corpus", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 8 || res.Bytes != 7*700<<10 {
		t.Fatalf("Add: %d files, %d bytes; want 8 files, %d bytes", res.Files, res.Bytes, 7*700<<10)
	}
	// link-inside duplicates f0.bin: its chunks are stored once.
	if res.NewChunks != res.Chunks {
		t.Fatalf("new chunks %d != distinct chunks %d", res.NewChunks, res.Chunks)
	}
	if m, err := ReadObject(ctx, store, ManifestKey("corpus"), 1<<20); err != nil || res.ManifestSHA256 != fmt.Sprintf("%x", sha256.Sum256(m)) {
		t.Fatalf("manifest digest %q is not the stored manifest's (%v)", res.ManifestSHA256, err)
	}
	// The store holds no plaintext: a 4 KiB window of a source file appears nowhere.
	probe, _ := os.ReadFile(filepath.Join(src, "part-b", "f1.bin"))
	_ = filepath.WalkDir(storeDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			if bytes.Contains(data, probe[1000:5096]) {
				t.Errorf("store file %s contains plaintext", p)
			}
		}
		return nil
	})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := UnsealDir(ctx, store, s, "corpus", out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, out)
	rep, err := Verify(ctx, store, s, "corpus", "", 2)
	if err != nil || !rep.Good() || rep.OK != res.Chunks {
		t.Fatalf("Verify: %+v %v", rep, err)
	}
}

func TestReAddUnchangedWritesNothing(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	genTree(t, src, 4, 1<<20, 2)
	store, _ := newStore(t)
	s := newSealer(t, "d")
	if _, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	res, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	if res.NewChunks != 0 || res.NewBytes != 0 {
		t.Fatalf("re-add wrote %d chunks, %d bytes; want 0", res.NewChunks, res.NewBytes)
	}
}

func TestPathEscapeRefused(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target string
	}{
		{"absolute symlink out", filepath.Join(outside, "secret")},
		{"dotdot symlink out", "../" + filepath.Base(outside) + "/secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := filepath.Dir(outside)
			src, err := os.MkdirTemp(parent, "src")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(src)
			os.WriteFile(filepath.Join(src, "ok"), []byte("fine"), 0o600)
			if err := os.Symlink(tc.target, filepath.Join(src, "evil")); err != nil {
				t.Fatal(err)
			}
			store, storeDir := newStore(t)
			_, err = Add(context.Background(), AddOptions{Name: "d", Root: src, Store: store, Sealer: newSealer(t, "d")})
			if !errors.Is(err, ErrEscape) || !strings.Contains(err.Error(), "evil") {
				t.Fatalf("Add: %v; want an escape error naming evil", err)
			}
			if n := countFiles(t, storeDir); n != 0 {
				t.Fatalf("store holds %d files after a refused add", n)
			}
		})
	}
}

func countFiles(t testing.TB, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"a", "a/b.txt", "dir/sub/x-y_z.bin", "ünï"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "/etc/passwd", "..", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\b", "a\x00b", "a\nb", "\xff"} {
		if err := CheckPath(p); err == nil {
			t.Errorf("CheckPath(%q) accepted", p)
		}
	}
}

func TestVerifyNamesMissingAndAltered(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	genTree(t, src, 4, 900<<10, 3)
	store, storeDir := newStore(t)
	s := newSealer(t, "d")
	res, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	chunks := res.Manifest.UniqueChunks()
	if len(chunks) < 4 {
		t.Fatalf("want at least 4 chunks, got %d", len(chunks))
	}
	path := func(c ChunkRef) string { return filepath.Join(storeDir, filepath.FromSlash(ChunkKey("d", c.ID))) }
	if err := os.Remove(path(chunks[0])); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path(chunks[1]))
	data[len(data)/2] ^= 0x40
	os.WriteFile(path(chunks[1]), data, 0o644)
	data, _ = os.ReadFile(path(chunks[2]))
	os.WriteFile(path(chunks[2]), data[:len(data)-100], 0o644)
	// A FIFO in a chunk's place is reported, neither waited on nor taken
	// for a reason to give up the whole verification.
	os.Remove(path(chunks[3]))
	if err := syscall.Mkfifo(path(chunks[3]), 0o644); err != nil {
		t.Fatal(err)
	}

	rep, err := Verify(ctx, store, s, "d", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Missing) != 1 || rep.Missing[0].ID != chunks[0].ID.String() {
		t.Errorf("missing = %+v, want %s", rep.Missing, chunks[0].ID)
	}
	altered := map[string]bool{}
	for _, p := range rep.Altered {
		altered[p.ID] = true
		if len(p.Files) == 0 {
			t.Errorf("altered chunk %s names no file", p.ID)
		}
	}
	if len(altered) != 3 || !altered[chunks[1].ID.String()] || !altered[chunks[2].ID.String()] || !altered[chunks[3].ID.String()] {
		t.Errorf("altered = %+v, want %s, %s and the FIFO %s", rep.Altered, chunks[1].ID, chunks[2].ID, chunks[3].ID)
	}
	// Unseal refuses and leaves nothing under a real name.
	out := filepath.Join(t.TempDir(), "out")
	if _, err := UnsealDir(ctx, store, s, "d", out); err == nil {
		t.Fatal("UnsealDir succeeded over damaged chunks")
	}
	if n := countFiles(t, out); n > 0 {
		// Files finished before the damaged one are whole; none may be partial or temporary.
		filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".tmp") {
				t.Errorf("temporary file left: %s", p)
			}
			return nil
		})
	}
}

func TestWrongKeyRefused(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	genTree(t, src, 1, 1000, 4)
	store, _ := newStore(t)
	if _, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: newSealer(t, "d")}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, err := UnsealDir(ctx, store, newSealer(t, "d"), "d", out)
	if !errors.Is(err, ErrManifestAuth) {
		t.Fatalf("UnsealDir with the wrong key: %v, want ErrManifestAuth", err)
	}
	if _, err := os.Stat(out); err == nil && countFiles(t, out) != 0 {
		t.Fatal("files written with the wrong key")
	}
}

func TestKeyring(t *testing.T) {
	kr := Keyring{Dir: filepath.Join(t.TempDir(), "keyring")}
	if _, err := kr.Get("d"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Get before create: %v", err)
	}
	k1, err := kr.GetOrCreate("d")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := kr.GetOrCreate("d")
	if err != nil || k1 != k2 {
		t.Fatalf("second GetOrCreate returned a different key (%v)", err)
	}
	st, _ := os.Stat(filepath.Join(kr.Dir, "d.key"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 600", st.Mode().Perm())
	}
	os.Chmod(filepath.Join(kr.Dir, "d.key"), 0o644)
	if _, err := kr.Get("d"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
}

func BenchmarkAdd(b *testing.B) {
	src := b.TempDir()
	genTree(b, src, 16, 8<<20, 5)
	s := newSealer(b, "bench")
	for _, workers := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(128 << 20)
			for b.Loop() {
				store, _ := newStore(b)
				if _, err := Add(context.Background(), AddOptions{Name: "bench", Root: src, Store: store, Sealer: s, Workers: workers}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	store, dir := newStore(t)
	chunkDir := filepath.Join(dir, "meridian", "d", "chunks", "ab")
	os.MkdirAll(chunkDir, 0o755)
	stale := filepath.Join(chunkDir, "ab01.18c3f.tmp")
	fresh := filepath.Join(chunkDir, "ab02.18c40.tmp")
	keep := filepath.Join(chunkDir, "notatemp")
	for _, p := range []string{stale, fresh, keep} {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	os.Chtimes(keep, old, old)
	n, err := RemoveStaleTemps(context.Background(), store, "d", time.Hour, ListBound(0))
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleTemps = %d, %v; want 1", n, err)
	}
	for p, want := range map[string]bool{stale: false, fresh: true, keep: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

// TestAddFullDisk adds onto a 1 MiB tmpfs: a clear error, no manifest, no
// temporary files, and any chunk that landed is whole.
func TestAddFullDisk(t *testing.T) {
	dir := tinyfs.Mount(t, "1m")
	src := t.TempDir()
	genTree(t, src, 4, 700<<10, 7)
	store, err := OpenStore(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := newSealer(t, "d")
	_, err = Add(context.Background(), AddOptions{Name: "d", Root: src, Store: store, Sealer: s})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Add onto a full disk: %v", err)
	}
	have, _ := ListChunks(context.Background(), store, "d")
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(ManifestKey("d")))); err == nil {
		t.Fatal("manifest written to a full disk")
	}
	for id := range have {
		data, _ := ReadObject(context.Background(), store, ChunkKey("d", id), 1<<30)
		if _, err := s.Open(nil, id, data); err != nil {
			t.Fatalf("chunk that landed on the full disk: %v", err)
		}
	}
}

func TestKeyringAgeWrapped(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	dir := filepath.Join(t.TempDir(), "keyring")
	kr := Keyring{Dir: dir, AgeIdentity: id.String()}
	k1, err := kr.GetOrCreate("d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d.key")); err == nil {
		t.Fatal("plain key file written despite an age identity")
	}
	data, _ := os.ReadFile(filepath.Join(dir, "d.key.age"))
	if !seal.IsWrapped(data) {
		t.Fatal("d.key.age is not age-armored")
	}
	k2, err := kr.Get("d")
	if err != nil || k1 != k2 {
		t.Fatalf("Get with identity: %v", err)
	}
	if _, err := (Keyring{Dir: dir}).Get("d"); err == nil || !strings.Contains(err.Error(), "MERIDIAN_AGE_IDENTITY") {
		t.Fatalf("Get without identity: %v", err)
	}
	other, _ := age.GenerateX25519Identity()
	if _, err := (Keyring{Dir: dir, AgeIdentity: other.String()}).Get("d"); err == nil {
		t.Fatal("Get with the wrong identity succeeded")
	}
}

// TestReadChunkRefusesPadded: a store serving a chunk longer than the
// manifest says is refused before the excess is read.
func TestReadChunkRefusesPadded(t *testing.T) {
	ctx := context.Background()
	store, dir := newStore(t)
	s := newSealer(t, "d")
	plain := []byte("chunk content")
	id := s.ChunkID(plain)
	sealed, _ := s.Seal(nil, id, plain)
	p := filepath.Join(dir, filepath.FromSlash(ChunkKey("d", id)))
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, append(sealed, make([]byte, 1<<20)...), 0o644)
	_, err := ReadChunk(ctx, store, s, "d", ChunkRef{ID: id, Size: int64(len(plain))}, nil)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, seal.ErrAuth) {
		t.Fatalf("padded chunk: %v", err)
	}
	os.WriteFile(p, sealed, 0o644)
	got, err := ReadChunk(ctx, store, s, "d", ChunkRef{ID: id, Size: int64(len(plain))}, nil)
	if err != nil || string(got) != string(plain) {
		t.Fatalf("genuine chunk: %q, %v", got, err)
	}
}

// TestInsertTouchesFewChunks: inserting bytes in the middle of a large file
// changes only the chunks around the insertion (content-defined cuts
// re-synchronise), not everything after it.
func TestInsertTouchesFewChunks(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	data := make([]byte, 24<<20)
	rand.NewChaCha8([32]byte{3}).Read(data)
	p := filepath.Join(src, "big.bin")
	os.WriteFile(p, data, 0o644)
	store, _ := newStore(t)
	s := newSealer(t, "d")
	first, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	if first.Chunks < 8 {
		t.Fatalf("24 MiB gave only %d chunks", first.Chunks)
	}
	edited := append(append(bytes.Clone(data[:10<<20]), []byte("inserted line\n")...), data[10<<20:]...)
	os.WriteFile(p, edited, 0o644)
	second, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	if second.NewChunks < 1 || second.NewChunks > 2 {
		t.Fatalf("an insert rewrote %d of %d chunks; want 1 or 2", second.NewChunks, second.Chunks)
	}
}

func TestUnsealTar(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	genTree(t, src, 3, 600<<10, 21)
	store, storeDir := newStore(t)
	s := newSealer(t, "d")
	res, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := UnsealTar(ctx, store, s, "d", &buf); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(tr)
		want, _ := os.ReadFile(filepath.Join(src, filepath.FromSlash(h.Name)))
		if !bytes.Equal(got, want) {
			t.Fatalf("tar member %s differs", h.Name)
		}
		n++
	}
	if n != res.Files {
		t.Fatalf("tar has %d members, want %d", n, res.Files)
	}
	// An altered chunk stops the stream with an error; the archive is
	// truncated, so a reader fails instead of seeing a short file.
	last := res.Manifest.Files[len(res.Manifest.Files)-1].Chunks[0]
	p := filepath.Join(storeDir, filepath.FromSlash(ChunkKey("d", last.ID)))
	data, _ := os.ReadFile(p)
	data[50] ^= 1
	os.WriteFile(p, data, 0o644)
	buf.Reset()
	if _, err := UnsealTar(ctx, store, s, "d", &buf); !errors.Is(err, seal.ErrAuth) {
		t.Fatalf("UnsealTar over an altered chunk: %v", err)
	}
	tr = tar.NewReader(&buf)
	var rerr error
	for rerr == nil {
		if _, rerr = tr.Next(); rerr == nil {
			_, rerr = io.Copy(io.Discard, tr)
		}
	}
	if rerr == io.EOF {
		t.Fatal("truncated stream reads as a complete archive")
	}
}

// TestUnsealFullDisk unseals into a 1 MiB tmpfs: an error naming the disk
// problem, no temporary file, and every file present is complete.
func TestUnsealFullDisk(t *testing.T) {
	dir := tinyfs.Mount(t, "1m")
	ctx := context.Background()
	src := t.TempDir()
	genTree(t, src, 4, 400<<10, 31)
	store, _ := newStore(t)
	s := newSealer(t, "d")
	if _, err := Add(ctx, AddOptions{Name: "d", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	_, err := UnsealDir(ctx, store, s, "d", filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("UnsealDir onto a full disk: %v", err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left: %s", p)
			return nil
		}
		rel, _ := filepath.Rel(filepath.Join(dir, "out"), p)
		got, _ := os.ReadFile(p)
		want, _ := os.ReadFile(filepath.Join(src, rel))
		if !bytes.Equal(got, want) {
			t.Errorf("%s is partial (%d of %d bytes)", rel, len(got), len(want))
		}
		return nil
	})
}

// TestAddTarLimits: AddTar seals at most maxFiles files and maxBytes bytes
// of content, judged from the tar headers before any content is read, and
// stores nothing (no manifest) for a stream over either.
// sparseTar is a 3 KiB tar stream whose one entry, a PAX sparse file (GNU
// format 1.0, all hole), reads as a regular file of 1 GiB of zeros.
func sparseTar() []byte {
	record := func(k, v string) string {
		s := " " + k + "=" + v + "\n"
		n := len(s) + 1
		for len(strconv.Itoa(n))+len(s) != n {
			n = len(strconv.Itoa(n)) + len(s)
		}
		return strconv.Itoa(n) + s
	}
	header := func(name string, typ byte, size int) []byte {
		h := make([]byte, 512)
		copy(h, name)
		copy(h[100:], "0000600\x00")
		copy(h[108:], "0000000\x00")
		copy(h[116:], "0000000\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", size))
		copy(h[136:], "00000000000\x00")
		h[156] = typ
		copy(h[257:], "ustar\x0000")
		copy(h[148:], "        ")
		sum := 0
		for _, c := range h {
			sum += int(c)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		return h
	}
	block := func(s string) []byte { return append([]byte(s), make([]byte, 512-len(s)%512)...) }
	pax := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") + record("GNU.sparse.name", "zeros") + record("GNU.sparse.realsize", "1073741824")
	var b bytes.Buffer
	b.Write(header("pax", tar.TypeXHeader, len(pax)))
	b.Write(block(pax))
	b.Write(header("zeros", tar.TypeReg, 512))
	b.Write(block("1\n0\n0\n")) // one data extent of 0 bytes: all hole
	b.Write(make([]byte, 1024))
	return b.Bytes()
}

// TestAddTarRefusesSparse: a sparse entry is refused before a byte of it
// is read, though its 1 GiB is within the byte limit.
func TestAddTarRefusesSparse(t *testing.T) {
	raw := sparseTar()
	if h, err := tar.NewReader(bytes.NewReader(raw)).Next(); err != nil || h.Size != 1<<30 || h.Typeflag != tar.TypeReg {
		t.Fatalf("the stream of %d bytes does not read as a 1 GiB regular file: %+v %v", len(raw), h, err)
	}
	store, _ := newStore(t)
	_, err := AddTar(context.Background(), "ck", bytes.NewReader(raw), store, newSealer(t, "ck"), 10, 2<<30)
	if err == nil || !strings.Contains(err.Error(), "tar entry zeros: a sparse file") {
		t.Fatalf("sparse entry: %v", err)
	}
}

func TestAddTarLimits(t *testing.T) {
	ctx := context.Background()
	stream := func() io.Reader {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, name := range []string{"a", "b"} {
			body := bytes.Repeat([]byte(name), 10)
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg})
			tw.Write(body)
		}
		tw.Close()
		return &buf
	}
	for _, c := range []struct {
		files int
		bytes int64
		want  string
	}{
		{2, 20, ""},
		{2, 19, "tar entry b: more than 19 bytes in all"},
		{2, 9, "tar entry a: more than 9 bytes in all"},
		{1, 20, "more than 1 files"},
	} {
		store, _ := newStore(t)
		s := newSealer(t, "ck")
		res, err := AddTar(ctx, "ck", stream(), store, s, c.files, c.bytes)
		if c.want == "" {
			if err != nil || res.Bytes != 20 || res.Files != 2 {
				t.Fatalf("limits %d files, %d bytes: %+v, %v", c.files, c.bytes, res, err)
			}
			// The digest the result gives is the stored manifest's.
			m, err := ReadObject(ctx, store, ManifestKey("ck"), 1<<20)
			if sum := sha256.Sum256(m); err != nil || res.ManifestSHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("manifest digest %q, stored manifest's %x (%v)", res.ManifestSHA256, sum, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("limits %d files, %d bytes: %v, want %q", c.files, c.bytes, err, c.want)
		}
		if _, err := ReadObject(ctx, store, ManifestKey("ck"), 1<<20); err == nil {
			t.Fatalf("limits %d files, %d bytes: a manifest was stored for a refused stream", c.files, c.bytes)
		}
	}
}

// TestAddTarCutShort: a stream that ends inside a file (the pack helper
// killed, or a file that shrank after its header was written) is an error
// naming the file, at any point of the file, and stores no manifest. The
// chunker alone reads such an entry for ever.
func TestAddTarCutShort(t *testing.T) {
	for _, keep := range []int{0, 1000, MinChunk + 100} {
		raw := cutTar(3*MinChunk, keep)
		store, _ := newStore(t)
		done := make(chan error, 1)
		go func() {
			_, err := AddTar(context.Background(), "ck", bytes.NewReader(raw), store, newSealer(t, "ck"), 10, 1<<30)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrCutShort) || !strings.Contains(err.Error(), "read ck/state.bin") {
				t.Fatalf("cut after %d bytes: %v, want %v naming the file", keep, err, ErrCutShort)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("cut after %d bytes: AddTar has not returned in 20 s", keep)
		}
		if _, err := ReadObject(context.Background(), store, ManifestKey("ck"), 1<<20); err == nil {
			t.Fatalf("cut after %d bytes: a manifest was stored", keep)
		}
	}
}

// cutTar is a tar stream of one file whose header gives size bytes and
// whose content stops after keep.
func cutTar(size, keep int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "ck/state.bin", Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(size)})
	tw.Write(bytes.Repeat([]byte{'x'}, keep))
	// The writer is not closed: the stream ends inside the entry.
	return buf.Bytes()
}

// TestUnsealDirPinned: a pinned unseal takes only the manifest version
// whose digest the caller recorded. A store that hands back another
// version sealed under the same name and key (one that authenticates) is
// refused before any file is written.
func TestUnsealDirPinned(t *testing.T) {
	ctx := context.Background()
	store, storeDir := newStore(t)
	s := newSealer(t, "ck")
	pinOf := func() string {
		data, err := os.ReadFile(filepath.Join(storeDir, filepath.FromSlash(ManifestKey("ck"))))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:])
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "state"), []byte("step 200, the run's own"), 0o600)
	if _, err := Add(ctx, AddOptions{Name: "ck", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	recorded := pinOf()
	os.WriteFile(filepath.Join(src, "state"), []byte("step 200, another attempt's"), 0o600)
	if _, err := Add(ctx, AddOptions{Name: "ck", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	other := pinOf()
	if other == recorded {
		t.Fatal("two versions have one digest")
	}
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := UnsealDirPinned(ctx, store, s, "ck", dir, recorded); !errors.Is(err, ErrManifestPin) {
		t.Fatalf("unseal of another version: %v, want ErrManifestPin", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused unseal wrote %d entries", len(ents))
	}
	if _, err := UnsealDirPinned(ctx, store, s, "ck", dir, other); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "state")); string(got) != "step 200, another attempt's" {
		t.Fatalf("pinned unseal wrote %q", got)
	}
}

// TestUnsealKeepsHoles: a 64 MiB file that is zeros but for 100 KiB at
// each end (as a checkpoint made with truncate is) unseals onto a 2 MiB
// disk: its chunks of zeros are holes in the file, not written zeros, and
// the file reads back byte for byte. Before, unsealing wrote all 256 MiB
// and failed with the disk full.
func TestUnsealKeepsHoles(t *testing.T) {
	dir := tinyfs.Mount(t, "2m")
	ctx := context.Background()
	src := t.TempDir()
	const size = 64 << 20
	head, tail := make([]byte, 100<<10), make([]byte, 100<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range head {
		head[i], tail[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	f, err := os.Create(filepath.Join(src, "ckpt.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(head); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tail, size-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// And one that ends in zeros: its length is kept too.
	if err := os.WriteFile(filepath.Join(src, "zeros.bin"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(src, "zeros.bin"), 1<<20+17); err != nil {
		t.Fatal(err)
	}
	store, _ := newStore(t)
	s := newSealer(t, "ckpt")
	if _, err := Add(ctx, AddOptions{Name: "ckpt", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, err := UnsealDir(ctx, store, s, "ckpt", out); err != nil {
		t.Fatalf("unseal a sparse file of 64 MiB onto 2 MiB: %v", err)
	}
	sameTree(t, src, out)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(out, "ckpt.bin"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks*512 > 2<<20 {
		t.Errorf("unsealed: %d bytes, %d allocated", st.Size, st.Blocks*512)
	}
}

// BenchmarkUnsealSparse unseals a 256 MiB file of zeros but for 100 KiB
// at its start (a checkpoint made with truncate) to the test's disk: what
// the next site's agent waits for before the workload resumes.
func BenchmarkUnsealSparse(b *testing.B) {
	ctx := context.Background()
	src := b.TempDir()
	head := make([]byte, 100<<10)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range head {
		head[i] = byte(rng.Uint32())
	}
	p := filepath.Join(src, "ckpt.bin")
	if err := os.WriteFile(p, head, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(p, 256<<20); err != nil {
		b.Fatal(err)
	}
	store, _ := newStore(b)
	s := newSealer(b, "ckpt")
	if _, err := Add(ctx, AddOptions{Name: "ckpt", Root: src, Store: store, Sealer: s}); err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		if _, err := UnsealDir(ctx, store, s, "ckpt", filepath.Join(out, strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(256 << 20)
}

// TestVerifyPinned: a pinned verify holds the store to the version whose
// digest the caller recorded: the version after it, or the one before it
// put back (whose chunks all authenticate), is reported replaced and fails
// the report, where it read as every chunk good.
func TestVerifyPinned(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t)
	s := newSealer(t, "v")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "data"), []byte("version one"), 0o600)
	first, err := Add(ctx, AddOptions{Name: "v", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "data"), []byte("version two, staged last"), 0o600)
	second, err := Add(ctx, AddOptions{Name: "v", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(ctx, store, s, "v", second.ManifestSHA256, 2); err != nil || !rep.Good() || rep.OK != rep.Chunks || rep.Chunks == 0 {
		t.Fatalf("the pinned version: %+v %v", rep, err)
	}
	rep, err := Verify(ctx, store, s, "v", first.ManifestSHA256, 2)
	if err != nil || rep.Good() || !strings.Contains(rep.ManifestReplaced, first.ManifestSHA256) {
		t.Fatalf("another version than the pinned one: %+v %v", rep, err)
	}
	if rep, err := Verify(ctx, store, s, "v", "", 2); err != nil || !rep.Good() {
		t.Fatalf("unpinned: %+v %v", rep, err)
	}
}

// endlessDirs is a tar stream of directory entries, one header block
// each, that goes on to most entries and then ends; read counts the
// blocks read.
type endlessDirs struct {
	block []byte
	most  int
	read  int
	off   int
}

func newEndlessDirs(t *testing.T, most int) *endlessDirs {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "ck/", Mode: 0o700, Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	if buf.Len() != 512 {
		t.Fatalf("a directory entry is %d bytes, not one block", buf.Len())
	}
	return &endlessDirs{block: buf.Bytes(), most: most}
}

func (e *endlessDirs) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if e.off == 0 {
			if e.read == e.most {
				break
			}
			e.read++
		}
		k := copy(p[n:], e.block[e.off:])
		n += k
		e.off = (e.off + k) % len(e.block)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// TestAddTarBoundsEntries: a stream of directory entries without end (a
// checkpoint's pack helper the workload took over) is refused once it
// passes MaxTarEntries entries, naming the bound and the entry, and
// stores no manifest: directories count though they add no file. The
// stream here ends at twice the bound, so that AddTar without the bound
// returns, having read it all.
func TestAddTarBoundsEntries(t *testing.T) {
	src := newEndlessDirs(t, 2*MaxTarEntries)
	store, _ := newStore(t)
	_, err := AddTar(context.Background(), "ck", src, store, newSealer(t, "ck"), 10, 1<<30)
	if want := fmt.Sprintf(`tar entry "ck/": more than %d entries`, MaxTarEntries); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%d directory entries: %v, want %q", src.read, err, want)
	}
	if src.read > MaxTarEntries+1 {
		t.Fatalf("read %d entries; the bound is %d", src.read, MaxTarEntries)
	}
	if _, err := ReadObject(context.Background(), store, ManifestKey("ck"), 1<<20); err == nil {
		t.Fatal("a manifest was stored for a refused stream")
	}
}

// countingReader counts what is read of r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestAddTarBoundsExtendedHeaders: a stream of PAX extended headers
// without end, none followed by its entry, is refused once one entry's
// headers pass maxTarHeaderBytes, having read no more than that. The
// tar reader reads any number of them within one call, where no count
// of entries sees them. The stream here ends after 8 MiB.
func TestAddTarBoundsExtendedHeaders(t *testing.T) {
	const record = "15 comment=xyz\n"
	pair := append(rawTarHeader("pax", tar.TypeXHeader, len(record)), []byte(record)...)
	pair = append(pair, make([]byte, 512-len(record))...)
	src := &countingReader{r: bytes.NewReader(bytes.Repeat(pair, 8<<20/len(pair)))}
	store, _ := newStore(t)
	_, err := AddTar(context.Background(), "ck", src, store, newSealer(t, "ck"), 10, 1<<30)
	if err == nil || !strings.Contains(err.Error(), "an entry's headers take more than 65536 bytes") {
		t.Fatalf("endless extended headers (%d bytes read): %v", src.n, err)
	}
	if src.n > maxTarHeaderBytes {
		t.Fatalf("read %d bytes of extended headers; the bound is %d", src.n, maxTarHeaderBytes)
	}
}

// rawTarHeader is a USTAR header block of any type, as a tar writer
// would not write it.
func rawTarHeader(name string, typ byte, size int) []byte {
	h := make([]byte, 512)
	copy(h, name)
	copy(h[100:], "0000600\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], fmt.Sprintf("%011o\x00", size))
	copy(h[136:], "00000000000\x00")
	h[156] = typ
	copy(h[257:], "ustar\x0000")
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return h
}
