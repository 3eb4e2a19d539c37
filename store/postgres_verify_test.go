package store

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// TestPostgresVerifyOutlastsIdleTimeout: a verification works between its
// reads (hashing a page, or at a break searching where an entry was
// written), longer than the store's idle-in-transaction timeout on a busy
// host; its snapshot must still read the next page, not find its
// connection ended by the database.
func TestPostgresVerifyOutlastsIdleTimeout(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = verifyPage + 10
	var recs []audit.Record
	for i := 0; i < n; i++ {
		r, err := audit.NewRecord(audit.KindState, "r1", i)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := s.AppendAudit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	read := 0
	err = s.auditSnapshot(ctx)(func(src audit.Source) error {
		return src.Read("", func(page []audit.Entry) error {
			if read == 0 {
				time.Sleep(2500 * time.Millisecond)
			}
			read += len(page)
			return nil
		})
	})
	if err != nil || read != n {
		t.Fatalf("read %d of %d entries: %v", read, n, err)
	}
}
