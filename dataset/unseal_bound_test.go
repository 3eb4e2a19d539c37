package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lowSlack sets the slack of the unseal bound to n for the test.
func lowSlack(t *testing.T, n int64) {
	old := unsealSlack
	unsealSlack = n
	t.Cleanup(func() { unsealSlack = old })
}

// TestAttackUnsealRepeatedChunk: a manifest, authenticated with the
// dataset's own key, that names one staged chunk of 1 MiB in nine files
// is refused before anything is written, naming the reference past the
// bound. Before, the unseal wrote all nine (any number of them: a few
// megabytes staged filled the site's scratch).
func TestAttackUnsealRepeatedChunk(t *testing.T) {
	lowSlack(t, 0)
	ctx := context.Background()
	src := t.TempDir()
	data := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(src, "a"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	store, _ := newStore(t)
	s := newSealer(t, "dup")
	res, err := Add(ctx, AddOptions{Name: "dup", Root: src, Store: store, Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	one := res.Manifest.Files[0]
	if len(one.Chunks) != 1 {
		t.Fatalf("1 MiB in %d chunks, want 1", len(one.Chunks))
	}
	m := &Manifest{Version: ManifestVersion, Dataset: "dup"}
	for i := range 9 {
		f := one
		f.Path = fmt.Sprintf("f%d", i)
		m.Files = append(m.Files, f)
	}
	enc, err := m.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, store, ManifestKey("dup"), enc); err != nil {
		t.Fatal(err)
	}
	// 1 MiB staged: at most 4 MiB written. The fifth file is past it.
	const field = "files[4].chunks[0].id"
	dir := filepath.Join(t.TempDir(), "out")
	_, err = UnsealDir(ctx, store, s, "dup", dir)
	if !errors.Is(err, ErrUnsealBound) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "named 9 times") {
		t.Fatalf("UnsealDir = %v, want ErrUnsealBound naming %s", err, field)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused unseal made its directory (%v)", err)
	}
	var w bytes.Buffer
	_, err = UnsealTar(ctx, store, s, "dup", &w)
	if !errors.Is(err, ErrUnsealBound) || !strings.Contains(err.Error(), field) {
		t.Fatalf("UnsealTar = %v, want ErrUnsealBound naming %s", err, field)
	}
	if w.Len() != 0 {
		t.Fatalf("a refused tar unseal wrote %d bytes", w.Len())
	}
	// Four copies are within the bound, and unseal.
	m.Files = m.Files[:4]
	if enc, err = m.Encode(s); err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, store, ManifestKey("dup"), enc); err != nil {
		t.Fatal(err)
	}
	if _, err := UnsealDir(ctx, store, s, "dup", dir); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f3")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("f3: %d bytes, %v", len(got), err)
	}
}

