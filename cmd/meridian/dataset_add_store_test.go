package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/statedir"
)

// A dataset added with a relative file store (file://./dir, found from the
// working directory) is registered under the directory meant: its
// document names it absolutely, which a server reads (it refuses a
// relative one, found from wherever it was started). A file URL that names
// no directory for certain is refused, naming --store, and nothing is
// written.
func TestDatasetAddMakesARelativeStoreAbsolute(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	work := t.TempDir()
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("record\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(work)
	if _, err := runCLI(t, "dataset", "add", "rel", "--from", src, "--origin", "DE", "--classification", "public", "--store", "file://./home-store"); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(statedir.Dir{Path: home}.DatasetFile("rel"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(work)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"store: file://" + filepath.Join(work, "home-store"), "store: file://" + filepath.Join(real, "home-store")}
	if !strings.Contains(string(doc), want[0]) && !strings.Contains(string(doc), want[1]) {
		t.Fatalf("the dataset's document:\n%s\nwant %q", doc, want[0])
	}
	if _, err := os.Stat(filepath.Join(work, "home-store")); err != nil {
		t.Fatalf("the store the document names holds nothing: %v", err)
	}

	for _, store := range []string{"file://other-host/dir", "file:dir"} {
		_, err := runCLI(t, "dataset", "add", "bad", "--from", src, "--origin", "DE", "--classification", "public", "--store", store)
		if err == nil || !strings.Contains(err.Error(), "--store") {
			t.Fatalf("dataset add --store %s: %v; want refused naming --store", store, err)
		}
		if _, err := os.Stat(statedir.Dir{Path: home}.DatasetFile("bad")); !os.IsNotExist(err) {
			t.Fatalf("dataset add --store %s wrote its document: %v", store, err)
		}
	}
}
