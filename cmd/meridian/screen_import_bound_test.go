package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/screen"
)

// sampleListJSON is the published JSON sample, the list the bound tests
// import first and then pad to the bound.
func sampleListJSON(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "screen", "testdata", "csl-sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// paddedList streams the sample list padded with trailing spaces (JSON
// whitespace, which changes no entry) to exactly size bytes into a pipe,
// a megabyte at a time, and gives the pipe's name as bash's <(…) does
// (/dev/fd/N): the test never holds the file. The pipe's read end is
// closed when t ends, which ends a writer that has more to write than
// the command read.
func paddedList(t testing.TB, list []byte, size int64) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		r.Close()
		<-done
	})
	go func() {
		defer close(done)
		defer w.Close()
		if _, err := w.Write(list); err != nil {
			return
		}
		pad := bytes.Repeat([]byte{' '}, 1<<20)
		for left := size - int64(len(list)); left > 0; {
			n := min(left, int64(len(pad)))
			if _, err := w.Write(pad[:n]); err != nil {
				return
			}
			left -= n
		}
	}()
	return fmt.Sprintf("/dev/fd/%d", r.Fd())
}

// screeningState is every file of the screening directory, by name, with
// its mode and contents: what an import that is refused must leave as
// it was (no list, decisions or temporary file half-written).
func screeningState(t testing.TB, dir string) map[string]string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil && !de.IsDir() {
			t.Fatal(err)
		}
		state[de.Name()] = fi.Mode().String() + "\n" + string(data)
	}
	return state
}

