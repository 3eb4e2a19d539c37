package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSQLitePathWithURICharacters: a database path holding a '#' or '?'
// was cut there (SQLite reads the path as a URI): the stores at
// "state#1/m.db" and "state#2/m.db" were both the file "state", created
// beside them with the process's umask, not the private file at the path;
// one with a '%' named another file. Each path is now its own file.
func TestSQLitePathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	names := []string{"state#1", "state#2", "state?1", "state%231"}
	for i, name := range names {
		path := filepath.Join(dir, name, "m.db")
		if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := s.GetRun(ctx, "r0"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: a run of another database: %v", name, err)
		}
		if i == 0 {
			if _, _, err := s.CreateRun(ctx, &Run{ID: "r0", Tenant: "acme", Job: "j", State: "queued", Data: []byte(`{}`)}, "", Change{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AppendAudit(ctx, rec(t, "state", "", map[string]string{"db": name})); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := OpenAuditReader(ctx, path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		es, err := r.AuditSelect(ctx, AuditQuery{AllTenants: true})
		r.Close()
		if err != nil || len(es) != 1 || string(es[0].Payload) != `{"db":"`+name+`"}` {
			t.Errorf("%s: the reader's entries: %d, %v; want its one entry", name, len(es), err)
		}
	}
	for _, cut := range []string{"state", "state#1", "state?1"} {
		if fi, err := os.Stat(filepath.Join(dir, cut)); err == nil && !fi.IsDir() {
			t.Errorf("a database was written at %s", cut)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "state#1", "m.db")); err != nil || fi.Size() == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("the database at its path: %v, %v", fi, err)
	}
}
