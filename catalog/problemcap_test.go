package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestProblemsCappedPerFile: a file of 99,000 broken documents (1.4 MB, a
// plan's body) was answered with 99,000 problems, each built and kept, and
// their text (140-212 MB allocated, about a second) although the answer
// is clipped. The first MaxProblemsPerFile problems of a file, by line,
// are now listed and the rest counted in one last entry; a document with
// thousands of problems is counted the same way.
func TestProblemsCappedPerFile(t *testing.T) {
	problems := func(_ *Set, err error) Errors {
		t.Helper()
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("want Errors, got %v", err)
		}
		return es
	}
	check := func(what string, es Errors, file string, firstLine, more int) {
		t.Helper()
		var mine Errors
		for _, e := range es {
			if e.File == file {
				mine = append(mine, e)
			}
		}
		if len(mine) != MaxProblemsPerFile+1 {
			t.Fatalf("%s: %d problems of %s, want %d and one that counts the rest", what, len(mine), file, MaxProblemsPerFile)
		}
		if mine[0].Line != firstLine {
			t.Errorf("%s: the first problem is on line %d, want %d", what, mine[0].Line, firstLine)
		}
		want := fmt.Sprintf("%s: %d more problems not shown (at most %d are listed per file); fix those above first", file, more, MaxProblemsPerFile)
		if got := mine[len(mine)-1].Error(); got != want {
			t.Errorf("%s: last entry %q, want %q", what, got, want)
		}
	}

	body := []byte(strings.Repeat("kind: Site\n---\n", 99_000))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	es := problems(Decode("plan.yaml", body))
	text := es.Error()
	runtime.ReadMemStats(&after)
	check("99,000 broken documents", es, "plan.yaml", 1, 99_000-MaxProblemsPerFile)
	if n := len(text); n > 20<<10 {
		t.Errorf("the problems' text is %d bytes, want at most 20 KiB", n)
	}
	// 134 MB before; about 46 MB now, most of it parsing the documents.
	if a := after.TotalAlloc - before.TotalAlloc; a > 80<<20 {
		t.Errorf("refusing 99,000 broken documents allocated %d MB, want under 80 MB", a>>20)
	}

	// One document of 5,000 unknown fields.
	var doc strings.Builder
	doc.WriteString("apiVersion: " + APIVersion + "\nkind: Organization\nmetadata: {name: o}\nspec:\n  headquarters: US\n")
	for i := range 5000 {
		fmt.Fprintf(&doc, "  x%d: 1\n", i)
	}
	check("a document of 5,000 unknown fields", problems(Decode("org.yaml", []byte(doc.String()))), "org.yaml", 6, 5000-MaxProblemsPerFile)

	// Two files: each is counted on its own, and counted again (LoadFiles
	// over decodeAll) the count is the same.
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(strings.Repeat("kind: Site\n---\n", 250)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	es = problems(LoadFiles(dir))
	check("a.yaml", es, filepath.Join(dir, "a.yaml"), 1, 150)
	check("b.yaml", es, filepath.Join(dir, "b.yaml"), 1, 150)
}
