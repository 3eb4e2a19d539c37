package store

import (
	"context"
	"runtime"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestAuditHeadDoesNotWaitForTheWriter: the log's head, and the hash at a
// seq, are read while a write transaction holds the one write connection,
// without waiting for it, and see the last commit. On that connection
// every ledger read (each reads the head) waited behind every write.
func TestAuditHeadDoesNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	rec, err := audit.NewRecord(audit.KindState, "r1", map[string]string{"state": "running"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, rec); err != nil {
		t.Fatal(err)
	}
	seq, hash, err := s.AuditHead(ctx)
	if err != nil || seq != 1 {
		t.Fatalf("head: %d, %v; want 1", seq, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for name, read := range map[string]func() (string, error){
		"head": func() (string, error) { _, h, err := s.AuditHead(ctx); return h, err },
		"hash at 1": func() (string, error) {
			h, _, err := s.AuditHashAt(ctx, 1)
			return h, err
		},
	} {
		got := readBesideTheWriter(t, s, read)
		if got != hash {
			t.Errorf("%s beside a write transaction: %q, want the last commit's %q", name, got, hash)
		}
	}
}

// readBesideTheWriter runs read while a transaction holds s.db: it fails
// the test when read waits for the write connection instead.
func readBesideTheWriter(t *testing.T, s *SQLite, read func() (string, error)) string {
	t.Helper()
	type answer struct {
		hash string
		err  error
	}
	waits := s.db.Stats().WaitCount
	done := make(chan answer, 1)
	go func() {
		h, err := read()
		done <- answer{h, err}
	}()
	for {
		select {
		case a := <-done:
			if a.err != nil {
				t.Fatal(a.err)
			}
			return a.hash
		default:
		}
		if s.db.Stats().WaitCount > waits {
			t.Fatal("the read waits for the write connection")
		}
		runtime.Gosched()
	}
}
