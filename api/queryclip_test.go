package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRulesAsOfAndRunsPagesClipped: GET /v1/rules?asOf= and GET
// /v1/runs?follow=1&pages= refuse a bad value naming the parameter and
// quoting at most 64 bytes of it, as every other refusal of a query value
// does. Before, each echoed the value whole, up to the request's header
// bound (32 KiB), to any tenant's token.
func TestRulesAsOfAndRunsPagesClipped(t *testing.T) {
	mx := newSQLiteMatrix(t)
	long := strings.Repeat("x", 20000)
	for _, c := range []struct{ path, field string }{
		{"/v1/rules?asOf=" + long, "asOf"},
		{"/v1/runs?follow=1&pages=" + long, "pages"},
	} {
		status, body := mx.do(t, "GET", c.path, tokOther, "")
		var eb ErrorBody
		json.Unmarshal(body, &eb)
		if status != 400 || eb.Error.Field != c.field {
			t.Errorf("GET %.40s: %d %.200s, want 400 naming %s", c.path, status, body, c.field)
		}
		if len(body) > 1024 || strings.Contains(string(body), strings.Repeat("x", 65)) {
			t.Errorf("GET %.40s: the answer (%d bytes) quotes more than 64 bytes of the request: %.200s", c.path, len(body), body)
		}
	}
}
