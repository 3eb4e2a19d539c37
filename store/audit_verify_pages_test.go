package store

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// TestAuditTamperAcrossPages edits a log of several verification pages
// directly, as an attacker with database access would, and checks that
// each store's verification, a page at a time, reports exactly what a
// verification of the whole log held in memory reports: the same entry,
// kind, detail and finding, whichever page the break and the entries it
// refers to are on.
func TestAuditTamperAcrossPages(t *testing.T) {
	const n = 2*verifyPage + 500
	tests := []struct {
		name    string
		sql     []string
		seq     int64
		problem string
	}{
		{"modified first of a page", []string{fmt.Sprintf(`UPDATE audit SET payload = '{"n":-1}' WHERE seq = %d`, verifyPage+1)}, verifyPage + 1, audit.Modified},
		{"format changed", []string{`UPDATE audit SET version = 3 WHERE seq = 1500`}, 1500, audit.Modified},
		{"tenant changed", []string{`UPDATE audit SET tenant = 'b' WHERE seq = 2100`}, 2100, audit.Modified},
		{"tenant on an old format", []string{`UPDATE audit SET version = 1, tenant = 'b' WHERE seq = 2101`}, 2101, audit.Modified},
		{"deleted at a page's end", []string{fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, verifyPage)}, verifyPage, audit.Deleted},
		{"deleted and renumbered", []string{`DELETE FROM audit WHERE seq = 1200`, `UPDATE audit SET seq = seq - 1 WHERE seq > 1200`}, 1200, audit.Deleted},
		{"swapped pages apart", []string{
			`UPDATE audit SET seq = -1 WHERE seq = 10`,
			`UPDATE audit SET seq = 10 WHERE seq = 2200`,
			`UPDATE audit SET seq = 2200 WHERE seq = -1`,
		}, 10, audit.Reordered},
		{"moved back one", []string{
			`UPDATE audit SET seq = -1 WHERE seq = 2300`,
			`UPDATE audit SET seq = 2300 WHERE seq = 2301`,
			`UPDATE audit SET seq = 2301 WHERE seq = -1`,
		}, 2300, audit.Reordered},
		{"tail cut", []string{`DELETE FROM audit WHERE seq > 2400`}, 2401, audit.Truncated},
		// Seqs below 1 are read too: an entry put there is shown by the
		// log's readers, so it must not escape verification.
		{"last moved to seq 0", []string{fmt.Sprintf(`UPDATE audit SET seq = 0 WHERE seq = %d`, n)}, 0, audit.Reordered},
		{"last moved to a negative seq", []string{fmt.Sprintf(`UPDATE audit SET seq = -7 WHERE seq = %d`, n)}, -7, audit.Reordered},
		{"last moved to the lowest seq there is", []string{fmt.Sprintf(`UPDATE audit SET seq = %d WHERE seq = %d`, math.MinInt64, n)}, math.MinInt64, audit.Reordered},
	}
	for _, open := range []struct {
		name string
		open func(t *testing.T) (Store, func(q string) error)
	}{
		{"SQLite", func(t *testing.T) (Store, func(q string) error) {
			s := openTest(t)
			return s, func(q string) error { _, err := s.DB().Exec(q); return err }
		}},
		{"Postgres", func(t *testing.T) (Store, func(q string) error) {
			ctx := context.Background()
			s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("test key 0123456")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, func(q string) error { _, err := s.pool.Exec(ctx, q); return err }
		}},
	} {
		for _, tc := range tests {
			t.Run(open.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, exec := open.open(t)
				for i := 0; i < n; i += 250 {
					var recs []audit.Record
					for j := i + 1; j <= i+250; j++ {
						recs = append(recs, rec(t, audit.KindState, fmt.Sprintf("r%d", j%7), map[string]int{"n": j}))
					}
					if err := s.AppendAudit(ctx, recs...); err != nil {
						t.Fatal(err)
					}
				}
				anchors, err := audit.OpenAnchors(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				seq, head, err := s.AuditHead(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := anchors.Advance(ctx, seq, head, audit.LogReader{HashAt: s.AuditHashAt}, time.Now()); err != nil {
					t.Fatal(err)
				}
				if res, err := s.VerifyAuditAnchored(ctx, anchors); err != nil || !res.OK || res.Entries != n {
					t.Fatalf("before tampering: %+v %v", res, err)
				}
				for _, q := range tc.sql {
					if err := exec(q); err != nil {
						t.Fatal(err)
					}
				}
				res, err := s.VerifyAuditAnchored(ctx, anchors)
				if err != nil {
					t.Fatal(err)
				}
				if res.OK || res.Problem == nil {
					t.Fatalf("tampering not detected: %+v", res)
				}
				if res.Problem.Seq != tc.seq || res.Problem.Kind != tc.problem {
					t.Errorf("got %+v, want seq %d %s", res.Problem, tc.seq, tc.problem)
				}
				entries, err := s.AuditEntries(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				whole, err := audit.NewChain([]byte("test key 0123456")).VerifyAnchored(func() ([]audit.Entry, error) { return entries, nil }, anchors)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(whole, res); d != "" {
					t.Errorf("a page at a time differs from the whole log in memory (-whole +pages):\n%s", d)
				}
			})
		}
	}
}
