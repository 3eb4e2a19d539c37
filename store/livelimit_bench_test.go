package store

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
)

// BenchmarkCreateRunLiveLimit is a run's creation beside 9,000 runs of its
// tenant that have not ended (near serve's --max-runs), without and with
// the limit on them (Limit.Live): what the count, taken under the limit
// lock, adds to each submission. The PostgreSQL half runs where
// scripts/pg-up.sh's server is (it is skipped, saying so, elsewhere).
func BenchmarkCreateRunLiveLimit(b *testing.B) {
	b.Run("store=sqlite", func(b *testing.B) { benchLiveLimit(b, openTest(b)) })
	b.Run("store=postgres", func(b *testing.B) {
		s, err := OpenPostgres(context.Background(), pgtest.NewDatabase(b), Options{AuditKey: []byte("test key 0123456")})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		benchLiveLimit(b, s)
	})
}

func benchLiveLimit(b *testing.B, s Store) {
	ctx := context.Background()
	const live = 9000
	for i := range live {
		id := fmt.Sprintf("live%05d", i)
		if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "t", Job: "j", State: "held", Data: []byte(`{}`)}, "", Change{}); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for _, tc := range []struct {
		name   string
		limits []Limit
	}{
		{"limit=none", nil},
		{"limit=live", []Limit{{Name: "runs of tenant t", Tenants: []string{"t"}, Live: true, Max: 1 << 30}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				n++
				id := fmt.Sprintf("r%08d", n)
				if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "t", Job: "j", State: "held", Data: []byte(`{}`)}, "", Change{Limits: tc.limits}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
