package store

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// checkMaxEntryBytes: a query with MaxEntryBytes leaves out the entry whose
// payload alone is over the bound (the page of at least one entry held it
// whole), pages on past it, and keeps the entries at or under the bound.
func checkMaxEntryBytes(t *testing.T, s Store) {
	ctx := context.Background()
	var recs []audit.Record
	for i, v := range []string{"small-1", strings.Repeat("x", 64<<10), "small-2"} {
		r, err := audit.NewRecord(audit.KindAnchored, "", map[string]any{"n": i, "v": v})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	other, err := audit.NewRecord(audit.KindState, "", map[string]any{"v": "other kind"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, recs[0], recs[1], other, recs[2]); err != nil {
		t.Fatal(err)
	}
	all, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true, Kinds: []string{audit.KindAnchored}})
	if err != nil || len(all) != 3 {
		t.Fatalf("entries of the kind: %d %v", len(all), err)
	}
	bound := int64(len(all[0].Payload) + len(all[2].Payload))
	if int64(len(all[1].Payload)) <= bound {
		t.Fatalf("large payload %d bytes, bound %d", len(all[1].Payload), bound)
	}
	for _, q := range []AuditQuery{
		{AllTenants: true, Kinds: []string{audit.KindAnchored}, Limit: 1, MaxEntryBytes: bound},
		{AllTenants: true, Kinds: []string{audit.KindAnchored}, Limit: 10, MaxBytes: 1, MaxEntryBytes: bound},
		{Tenant: "", AllTenants: true, MaxEntryBytes: bound, Limit: 2},
	} {
		var seqs []int64
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("%+v: paging does not end", q)
			}
			page, next, err := s.AuditSelectPage(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				if int64(len(e.Payload)) > bound {
					t.Errorf("%+v: entry %d of %d bytes read, over the bound %d", q, e.Seq, len(e.Payload), bound)
				}
				seqs = append(seqs, e.Seq)
			}
			if next == 0 {
				break
			}
			q.After = next
		}
		want := []int64{all[0].Seq, all[2].Seq}
		if len(q.Kinds) == 0 {
			want = []int64{all[0].Seq, all[1].Seq + 1, all[2].Seq}
		}
		if len(seqs) != len(want) {
			t.Errorf("%+v: read %v, want %v", q, seqs, want)
			continue
		}
		for i := range want {
			if seqs[i] != want[i] {
				t.Errorf("%+v: read %v, want %v", q, seqs, want)
				break
			}
		}
	}
	if _, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true, MaxEntryBytes: -1}); err == nil {
		t.Error("a negative MaxEntryBytes is not refused")
	}
}

func TestSQLiteAuditMaxEntryBytes(t *testing.T) {
	checkMaxEntryBytes(t, openTest(t))
}

func TestPostgresAuditMaxEntryBytes(t *testing.T) {
	s, err := OpenPostgres(context.Background(), pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMaxEntryBytes(t, s)
}
