package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadDirNamesRelative: a server's catalog is read by LoadDir, whose
// positions and errors name each file as shown/ plus its path within the
// directory, never where it lies on the machine; a field's line is still
// found (Position.At, AtAll), from the text kept at decoding.
func TestLoadDirNamesRelative(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "eu"), 0o755)
	data, err := os.ReadFile("../examples/demo/sites/sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "eu", "sites.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := LoadDir(dir, ServerCatalogName)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := LoadFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Sites) == 0 || len(set.Sites) != len(whole.Sites) {
		t.Fatalf("%d sites, want %d (as LoadFiles reads them), at least one", len(set.Sites), len(whole.Sites))
	}
	for i, s := range set.Sites {
		p, full := s.Pos, whole.Sites[i].Pos
		if p.File != "catalog/eu/sites.yaml" || p.Line != full.Line {
			t.Errorf("site %s at %s, want catalog/eu/sites.yaml:%d", s.Metadata.Name, p, full.Line)
		}
		want := strings.Replace(full.At("spec.pools[0].available"), full.File, p.File, 1)
		if got := p.At("spec.pools[0].available"); got != want {
			t.Errorf("site %s pool field at %s, want %s", s.Metadata.Name, got, want)
		}
		if got := p.AtAll([]string{"spec.country"})["spec.country"]; got != strings.Replace(full.At("spec.country"), full.File, p.File, 1) {
			t.Errorf("site %s spec.country at %s, want the line LoadFiles finds", s.Metadata.Name, got)
		}
	}

	// Errors name the file as shown too: a syntax error and a FIFO.
	os.WriteFile(filepath.Join(dir, "eu", "bad.yaml"), []byte("kind: [\n"), 0o644)
	_, err = LoadDir(dir, ServerCatalogName)
	if err == nil || strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "catalog/eu/bad.yaml") {
		t.Errorf("a syntax error: %v, want it at catalog/eu/bad.yaml, not naming %s", err, dir)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing"), ServerCatalogName); err == nil || strings.Contains(err.Error(), dir) {
		t.Errorf("a missing directory: %v, want an error not naming %s", err, dir)
	}
}
