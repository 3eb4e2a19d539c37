package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// auditPayloadsOf: a selection of every tenant's entries with PayloadsOf
// reads the payloads of the tenant's entries (and of the entries without
// a tenant it lets in) only: every other entry comes back redacted, its
// payload not read; MaxBytes counts only the payloads read; an entry over
// RefuseEntryBytes is refused only when its payload would be read.
func auditPayloadsOf(t *testing.T, s store.Store) {
	ctx := context.Background()
	log := audit.NewLog(s)
	for _, r := range []*store.Run{newRun("ra", "acme"), newRun("rb", "zeta")} {
		if _, _, err := s.CreateRun(ctx, r, "", store.Change{Audit: []audit.Record{rec(t, audit.KindPlan, r.ID, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	const large = 64 << 10
	for _, a := range []struct {
		tenant, run string
		payload     any
	}{
		{"acme", "", "acme's"},
		{"zeta", "rb", strings.Repeat("z", large)},
		{"", "", "the server's own"},
		{"", "ra", "acme's run, before entries named their tenant"},
		{"", "rb", strings.Repeat("y", large)},
		{"", "gone", "of a run no store row names"},
		{"zeta", "", strings.Repeat("x", large)},
		{"acme", "ra", "acme's last"},
	} {
		if err := log.AppendFor(ctx, a.tenant, "note", a.run, a.payload); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AuditEntries(ctx, "")
	if err != nil || len(all) != 10 {
		t.Fatalf("entries: %d %v", len(all), err)
	}
	runTenant := map[string]string{"ra": "acme", "rb": "zeta"}
	// view is the chain as q shows it: redacted where the payload is not
	// the tenant's to read.
	view := func(q store.AuditQuery) []audit.Entry {
		var out []audit.Entry
		for _, e := range all {
			own := e.Tenant == q.PayloadsOf ||
				e.Tenant == "" && q.PayloadsUntenanted == store.AllUntenanted ||
				e.Tenant == "" && e.RunID == "" && q.PayloadsOfServer ||
				e.Tenant == "" && e.RunID != "" && q.PayloadsUntenanted == store.UntenantedOfRuns && runTenant[e.RunID] == q.PayloadsOf
			if !own {
				e = e.Redact()
			}
			out = append(out, e)
		}
		return out
	}
	for _, q := range []store.AuditQuery{
		{AllTenants: true, PayloadsOf: "acme"},
		{AllTenants: true, PayloadsOf: "acme", PayloadsUntenanted: store.UntenantedOfRuns},
		{AllTenants: true, PayloadsOf: "acme", PayloadsUntenanted: store.UntenantedOfRuns, PayloadsOfServer: true, RefuseEntryBytes: 16 << 20, MaxBytes: 16 << 20},
		{AllTenants: true, PayloadsOf: "zeta", PayloadsUntenanted: store.AllUntenanted, MaxBytes: 16 << 20},
		{AllTenants: true, PayloadsOf: "nobody", PayloadsOfServer: true},
	} {
		want := view(q)
		got, err := s.AuditSelect(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%+v (-want +got):\n%s", q, d)
		}
		// Page by page, two entries at a time, as the whole chain's pages
		// are read.
		var paged []audit.Entry
		q.Limit = 2
		for n := 0; n <= len(all); n++ {
			page, next, err := s.AuditSelectPage(ctx, q)
			if err != nil {
				t.Fatalf("%+v: %v", q, err)
			}
			paged = append(paged, page...)
			if next == 0 {
				break
			}
			q.After = next
		}
		if d := cmp.Diff(want, paged); d != "" {
			t.Errorf("%+v in pages (-want +got):\n%s", q, d)
		}
	}

	// MaxBytes counts the payloads read: zeta's large entries, not read
	// for acme, do not cut acme's page short, and bring zeta's to an end
	// at the first of them.
	q := store.AuditQuery{AllTenants: true, PayloadsOf: "acme", MaxBytes: large / 2}
	if got, err := s.AuditSelect(ctx, q); err != nil || len(got) != len(all) {
		t.Errorf("acme's page of MaxBytes %d: %d entries, %v; want all %d (zeta's payloads are not read)", q.MaxBytes, len(got), err, len(all))
	}
	q.PayloadsOf = "zeta"
	if got, err := s.AuditSelect(ctx, q); err != nil || len(got) == 0 || got[len(got)-1].Tenant != "zeta" || len(got[len(got)-1].Payload) < large {
		t.Errorf("zeta's page of MaxBytes %d: %d entries, %v; want it cut after zeta's first large entry", q.MaxBytes, len(got), err)
	}

	// An entry over RefuseEntryBytes is refused when its payload is the
	// tenant's to read, and shown as hashes when it is not.
	q = store.AuditQuery{AllTenants: true, PayloadsOf: "acme", RefuseEntryBytes: large - 1}
	if got, err := s.AuditSelect(ctx, q); err != nil || len(got) != len(all) {
		t.Errorf("acme's page with zeta's entries over RefuseEntryBytes: %d entries, %v; want all %d", len(got), err, len(all))
	}
	q.PayloadsOf = "zeta"
	if _, err := s.AuditSelect(ctx, q); !errors.Is(err, store.ErrAuditEntryTooLarge) {
		t.Errorf("zeta's page with its own entries over RefuseEntryBytes: %v, want ErrAuditEntryTooLarge", err)
	}

	for _, bad := range []store.AuditQuery{
		{Tenant: "acme", PayloadsOf: "acme"},
		{AllTenants: true, PayloadsUntenanted: store.UntenantedOfRuns},
		{AllTenants: true, PayloadsOfServer: true},
	} {
		if _, err := s.AuditSelect(ctx, bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
