package store

import (
	"context"
	"testing"

	"meridian.dev/meridian/audit"
)

// BenchmarkAuditHead reads the log's head, alone and while another
// goroutine appends entries (each append a write transaction and its
// fsync): what each ledger read pays before it reads anything. read=head
// is AuditHead; read=head,hashAt is AuditHead then AuditHashAt, what a
// ledger index read after a write in two queries; read=headAt is
// AuditHeadAt, the one query that now reads both.
func BenchmarkAuditHead(b *testing.B) {
	reads := []struct {
		name string
		read func(ctx context.Context, s *SQLite) error
	}{
		{"head", func(ctx context.Context, s *SQLite) error { _, _, err := s.AuditHead(ctx); return err }},
		{"head,hashAt", func(ctx context.Context, s *SQLite) error {
			if _, _, err := s.AuditHead(ctx); err != nil {
				return err
			}
			_, _, err := s.AuditHashAt(ctx, 1)
			return err
		}},
		{"headAt", func(ctx context.Context, s *SQLite) error { _, err := s.AuditHeadAt(ctx, 1); return err }},
	}
	for _, writing := range []bool{false, true} {
		for _, r := range reads {
			benchAuditHead(b, writing, r.name, r.read)
		}
	}
}

// benchAuditHead benchmarks f on a log of one entry, while another
// goroutine appends when writing.
func benchAuditHead(b *testing.B, writing bool, read string, f func(ctx context.Context, s *SQLite) error) {
	name := "alone"
	if writing {
		name = "beside appends"
	}
	b.Run(name+"/read="+read, func(b *testing.B) {
		ctx := context.Background()
		s := openTest(b)
		rec, err := audit.NewRecord(audit.KindState, "r1", map[string]string{"state": "running"})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.AppendAudit(ctx, rec); err != nil {
			b.Fatal(err)
		}
		stop, stopped := make(chan struct{}), make(chan error, 1)
		go func() {
			var err error
			for writing && err == nil {
				select {
				case <-stop:
					stopped <- nil
					return
				default:
				}
				err = s.AppendAudit(ctx, rec)
			}
			stopped <- err
		}()
		for b.Loop() {
			if err := f(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		close(stop)
		if err := <-stopped; err != nil {
			b.Fatal(err)
		}
	})
}
