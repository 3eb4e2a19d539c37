package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestAuditAllPageOthersPayloadsUnread: a page of the whole chain (all=1)
// is the same answer, byte for byte, as the handler gave when it read every
// tenant's payloads and dropped the others' (the tenant's own entries and
// its runs' entries without a tenant in full, the server's own in full to
// the admin, every other entry as hashes), and no read it makes answers
// another tenant's payload: tenant b's megabyte entries are not read for a.
func TestAuditAllPageOthersPayloadsUnread(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(ctx, f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	runs := map[string]string{"legacy-a": "a", "legacy-b": "b"}
	for id, tenant := range runs {
		if _, _, err := f.st.CreateRun(ctx, &store.Run{ID: id, Tenant: tenant, Job: "j", State: "done", Data: []byte(`{}`)}, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	const big = 1 << 20
	log := audit.NewLog(f.st)
	appends := []struct {
		tenant, run string
		payload     any
	}{
		{"a", "", "a's own"},
		{"b", "", strings.Repeat("b", big)},
		{"", "legacy-a", "a's run, before entries named their tenant"},
		{"", "legacy-b", strings.Repeat("l", big)},
		{"", "", "the server's own"},
		{"ops", "", "the admin's own"},
		{"b", "", strings.Repeat("c", big)},
		{"a", "", "a's last"},
	}
	for _, e := range appends {
		if err := log.AppendFor(ctx, e.tenant, "note", e.run, e.payload); err != nil {
			t.Fatal(err)
		}
	}
	chain, err := f.st.AuditSelect(ctx, store.AuditQuery{AllTenants: true, After: int64(f.base)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tenant, token string
		admin         bool
	}{{"a", tokA, false}, {"b", tokB, false}, {"ops", tokOps, true}} {
		// want is the page as the handler wrote it when it read every
		// payload: its own rule of which entries are the tenant's.
		want := make([]audit.Entry, len(chain))
		var ownBytes int
		for i, e := range chain {
			mine := e.Tenant == c.tenant || e.Tenant == "" && e.RunID != "" && runs[e.RunID] == c.tenant
			system := e.Tenant == "" && e.RunID == "" && c.admin
			want[i] = e
			if !mine && !system {
				want[i] = e.Redact()
			} else {
				ownBytes += len(e.Payload)
			}
		}
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusOK, AuditList{Entries: want})

		ab := &auditBytes{AuditReader: f.st}
		srv := httptest.NewServer(New(f.c, Options{Tokens: f.st, Audit: ab}))
		req, _ := http.NewRequest("GET", srv.URL+fmt.Sprintf("/v1/audit?all=1&after=%d", f.base), nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, rec.Body.Bytes()) {
			t.Errorf("%s: status %d, page\n%.2000s\nwant\n%.2000s", c.tenant, resp.StatusCode, got, rec.Body.Bytes())
		}
		// Each read answers at most the caller's own payloads (the page's
		// and, telling which are the caller's, the same again).
		for i, n := range ab.reads {
			if n > ownBytes {
				t.Errorf("%s: read %d answered %d bytes of payloads, the caller's own are %d: other tenants' payloads were read", c.tenant, i, n, ownBytes)
			}
		}
	}
}
