package api

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestLedgerPages: GET /v1/ledger answers the tenant's transfer records a
// page at a time, in seq order, with next naming the page after, and the
// totals of its whole ledger on every page; another tenant's records are
// in neither. A record appended between two reads is in the next totals.
func TestLedgerPages(t *testing.T) {
	ctx := context.Background()
	st, led, srv := ledgerServer(t, "a")

	// Tenant a: 7 confirmations at s1, 4 of d1 and 3 of d2; tenant b: 3 of d1.
	var want []int64
	appendConf := func(tenant, ds string, i int) {
		t.Helper()
		e := transfer.Entry{Kind: transfer.KindDataset, Dataset: ds, Site: "s1", Intent: fmt.Sprintf("%s-%d", tenant, i), ChunksSent: 2, BytesSent: 100}
		if err := led.Append(ctx, tenant, transfer.KindTransfer, "", e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if i%3 == 1 {
			appendConf("b", "d1", i)
			continue
		}
		appendConf("a", []string{"d1", "d2"}[i%2], i)
	}
	es, err := st.AuditSelect(ctx, store.AuditQuery{Tenant: "a", Kinds: []string{transfer.KindTransfer}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		want = append(want, e.Seq)
	}
	if len(want) != 7 {
		t.Fatalf("%d records of tenant a", len(want))
	}

	get := func(query string) (int, run.Ledger) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/ledger"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l run.Ledger
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, l
	}
	totals := func(d1, d2 int64) []transfer.Summary {
		return []transfer.Summary{
			{Dataset: "d1", Site: "s1", Kind: transfer.KindDataset, ChunksSent: int(2 * d1), BytesConfirmed: 100 * d1},
			{Dataset: "d2", Site: "s1", Kind: transfer.KindDataset, ChunksSent: int(2 * d2), BytesConfirmed: 100 * d2},
		}
	}
	var got []int64
	after, pages := int64(0), 0
	for {
		code, l := get(fmt.Sprintf("?limit=3&after=%d", after))
		if code != http.StatusOK {
			t.Fatalf("page after %d: %d", after, code)
		}
		pages++
		for _, r := range l.Entries {
			got = append(got, r.Seq)
		}
		if diff := cmp.Diff(totals(4, 3), l.Totals); diff != "" {
			t.Errorf("page %d totals (-want +got):\n%s", pages, diff)
		}
		if l.Next == 0 {
			break
		}
		if l.Next <= after || pages > 10 {
			t.Fatalf("page %d: next %d after %d", pages, l.Next, after)
		}
		after = l.Next
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 3 {
		t.Errorf("%d pages; seqs read (-want +got):\n%s", pages, diff)
	}

	// The client reads every page; one dataset's records are filtered.
	cl := NewClient(srv.URL, tokA)
	all, err := cl.Ledger(ctx, "d2")
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Entries) != 3 || len(all.Totals) != 1 || all.Totals[0].Dataset != "d2" {
		t.Errorf("dataset d2: %d records, totals %+v", len(all.Entries), all.Totals)
	}

	// A record appended since is in the next answer's totals.
	appendConf("a", "d1", 99)
	if _, l := get(""); len(l.Entries) != 8 || l.Next != 0 || cmp.Diff(totals(5, 3), l.Totals) != "" {
		t.Errorf("after one more record: %d records, next %d, totals %+v", len(l.Entries), l.Next, l.Totals)
	}

	for _, bad := range []string{"?limit=0", fmt.Sprintf("?limit=%d", MaxAuditPage+1), "?after=-1", "?limit=x"} {
		if code, _ := get(bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}

// BenchmarkLedgerRoute: GET /v1/ledger as a client waits for it, once the
// tenant's history holds 2,000 copies of 64 chunks (an intent listing them
// and a confirmation each), with the server's ledger folded from every
// record on each request (as before the Index) and through an Index. One
// more copy is recorded before each request.
func BenchmarkLedgerRoute(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	led := transfer.AuditLedger{Store: st}
	addTokens(b, st, Token{Tenant: "a", Token: tokA})
	copyRecs := func(i int) []audit.Record {
		e := transfer.Entry{Kind: transfer.KindDataset, Dataset: fmt.Sprintf("d%d", i%10), Site: "s1", Chunks: 64, Bytes: 64 << 20}
		in := transfer.Intent{ID: fmt.Sprintf("intent-%d", i), Entry: e}
		for k := range 64 {
			var id seal.ID
			binary.BigEndian.PutUint64(id[:], uint64(i*64+k))
			in.Objects = append(in.Objects, transfer.Object{Key: dataset.ChunkKey(e.Dataset, id), Bytes: 1 << 20, Chunk: &dataset.ChunkRef{ID: id, Size: 1 << 20}})
		}
		conf := e
		conf.Intent, conf.ChunksSent, conf.BytesSent = in.ID, 64, 64<<20
		return copyRecords(b, "a", in, conf)
	}
	var recs []audit.Record
	for i := range 2000 {
		recs = append(recs, copyRecs(i)...)
		if len(recs) >= 500 || i == 1999 {
			if err := st.AppendAudit(ctx, recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	n := 2000
	for _, side := range []string{"fold", "index"} {
		var l transfer.Ledger = led
		if side == "index" {
			l = transfer.NewIndex(led)
		}
		c := run.New(run.Config{Store: st, StateDir: dir, Stager: &transfer.Stager{Ledger: l}})
		srv := httptest.NewServer(New(c, Options{Tokens: st, Audit: st, RateLimit: RateLimit{Rate: 1e9, Burst: 1e9}}))
		cl := NewClient(srv.URL, tokA)
		b.Run(side, func(b *testing.B) {
			if _, err := cl.Ledger(ctx, "d0"); err != nil { // the index's one fold after a start
				b.Fatal(err)
			}
			for b.Loop() {
				if err := st.AppendAudit(ctx, copyRecs(n)...); err != nil {
					b.Fatal(err)
				}
				n++
				l, err := cl.Ledger(ctx, "d0")
				if err != nil || len(l.Totals) != 1 {
					b.Fatal(l, err)
				}
			}
		})
		srv.Close()
	}
}

// TestLedgerDefaultTenantOlderRecords: transfer records written before
// records named their tenant are the default tenant's (the state
// directory's own), as its totals, its staging's open intents and the CLI's
// dataset ledger count them. GET /v1/ledger listed only the records naming
// the tenant, so its totals counted bytes that no listed record confirmed.
func TestLedgerDefaultTenantOlderRecords(t *testing.T) {
	ctx := context.Background()
	st, led, srv := ledgerServer(t, dataset.DefaultTenant)
	for i, tenant := range []string{"", dataset.DefaultTenant, "b"} {
		e := transfer.Entry{Kind: transfer.KindDataset, Dataset: "d1", Site: "s1", Intent: fmt.Sprintf("i%d", i), ChunksSent: 1, BytesSent: 100}
		if err := led.Append(ctx, tenant, transfer.KindTransfer, "", e); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{transfer.KindTransfer}, AllTenants: true})
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records: %v", len(recs), err)
	}
	l, err := NewClient(srv.URL, tokA).Ledger(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, r := range l.Entries {
		seqs = append(seqs, r.Seq)
	}
	if diff := cmp.Diff([]int64{recs[0].Seq, recs[1].Seq}, seqs); diff != "" || len(l.Totals) != 1 || l.Totals[0].BytesConfirmed != 200 {
		t.Errorf("default tenant's records (-want +got):\n%s\ntotals %+v", diff, l.Totals)
	}
	// Another tenant sees none of them.
	l, err = NewClient(srv.URL, tokB).Ledger(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 1 || l.Entries[0].Seq != recs[2].Seq || len(l.Totals) != 1 || l.Totals[0].BytesConfirmed != 100 {
		t.Errorf("tenant b: %+v", l)
	}
}

// copyRecords is tenant's records of a copy, as a staging writes them:
// its intent and its confirmation.
func copyRecords(b testing.TB, tenant string, in transfer.Intent, conf transfer.Entry) []audit.Record {
	var out []audit.Record
	for _, r := range []struct {
		kind string
		v    any
	}{{transfer.KindIntent, in}, {transfer.KindTransfer, conf}} {
		rec, err := audit.NewRecord(r.kind, "", r.v)
		if err != nil {
			b.Fatal(err)
		}
		rec.Tenant = tenant
		out = append(out, rec)
	}
	return out
}

// ledgerServer serves the API over a SQLite store whose ledger is its
// audit log, with tokA for tenant and tokB for tenant b.
func ledgerServer(t *testing.T, tenant string) (*store.SQLite, transfer.AuditLedger, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	led := transfer.AuditLedger{Store: st}
	c := run.New(run.Config{Store: st, StateDir: dir, Stager: &transfer.Stager{Ledger: transfer.NewIndex(led)}})
	addTokens(t, st, Token{Tenant: tenant, Token: tokA}, Token{Tenant: "b", Token: tokB})
	srv := httptest.NewServer(New(c, Options{Tokens: st, Audit: st, RateLimit: RateLimit{Rate: 1e6, Burst: 1e6}}))
	t.Cleanup(srv.Close)
	return st, led, srv
}

// TestLedgerOneDatasetEmptyPages: with ?dataset= a page of the ledger is
// the tenant's records it covers that are of that dataset, so a tenant
// whose first thousand records (a whole page) are all of d1 gets an empty
// first page of d2 that names a next one. The client refused that answer
// ("page 1 is empty but names a next page"), so the ledger of d2 could not
// be read at all; it reads on while the pages' cursor moves forward.
func TestLedgerOneDatasetEmptyPages(t *testing.T) {
	ctx := context.Background()
	_, led, srv := ledgerServer(t, "a")
	add := func(ds string, i int) {
		t.Helper()
		e := transfer.Entry{Kind: transfer.KindDataset, Dataset: ds, Site: "s1", Intent: fmt.Sprintf("%s-%d", ds, i), ChunksSent: 1, BytesSent: 10}
		if err := led.Append(ctx, "a", transfer.KindTransfer, "", e); err != nil {
			t.Fatal(err)
		}
	}
	for i := range AuditPage + 5 {
		add("d1", i)
	}
	add("d2", 0)
	add("d2", 1)
	cl := NewClient(srv.URL, tokA)
	l, err := cl.Ledger(ctx, "d2")
	if err != nil {
		t.Fatalf("ledger of d2, whose records all come after a page of d1's: %v", err)
	}
	if len(l.Entries) != 2 || l.Entries[0].Intent != "d2-0" || l.Entries[1].Intent != "d2-1" {
		t.Errorf("ledger of d2: %+v, want its 2 records", l.Entries)
	}
	if len(l.Totals) != 1 || l.Totals[0].BytesConfirmed != 20 {
		t.Errorf("ledger of d2: totals %+v", l.Totals)
	}
	all, err := cl.Ledger(ctx, "")
	if err != nil || len(all.Entries) != AuditPage+7 {
		t.Errorf("whole ledger: %v, %d records", err, len(all.Entries))
	}
}
