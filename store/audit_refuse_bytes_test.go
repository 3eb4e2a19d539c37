package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// checkRefuseEntryBytes: a query with RefuseEntryBytes fails at the entry
// whose payload alone is over the bound, naming its seq, however the query
// reaches it (every tenant's page, a tenant's with its runs' entries
// without a tenant, a page cut by bytes); a page before it or after it is
// read as ever.
func checkRefuseEntryBytes(t *testing.T, s Store) {
	ctx := context.Background()
	var recs []audit.Record
	for i, v := range []string{"small-1", strings.Repeat("x", 64<<10), "small-2"} {
		r, err := audit.NewRecord(audit.KindState, "", map[string]any{"n": i, "v": v})
		if err != nil {
			t.Fatal(err)
		}
		r.Tenant = "t"
		recs = append(recs, r)
	}
	if err := s.AppendAudit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	all, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true})
	if err != nil || len(all) != 3 {
		t.Fatalf("entries: %d %v", len(all), err)
	}
	bound := int64(len(all[0].Payload) + len(all[2].Payload))
	large := all[1].Seq
	for _, q := range []AuditQuery{
		{AllTenants: true, Limit: 10, RefuseEntryBytes: bound},
		{AllTenants: true, Limit: 10, MaxBytes: 1 << 20, RefuseEntryBytes: bound},
		{AllTenants: true, Limit: 10, MaxBytes: 1 << 20, After: all[0].Seq, RefuseEntryBytes: bound},
		{Tenant: "t", Limit: 10, RefuseEntryBytes: bound},
		{Tenant: "t", Untenanted: UntenantedOfRuns, Limit: 10, MaxBytes: 1 << 20, RefuseEntryBytes: bound},
		{Tenant: "t", Untenanted: AllUntenanted, Kinds: []string{audit.KindState, "other"}, MaxBytes: 1 << 20, RefuseEntryBytes: bound},
	} {
		page, _, err := s.AuditSelectPage(ctx, q)
		if !errors.Is(err, ErrAuditEntryTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("audit entry %d:", large)) {
			t.Errorf("%+v: %d entries, error %v; want the entry %d refused", q, len(page), err, large)
		}
	}
	// The pages before and after the large entry.
	for _, c := range []struct {
		q    AuditQuery
		want int64
	}{
		{AuditQuery{AllTenants: true, Limit: 1, MaxBytes: 1 << 20, RefuseEntryBytes: bound}, all[0].Seq},
		{AuditQuery{Tenant: "t", Untenanted: UntenantedOfRuns, Limit: 1, RefuseEntryBytes: bound}, all[0].Seq},
		{AuditQuery{AllTenants: true, After: large, MaxBytes: 1 << 20, RefuseEntryBytes: bound}, all[2].Seq},
	} {
		page, err := s.AuditSelect(ctx, c.q)
		if err != nil || len(page) != 1 || page[0].Seq != c.want || string(page[0].Payload) != string(all[c.want-all[0].Seq].Payload) {
			t.Errorf("%+v: %d entries, %v; want entry %d", c.q, len(page), err, c.want)
		}
	}
	if _, err := s.AuditSelect(ctx, AuditQuery{AllTenants: true, RefuseEntryBytes: -1}); err == nil {
		t.Error("a negative RefuseEntryBytes is not refused")
	}
}

func TestSQLiteAuditRefuseEntryBytes(t *testing.T) {
	checkRefuseEntryBytes(t, openTest(t))
}

func TestPostgresAuditRefuseEntryBytes(t *testing.T) {
	s, err := OpenPostgres(context.Background(), pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkRefuseEntryBytes(t, s)
}
