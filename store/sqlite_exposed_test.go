package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exposedDB makes a database at dir/m.db, closed, and an empty file beside
// it for each suffix (a WAL or shared-memory file SQLite left there).
func exposedDB(t *testing.T, suffixes ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(context.Background(), path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, suf := range suffixes {
		if err := os.WriteFile(path+suf, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// wantExposed checks that OpenSQLite refuses path, naming the file (path
// and suffix) and the problem, and leaves the file's mode as it was.
func wantExposed(t *testing.T, path, file, problem string) {
	t.Helper()
	before, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(context.Background(), path, Options{AuditKey: []byte("test key 0123456")})
	if err == nil {
		s.Close()
		t.Fatalf("%s (mode %v) opened", filepath.Base(file), before.Mode().Perm())
	}
	if !errors.Is(err, ErrDatabaseExposed) || !strings.Contains(err.Error(), file+" ") || !strings.Contains(err.Error(), problem) {
		t.Errorf("%s: %v; want ErrDatabaseExposed naming the file and %q", filepath.Base(file), err, problem)
	}
	after, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode() != before.Mode() {
		t.Errorf("%s: mode %v changed to %v by a refused open", filepath.Base(file), before.Mode().Perm(), after.Mode().Perm())
	}
}

// TestSQLiteDatabaseWritableByOthersRefused: a database file, or its WAL
// shared-memory or journal file, that the group or others may write was narrowed
// to 0600 and opened: a local user who could write it may already have
// rewritten the law, the runs and the audit log's tail. It is refused,
// naming the file and its mode. A mode that lets others only read it is
// narrowed, as before.
func TestSQLiteDatabaseWritableByOthersRefused(t *testing.T) {
	for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
		for _, mode := range []os.FileMode{0o620, 0o602, 0o666} {
			t.Run(suf+mode.String(), func(t *testing.T) {
				path := exposedDB(t, "-wal", "-shm", "-journal")
				if err := os.Chmod(path+suf, mode); err != nil {
					t.Fatal(err)
				}
				wantExposed(t, path, path+suf, "group or others may write it")
			})
		}
	}
	path := exposedDB(t)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(context.Background(), path, Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatalf("a database others may only read: %v", err)
	}
	s.Close()
}

// TestSQLiteDatabaseOwnedByAnotherUserRefused: a database file, or its
// WAL, shared-memory or journal file, owned by another user than the process's was
// opened (as root, whatever its mode): that user may rewrite it. It is
// refused, naming the file and its owner. Needs root, to give a file away.
func TestSQLiteDatabaseOwnedByAnotherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
		t.Run("m.db"+suf, func(t *testing.T) {
			path := exposedDB(t, "-wal", "-shm", "-journal")
			if err := os.Chown(path+suf, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			wantExposed(t, path, path+suf, "owned by uid 4242")
		})
	}
}
