package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
)

// TestAuditVerifyRestsPerTenant: a verification reads the whole audit log,
// so a tenant may not start one after another back to back. On the real
// route and store: a tenant that asks again right after its verification
// ended is answered 429 with the wait in Retry-After, and no verification
// starts; another tenant is not held by that rest; once the wait has
// passed (the server's clock moved on) the first tenant verifies again.
func TestAuditVerifyRestsPerTenant(t *testing.T) {
	f := newFixture(t)
	var ahead atomic.Int64 // how far the server's clock is moved on
	f.h.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	verify := func(tok string) (int, int, audit.Result) {
		t.Helper()
		code, ra, res, err := verifyAs(t, f, tok)
		if code == http.StatusOK && err != nil {
			t.Fatal(err)
		}
		return code, ra, res
	}

	if code, _, res := verify(tokA); code != http.StatusOK || !res.OK || res.Entries == 0 {
		t.Fatalf("first verification: status %d, %+v", code, res)
	}
	code, wait, _ := verify(tokA)
	if code != http.StatusTooManyRequests || wait <= 0 || wait > int(verifyRest/time.Second) {
		t.Fatalf("the same tenant again at once: status %d, Retry-After %d; want 429 and a wait of at most %s", code, wait, verifyRest)
	}
	if code, _, res := verify(tokB); code != http.StatusOK || !res.OK {
		t.Errorf("another tenant, during the first one's rest: status %d, %+v; want 200", code, res)
	}
	if code, _, _ := verify(tokA); code != http.StatusTooManyRequests {
		t.Errorf("the first tenant, still resting: status %d, want 429", code)
	}
	ahead.Store(int64(time.Duration(wait) * time.Second))
	if code, _, res := verify(tokA); code != http.StatusOK || !res.OK {
		t.Errorf("the first tenant after the Retry-After it was given: status %d, %+v; want 200", code, res)
	}
}

// TestAuditVerifyRestGrowsWithItsCost: a verification that took long
// rests its tenant verifyRestFactor times as long, not just verifyRest;
// the tenants whose rest is over are forgotten.
func TestAuditVerifyRestGrowsWithItsCost(t *testing.T) {
	s := &Server{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.restVerify("short", t0, t0.Add(time.Second))
	if got, want := s.verifyNext["short"], t0.Add(time.Second+verifyRest); !got.Equal(want) {
		t.Errorf("after a 1 s verification: next at %s, want %s", got, want)
	}
	start := t0.Add(2 * verifyRest)
	end := start.Add(2 * time.Minute)
	s.restVerify("long", start, end)
	if got, want := s.verifyNext["long"], end.Add(verifyRestFactor*2*time.Minute); !got.Equal(want) {
		t.Errorf("after a 2 min verification: next at %s, want %s", got, want)
	}
	if _, ok := s.verifyNext["short"]; ok {
		t.Errorf("a tenant whose rest is over is still kept: %v", s.verifyNext)
	}
}

// verifyAs asks f's server to verify the audit log with token tok, and
// gives the status, the Retry-After seconds (0 if none), and on 200 the
// result and the error decoding it.
func verifyAs(t *testing.T, f *fixture, tok string) (int, int, audit.Result, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res audit.Result
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(resp.Body).Decode(&res)
	}
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, ra, res, err
}
