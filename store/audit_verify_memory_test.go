package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// Verifying the audit log must hold a page of it at a time, not the whole
// log: the log grows without bound, and the server verifies it at start
// and whenever a tenant asks. The log here holds 32 MiB of payloads; the
// heap may grow by a fraction of that while it is verified.
const (
	memEntries   = 16000
	memPayload   = 2 << 10
	memHeapBound = 12 << 20
)

// fillAudit appends memEntries entries of memPayload bytes each.
func fillAudit(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	pad := strings.Repeat("x", memPayload)
	for i := 0; i < memEntries; i += 500 {
		recs := make([]audit.Record, 0, 500)
		for j := i; j < i+500; j++ {
			r, err := audit.NewRecord(audit.KindTransfer, fmt.Sprintf("r%d", j%50), map[string]string{"pad": pad})
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if err := s.AppendAudit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
}

// peakHeapDuring runs fn and returns how far the live heap grew above
// what it was before, sampled every millisecond while fn ran.
func peakHeapDuring(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapAlloc)
	return peak - min(base, peak)
}

func checkVerifyMemory(t *testing.T, verify func() (audit.Result, error)) {
	t.Helper()
	var res audit.Result
	var err error
	grew := peakHeapDuring(func() { res, err = verify() })
	if err != nil || !res.OK || res.Entries != memEntries {
		t.Fatalf("verify: %+v %v", res, err)
	}
	t.Logf("heap grew by %.1f MiB verifying %d entries of %d bytes", float64(grew)/(1<<20), memEntries, memPayload)
	if grew > memHeapBound {
		t.Errorf("verifying a log of %d MiB grew the heap by %.1f MiB; want at most %d MiB (a page at a time)", memEntries*memPayload>>20, float64(grew)/(1<<20), memHeapBound>>20)
	}
}

func TestVerifyAuditBoundedMemorySQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := openSQLite(t, path)
	fillAudit(t, s)
	ctx := context.Background()
	checkVerifyMemory(t, func() (audit.Result, error) { return s.VerifyAudit(ctx) })

	// The reader `audit verify --state` uses.
	r, err := store.OpenAuditReader(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkVerifyMemory(t, func() (audit.Result, error) { return r.VerifyAudit(ctx, audit.NewChain(testKey.AuditKey), nil) })
}

func TestVerifyAuditBoundedMemoryPostgres(t *testing.T) {
	s := openPostgres(t, pgtest.NewDatabase(t))
	fillAudit(t, s)
	ctx := context.Background()
	checkVerifyMemory(t, func() (audit.Result, error) { return s.VerifyAudit(ctx) })
}
