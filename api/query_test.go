package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
)

// TestQueryMisreadRefused: a query the routes would read otherwise than
// it was sent is answered 400, naming what is wrong. Before, Go's query
// parsing left out, without a word, a parameter holding ';' (GET
// /v1/audit?run=ID;x answered the tenant's whole log, not the run's) and
// every parameter of a query of more than 10,000 (limit, follow and the
// filters alike); and a parameter given twice was read as its first value
// where a proxy in front may read its last.
func TestQueryMisreadRefused(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		path  string
		code  int
		field string
	}{
		{"/v1/runs?limit=1", http.StatusOK, ""},
		{"/v1/audit?run=r1;x", http.StatusBadRequest, "query"},
		{"/v1/runs?limit=1" + strings.Repeat("&", 10001), http.StatusBadRequest, "query"},
		{"/v1/runs?limit=1" + strings.Repeat("&x=1", MaxQueryParams), http.StatusBadRequest, "query"},
		{"/v1/runs?limit=1&limit=5000", http.StatusBadRequest, "limit"},
		{"/v1/audit?all=0&all=1", http.StatusBadRequest, "all"},
		{"/v1/runs?limit=1&after=%zz", http.StatusBadRequest, "query"},
	}
	for _, c := range cases {
		code, e := f.raw(t, "GET", c.path, tokA, "")
		if code != c.code || e.Field != c.field {
			t.Errorf("GET %.60s: %d %q (%s), want %d naming %q", c.path, code, e.Field, e.Message, c.code, c.field)
		}
	}
}

// TestRepeatedHeaderRefused: a header that holds one value, given more
// than once, is answered 400 naming it. Before, the server acted on the
// first: two Authorization headers were the first's tenant, where a proxy
// in front that checked the last saw another; a second Idempotency-Key or
// Last-Event-ID was dropped without a word.
func TestRepeatedHeaderRefused(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		method, path, body string
		header             http.Header
		code               int
		field              string
	}{
		{"GET", "/v1/healthz", "", http.Header{"Authorization": {"Bearer " + tokA}}, http.StatusOK, ""},
		{"GET", "/v1/healthz", "", http.Header{"Authorization": {"Bearer " + tokA, "Bearer " + tokB}}, http.StatusBadRequest, "Authorization"},
		{"POST", "/v1/runs", "{}", http.Header{"Authorization": {"Bearer " + tokA}, "Idempotency-Key": {"k1", "k2"}}, http.StatusBadRequest, "Idempotency-Key"},
		{"GET", "/v1/runs/x/events", "", http.Header{"Authorization": {"Bearer " + tokA}, "Last-Event-Id": {"1", "2"}}, http.StatusBadRequest, "Last-Event-ID"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, f.srv.URL+c.path, strings.NewReader(c.body))
		req.Header = c.header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error Error }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.code || e.Error.Field != c.field {
			t.Errorf("%s %s with %v: %d %q (%s), want %d naming %q", c.method, c.path, c.header, resp.StatusCode, e.Error.Field, e.Error.Message, c.code, c.field)
		}
	}
}

// TestStreamEndsWhenTokenRevoked: a stream ends once its token is
// revoked, on this server or another (here: in the store, as another
// server does, so that this one learns it by reading the token again).
// Before, the stream went on sending the tenant's runs for as long as
// MaxStream (6 hours) to a token revoked for having leaked.
func TestStreamEndsWhenTokenRevoked(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Streams: Streams{Recheck: 20 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1/runs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := NewSSEReader(resp.Body)
	for ev := (SSE{}); ev.Event != "runs"; {
		if ev, err = rd.Next(); err != nil {
			t.Fatalf("before the list: %v", err)
		}
	}
	rec, err := audit.NewRecord(KindTenant, "", map[string]any{"action": "tokens-revoked", "tenant": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.RevokeTokens(context.Background(), "a", "", rec); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := rd.Next(); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the stream of a revoked token stayed open")
			}
			break
		}
	}
	if n := f.h.OpenStreams("a"); n != 0 {
		t.Errorf("tenant a holds %d streams after its tokens were revoked", n)
	}
}
