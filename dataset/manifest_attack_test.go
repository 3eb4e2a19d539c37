package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestAttackDeepManifestPaths: a manifest of long paths with thousands of
// parts (what a workload can put in a checkpoint's tar, which the agent
// seals and the server parses when it moves the checkpoint) is judged in
// time proportional to its size. Each such path used to cost 20 ms, so
// 500 of them, 2 MB of manifest, held a core for 10 s, and a manifest at
// its size limit for hours.
func TestAttackDeepManifestPaths(t *testing.T) {
	deep := strings.Repeat("a/", 2045) // 4,090 bytes, 2,046 parts
	m := &Manifest{Version: ManifestVersion, Dataset: "fuzz"}
	for i := range 500 {
		m.Files = append(m.Files, File{Path: fmt.Sprintf("%sf%03d", deep, i), Mode: 0o600})
	}
	// The bound is on the CPU time of the thread that validates, not the
	// wall clock: a loaded machine that gives this test a small share of
	// its cores for seconds stretches the wall clock past any bound, but
	// not the work done (about 40 ms now; 10 s when each path cost 20 ms).
	runtime.LockOSThread()
	start := threadCPU(t)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	took := threadCPU(t) - start
	runtime.UnlockOSThread()
	if took > 2*time.Second {
		t.Fatalf("validating 500 deep paths took %v of CPU", took)
	}
	// The check still finds a file that is a directory of another, however
	// deep, and wherever the two fall in the sorted list.
	m.Files = append(m.Files, File{Path: deep + "f250/x", Mode: 0o600})
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "both a file and a directory") {
		t.Fatalf("deep file that is also a directory: %v", err)
	}
}

// TestManifestFileUnderFileApart: a file "a" and a file "a/b" are refused
// when paths that sort between them ("a-b", "a.c") keep them apart.
func TestManifestFileUnderFileApart(t *testing.T) {
	m := &Manifest{Version: ManifestVersion, Dataset: "fuzz", Files: []File{
		{Path: "a"}, {Path: "a-b"}, {Path: "a.c"}, {Path: "a/b/c"}, {Path: "b"},
	}}
	err := m.Validate()
	if err == nil || !strings.Contains(err.Error(), `files[3].path "a/b/c": "a" is both a file and a directory`) {
		t.Fatalf("Validate = %v", err)
	}
	m.Files[0].Path = "A"
	if err := m.Validate(); err != nil {
		t.Fatalf("no file under another: %v", err)
	}
}

// TestAttackLargeManifestMemory: checking a large manifest (a workload
// makes a checkpoint's as large as it likes, up to MaxManifestBytes, and
// both the agent and the server check it) allocates little beyond what the
// manifest describes. The decoders used to buffer the stored form whole,
// twice, and copy the body besides: some six bytes allocated for each byte
// of manifest, 6 GiB at the peak for a manifest of 1 GiB.
func TestAttackLargeManifestMemory(t *testing.T) {
	s := newSealer(t, "big")
	m := bigManifest("shard-%05d/model.pt")
	enc, err := m.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := ParseManifest(enc, s)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.UniqueChunks()); n != 400000 {
		t.Fatalf("%d chunks parsed, want 400,000", n)
	}
	// What the manifest describes: 40 bytes a chunk reference, held in
	// slices grown as they are read, so up to twice that.
	described := uint64(400000 * 40 * 2)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("manifest of %d bytes: %d bytes allocated (%.2f a byte), %d of them for what it describes", len(enc), alloc, float64(alloc)/float64(len(enc)), described)
	if alloc > described+uint64(len(enc)) {
		t.Fatalf("checking a manifest of %d MiB allocated %d MiB", len(enc)>>20, alloc>>20)
	}
}

