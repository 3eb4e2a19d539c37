package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestSQLiteAuditTextStoredAsBlob: someone who can write the database,
// without the audit key, rewrites one field of an entry as a BLOB of the
// same bytes (SQLite keeps a BLOB as it is, in a TEXT column too). The
// entry hashes alike, read back as the same string, but no query that
// compares the field with text matches it: a transfer entry so rewritten
// left its tenant's ledger (by tenant), its run's history (by run) and
// every reader of its kind (by kind), and the log verified. Verification
// must fail on it, naming the entry and the field.
func TestSQLiteAuditTextStoredAsBlob(t *testing.T) {
	for _, col := range []string{"tenant", "kind", "run_id", "time", "payload", "prev_hash", "hash"} {
		t.Run(col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			for i := 1; i <= 5; i++ {
				r := rec(t, audit.KindTransfer, "ra", map[string]int{"bytes": i})
				r.Tenant = "acme"
				if err := s.AppendAudit(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK {
				t.Fatalf("before: %+v, %v", res, err)
			}
			if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE audit SET %s = CAST(%s AS BLOB) WHERE seq = 3`, col, col)); err != nil {
				t.Fatal(err)
			}
			if col == "tenant" {
				// What it hides: the tenant's reads no longer list it, so
				// they fail (the gap check's re-check reads it) rather
				// than list the 4 left as text.
				own, err := s.AuditSelect(ctx, AuditQuery{Tenant: "acme", Kinds: []string{audit.KindTransfer}})
				if !errors.Is(err, ErrAuditRewritten) {
					t.Fatalf("the tenant's read: %d entries, %v; want ErrAuditRewritten", len(own), err)
				}
			}
			res, err := s.VerifyAudit(ctx)
			if err == nil && res.OK {
				t.Fatalf("entry 3's %s rewritten as a BLOB: the log verified (%+v)", col, res)
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				msg = res.Problem.Error()
			}
			if !strings.Contains(msg, "entry 3") || !strings.Contains(msg, col) {
				t.Errorf("the failure does not name entry 3 and its %s: %s", col, msg)
			}
		})
	}
}
