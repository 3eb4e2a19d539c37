package run

import (
	"context"
	"testing"

	"meridian.dev/meridian/audit"
)

// BenchmarkRegistryRead is one read of a tenant's registry of 1,000
// registered resources (an organisation and 999 datasets), by a server
// that holds them to the audit log's sealed records, as each submission,
// plan and law check of the tenant reads it.
func BenchmarkRegistryRead(b *testing.B) {
	st, dir := testStore(b)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", AuditChain: audit.NewChain(testAuditKey)})
	ctx := context.Background()
	if _, err := c.Apply(ctx, "t1", registryDocs(999, "1.0e5"), false); err != nil {
		b.Fatal(err)
	}
	if reg, err := c.registry(ctx, "t1"); err != nil || len(reg.rows) != 1000 {
		b.Fatalf("registry: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.registry(ctx, "t1"); err != nil {
			b.Fatal(err)
		}
	}
}
