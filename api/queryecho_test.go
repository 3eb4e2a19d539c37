package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestQueryValuesCheckedAndClipped: a query value that names a run or a
// dataset (after, run, dataset) and is no name is answered 400 naming
// the parameter before the store is asked, as a path's value is; and no
// refusal quotes more than 64 bytes of what the request sent (a query
// value, a header, the path). Before, GET /v1/audit?run= of a NUL or 20
// KB answered 404 as for another tenant's run, GET /v1/ledger?dataset=
// took any text (here, with no ledger, the server's fault came first),
// and each refusal echoed the value whole: up to the request's header
// bound of 32 KiB.
func TestQueryValuesCheckedAndClipped(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("x", 20000)
	cases := []struct {
		path   string
		header map[string]string
		code   int
		field  string
	}{
		{"/v1/runs?limit=5&after=" + long, nil, 400, "after"},
		{"/v1/runs?after=%00", nil, 400, "after"},
		{"/v1/runs?after=Run-1", nil, 400, "after"},
		{"/v1/audit?run=" + long, nil, 400, "run"},
		{"/v1/audit?run=%00", nil, 400, "run"},
		{"/v1/audit?all=1&run=a%20b", nil, 400, "run"},
		{"/v1/ledger?dataset=%00", nil, 400, "dataset"},
		{"/v1/ledger?dataset=%ff%fe", nil, 400, "dataset"},
		{"/v1/ledger?dataset=" + long, nil, 400, "dataset"},
		{"/v1/runs?limit=" + long, nil, 400, "limit"},
		{"/v1/runs?follow=" + long, nil, 400, "follow"},
		{"/v1/audit?after=" + long, nil, 400, "after"},
		{"/v1/runs/run-none/events?after=" + long, nil, 400, "after"},
		{"/v1/runs/run-none/events?follow=1", map[string]string{"Last-Event-ID": long}, 400, "Last-Event-ID"},
		{"/v1/no-such-route/" + long, nil, 404, ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("GET", f.srv.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+tokA)
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb ErrorBody
		json.Unmarshal(body, &eb)
		e := eb.Error
		if resp.StatusCode != c.code || e.Field != c.field {
			t.Errorf("GET %.60s: %d naming %q (%.200s), want %d naming %q", c.path, resp.StatusCode, e.Field, body, c.code, c.field)
		}
		if len(body) > 1024 || strings.Contains(string(body), strings.Repeat("x", 65)) {
			t.Errorf("GET %.60s: the answer (%d bytes) quotes more than 64 bytes of the request: %.200s", c.path, len(body), body)
		}
	}
}
