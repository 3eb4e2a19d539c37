package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"meridian.dev/meridian/rules"
)

// countingRules is a RulesService that refuses every change, having seen
// it decoded.
type countingRules struct {
	RulesService
	seen *int
}

func (c countingRules) Apply(ctx context.Context, req RulesApplyRequest, by string) (*RulesApplyResult, error) {
	*c.seen++
	return nil, &InputError{Field: "files", Err: context.Canceled}
}

func (c countingRules) WhatIf(ctx context.Context, req WhatIfRequest) (any, error) {
	*c.seen++
	return nil, &InputError{Field: "files", Err: context.Canceled}
}

// TestRuleChangeOfManyFilesBounded: a rules change or what-if whose body
// lists more files (or names to remove) than a change may hold was decoded
// whole before the rules refused it: 4 MiB of empty files ({}, three bytes
// each) made 1.4 million of them, about 590 MiB allocated and two seconds
// of a processor's time. It is refused before it is decoded, naming the
// list, as a request of too many documents is.
func TestRuleChangeOfManyFilesBounded(t *testing.T) {
	f := newFixture(t)
	if _, err := AddToken(context.Background(), f.st, "ops", tokAdmin, true, "test admin", "test"); err != nil {
		t.Fatal(err)
	}
	seen := 0
	f.h.SetRules(countingRules{seen: &seen})
	n := (MaxBodyBytes - 100) / 3
	for _, rq := range []struct{ path, key, body string }{
		{"/v1/rules", "files", `{"files":[` + strings.Repeat("{},", n-1) + `{}],"reason":"r"}`},
		{"/v1/rules/what-if", "files", `{"files":[` + strings.Repeat("{},", n-1) + `{}]}`},
		{"/v1/rules", "remove", `{"remove":[` + strings.Repeat(`"",`, n-1) + `""],"reason":"r"}`},
		{"/v1/rules/what-if", "remove", `{"remove":[` + strings.Repeat(`"",`, n-1) + `""]}`},
	} {
		req := httptest.NewRequest("POST", rq.path, strings.NewReader(rq.body))
		req.Header.Set("Authorization", "Bearer "+tokAdmin)
		req.Header.Set("Content-Type", BodyType)
		rec := httptest.NewRecorder()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		f.h.ServeHTTP(rec, req)
		runtime.ReadMemStats(&m1)
		var e ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusBadRequest || e.Error.Field != rq.key {
			t.Errorf("%s with %d entries in %s: status %d, %s", rq.path, n, rq.key, rec.Code, rec.Body.String())
		}
		if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%s with %d entries in %s: %d MiB allocated for a body of %d bytes", rq.path, n, rq.key, alloc>>20, len(rq.body))
		}
	}
	if seen != 0 {
		t.Errorf("the rules service was asked %d times", seen)
	}
	// At the bound, the change reaches the service.
	body := `{"files":[` + strings.Repeat(`{"name":"a.yaml"},`, rules.MaxFiles-1) + `{"name":"a.yaml"}],"reason":"r"}`
	req := httptest.NewRequest("POST", "/v1/rules", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokAdmin)
	req.Header.Set("Content-Type", BodyType)
	f.h.ServeHTTP(httptest.NewRecorder(), req)
	if seen != 1 {
		t.Errorf("a change of %d files did not reach the rules service", rules.MaxFiles)
	}
}
