package catalog

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoadFilesLinkedDirectory: a directory named through a link (a
// deployment's current → releases/42) loaded no files at all, and a
// server given it as --catalog ran with no sites; it loads what the
// directory it leads to holds.
func TestLoadFilesLinkedDirectory(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "releases", "42")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	site := "apiVersion: meridian.dev/v1alpha1\nkind: Site\nmetadata: {name: linked-site}\nspec: {country: SG, pools: [{accelerator: nvidia-h100-sxm, count: 8, pricePerHour: 2}]}\n"
	if err := os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "current")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, link, link + string(os.PathSeparator)} {
		set, err := LoadFiles(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(set.Sites) != 1 || set.Sites[0].Metadata.Name != "linked-site" {
			t.Errorf("%s: loaded %d sites, want linked-site", p, len(set.Sites))
		}
	}
}
