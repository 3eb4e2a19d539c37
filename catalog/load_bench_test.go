package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
				if _, err := catalog.Load(nil, dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLoadLargeCatalogReportsAllErrors breaks documents far apart in a
// catalog of 2,000 sites in one file, in each way a document can be wrong
// (syntax, shape, meaning, a duplicate name), and checks that one load
// reports every one with its file, line and field.
func TestLoadLargeCatalogReportsAllErrors(t *testing.T) {
	dir := writeSynthCatalog(t, 2000)
	path := filepath.Join(dir, "sites.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.SplitAfter(string(data), "\n---\n")
	if len(docs) != 2000 {
		t.Fatalf("%d documents", len(docs))
	}
	lineOf := func(doc int, sub string) int {
		before := strings.Count(strings.Join(docs[:doc], ""), "\n")
		i := strings.Index(docs[doc], sub)
		if i < 0 {
			t.Fatalf("document %d lacks %q", doc, sub)
		}
		return before + strings.Count(docs[doc][:i], "\n") + 1
	}
	edit := func(doc int, from, to string) {
		if !strings.Contains(docs[doc], from) {
			t.Fatalf("document %d lacks %q", doc, from)
		}
		docs[doc] = strings.Replace(docs[doc], from, to, 1)
	}
	type want struct {
		line  int
		field string
		msg   string
	}
	var wants []want
	edit(10, "  operator:\n", "  operator: [unclosed\n")
	wants = append(wants, want{lineOf(10, "  operator: [unclosed"), "", ""})
	edit(500, "  network:\n", "  colour: red\n  network:\n")
	wants = append(wants, want{lineOf(500, "  colour: red"), "spec.colour", "unknown field"})
	edit(1500, "count: ", "count: many #")
	wants = append(wants, want{lineOf(1500, "count: many"), "spec.pools[0].count", "want a whole number"})
	country := docs[1700][strings.Index(docs[1700], "  country: "):]
	country = country[:strings.Index(country, "\n")+1]
	edit(1700, country, "  country: XX\n")
	name := docs[3][strings.Index(docs[3], "  name: syn-"):]
	name = name[:strings.Index(name, "\n")+1]
	oldName := docs[1999][strings.Index(docs[1999], "  name: syn-"):]
	oldName = oldName[:strings.Index(oldName, "\n")+1]
	edit(1999, oldName, name)
	if err := os.WriteFile(path, []byte(strings.Join(docs, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.Load(nil, dir)
	var es catalog.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	// Syntax and shape errors stop a document before its meaning is
	// checked, so load reports the first three from decoding; fix them and
	// the other two appear: both passes report every error they find.
	check := func(es catalog.Errors, wants []want) {
		t.Helper()
		if len(es) != len(wants) {
			t.Fatalf("%d errors, want %d:\n%v", len(es), len(wants), es)
		}
		for i, w := range wants {
			e := es[i]
			if e.File != path || e.Line != w.line || e.Field != w.field || !strings.Contains(e.Msg, w.msg) {
				t.Errorf("error %d: %v\nwant %s:%d %s %q", i, e, path, w.line, w.field, w.msg)
			}
		}
	}
	check(es, wants)
	docs[10] = strings.Replace(docs[10], "  operator: [unclosed\n", "  operator:\n", 1)
	docs[500] = strings.Replace(docs[500], "  colour: red\n", "", 1)
	docs[1500] = strings.Replace(docs[1500], "count: many #", "count: ", 1)
	if err := os.WriteFile(path, []byte(strings.Join(docs, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.Load(nil, dir)
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	check(es, []want{
		{lineOf(1700, "  country: XX"), "spec.country", "not a known country"},
		{lineOf(1999, name), "metadata.name", "defined twice: here and at " + path + ":" + strconv.Itoa(lineOf(3, name))},
	})
}
