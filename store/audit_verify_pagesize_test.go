package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// TestAuditVerifyPageSizes: verification reads the log in pages of at
// most verifyPage entries, each ended after the entry that brings its
// payloads to verifyPageBytes, on both stores alike, and the pages
// together are the whole log in order, once: a log of several thousand
// entries, and one of entries of a megabyte.
func TestAuditVerifyPageSizes(t *testing.T) {
	ctx := context.Background()
	stores := map[string]func(t *testing.T) (audit.Appender, audit.Snapshot){
		"SQLite": func(t *testing.T) (audit.Appender, audit.Snapshot) {
			s := openTest(t)
			return s, sqlAuditSnapshot(ctx, s.rdb, func(*sql.Tx) (string, bool, error) { return auditCols, true, nil })
		},
		"Postgres": func(t *testing.T) (audit.Appender, audit.Snapshot) {
			s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("test key 0123456")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, s.auditSnapshot(ctx)
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				n, payload int
			}{{2*verifyPage + 500, 16}, {11, 1 << 20}} {
				s, snap := open(t)
				pad := strings.Repeat("x", tc.payload)
				for i := 0; i < tc.n; i += 250 {
					var recs []audit.Record
					for j := i; j < min(i+250, tc.n); j++ {
						recs = append(recs, rec(t, audit.KindState, "r1", map[string]string{"pad": pad}))
					}
					if err := s.AppendAudit(ctx, recs...); err != nil {
						t.Fatal(err)
					}
				}
				var sizes []string
				var seen int64
				err := snap(func(src audit.Source) error {
					return src.Read("", func(page []audit.Entry) error {
						var before int64
						for i, e := range page {
							if e.Seq != seen+1 {
								return fmt.Errorf("entry %d of a page is seq %d, want %d", i, e.Seq, seen+1)
							}
							seen = e.Seq
							if i == len(page)-1 {
								break
							}
							before += int64(len(e.Payload))
						}
						if len(page) > verifyPage || before >= verifyPageBytes {
							return fmt.Errorf("a page of %d entries, %d bytes before its last: want at most %d, under %d", len(page), before, verifyPage, verifyPageBytes)
						}
						sizes = append(sizes, fmt.Sprint(len(page)))
						return nil
					})
				})
				if err != nil {
					t.Fatalf("%d entries of %d bytes: %v", tc.n, tc.payload, err)
				}
				if seen != int64(tc.n) {
					t.Errorf("%d entries of %d bytes: read up to seq %d", tc.n, tc.payload, seen)
				}
				t.Logf("%d entries of %d bytes: pages of %s", tc.n, tc.payload, strings.Join(sizes, ", "))
			}
		})
	}
}