// allocated runs f and gives the bytes it allocated on the heap (the
// process's, other goroutines' included) and the most the heap held in
// use, sampled, while it ran.
func allocated(f func()) (total, peak uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stop, sampled := make(chan struct{}), make(chan uint64)
	go func() {
		var most uint64
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			most = max(most, m.HeapInuse)
			select {
			case <-stop:
				sampled <- most
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	peak = <-sampled
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, peak - min(peak, before.HeapInuse)
}

// TestScreenImportAtFileBound: screen import reads a list file of at most
// screen.MaxFileBytes. A file one byte over it, a regular file or a pipe
// (screen import <(curl …)), is refused (exit 2), naming the file, the
// bound and that it is a screening list's (it said only "file too large:
// over the 536870912-byte limit"), and that nothing was imported; it
// leaves the screening state as it was: the stored list, the decisions
// and no file beside them. A regular file is refused by its size, before
// it is read. A pipe of exactly the bound imports.
func TestScreenImportAtFileBound(t *testing.T) {
	if testing.Short() {
		t.Skip("streams two lists of 512 MiB through a pipe")
	}
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	sample := sampleListJSON(t)
	first := filepath.Join(t.TempDir(), "consolidated.json")
	if err := os.WriteFile(first, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "screen", "import", first); err != nil {
		t.Fatal(err)
	}
	sst := &screen.Store{Dir: filepath.Join(home, "screening")}
	l, err := sst.List()
	if err != nil {
		t.Fatal(err)
	}
	// A dismissal recorded against the entry as it is, so that the
	// decisions are part of the state an import must not touch.
	e := l.Entries[0]
	d := screen.Decision{Org: "example-lab", Tenant: catalog.DefaultTenant, EntryID: e.ID, Entry: e.List + " " + e.Name, Action: screen.Dismiss,
		By: "a.person", Reason: "other company", Time: l.ImportedAt, ListSHA256: l.SHA256, EntrySHA256: e.ContentHash()}
	b, err := json.Marshal(map[string]any{"decisions": []screen.Decision{d}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sst.DecisionsPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := screeningState(t, sst.Dir)
	limit := fmt.Sprintf("over the %d-byte limit, the bound of a screening list file (512 MiB; the published list is tens of MB); nothing imported", screen.MaxFileBytes)

	refused := func(what, name string) {
		t.Helper()
		_, err := runCLI(t, "screen", "import", name)
		if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), limit) {
			t.Errorf("screen import of %s one byte over the bound: %v, want exit %d naming %s and %q", what, err, exitBadInput, name, limit)
		}
		after := screeningState(t, sst.Dir)
		for k, v := range before {
			if after[k] != v {
				t.Errorf("screen import of %s over the bound changed %s", what, k)
			}
		}
		for k := range after {
			if _, ok := before[k]; !ok {
				t.Errorf("screen import of %s over the bound left %s behind", what, k)
			}
		}
		if got, err := sst.List(); err != nil || got.SHA256 != l.SHA256 || !got.ImportedAt.Equal(l.ImportedAt) {
			t.Errorf("the stored list after the import of %s over the bound: %v, want the list as it was", what, err)
		}
		if ds, err := sst.Decisions(); err != nil || len(ds) != 1 || ds[0].EntrySHA256 != d.EntrySHA256 {
			t.Errorf("the decisions after the import of %s over the bound: %+v %v, want the dismissal as it was", what, ds, err)
		}
	}

	// A regular file over the bound (sparse: it takes no disk) is refused
	// by its size: nothing of it is read.
	sparse := filepath.Join(t.TempDir(), "consolidated.json")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(screen.MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	total, _ := allocated(func() { refused("a regular file", sparse) })
	t.Logf("a regular file over the bound: %d bytes allocated", total)
	if total > 16<<20 {
		t.Errorf("a regular file over the bound: %d bytes allocated to refuse it, want it refused by its size, unread", total)
	}

	// A pipe says nothing of its size: the command reads it up to one
	// byte past the bound.
	start := time.Now()
	over := paddedList(t, sample, screen.MaxFileBytes+1)
	total, peak := allocated(func() { refused("a pipe", over) })
	t.Logf("a pipe over the bound: refused in %v, %d MiB allocated, heap in use grew by %d MiB at most",
		time.Since(start).Round(time.Millisecond), total>>20, peak>>20)
	if total > 3*screen.MaxFileBytes {
		t.Errorf("a pipe over the bound: %d bytes allocated to refuse it, want no more than %d", total, 3*screen.MaxFileBytes)
	}

	// A pipe of exactly the bound imports: the sample's entries, padded.
	start = time.Now()
	at := paddedList(t, sample, screen.MaxFileBytes)
	var out string
	total, peak = allocated(func() { out, err = runCLI(t, "screen", "import", at, "-o", "json") })
	t.Logf("a pipe at the bound: imported in %v, %d MiB allocated, heap in use grew by %d MiB at most",
		time.Since(start).Round(time.Millisecond), total>>20, peak>>20)
	var info struct {
		Entries int    `json:"entries"`
		SHA256  string `json:"sha256"`
	}
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Entries != len(l.Entries) || info.SHA256 == l.SHA256 {
		t.Fatalf("screen import of a pipe of exactly the bound: %v %s, want its %d entries imported", err, out, len(l.Entries))
	}
	got, err := sst.List()
	if err != nil || got.SHA256 != info.SHA256 || len(got.Entries) != len(l.Entries) {
		t.Errorf("the stored list after the import at the bound: %v, want the file imported", err)
	}
	if ds, err := sst.Decisions(); err != nil || len(ds) != 1 {
		t.Errorf("the decisions after the import at the bound: %+v %v, want the dismissal as it was", ds, err)
	}
}

// BenchmarkScreenImportPipeOverBound is what screen import of a pipe one
// byte over screen.MaxFileBytes costs to refuse (-benchmem: its bytes
// allocated).
func BenchmarkScreenImportPipeOverBound(b *testing.B) {
	b.Setenv("MERIDIAN_HOME", b.TempDir())
	sample := sampleListJSON(b)
	b.ReportAllocs()
	for b.Loop() {
		name := paddedList(b, sample, screen.MaxFileBytes+1)
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"screen", "import", name})
		if err := root.Execute(); err == nil {
			b.Fatal("a pipe over the bound was imported")
		}
	}
}
