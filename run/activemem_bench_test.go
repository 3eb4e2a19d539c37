package run

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// BenchmarkActiveRunMemory measures what the controller keeps in memory
// for each active run between its passes: the decoded run (decodeRow's
// cache) and the run's parsed world (world's cache), which every law check
// and step reads. The runs are benchQueue's: small, each with the small
// fleet job's documents (under 1 KiB); large, the same with 512 KiB of
// comments in the file (a submission may be 4 MiB). Config.MaxRuns bounds
// the active runs per tenant, and so this memory.
func BenchmarkActiveRunMemory(b *testing.B) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	if v := os.Getenv("ACTIVE_MEM_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	b.Run("small", func(b *testing.B) { activeRunMemory(b, n, fleetJob("waiting")) })
	b.Run("large", func(b *testing.B) { activeRunMemory(b, max(n/10, 20), paddedJob("waiting", 512<<10)) })
}

// paddedJob is fleetJob with about pad bytes of comments in its file.
func paddedJob(name string, pad int) Document {
	d := fleetJob(name)
	line := "# " + strings.Repeat("x", 98) + "\n"
	d.Content = strings.Repeat(line, pad/len(line)) + d.Content
	return d
}

func activeRunMemory(b *testing.B, n int, doc Document) {
	ctx := context.Background()
	c, _ := benchQueueOf(b, n, doc)
	var decoded, world, rowBytes float64
	for b.Loop() {
		c.mu.Lock()
		clear(c.decoded)
		clear(c.worlds)
		c.mu.Unlock()
		rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Active: true, Final: FinalStates, AllTenants: true})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, 0, len(rows))
		var d0 int
		for _, row := range rows {
			ids = append(ids, row.ID)
			d0 += len(row.Data)
		}
		base := liveHeap()
		for _, row := range rows {
			if _, err := c.decodeRow(row); err != nil {
				b.Fatal(err)
			}
		}
		afterDecode := liveHeap()
		for _, id := range ids {
			c.mu.Lock()
			r := c.decoded[id]
			c.mu.Unlock()
			if _, err := c.world(r); err != nil {
				b.Fatal(err)
			}
		}
		afterWorld := liveHeap()
		// The rows are the list's, dropped after the pass: held to the
		// end, so that their release is not counted against the caches.
		runtime.KeepAlive(rows)
		runtime.KeepAlive(c)
		decoded += float64(afterDecode-base) / float64(len(ids))
		world += float64(afterWorld-afterDecode) / float64(len(ids))
		rowBytes += float64(d0) / float64(len(ids))
	}
	k := float64(b.N)
	b.ReportMetric(decoded/k, "B-decoded/run")
	b.ReportMetric(world/k, "B-world/run")
	b.ReportMetric((decoded+world)/k, "B/active-run")
	b.ReportMetric(rowBytes/k, "B-row/run")
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
