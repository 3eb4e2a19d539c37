package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// resourcePuts is an apply of n new organizations, each with its audit
// record, named after round so that each round registers new ones.
func resourcePuts(tb testing.TB, round, n int) []store.ResourcePut {
	puts := make([]store.ResourcePut, n)
	for i := range puts {
		name := fmt.Sprintf("org-%d-%03d", round, i)
		doc := []byte(`{"kind":"Organization","metadata":{"name":"` + name + `"}}`)
		sum := sha256.Sum256(doc)
		rec, err := audit.NewRecord("resource", "", map[string]string{"kind": "Organization", "name": name})
		if err != nil {
			tb.Fatal(err)
		}
		puts[i] = store.ResourcePut{Resource: &store.Resource{Tenant: "a", Kind: "Organization", Name: name, Doc: doc, Hash: hex.EncodeToString(sum[:])}, Audit: rec}
	}
	return puts
}

// BenchmarkPutResources100 applies 100 new resources in one PutResources,
// each with its audit entry (what `meridian apply` of 100 documents does).
func BenchmarkPutResources100(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, s store.Store) {
		b.ReportAllocs()
		round := 0
		for b.Loop() {
			round++
			if _, err := s.PutResources(ctx, resourcePuts(b, round, 100)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sqlite", func(b *testing.B) {
		s, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "m.db"), testKey)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		s, err := store.OpenPostgres(ctx, pgtest.NewDatabase(b), testKey)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
}
