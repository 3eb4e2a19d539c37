package run

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/store"
)

// BenchmarkQueueAfterWrite is a tenant's GET /v1/queue right after a write
// that can move the admission order (a held run's hold changed), with
// 10,000 waiting runs of five tenants: other, the write is to another
// tenant's run; own, to one of the caller's.
func BenchmarkQueueAfterWrite(b *testing.B) {
	n := 10_000
	if testing.Short() {
		n = 500
	}
	c, _ := benchQueue(b, n)
	ctx := context.Background()
	held, _, _, err := c.heldOrder(ctx, "t1")
	if err != nil {
		b.Fatal(err)
	}
	first := map[string]string{}
	for _, r := range held {
		if first[r.Tenant] == "" {
			first[r.Tenant] = r.ID
		}
	}
	for _, writer := range []string{"t2", "t1"} {
		name := "other"
		if writer == "t1" {
			name = "own"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := c.update(ctx, first[writer], func(r *Run, ch *store.Change) error {
					r.Hold.Reason = fmt.Sprintf("waiting (%d)", i%2)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Queue(ctx, "t1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
