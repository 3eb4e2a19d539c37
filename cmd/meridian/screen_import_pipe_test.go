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

// TestScreenImportPipeOnceTheBound: screen import of a pipe (screen import
// <(curl …)) at the bound of a list file allocates about the bound once,
// as a regular file of that size is read: read into a buffer grown as it
// filled, it allocated (and held at once) 2.4 times the bound. A pipe one
// byte over the bound is refused, naming the pipe and the bound, and
// nothing is imported. The bound is lowered so that the test streams
// megabytes, not the 512 MiB of screen.MaxFileBytes.
func TestScreenImportPipeOnceTheBound(t *testing.T) {
	const bound = 32 << 20
	was := screenListMaxBytes
	screenListMaxBytes = bound
	t.Cleanup(func() { screenListMaxBytes = was })
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	sample := sampleListJSON(t)
	sst := &screen.Store{Dir: filepath.Join(home, "screening")}

	over := paddedList(t, sample, bound+1)
	_, err := runCLI(t, "screen", "import", over)
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
	var out string
	total, peak := allocated(func() { out, err = runCLI(t, "screen", "import", at, "-o", "json") })
	t.Logf("a pipe of %d MiB at the bound: %d MiB allocated, heap in use grew by %d MiB at most", bound>>20, total>>20, peak>>20)
	var info struct {
		Entries int `json:"entries"`
	}
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.Entries == 0 {
		t.Fatalf("screen import of a pipe of exactly the bound: %v %s, want its entries imported", err, out)
	}
	// The bound once, and a quarter of it for the rest of the import
	// (the list parsed and written, the writer's own buffer).
	if total > bound*5/4 {
		t.Errorf("screen import of a pipe at the bound allocated %d MiB, want no more than %d MiB (the bound once, and a quarter)", total>>20, bound*5/4>>20)
	}
}
