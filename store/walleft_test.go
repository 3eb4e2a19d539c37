package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestAuditReaderLeavesAKilledServersWAL: a server killed with entries
// still in its WAL leaves the database file, the WAL and the shared-memory
// index beside it. The reader reads those entries, and leaves the database
// and the WAL as it found them: it does not checkpoint the WAL into the
// database (which a connection able to write does as it closes).
func TestAuditReaderLeavesAKilledServersWAL(t *testing.T) {
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(ctx, live, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 5; i++ {
		if err := s.AppendAudit(ctx, rec(t, audit.KindTransfer, "r1", map[string]int{"n": i})); err != nil {
			t.Fatal(err)
		}
	}
	// The files as a kill at this moment leaves them.
	dir := t.TempDir()
	path := filepath.Join(dir, "m.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatalf("the live server's %q file: %v", "m.db"+suffix, err)
		}
		if err := os.WriteFile(path+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	db, wal := read("m.db"), read("m.db-wal")
	if len(wal) == 0 {
		t.Fatal("the live server's WAL is empty: nothing to test")
	}

	r, err := OpenAuditReader(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.AuditSelect(ctx, AuditQuery{AllTenants: true, Kinds: []string{audit.KindTransfer}})
	if err != nil || len(got) != 5 {
		t.Fatalf("reader: %d entries, %v; want the 5 in the WAL", len(got), err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if string(read("m.db")) != string(db) {
		t.Error("the database file changed under the reader (the WAL was checkpointed into it)")
	}
	if string(read("m.db-wal")) != string(wal) {
		t.Error("the WAL changed under the reader")
	}
}
