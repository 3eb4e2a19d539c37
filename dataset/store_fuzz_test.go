package dataset

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzFileStoreKey: whatever key a caller passes, a file store either
// refuses it or maps it to a path strictly inside its directory, and two
// different keys never share a path.
func FuzzFileStoreKey(f *testing.F) {
	for _, k := range []string{"meridian/d/manifest", "t/acme/data/meridian/d/chunks/ab/ab12", "../x", "a/../b", "a//b", "/abs", "a/.", "a/b.tmp", "é/ü", "a\\b"} {
		f.Add(k)
	}
	dir := f.TempDir()
	b := &dirBucket{dir: dir}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := b.path(key)
		if err != nil {
			return
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
			t.Fatalf("key %q maps to %s, outside %s", key, p, dir)
		}
		if back := filepath.ToSlash(rel); back != key {
			t.Fatalf("key %q maps to %s, which reads back as key %q", key, p, back)
		}
	})
}
