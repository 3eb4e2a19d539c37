package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestAuditReaderVerify: the reader verifies the log as the store does,
// with the key or without it, and reads a database no migration has
// touched (an older version's audit table, or none) as it is, since it
// may not migrate it.
func TestAuditReaderVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.db")
	key := []byte("test key 0123456")
	s, err := OpenSQLite(ctx, path, Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.AppendAudit(ctx, rec(t, audit.KindTransfer, "r1", map[string]int{"n": i})); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.VerifyAudit(ctx)
	if err != nil || !want.OK {
		t.Fatalf("store verify: %+v %v", want, err)
	}
	s.Close()
	r, err := OpenAuditReader(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.VerifyAudit(ctx, audit.NewChain(key), nil)
	if err != nil || !got.OK || got.Entries != 3 || got.Head != want.Head {
		t.Fatalf("reader verify: %+v %v, store said %+v", got, err, want)
	}
	if got, _ := r.VerifyAudit(ctx, audit.NewChain([]byte("another key 0123")), nil); got.OK {
		t.Fatal("the reader verified the log under another key")
	}
	if got, _ := r.VerifyAudit(ctx, audit.NewUnkeyedChain(), nil); !got.OK || !got.Unkeyed || got.Unproven == "" || got.Head != want.Head {
		t.Fatalf("reader verify without the key: %+v", got)
	}

	// The first schema's audit table: no tenant, no version column.
	h1, h2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	old := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE audit (seq BIGINT PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, run_id TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
		INSERT INTO audit VALUES (1, 't', 'state', '', '{}', '` + audit.Genesis + `', '` + h1 + `'), (2, 't', 'state', '', '{}', '` + h1 + `', '` + h2 + `')`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ro, err := OpenAuditReader(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := ro.VerifyAudit(ctx, audit.NewUnkeyedChain(), nil); err != nil || !got.OK || got.Entries != 2 || got.Head != h2 {
		t.Fatalf("reader verify of the first schema: %+v %v", got, err)
	}
	// A database file with no tables: no log.
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	re, err := OpenAuditReader(ctx, empty)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if got, err := re.VerifyAudit(ctx, audit.NewChain(key), nil); err != nil || !got.OK || got.Entries != 0 {
		t.Fatalf("reader verify of an empty database: %+v %v", got, err)
	}
}
