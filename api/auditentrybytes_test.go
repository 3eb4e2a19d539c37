package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestAuditPageRefusesEntryOverBound: a page of the log (the tenant's,
// and the whole chain's) that reaches an entry longer than
// MaxAuditEntryBytes answers 409 naming the entry's seq, having read none
// of its payload; a page before it is answered as ever. A page holds at
// least one entry, so such an entry (a row of gigabytes written to the
// database) was read whole. A page of the whole chain after it refuses too:
// the tenant's entries on it are checked for deleted ones, which checks
// every entry written since the store last did, the one over the bound
// (not read) among them.
func TestAuditPageRefusesEntryOverBound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	log := audit.NewLog(f.st)
	if err := log.AppendFor(ctx, "a", "note", "", "small"); err != nil {
		t.Fatal(err)
	}
	if err := log.AppendFor(ctx, "a", "note", "", "large"); err != nil {
		t.Fatal(err)
	}
	if err := log.AppendFor(ctx, "a", "note", "", "after"); err != nil {
		t.Fatal(err)
	}
	large := int64(f.base) + 2
	// Written to the database by hand: Meridian's appends refuse a
	// payload over the bound.
	db := f.st.(interface{ DB() *sql.DB }).DB()
	if _, err := db.ExecContext(ctx, `UPDATE audit SET payload = ? WHERE seq = ?`, `"`+strings.Repeat("x", MaxAuditEntryBytes)+`"`, large); err != nil {
		t.Fatal(err)
	}
	ab := &auditBytes{AuditReader: f.st}
	srv := httptest.NewServer(New(f.c, Options{Tokens: f.st, Audit: ab}))
	defer srv.Close()
	get := func(query string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/audit?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, raw
	}
	for _, query := range []string{
		fmt.Sprintf("after=%d", f.base),
		fmt.Sprintf("all=1&after=%d", f.base),
		fmt.Sprintf("after=%d&limit=5", large-1),
		fmt.Sprintf("all=1&after=%d", large),
	} {
		code, body := get(query)
		var e ErrorBody
		json.Unmarshal(body, &e)
		if code != http.StatusConflict || !strings.Contains(e.Error.Message, fmt.Sprintf("audit entry %d:", large)) {
			t.Errorf("%s: %d %.300s; want 409 naming entry %d", query, code, body, large)
		}
	}
	for _, c := range []struct {
		query string
		want  int64
	}{
		{fmt.Sprintf("after=%d&limit=1", f.base), large - 1},
	} {
		code, body := get(c.query)
		var l AuditList
		if err := json.Unmarshal(body, &l); err != nil || code != http.StatusOK || len(l.Entries) != 1 || l.Entries[0].Seq != c.want {
			t.Errorf("%s: %d %.300s; want entry %d", c.query, code, body, c.want)
		}
	}
	for i, n := range ab.reads {
		if n >= MaxAuditEntryBytes {
			t.Errorf("read %d answered %d bytes: the entry over the bound was read", i, n)
		}
	}
}
