package slurm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestRetireLogNotKeptWhereWorkloadsWrite: a backend whose records are
// signed with a key kept out of the state directory (the site's
// backend.recordKeyFile, RecordKey), given no key file to keep its log
// of retires beside, kept the log in the state directory, where a
// workload, as the cluster user, could remove it, and after a restart a
// retired job's record it had kept a copy of counted as live again. Such
// a backend is now refused, as is a key file in the state directory
// (the log goes beside it), each naming the setting; no key and no log
// is made there.
func TestRetireLogNotKeptWhereWorkloadsWrite(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	siteKey := filepath.Join(dir, "settings", "site-a.key")
	if err := os.MkdirAll(filepath.Dir(siteKey), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(siteKey, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(dir, "linked")
	if err := os.Symlink(filepath.Join(state, "keys"), linked); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		site catalog.BackendSpec
		opts []Option
		want []string
	}{
		{"site key, no key file", catalog.BackendSpec{Type: "slurm", RecordKeyFile: siteKey}, nil,
			[]string{"backend.recordKeyFile", siteKey, "RecordKeyFile", state}},
		{"key, no key file", catalog.BackendSpec{Type: "slurm"}, []Option{RecordKey(bytes.Repeat([]byte{1}, 32))},
			[]string{"RecordKey", "RecordKeyFile", state}},
		{"key file in the state directory", catalog.BackendSpec{Type: "slurm"}, []Option{RecordKeyFile(filepath.Join(state, "keys", "k"))},
			[]string{"RecordKeyFile", filepath.Join(state, "keys", "k"), "inside the state directory"}},
		{"key file through a link into the state directory", catalog.BackendSpec{Type: "slurm"}, []Option{RecordKeyFile(filepath.Join(linked, "k"))},
			[]string{"RecordKeyFile", filepath.Join(linked, "k"), "inside the state directory"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.site, state, c.opts...)
			if err == nil {
				t.Fatal("taken; want refused: its log of retires would lie in the state directory")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, p := range []string{filepath.Join(state, retireLogDir), filepath.Join(state, "keys", retireLogDir), filepath.Join(state, "keys", "k")} {
				if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: %v; want none made", p, err)
				}
			}
		})
	}
}
