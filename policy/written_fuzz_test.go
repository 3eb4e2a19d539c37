package policy

import (
	"context"
	"errors"
	"testing"
)

// FuzzWrittenMatchesNew: Parse checks a rule file as New does short of
// compiling, so a file New loads, Parse reads, and one Parse refuses, New
// refuses; every problem either reports names the file it is in.
func FuzzWrittenMatchesNew(f *testing.F) {
	f.Add([]byte(goodRule))
	entries, err := builtinPacks.ReadDir("packs")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries[:min(len(entries), 4)] {
		data, _ := builtinPacks.ReadFile("packs/" + e.Name())
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{Files: []File{{Name: "fuzz.yaml", Data: data}}, NoBuiltin: true}
		_, perr := Parse(context.Background(), opts)
		_, nerr := New(opts)
		if nerr == nil && perr != nil {
			t.Fatalf("New loads the file, Parse refuses it: %v", perr)
		}
		for _, err := range []error{perr, nerr} {
			var ps Problems
			if !errors.As(err, &ps) {
				continue
			}
			if len(ps) == 0 {
				t.Fatalf("an error of no problems: %v", err)
			}
			for _, p := range ps {
				if p.File != "fuzz.yaml" || p.Message == "" {
					t.Fatalf("a problem that names no file or says nothing: %+v", p)
				}
			}
		}
	})
}
