package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"meridian.dev/meridian/internal/plainfile"
)

// TestAnchorReadErrorNamesFile: an anchor file Read cannot read (over its
// bound, a FIFO or a directory in its place) is named as Read's other
// refusals name it (an open's error too), "audit anchor PATH: why", with the cause still
// wrapped. It was "audit anchor: PATH: why" for these alone.
func TestAnchorReadErrorNamesFile(t *testing.T) {
	for name, put := range map[string]func(path string) error{
		"over the bound": func(path string) error {
			return os.WriteFile(path, bytes.Repeat([]byte(" "), maxAnchorFileBytes+1), 0o600)
		},
		"a FIFO":      func(path string) error { return syscall.Mkfifo(path, 0o600) },
		"a directory": func(path string) error { return os.Mkdir(path, 0o700) },
		// The open's own error ("open PATH: …").
		"a link to itself": func(path string) error { return os.Symlink(path, path) },
	} {
		dir := t.TempDir()
		a, err := OpenAnchors(dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, AnchorFile)
		if err := put(path); err != nil {
			t.Fatal(err)
		}
		_, _, err = a.Read()
		if err == nil {
			t.Errorf("%s: read", name)
			continue
		}
		if want := "audit anchor " + path + ": "; !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), path) != 1 {
			t.Errorf("%s: %v, want it to begin %q and name the file once", name, err, want)
		}
		if !errors.Is(err, plainfile.ErrTooLarge) && !errors.Is(err, plainfile.ErrNotRegular) && !errors.Is(err, syscall.ELOOP) {
			t.Errorf("%s: the cause is not wrapped: %v", name, err)
		}
	}
}
