package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestAuditGapCheckFieldNotText: an entry after the watermark one of
// whose fields was rewritten as bytes (a BLOB, SQLite) or NULL (in a
// table whose NOT NULL was dropped) failed the gap check's walk with the
// scan's error, which a caller checking for ErrAuditGap did not take as a
// log rewritten outside Meridian. The lookup now fails with
// ErrAuditRewritten, naming the entry's seq and the column.
func TestAuditGapCheckFieldNotText(t *testing.T) {
	const kind = "rules-revision"
	type change struct{ name, col, sql string }
	var cases = map[string][]change{}
	for _, col := range []string{"time", "kind", "run_id", "payload", "prev_hash", "hash", "tenant", "version"} {
		cases["SQLite"] = append(cases["SQLite"], change{col + " BLOB", col, `UPDATE audit SET ` + col + ` = CAST(` + col + ` AS BLOB) WHERE seq = 4`})
	}
	for _, col := range []string{"time", "kind", "run_id", "prev_hash", "hash", "tenant", "version"} {
		cases["Postgres"] = append(cases["Postgres"], change{col + " NULL", col, `ALTER TABLE audit ALTER COLUMN ` + col + ` DROP NOT NULL; UPDATE audit SET ` + col + ` = NULL WHERE seq = 4`})
	}
	cases["SQLite"] = append(cases["SQLite"], change{"version REAL", "version", `UPDATE audit SET version = 2.5 WHERE seq = 4`})
	for _, open := range gapStores {
		for _, c := range cases[open.name] {
			t.Run(open.name+"/"+c.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				appendKinds(t, s, audit.KindState, kind, audit.KindState)
				if n, err := newestOf(ctx, s, kind, 0); err != nil || n != 2 {
					t.Fatalf("intact log: newest %d, %v; want 2", n, err)
				}
				appendKinds(t, s, audit.KindState, kind)
				if err := exec(c.sql); err != nil {
					t.Fatalf("%s: %v", c.sql, err)
				}
				for _, after := range []int64{2, 0} {
					n, err := newestOf(ctx, s, kind, after)
					if !errors.Is(err, ErrAuditRewritten) || !errors.Is(err, ErrAuditGap) {
						t.Fatalf("after %d, entry 4's %s changed: newest %d, %v; want ErrAuditRewritten", after, c.col, n, err)
					}
					if !strings.Contains(err.Error(), "entry 4") || !strings.Contains(err.Error(), c.col) {
						t.Errorf("the error does not name entry 4 and its %s: %v", c.col, err)
					}
				}
			})
		}
	}
}
