package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolveLinksCostsLogarithmically: a document may name a store path
// thousands of names deep, none of them there. Resolving its links name by
// name, from the end back, cost a resolution of the whole path for every
// name: millions of system calls for one document. The part that exists
// is now found by halving.
func TestResolveLinksCostsLogarithmically(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(dir, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(dir, "link", strings.Repeat("x/", 2000)+"end")
	calls := 0
	old := evalSymlinks
	evalSymlinks = func(p string) (string, error) { calls++; return old(p) }
	t.Cleanup(func() { evalSymlinks = old })
	got := ResolveLinks(deep)
	realDir, err := old(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(realDir, strings.Repeat("x/", 2000)+"end"); got != want {
		t.Fatalf("ResolveLinks(%d names) = …%s, want …%s", strings.Count(deep, "/"), got[len(got)-40:], want[len(want)-40:])
	}
	if calls > 20 {
		t.Fatalf("%d resolutions for a path of %d names; want about log2 of it", calls, strings.Count(deep, "/"))
	}
}
