package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesARelativeDatasetStore: --dataset-stores file://./data
// was accepted and read from whatever directory the server was started
// in, so a start from elsewhere let tenants name another directory of the
// machine as their home store, and refused the datasets registered under
// the one meant. It is now refused at start, naming the flag and the
// absolute spelling, before the state directory is touched.
func TestServeRefusesARelativeDatasetStore(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	t.Chdir(dir)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for i, store := range []string{"file://./data", "file://./", "file://."} {
		state := filepath.Join(dir, fmt.Sprint("state", i))
		s, err := startServer(serverOptions{StateDir: state, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second,
			DatasetStores: []string{"file:///srv/data", store}})
		if err == nil {
			s.Close()
			t.Errorf("--dataset-stores %s: started, want a refusal", store)
			continue
		}
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput {
			t.Errorf("--dataset-stores %s: %v, want bad input", store, err)
		}
		for _, want := range []string{"--dataset-stores", store, "file://" + wd} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("--dataset-stores %s: %q does not name %q", store, err, want)
			}
		}
		if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--dataset-stores %s: the state directory was made before the refusal (%v)", store, err)
		}
	}
}
