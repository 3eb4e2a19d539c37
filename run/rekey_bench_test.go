package run

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/catalog"
)

// BenchmarkRekeyAtStart is the start's re-key of 10,000 registered
// datasets: "moved", every row under an old key (an s3 endpoint as
// spelt); "unchanged", a start after that under a new key format, which
// changes nothing; "same format", a start under the format recorded.
func BenchmarkRekeyAtStart(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	st, _ := testStore(b)
	tx, err := st.DB().Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		set, err := catalog.Decode("ds.yaml", []byte(fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: ds-%d}
spec: {origin: SG, classification: public, sizeBytes: 1000, store: "s3://bucket-%d?endpoint=https://S3.Example.com:443/"}
`, i, i)))
		if err != nil {
			b.Fatal(err)
		}
		r, err := datasetResource(set.Datasets[0])
		if err != nil {
			b.Fatal(err)
		}
		old := set.Datasets[0].Spec.Store + "|" + r.Name
		if _, err := tx.Exec(`INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, '', '')`,
			fmt.Sprintf("t%d", i%10), r.Kind, r.Name, string(r.Doc), r.Hash, old); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	var formats atomic.Int64 // a new format for each re-key that reads the rows
	b.Run("moved", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if _, err := st.DB().Exec(`UPDATE resources SET store_key = json_extract(doc, '$.spec.store') || '|' || name`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			rep, err := st.RekeyResources(ctx, catalog.KindDataset, fmt.Sprintf("moved %d", formats.Add(1)), DatasetStoreKey)
			if err != nil || rep.Changed != n {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rep, err := st.RekeyResources(ctx, catalog.KindDataset, fmt.Sprintf("unchanged %d", formats.Add(1)), DatasetStoreKey)
			if err != nil || rep.Changed != 0 || rep.Rows != n {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
	b.Run("same format", func(b *testing.B) {
		if _, err := st.RekeyResources(ctx, catalog.KindDataset, "same", DatasetStoreKey); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rep, err := st.RekeyResources(ctx, catalog.KindDataset, "same", DatasetStoreKey)
			if err != nil || !rep.Skipped {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
}
