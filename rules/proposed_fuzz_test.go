package rules

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// FuzzProposed: any change an admin sends (a file's name and content, a
// name to remove) is refused with an error, a field error naming the
// field, or accepted as files that each have a rule file's name, within
// the limits, which sent again whole are accepted as the same files, and
// whose law compares with the law in force without a panic.
func FuzzProposed(f *testing.F) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(f.TempDir(), "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	s, err := Open(ctx, st, nil)
	if err != nil {
		f.Fatal(err)
	}
	good := pack("good.yaml", "test-good", "SG", "2030-01-01")
	if _, _, err := s.Apply(ctx, Change{Files: []policy.File{good}}, "admin", "baseline", time.Now()); err != nil {
		f.Fatal(err)
	}
	other := pack("other.yaml", "test-other", "MY", "2031-02-03")
	f.Add(other.Name, string(other.Data), "")
	f.Add(other.Name, string(other.Data), "good.yaml")
	f.Add("good.yaml", string(other.Data), "")
	f.Add("good.yaml", string(other.Data), "good.yaml")
	f.Add("../x.yaml", "kind: RulePack\n", "")
	f.Add("x.yml", "apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: x}\nrules: []\n", "nothing.yaml")
	f.Add("x.yaml", "rules:\n  - id: a\n    condition: \"site.country ==\"\n", "")
	f.Fuzz(func(t *testing.T, name, content, remove string) {
		ch := Change{Files: []policy.File{{Name: name, Data: []byte(content)}}}
		if remove != "" {
			ch.Remove = []string{remove}
		}
		files, eng, err := s.Proposed(ch)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Field == "" {
				t.Fatalf("a field error naming no field: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("an error with no text")
			}
			return
		}
		if eng == nil || len(files) == 0 || len(files) > MaxFiles {
			t.Fatalf("accepted %d files, engine %v", len(files), eng)
		}
		total := 0
		for n, c := range files {
			if err := CheckFileName(n); err != nil {
				t.Fatalf("accepted a file named %q: %v", n, err)
			}
			if len(c) > policy.MaxPackBytes {
				t.Fatalf("accepted %s of %d bytes", n, len(c))
			}
			total += len(c)
		}
		if total > MaxTotalBytes {
			t.Fatalf("accepted %d bytes", total)
		}
		// The files, sent again whole in place of those in force, are
		// accepted again as the same law.
		var redo Change
		for n := range s.Current().Files {
			if _, kept := files[n]; !kept {
				redo.Remove = append(redo.Remove, n)
			}
		}
		for _, n := range slices.Sorted(maps.Keys(files)) {
			redo.Files = append(redo.Files, policy.File{Name: n, Data: []byte(files[n])})
		}
		again, eng2, err := s.Proposed(redo)
		if err != nil {
			t.Fatalf("accepted files refused when sent again: %v", err)
		}
		if Hash(again) != Hash(files) {
			t.Fatal("accepted files sent again are other files")
		}
		Compare(eng2, eng)
		Compare(eng, eng2)
	})
}
