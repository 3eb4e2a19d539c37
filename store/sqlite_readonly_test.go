package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestAuditReaderWritesNothing: the reader behind dry runs reads the log
// as the store wrote it, refuses appends, does not create a database that
// is not there, and leaves no WAL or shared-memory file behind.
func TestAuditReaderWritesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.db")
	if _, err := OpenAuditReader(ctx, path); err == nil {
		t.Fatal("a reader opened a database that does not exist")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a reader of a missing database created it: %v", err)
	}
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.AppendAudit(ctx, rec(t, audit.KindTransfer, "r1", map[string]int{"n": i})); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	r, err := OpenAuditReader(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.AuditSelect(ctx, AuditQuery{AllTenants: true, Kinds: []string{audit.KindTransfer}})
	if err != nil || len(got) != 3 || got[2].Hash != want[2].Hash {
		t.Fatalf("reader: %d entries, %v", len(got), err)
	}
	if err := r.AppendAudit(ctx, rec(t, audit.KindState, "", nil)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("append through the reader: %v", err)
	}
	if _, err := r.db.ExecContext(ctx, `DELETE FROM audit`); err == nil {
		t.Fatal("the reader's connection accepted a change")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil || string(after) != string(before) {
		t.Fatalf("the database changed under the reader: %v", err)
	}
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the reader left %s: %v", filepath.Base(p), err)
		}
	}
}