// TestAttackLargeManifestEncode: sealing a large manifest (the agent seals
// a checkpoint's, which the workload makes as large as it likes) allocates
// little more than the stored form, and writes the bytes the standard
// encoder wrote. Marshalling the body whole and then the envelope around
// it allocated nine and a half bytes for each byte written.
func TestAttackLargeManifestEncode(t *testing.T) {
	s := newSealer(t, "big")
	m := bigManifest("shard-%05d/<model>&.pt")
	m.Files = append(m.Files, File{Path: "zz-empty", Mode: 0o600})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	enc, err := m.Encode(s)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("manifest of %d bytes: %d bytes allocated (%.2f a byte)", len(enc), alloc, float64(alloc)/float64(len(enc)))
	if alloc > uint64(len(enc))*3/2 {
		t.Fatalf("encoding a manifest of %d MiB allocated %d MiB", len(enc)>>20, alloc>>20)
	}
	// The standard encoder's bytes, as every manifest stored so far has
	// them: the MAC and the pins recorded of them hold.
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("{\"manifest\":%s,\"mac\":\"%x\"}\n", body, s.MAC(body))
	if string(enc) != want {
		t.Fatalf("Encode differs from the standard encoder's form")
	}
	if got, err := ParseManifest(enc, s); err != nil || len(got.Files) != len(m.Files) {
		t.Fatalf("ParseManifest(Encode(m)): %v", err)
	}
}

// TestManifestOverTheReadersLimitIsNotWritten: a manifest no reader would
// accept (over MaxManifestBytes: a dataset or checkpoint of too many files
// or chunks) was encoded and stored all the same, and the dataset was
// added, or the checkpoint sealed, only for every read to refuse it. Its
// writer is now told, naming the limit, and no manifest is stored.
func TestManifestOverTheReadersLimitIsNotWritten(t *testing.T) {
	old := maxManifestBytes
	maxManifestBytes = 16 << 10
	t.Cleanup(func() { maxManifestBytes = old })
	src := t.TempDir()
	for i := range 200 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("file-%03d.txt", i)), []byte(fmt.Sprintf("content %d\n", i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	store, _ := newStore(t)
	_, err := Add(context.Background(), AddOptions{Name: "many", Root: src, Store: store, Sealer: newSealer(t, "many")})
	if err == nil || !strings.Contains(err.Error(), "any reader accepts") {
		t.Fatalf("Add of a dataset whose manifest is over the readers' limit: %v, want a refusal naming the limit", err)
	}
	if _, err := ReadObject(context.Background(), store, ManifestKey("many"), int64(old)); err == nil {
		t.Fatal("a manifest no reader accepts was stored")
	}
}

// bigManifest describes 2,000 files (paths from the format and the file's
// number) of 200 chunks each: some 34 MiB stored.
func bigManifest(path string) *Manifest {
	m := &Manifest{Version: ManifestVersion, Dataset: "big"}
	for i := range 2000 {
		f := File{Path: fmt.Sprintf(path, i), Mode: 0o644}
		for j := range 200 {
			c := ChunkRef{Size: 1<<20 + int64(j)}
			c.ID[0], c.ID[1], c.ID[2] = byte(i), byte(i>>8), byte(j)
			f.Chunks = append(f.Chunks, c)
			f.Size += c.Size
		}
		m.Files = append(m.Files, f)
	}
	return m
}

// TestAttackManifestFieldNameBounded: a stored manifest's envelope is the
// store's to write, and is read before its MAC is checked. A member of
// it that is not "manifest" or "mac" was named in the error whole: a
// name of a megabyte (up to the manifest's size limit) made an error as
// large.
func TestAttackManifestFieldNameBounded(t *testing.T) {
	name := strings.Repeat("n", 1<<20)
	_, err := ParseManifest([]byte(`{"`+name+`":1,"mac":"00","manifest":{}}`), nil)
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("unknown member: %.200v", err)
	}
	if n := len(err.Error()); n > 4<<10 {
		t.Fatalf("error of %d bytes naming an unknown member, want at most 4 KiB", n)
	}
}
