package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
)

// pageCountingStore records the most entries one read of the log returned.
type pageCountingStore struct {
	*store.SQLite
	most int
}

func (s *pageCountingStore) AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error) {
	es, err := s.SQLite.AuditSelect(ctx, q)
	s.most = max(s.most, len(es))
	return es, err
}

func (s *pageCountingStore) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	es, next, err := s.SQLite.AuditSelectPage(ctx, q)
	s.most = max(s.most, len(es))
	return es, next, err
}

// keyEntriesState is a state directory whose log holds n sealed entries
// naming its anchor key (the last of them naming key), its anchors and
// its database. Its gap checks count the entries and do not read them
// (the CLI's read every entry, and find a row forged in the middle of
// the log first): the bounds of the key entries' read, and which one
// decides, are checked for the rows such a check lets by.
func keyEntriesState(t testing.TB, n int, key string) (state, *audit.Anchors, *store.SQLite) {
	t.Helper()
	st := state{Dir: statedir.Dir{Path: t.TempDir()}}
	anchors, err := audit.OpenAnchors(st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	db := openStateDBWith(t, st, store.Options{GapChecksCountOnly: true})
	recs := make([]audit.Record, n)
	for i := range recs {
		k := strings.Repeat("cd", 32)
		if i == n-1 {
			k = key
			if k == "" {
				k = anchors.Key()
			}
		}
		if recs[i], err = audit.NewRecord(audit.KindAnchored, "", audit.AnchoredPayload{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AppendAudit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	return st, anchors, db
}

// TestCLIAnchorReadsKeyEntriesInPages: every CLI command that writes the
// log read all of its key entries (audit-anchored) into memory at once,
// and whoever writes the database may store any number of them. They are
// read a page at a time now, and the last sealed one still decides.
func TestCLIAnchorReadsKeyEntriesInPages(t *testing.T) {
	ctx := context.Background()
	n := 3*keyEntryPage + 10
	st, anchors, db := keyEntriesState(t, n, "")
	defer db.Close()
	// A forged row naming another key after the last sealed one.
	_, head, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB().Exec(`INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version) VALUES (?, '2026-01-01T00:00:00.000000000Z', ?, '', ?, ?, ?, '', 2)`,
		n+1, audit.KindAnchored, `{"key":"`+strings.Repeat("ef", 32)+`"}`, head, strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	sealAfter(t, db)
	if _, err := os.Stat(filepath.Join(st.Anchor(), audit.AnchorFile)); !os.IsNotExist(err) {
		t.Fatalf("anchor.json before the check: %v", err)
	}
	key, err := audit.LoadKey(st.Path)
	if err != nil {
		t.Fatal(err)
	}
	counting := &pageCountingStore{SQLite: db}
	var w strings.Builder
	follow, err := cliAnchor(ctx, counting, audit.NewChain(key), anchors, &w)
	if err != nil {
		t.Fatal(err)
	}
	if follow || !strings.Contains(w.String(), fmt.Sprintf("audit entry %d records that this log is anchored with the key in", n)) {
		t.Fatalf("CLI over a log whose last sealed key entry (%d) names its removed anchor's key: follows %v, warned %q", n, follow, w.String())
	}
	if counting.most > keyEntryPage {
		t.Fatalf("one read of the log returned %d entries; want at most a page (%d) of the %d", counting.most, keyEntryPage, n+1)
	}
}

// largestReadStore records the largest entry one read of the log returned.
type largestReadStore struct {
	*store.SQLite
	largest int
}

func (s *largestReadStore) AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error) {
	es, next, err := s.SQLite.AuditSelectPage(ctx, q)
	for _, e := range es {
		s.largest = max(s.largest, len(e.Payload))
	}
	return es, next, err
}

// TestCLIAnchorSkipsHugeKeyRows: a page of key entries holds at least one
// entry, so a single forged key row of any size was read whole by every
// CLI command that writes the log. Rows larger than a key entry can be are
// left out by the store; the last sealed entry still decides.
func TestCLIAnchorSkipsHugeKeyRows(t *testing.T) {
	ctx := context.Background()
	st, anchors, db := keyEntriesState(t, 3, "")
	defer db.Close()
	_, head, err := db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	huge := `{"key":"` + strings.Repeat("ef", 32) + `","pad":"` + strings.Repeat("x", 8<<20) + `"}`
	if _, err := db.DB().Exec(`INSERT INTO audit (seq, time, kind, run_id, payload, prev_hash, hash, tenant, version) VALUES (4, '2026-01-01T00:00:00.000000000Z', ?, '', ?, ?, ?, '', 2)`,
		audit.KindAnchored, huge, head, strings.Repeat("ab", 32)); err != nil {
		t.Fatal(err)
	}
	sealAfter(t, db)
	key, err := audit.LoadKey(st.Path)
	if err != nil {
		t.Fatal(err)
	}
	reads := &largestReadStore{SQLite: db}
	var w strings.Builder
	if _, err := cliAnchor(ctx, reads, audit.NewChain(key), anchors, &w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.String(), "audit entry 3 records that this log is anchored") {
		t.Errorf("the last sealed key entry (3) no longer decides: %q", w.String())
	}
	if reads.largest > keyEntryMaxBytes {
		t.Errorf("the CLI read a key row of %d bytes; want none over %d", reads.largest, keyEntryMaxBytes)
	}
}

// BenchmarkCLIAnchorKeyEntries: cliAnchor over a log of 100,000 key
// entries. peak-heap-MB is the most heap in use seen while it ran
// (sampled), above what was in use before.
func BenchmarkCLIAnchorKeyEntries(b *testing.B) {
	ctx := context.Background()
	st, anchors, db := keyEntriesState(b, 100_000, strings.Repeat("cd", 32))
	defer db.Close()
	key, err := audit.LoadKey(st.Path)
	if err != nil {
		b.Fatal(err)
	}
	chain := audit.NewChain(key)
	var peak atomic.Uint64
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > base && m.HeapAlloc-base > peak.Load() {
					peak.Store(m.HeapAlloc - base)
				}
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var w strings.Builder
		if _, err := cliAnchor(ctx, db, chain, anchors, &w); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
}

// sealAfter appends a sealed entry to db's log, after whatever rows were
// written into it by hand: a forged row is then one in the middle of the
// log, which only its own seal tells from a real one (the last entry
// must be sealed at its seq, or the read of the key entries finds the log
// changed, store.ErrAuditGap).
func sealAfter(t testing.TB, db *store.SQLite) {
	t.Helper()
	r, err := audit.NewRecord(audit.KindState, "", map[string]string{"note": "after the forged row"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendAudit(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}