// TestUnsealBoundKeepsHoles: a file of 128 MiB that is zeros but for its
// first 100 KiB (one chunk of zeros named over and over) unseals into a
// directory under a bound with no slack, as its zeros are holes there; as
// a tar stream, which carries the zeros, it is refused.
func TestUnsealBoundKeepsHoles(t *testing.T) {
	lowSlack(t, 0)
	ctx := context.Background()
	src := t.TempDir()
	head := make([]byte, 100<<10)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range head {
		head[i] = byte(rng.Uint32())
	}
	p := filepath.Join(src, "ckpt.bin")
	if err := os.WriteFile(p, head, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 128<<20); err != nil {
		t.Fatal(err)
	}
	store, _ := newStore(t)
	s := newSealer(t, "ckpt")
	if _, err := Add(ctx, AddOptions{Name: "ckpt", Root: src, Store: store, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := UnsealDir(ctx, store, s, "ckpt", out); err != nil {
		t.Fatalf("sparse file into a directory: %v", err)
	}
	sameTree(t, src, out)
	var w bytes.Buffer
	if _, err := UnsealTar(ctx, store, s, "ckpt", &w); !errors.Is(err, ErrUnsealBound) || w.Len() != 0 {
		t.Fatalf("sparse file as a tar stream: %v, %d bytes written", err, w.Len())
	}
}

// TestAttackUnsealDeepDirs: a manifest of four empty files, each under a
// chain of a thousand directories of its own (some 8 KB of manifest, for
// 4,000 directories, a block each, at the site), is refused before
// anything is written, naming the first path past the bound. Before, the
// unseal made every directory: a manifest of 1 GiB so made some 2 TB of
// them.
func TestAttackUnsealDeepDirs(t *testing.T) {
	lowSlack(t, 0)
	ctx := context.Background()
	store, _ := newStore(t)
	s := newSealer(t, "deep")
	m := &Manifest{Version: ManifestVersion, Dataset: "deep"}
	for i := range 4 {
		m.Files = append(m.Files, File{Path: fmt.Sprintf("d%d/%sf", i, strings.Repeat("a/", 999)), Mode: 0o600})
	}
	enc, err := m.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, store, ManifestKey("deep"), enc); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	_, err = UnsealDir(ctx, store, s, "deep", dir)
	if !errors.Is(err, ErrUnsealBound) || !strings.Contains(err.Error(), "files[0].path") {
		t.Fatalf("UnsealDir = %v, want ErrUnsealBound naming files[0].path", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused unseal made its directory (%v)", err)
	}
	var w bytes.Buffer
	if _, err := UnsealTar(ctx, store, s, "deep", &w); !errors.Is(err, ErrUnsealBound) || w.Len() != 0 {
		t.Fatalf("UnsealTar = %v, %d bytes written", err, w.Len())
	}
}

// TestNewDirs: counted file by file over sorted paths, newDirs finds each
// directory above them once, as a set of every path's parents does.
func TestNewDirs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	parts := []string{"a", "b", "a.b", "a-b", "ab", "a!"}
	for range 200 {
		set := map[string]bool{}
		for range 1 + rng.IntN(30) {
			var p []string
			for range 1 + rng.IntN(5) {
				p = append(p, parts[rng.IntN(len(parts))])
			}
			set[strings.Join(p, "/")] = true
		}
		var paths []string
		for p := range set {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		want := map[string]bool{}
		var got int64
		prev := ""
		for _, p := range paths {
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				want[d] = true
			}
			got += newDirs(prev, p)
			prev = p
		}
		if got != int64(len(want)) {
			t.Fatalf("%q: newDirs counts %d directories, want %d", paths, got, len(want))
		}
	}
}

// BenchmarkUnsealBound is what checking the unseal bound costs an unseal
// of a manifest of 400,000 distinct chunks (400 GiB) before it writes
// anything.
func BenchmarkUnsealBound(b *testing.B) {
	m := bigManifest("shard-%05d/model.pt")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := checkUnsealBound(context.Background(), nil, nil, "big", m, 1<<20, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAttackUnsealEmptyFiles: a manifest of 200 empty files, some 50
// bytes of it each, is refused before anything is written, naming the
// first path past the bound: each file the unseal makes is an inode and
// an entry in a directory, and a sync. Before, it made them all: a
// manifest of 1 GiB so made some 20 million.
func TestAttackUnsealEmptyFiles(t *testing.T) {
	lowSlack(t, 0)
	ctx := context.Background()
	store, _ := newStore(t)
	s := newSealer(t, "empty")
	m := &Manifest{Version: ManifestVersion, Dataset: "empty"}
	for i := range 200 {
		m.Files = append(m.Files, File{Path: fmt.Sprintf("f%03d", i), Mode: 0o600})
	}
	enc, err := m.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, store, ManifestKey("empty"), enc); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	_, err = UnsealDir(ctx, store, s, "empty", dir)
	if !errors.Is(err, ErrUnsealBound) || !strings.Contains(err.Error(), "].path \"f") {
		t.Fatalf("UnsealDir = %v, want ErrUnsealBound naming a file's path", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused unseal made its directory (%v)", err)
	}
}
