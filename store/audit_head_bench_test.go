package store

import (
	"context"
	"testing"

	"meridian.dev/meridian/audit"
)

// BenchmarkAuditHead reads the log's head, alone and while another
// goroutine appends entries (each append a write transaction and its
// fsync): what each ledger read pays before it reads anything.
func BenchmarkAuditHead(b *testing.B) {
	for _, writing := range []bool{false, true} {
		name := "alone"
		if writing {
			name = "beside appends"
		}
		b.Run(name, func(b *testing.B) {
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
				if _, _, err := s.AuditHead(ctx); err != nil {
					b.Fatal(err)
				}
			}
			close(stop)
			if err := <-stopped; err != nil {
				b.Fatal(err)
			}
		})
	}
}
