package run

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// registryDocs is an organisation lab and n public datasets from MY of
// tenant t1, the first of size bytes.
func registryDocs(n int, size string) []Document {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: MY\n")
	for i := range n {
		sz := "1.0e5"
		if i == 0 {
			sz = size
		}
		fmt.Fprintf(&b, "---\napiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: ds%d}\nspec:\n  origin: MY\n  classification: %s\n  sizeBytes: %s\n", i, catalog.ClassPublic, sz)
	}
	return []Document{{Name: "res.yaml", Content: b.String()}}
}

// TestRunWorldsShareRegistry: the worlds of two runs of one tenant share
// its registered datasets and organisations, decoded once, where each
// decoded its own copy; a world built after the tenant updates one reads
// the update.
func TestRunWorldsShareRegistry(t *testing.T) {
	st, dir := testStore(t)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	ctx := context.Background()
	if _, err := c.Apply(ctx, "t1", registryDocs(3, "1.0e5"), false); err != nil {
		t.Fatal(err)
	}
	w1, _, err := c.requestWorld(ctx, "t1", &request{})
	if err != nil {
		t.Fatal(err)
	}
	w2, _, err := c.requestWorld(ctx, "t1", &request{})
	if err != nil {
		t.Fatal(err)
	}
	if w1.Datasets["ds0"] == nil || w1.Datasets["ds0"] != w2.Datasets["ds0"] || w1.Organizations["lab"] != w2.Organizations["lab"] {
		t.Error("two worlds of the tenant each decoded its own copy of its registered resources")
	}
	// A request's own copy goes into its world only, never the shared maps.
	rq, err := decodeRequest(registryDocs(4, "1.0e5"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.requestWorld(ctx, "t1", &request{datasets: rq.datasets[3:]}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.registry(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if reg.datasets["ds3"] != nil {
		t.Error("a request's dataset was kept in the tenant's shared registry")
	}
	// An update is read by the next world, not the cached decoding.
	if _, err := c.Apply(ctx, "t1", registryDocs(3, "2.0e5"), true); err != nil {
		t.Fatal(err)
	}
	w3, _, err := c.requestWorld(ctx, "t1", &request{})
	if err != nil {
		t.Fatal(err)
	}
	if got := w3.Datasets["ds0"].Spec.SizeBytes; got != 2e5 {
		t.Errorf("after the update the world's ds0 has size %v, want 2e5", got)
	}
	if w1.Datasets["ds0"].Spec.SizeBytes != 1e5 {
		t.Error("the update changed the resources of a world built before it")
	}
}

// BenchmarkRunWorldRegistry: building a run's world over a tenant's 2,000
// registered datasets, decoding them for each world ("decode", as before)
// or sharing the decoded registry ("shared").
func BenchmarkRunWorldRegistry(b *testing.B) {
	st, dir := testStore(b)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites"})
	ctx := context.Background()
	if _, err := c.Apply(ctx, "t1", registryDocs(2000, "1.0e5"), false); err != nil {
		b.Fatal(err)
	}
	for _, shared := range []bool{false, true} {
		name := "decode"
		if shared {
			name = "shared"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			// The worlds are kept, as the controller keeps a world per
			// live run: the heap they hold is reported per world.
			var kept []*catalog.World
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if !shared {
					c.regs = registryCache{}
				}
				w, _, err := c.requestWorld(ctx, "t1", &request{})
				if err != nil {
					b.Fatal(err)
				}
				kept = append(kept, w)
			}
			b.StopTimer()
			c.regs = registryCache{}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(len(kept)), "retained-B/world")
			runtime.KeepAlive(kept)
		})
	}
}

// TestRegistryCacheBounded: the cache keeps at most maxCachedRegistries
// registries and maxCachedRegistryBytes of their documents, dropping the
// least recently used, and never one larger than that alone.
func TestRegistryCacheBounded(t *testing.T) {
	var rc registryCache
	sum := func(i int) (s [32]byte) { s[0], s[1] = byte(i), byte(i>>8); return }
	for i := range maxCachedRegistries + 3 {
		rc.put(fmt.Sprint("t", i), &decodedRegistry{sum: sum(i), size: 1})
		if i == 5 {
			rc.get("t0", sum(0)) // used again: not the least recent
		}
	}
	if len(rc.m) > maxCachedRegistries {
		t.Errorf("%d registries kept, at most %d", len(rc.m), maxCachedRegistries)
	}
	if rc.get("t0", sum(0)) == nil || rc.get("t1", sum(1)) != nil {
		t.Error("not the least recently used dropped first")
	}
	rc.put("big", &decodedRegistry{sum: sum(1), size: maxCachedRegistryBytes + 1})
	if rc.get("big", sum(1)) != nil {
		t.Error("a registry over the byte bound alone was kept")
	}
	rc.put("half", &decodedRegistry{sum: sum(2), size: maxCachedRegistryBytes / 2})
	rc.put("half2", &decodedRegistry{sum: sum(3), size: maxCachedRegistryBytes / 2})
	rc.put("half3", &decodedRegistry{sum: sum(4), size: maxCachedRegistryBytes / 2})
	if rc.bytes > maxCachedRegistryBytes || rc.get("half", sum(2)) != nil || rc.get("half3", sum(4)) == nil {
		t.Errorf("%d bytes kept, at most %d; want the oldest half dropped", rc.bytes, maxCachedRegistryBytes)
	}
	total := 0
	for _, e := range rc.m {
		total += e.size
	}
	if total != rc.bytes {
		t.Errorf("counted %d bytes, holds %d", rc.bytes, total)
	}
}
