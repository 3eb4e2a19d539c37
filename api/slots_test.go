package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestTenantSlotsRefusal: the three bounds of the calls under way (Long,
// Plans, LogReads), once one type, keep what each answered when it was a
// check of its own: its count, its 429's code, text and Retry-After; a
// slot given back (twice, as a deferred release may be) is one slot, and
// a tenant holding none is forgotten.
func TestTenantSlotsRefusal(t *testing.T) {
	long, plans, logReads := newCallSlots()
	for _, c := range []struct {
		slots            *tenantSlots
		max              int
		code, retryAfter string
		message          string
	}{
		{long, MaxLongCalls, "too_many_long_calls", "30", "tenant a has 4 stagings and verifications under way on this server, the most it may; wait for one to end"},
		{plans, MaxPlanCalls, "too_many_plans", "1", "tenant a has 4 plans, submissions, estimates, registrations and rules diffs under way on this server, the most it may; wait for one to end"},
		{logReads, MaxLogReads, "too_many_log_reads", "1", "tenant a has 4 pages of the audit log or the ledger being read on this server, the most it may; wait for one to end"},
	} {
		var releases []func()
		for i := range c.max {
			release, ok := c.slots.take(httptest.NewRecorder(), "a")
			if !ok {
				t.Fatalf("%s: call %d of %d refused", c.code, i+1, c.max)
			}
			releases = append(releases, release)
		}
		rec := httptest.NewRecorder()
		if _, ok := c.slots.take(rec, "a"); ok {
			t.Fatalf("%s: call %d let in", c.code, c.max+1)
		}
		var body ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != c.retryAfter || body.Error.Code != c.code || body.Error.Message != c.message {
			t.Errorf("%s: %d Retry-After %q %+v; want 429 Retry-After %q %q", c.code, rec.Code, rec.Header().Get("Retry-After"), body.Error, c.retryAfter, c.message)
		}
		if _, ok := c.slots.take(httptest.NewRecorder(), "b"); !ok {
			t.Errorf("%s: another tenant refused beside a's calls", c.code)
		}
		releases[0]()
		releases[0]()
		if n := c.slots.held("a"); n != c.max-1 {
			t.Errorf("%s: a slot given back twice leaves %d held, want %d", c.code, n, c.max-1)
		}
		for _, release := range releases[1:] {
			release()
		}
		if _, kept := c.slots.open["a"]; kept {
			t.Errorf("%s: a tenant holding no slot is still counted", c.code)
		}
	}
}
