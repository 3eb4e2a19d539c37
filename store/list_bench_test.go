package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// BenchmarkListDocuments reads a page of 200 runs whose requests carried
// 256 KiB of documents each, with the documents and without them (what
// GET /v1/runs and the runs stream read).
func BenchmarkListDocuments(b *testing.B) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "m.db"), store.Options{AuditKey: []byte("bench key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchListDocuments(b, s)
}

// BenchmarkListDocumentsPostgres is BenchmarkListDocuments on PostgreSQL.
func BenchmarkListDocumentsPostgres(b *testing.B) {
	s, err := store.OpenPostgres(context.Background(), pgtest.NewDatabase(b), store.Options{AuditKey: []byte("bench key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchListDocuments(b, s)
}

func benchListDocuments(b *testing.B, s store.Store) {
	ctx := context.Background()
	doc := strings.Repeat("x", 256<<10)
	for i := range 200 {
		r := &store.Run{ID: fmt.Sprintf("r%03d", i), Tenant: "a", Job: "j", State: "planned",
			Data: []byte(`{"documents":[{"name":"job.yaml","content":"` + doc + `"}],"asOf":"2026-12-01"}`)}
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, without := range []bool{false, true} {
		b.Run(fmt.Sprintf("noDocuments=%v", without), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rs, err := s.ListRuns(ctx, store.ListOptions{Tenant: "a", Limit: 200, NoDocuments: without})
				if err != nil || len(rs) != 200 {
					b.Fatal(len(rs), err)
				}
			}
		})
	}
}

// BenchmarkRunVersionOf: one run of 4 MiB of documents read whole, and
// its version alone (what a followed stream asks at every poll, reading
// the run only when it changed).
func BenchmarkRunVersionOf(b *testing.B) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "m.db"), store.Options{AuditKey: []byte("bench key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	doc := strings.Repeat("x", 4<<20)
	r := &store.Run{ID: "r1", Tenant: "a", Job: "j", State: "running",
		Data: []byte(`{"documents":[{"name":"job.yaml","content":"` + doc + `"}],"asOf":"2026-12-01","attempts":[{"n":1,"site":"s1"}]}`)}
	if _, _, err := s.CreateRun(ctx, r, "", store.Change{}); err != nil {
		b.Fatal(err)
	}
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetRun(ctx, "r1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("version", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.RunVersionOf(ctx, "r1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUpdateRunDocumentsPostgres updates a run whose request carried
// 1 MiB of documents: what each of a running run's saved reports costs.
func BenchmarkUpdateRunDocumentsPostgres(b *testing.B) {
	ctx := context.Background()
	s, err := store.OpenPostgres(ctx, pgtest.NewDatabase(b), store.Options{AuditKey: []byte("bench key 0123456")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	doc := strings.Repeat("x", 1<<20)
	data := func(i int) []byte {
		return []byte(`{"documents":[{"name":"job.yaml","content":"` + doc + `"}],"step":` + fmt.Sprint(i) + `}`)
	}
	if _, _, err := s.CreateRun(ctx, &store.Run{ID: "r1", Tenant: "a", Job: "j", State: "running", Data: data(0)}, "", store.Change{}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := s.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
			r.Data = data(i)
			return store.Change{}, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
