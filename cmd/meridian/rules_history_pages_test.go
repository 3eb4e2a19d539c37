package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
)

// smallPack is a rule file that loads.
const smallPack = `apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: small}
rules:
  - {id: test-small, jurisdiction: ORG, kind: org-policy, effect: deny, effectiveFrom: 2026-01-01, enforcement: in-force,
     confidence: confirmed, sources: [test], message: "site {site.name}", condition: "site.country == 'XX'"}
`

// largeHistory puts n rules revisions straight into st, each applying one
// file of size bytes, but the last: a small pack that loads. It returns
// the rules state over st.
func largeHistory(tb testing.TB, st store.Store, n, size int) *rules.State {
	tb.Helper()
	ctx := context.Background()
	big := "# " + strings.Repeat("x", size-3) + "\n"
	for i := 1; i <= n; i++ {
		files := map[string]string{fmt.Sprintf("big-%d.yaml", i): big}
		if i == n {
			files = map[string]string{"small.yaml": smallPack}
		}
		rec, err := audit.NewRecord(rules.KindRevision, "", map[string]any{"revision": i, "sha256": rules.Hash(files)})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := st.PutRuleRevision(ctx, &store.RuleRevision{Hash: rules.Hash(files), Files: files, Who: "ops", Reason: fmt.Sprintf("r%d", i)}, int64(i-1), rec); err != nil {
			tb.Fatal(err)
		}
	}
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

func sqliteForRules(tb testing.TB) store.Store {
	tb.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(tb.TempDir(), "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// TestRulesHistoryPageReadsNoFiles: GET /v1/rules/revisions, which any
// token may ask, answers a page from the store's listing of the revisions
// asked for, names and no contents. Each page read every revision with
// all its files (24 MiB here, up to 16 MiB a revision) to answer three.
func TestRulesHistoryPageReadsNoFiles(t *testing.T) {
	const n, size = 24, 1 << 20
	ctx := context.Background()
	rs := largeHistory(t, sqliteForRules(t), n, size)
	s := &rulesService{rs: rs}
	var page []api.RuleRevision
	var err error
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	page, err = s.History(ctx, 20, 3)
	runtime.ReadMemStats(&m1)
	got := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("a page of 3 of %d revisions of %d bytes: %d bytes allocated", n, size, got)
	if err != nil {
		t.Fatal(err)
	}
	// Under one revision's file: no revision's contents were read.
	if got > size {
		t.Errorf("a page of 3 revisions allocated %d bytes, more than one revision's file (%d)", got, size)
	}
	if len(page) != 3 {
		t.Fatalf("a page of 3 after revision 20 holds %d: %+v", len(page), page)
	}
	for i, r := range page {
		rev := int64(21 + i)
		files := map[string]string{fmt.Sprintf("big-%d.yaml", rev): "# " + strings.Repeat("x", size-3) + "\n"}
		if r.Revision != rev || r.SHA256 != rules.Hash(files) || r.By != "ops" || r.Reason != fmt.Sprintf("r%d", rev) || r.Time.IsZero() ||
			fmt.Sprint(r.Files) != fmt.Sprintf("[big-%d.yaml]", rev) {
			t.Errorf("revision %d: %+v", rev, r)
		}
	}
	if last, err := s.History(ctx, n-1, 3); err != nil || len(last) != 1 || fmt.Sprint(last[0].Files) != "[small.yaml]" {
		t.Errorf("the page after revision %d: %+v %v, want revision %d alone", n-1, last, err, n)
	}
}

// BenchmarkRulesHistoryPage is one page of GET /v1/rules/revisions (the
// default page of 100, and the one more asked to know whether another
// follows) of a history of 200 revisions of a MiB of rule files each.
func BenchmarkRulesHistoryPage(b *testing.B) {
	const n, size = 200, 1 << 20
	for _, c := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", sqliteForRules},
		{"postgres", func(tb testing.TB) store.Store {
			st, err := store.OpenPostgres(context.Background(), pgtest.NewDatabase(tb), store.Options{AuditKey: []byte("0123456789abcdef")})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { st.Close() })
			return st
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := &rulesService{rs: largeHistory(b, c.open(b), n, size)}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.History(ctx, 0, api.RevisionPage+1)
				if err != nil || len(page) != api.RevisionPage+1 {
					b.Fatalf("%d revisions (%v)", len(page), err)
				}
			}
		})
	}
}
