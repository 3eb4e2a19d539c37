package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"meridian.dev/meridian/store"
)

// TestQueryFlagsNamed: a switch of the query (follow, brief, all) that is
// neither 1 nor 0 was taken as 0 without a word: follow=yes answered a
// page instead of a stream, brief=yes a whole plan, and all=true the
// tenant's own entries of the audit log where the whole chain was asked,
// which a client checking the chain took as the whole. true and false
// now mean 1 and 0; any other value is answered 400 naming the parameter;
// 1, 0 and none keep their meaning.
// A run= of the audit log that names no run of the tenant's is answered
// naming run.
func TestQueryFlagsNamed(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path, body, field string
	}{
		{"GET", "/v1/runs?follow=yes", "", "follow"},
		{"GET", "/v1/runs/run-x/events?follow=yes", "", "follow"},
		{"GET", "/v1/runs/run-x/logs?follow=on", "", "follow"},
		{"POST", "/v1/plans?brief=yes", "{}", "brief"},
		{"GET", "/v1/audit?all=2", "", "all"},
	} {
		if code, e := f.raw(t, c.method, c.path, tokA, c.body); code != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("%s %s: %d %+v; want 400 naming %s", c.method, c.path, code, e, c.field)
		}
	}
	for _, path := range []string{"/v1/runs?follow=0", "/v1/runs?follow=false", "/v1/audit?all=0", "/v1/audit?all=1", "/v1/audit?all=true", "/v1/audit"} {
		if code, e := f.raw(t, "GET", path, tokA, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %+v; want 200", path, code, e)
		}
	}
	if code, e := f.raw(t, "GET", "/v1/audit?run=run-nobody", tokA, ""); code != http.StatusNotFound || e.Field != "run" {
		t.Errorf("GET /v1/audit?run= of no run of the tenant's: %d %+v; want 404 naming run", code, e)
	}
}

// TestRevokeTokenIDNamed: DELETE /v1/tenants/{tenant}?token= passed any
// text to the store as a token id: bytes that are not UTF-8, which
// PostgreSQL refuses as text, were answered as the server's fault (500),
// and on SQLite as a token that is not there. A token= that is no token
// id is now answered 400 naming token, and revokes nothing.
func TestRevokeTokenIDNamed(t *testing.T) {
	f := newFixture(t)
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(context.Background(), f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"%ff", "abc%00", "ABC", strings.Repeat("a", 65), "a+b"} {
		if code, e := f.raw(t, "DELETE", "/v1/tenants/b?token="+id, tokOps, ""); code != http.StatusBadRequest || e.Field != "token" {
			t.Errorf("token=%.20s: %d %+v; want 400 naming token", id, code, e)
		}
	}
	if code, _ := f.raw(t, "GET", "/v1/runs", tokB, ""); code != http.StatusOK {
		t.Errorf("tenant b's token after refused revocations: %d, want 200", code)
	}
}

// TestIdempotencyKeyHeaderNamed: a submission's Idempotency-Key header
// the server refuses (too long, not text) was answered naming
// idempotencyKey, a field the request's body does not have; and a header
// that differs from the body's idempotencyKey was dropped without a word,
// so that the client's retries keyed by it each made a run. Both are now
// answered 400 naming the header, and make no run.
func TestIdempotencyKeyHeaderNamed(t *testing.T) {
	f := newFixture(t)
	submit := func(header, body string) (int, Error) {
		t.Helper()
		req, _ := http.NewRequest("POST", f.srv.URL+"/v1/runs", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokA)
		req.Header.Set("Content-Type", BodyType)
		req.Header.Set("Idempotency-Key", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e ErrorBody
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	docs := `"documents":[{"name":"job.yaml","content":"x"}]`
	for _, c := range []struct{ header, body string }{
		{strings.Repeat("k", 201), "{" + docs + "}"},
		{"\xff", "{" + docs + "}"},
		{"one", "{" + docs + `,"idempotencyKey":"other"}`},
	} {
		if code, e := submit(c.header, c.body); code != http.StatusBadRequest || e.Field != "Idempotency-Key" {
			t.Errorf("header %.20q, body %s: %d %+v; want 400 naming Idempotency-Key", c.header, c.body, code, e)
		}
	}
	if code, e := submit("same", "{"+docs+`,"idempotencyKey":"same"}`); e.Field == "Idempotency-Key" {
		t.Errorf("a header the same as the body's key: %d %+v", code, e)
	}
	runs, err := f.st.ListRuns(context.Background(), store.ListOptions{Tenant: "a"})
	if err != nil || len(runs) != 0 {
		t.Errorf("refused submissions made %d runs (%v)", len(runs), err)
	}
}

// TestTenantNoteWithNULNamed: a new tenant's note holding a NUL, which no
// store keeps (store.ErrNotText), was answered as the server's failure
// (500). It is now a 400 naming note, and no token is made.
func TestTenantNoteWithNULNamed(t *testing.T) {
	f := newFixture(t)
	const tokOps = "ops-admin-token-0000000000000000000000000"
	if _, err := AddToken(context.Background(), f.st, "ops", tokOps, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	code, e := f.raw(t, "POST", "/v1/tenants", tokOps, `{"tenant":"nulnote","note":"a\u0000b"}`)
	if code != http.StatusBadRequest || e.Field != "note" {
		t.Fatalf("note with a NUL: %d %+v; want 400 naming note", code, e)
	}
	toks, err := f.st.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Tenant == "nulnote" {
			t.Fatalf("a token was made for the refused tenant: %+v", tk)
		}
	}
}

// TestFollowTrueStreams: follow=true, which queryFlag takes as on, was
// read as off where the route decides whether to stream (followed looked
// for 1 alone): GET /v1/runs?follow=true answered a page where a stream
// was asked, as follow=yes had before it was refused. Both spellings of
// on now stream.
func TestFollowTrueStreams(t *testing.T) {
	f := newFixture(t)
	for _, v := range []string{"1", "true", "TRUE"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/runs?follow="+v, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("GET /v1/runs?follow=%s: %d %s; want 200 text/event-stream", v, resp.StatusCode, ct)
		}
		resp.Body.Close()
		cancel()
	}
}

// TestNotTextIsTheClients: text that no store keeps (store.ErrNotText)
// came from the request, and is answered 400 with the store's words, which
// name the field, rather than as the server's fault.
func TestNotTextIsTheClients(t *testing.T) {
	w := httptest.NewRecorder()
	fail(w, fmt.Errorf("put tokens: token note %q: %w", "a\x00b", store.ErrNotText))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "token note") {
		t.Fatalf("%d %s; want 400 naming the field", w.Code, w.Body.String())
	}
}
