package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkSQLiteHeldRunUpdate is an update of a held run whose data
// carries 1 MB of documents (the hold's next try rewritten), against the
// same update of a running one: only a held run's writes parse its data
// for the hold_key column (migration 18).
//
//	go test ./store -run '^$' -bench HeldRunUpdate -benchtime 200x
func BenchmarkSQLiteHeldRunUpdate(b *testing.B) {
	ctx := context.Background()
	docs := strings.Repeat("x", 1<<20)
	for _, state := range []string{"held", "running"} {
		b.Run(state, func(b *testing.B) {
			s := openTest(b)
			data := func(i int) []byte {
				return []byte(fmt.Sprintf(`{"documents":[{"name":"j.yaml","content":%q}],"hold":{"reason":"no key","nextTry":"%d","keyDataset":"ds"}}`, docs, i))
			}
			if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "t", Job: "j", State: state, Data: data(0)}, "", Change{}); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				if _, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) { r.Data = data(i); return Change{}, nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
