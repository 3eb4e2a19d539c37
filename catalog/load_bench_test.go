package catalog_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"meridian.dev/meridian/bench/synth"
	"meridian.dev/meridian/catalog"
)

// writeSynthCatalog writes n synthetic sites of four pools to one file.
func writeSynthCatalog(tb testing.TB, n int) string {
	tb.Helper()
	w, err := catalog.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	f, err := os.Create(filepath.Join(dir, "sites.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := synth.WriteYAML(f, &catalog.Set{Sites: synth.Sites(w, n, 4, 1)}); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// BenchmarkLoadCatalog measures loading and validating a catalog of
// synthetic sites in one file (about 850 bytes a site), as plan --catalog
// does: read, split into documents, parse and decode them in parallel,
// build the world and validate it.
func BenchmarkLoadCatalog(b *testing.B) {
	for _, n := range []int{100, 2000, 10000} {
		b.Run(strconv.Itoa(n)+"-sites", func(b *testing.B) {
			dir := writeSynthCatalog(b, n)
			st, _ := os.Stat(filepath.Join(dir, "sites.yaml"))
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := catalog.Load(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
