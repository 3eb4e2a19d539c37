package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/screen"
)

// TestScreenImportPipeCostsItsLength: screen import of a pipe (screen
// import <(curl …)) read it into one buffer of the bound of a list file
// made at once, which reserved 512 MiB in the heap whatever the pipe held
// (the published list is tens of MB). It reads it into a buffer doubled
// as it fills, up to the bound: a pipe of a few MB costs a small multiple
// of its length, and one at the bound about twice the bound (read into
// io.ReadAll's chunks and a copy of them, 2.4 times). A pipe one byte
// over the bound is refused, naming the pipe and the bound, and nothing
// is imported. The bound is then lowered so that the test streams
// megabytes, not the 512 MiB of screen.MaxFileBytes.
func TestScreenImportPipeCostsItsLength(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	sample := sampleListJSON(t)
	sst := &screen.Store{Dir: filepath.Join(home, "screening")}

	const short = 4 << 20
	var out string
	var err error
	total, peak := allocated(func() { out, err = runCLI(t, "screen", "import", paddedList(t, sample, short), "-o", "json") })
	t.Logf("a pipe of %d MiB with the bound of %d MiB: %d MiB allocated, heap in use grew by %d MiB at most", short>>20, screenListMaxBytes>>20, total>>20, peak>>20)
	if err != nil || !strings.Contains(out, `"entries"`) {
		t.Fatalf("screen import of a pipe of %d MiB: %v %s", short>>20, err, out)
	}
	// Twice its length read (the buffers doubled into), and the rest of
	// the import (the list parsed and written).
	if total > 4*short {
		t.Errorf("screen import of a pipe of %d MiB allocated %d MiB, want no more than %d MiB, not the bound of %d MiB", short>>20, total>>20, 4*short>>20, screenListMaxBytes>>20)
	}
	if err := os.RemoveAll(sst.Dir); err != nil {
		t.Fatal(err)
	}

	const bound = 32 << 20
	was := screenListMaxBytes
	screenListMaxBytes = bound
	t.Cleanup(func() { screenListMaxBytes = was })
	over := paddedList(t, sample, bound+1)
	_, err = runCLI(t, "screen", "import", over)
	limit := fmt.Sprintf("over the %d-byte limit, the bound of a screening list file (32 MiB; the published list is tens of MB); nothing imported", bound)
	if err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), over) || !strings.Contains(err.Error(), limit) {
		t.Errorf("screen import of a pipe one byte over the bound: %v, want exit %d naming %s and %q", err, exitBadInput, over, limit)
	}
	if _, err := sst.List(); err == nil {
		t.Errorf("screen import of a pipe over the bound stored a list")
	}
	if des, _ := os.ReadDir(sst.Dir); len(des) > 0 {
		t.Errorf("screen import of a pipe over the bound left %d files in %s", len(des), sst.Dir)
	}

	at := paddedList(t, sample, bound)
	total, peak = allocated(func() { out, err = runCLI(t, "screen", "import", at, "-o", "json") })
	t.Logf("a pipe of %d MiB at the bound: %d MiB allocated, heap in use grew by %d MiB at most", bound>>20, total>>20, peak>>20)
	var info struct {
		Entries int `json:"entries"`
	}
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Entries == 0 {
		t.Fatalf("screen import of a pipe of exactly the bound: %v %s, want its entries imported", err, out)
	}
	// The bound twice (the buffers doubled into), and a quarter of it for
	// the rest of the import (the list parsed and written, the writer's
	// own buffer).
	if total > bound*9/4 {
		t.Errorf("screen import of a pipe at the bound allocated %d MiB, want no more than %d MiB (the bound twice, and a quarter)", total>>20, bound*9/4>>20)
	}
}
