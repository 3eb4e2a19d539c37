package dataset

import (
	"context"
	"fmt"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/seal"
)

// BenchmarkKeyCheck is one key use's check against a log of 1000 key
// records, after the first read: one read of the kind index, empty.
func BenchmarkKeyCheck(b *testing.B) {
	const auditKey = "0123456789abcdef"
	ctx := context.Background()
	db := openKeyLogB(b, auditKey)
	w := &KeyWitness{Log: db, Chain: audit.NewChain([]byte(auditKey))}
	var key seal.Key
	for i := 0; i < 1000; i++ {
		key, _ = seal.NewKey()
		if err := w.Record(ctx, "acme", fmt.Sprintf("d%d", i), key, "tenant acme"); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.CheckKey(ctx, "acme", "d999", key); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.CheckKey(ctx, "acme", "d999", key); err != nil {
			b.Fatal(err)
		}
	}
}
