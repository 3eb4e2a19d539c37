package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
)

// auditedDo sends one request and returns its status, Retry-After and
// error.
func auditedDo(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, string, Error) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", BodyType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Error Error `json:"error"`
	}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("%s %s: error body is not JSON: %q", method, path, data)
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error
}

// TestAuditedCallsRateLimited: each PUT of a dataset's key (as each
// registration, submission, staging) appends a record the audit log keeps
// for ever, and the general rate let a tenant send 50 a second: 4 million
// permanent records a day from a loop. A tenant's calls that append to the
// log now take from a bucket of their own: past it, 429 with Retry-After
// and an error naming the limit, and nothing recorded. Reads, dry runs and
// other tenants are not held back by it.
func TestAuditedCallsRateLimited(t *testing.T) {
	f := newFixture(t)
	h := New(f.c, Options{Tokens: f.st, Audit: f.st, AuditedRateLimit: &RateLimit{Rate: 1.0 / 3600, Burst: 3}})
	srv := httptest.NewServer(h)
	defer srv.Close()

	home := "file://" + filepath.Join(f.dir, "store")
	ds := fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: ds}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5, store: %q}\n", home)
	apply := mustJSON(ApplyRequest{Documents: []run.Document{{Name: "ds.yaml", Content: ds}}})
	if code, _, e := auditedDo(t, srv, "POST", "/v1/resources", tokA, apply); code != http.StatusOK {
		t.Fatalf("register: %d %+v", code, e)
	}
	putKey := func() (int, string, Error) {
		key, err := seal.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		return auditedDo(t, srv, "PUT", "/v1/datasets/ds/key", tokA, mustJSON(KeyRequest{Key: key.String()}))
	}
	for i := range 2 {
		if code, _, e := putKey(); code != http.StatusOK {
			t.Fatalf("key %d: %d %+v", i+1, code, e)
		}
	}
	_, before := f.counts(t)
	code, retry, e := putKey()
	if code != http.StatusTooManyRequests || e.Code != "rate_limited" || !strings.Contains(e.Message, "audit log") || !strings.Contains(e.Message, "3 at once") {
		t.Fatalf("a fourth change in a bucket of 3: %d %+v, want 429 rate_limited naming the limit", code, e)
	}
	if s, err := strconv.Atoi(retry); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want whole seconds, at least 1", retry)
	}
	if _, after := f.counts(t); after != before {
		t.Errorf("the refused key appended %d audit entries", after-before)
	}
	// Every call that appends to the log is held back, a staging but
	// for its dry run.
	if code, _, _ := auditedDo(t, srv, "POST", "/v1/runs", tokA, mustJSON(run.SubmitRequest{Documents: []run.Document{{Name: "j.yaml", Content: jobYAML}}})); code != http.StatusTooManyRequests {
		t.Errorf("a submission past the limit: %d, want 429", code)
	}
	if code, _, _ := auditedDo(t, srv, "POST", "/v1/resources", tokA, apply); code != http.StatusTooManyRequests {
		t.Errorf("a registration past the limit: %d, want 429", code)
	}
	if code, _, _ := auditedDo(t, srv, "POST", "/v1/datasets/ds/stage", tokA, `{"site": "alpha"}`); code != http.StatusTooManyRequests {
		t.Errorf("a staging past the limit: %d, want 429", code)
	}
	if code, _, e := auditedDo(t, srv, "POST", "/v1/datasets/ds/stage", tokA, `{"site": "alpha", "dryRun": true}`); code == http.StatusTooManyRequests {
		t.Errorf("a dry run, which records nothing, refused: %+v", e)
	}
	if code, _, e := auditedDo(t, srv, "GET", "/v1/runs", tokA, ""); code != http.StatusOK {
		t.Errorf("a read: %d %+v", code, e)
	}
	org := mustJSON(ApplyRequest{Documents: []run.Document{{Name: "org.yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: SG}\n"}}})
	if code, _, e := auditedDo(t, srv, "POST", "/v1/resources", tokB, org); code != http.StatusOK {
		t.Errorf("tenant b held back by a's changes: %d %+v", code, e)
	}
}

// TestAuditedRateLimitByDefault: a server given no AuditedRateLimit has
// DefaultAuditedRateLimit, not none: the 121st key change in a row is
// refused.
func TestAuditedRateLimitByDefault(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(New(f.c, Options{Tokens: f.st, Audit: f.st}))
	defer srv.Close()
	for i := range DefaultAuditedRateLimit.Burst {
		if code, _, e := auditedDo(t, srv, "PUT", "/v1/datasets/none/key", tokA, `{"key": "x"}`); code == http.StatusTooManyRequests {
			t.Fatalf("change %d of %d refused: %+v", i+1, DefaultAuditedRateLimit.Burst, e)
		}
	}
	if code, _, e := auditedDo(t, srv, "PUT", "/v1/datasets/none/key", tokA, `{"key": "x"}`); code != http.StatusTooManyRequests {
		t.Errorf("change %d in a row: %d %+v, want 429", DefaultAuditedRateLimit.Burst+1, code, e)
	}
}

// TestAuditedUpdateCostsEachDocument: an update of registered resources
// appends a record for each one it changes, and may change the same ones
// back and forth for ever: 64 records a call, each call one of the bucket.
// An update now takes one a document; a first registration (bounded by
// what a tenant may register) one a call.
func TestAuditedUpdateCostsEachDocument(t *testing.T) {
	f := newFixture(t)
	h := New(f.c, Options{Tokens: f.st, Audit: f.st, AuditedRateLimit: &RateLimit{Rate: 1.0 / 3600, Burst: 10}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	orgs := func(hq string) string {
		var docs []run.Document
		for i := range 6 {
			docs = append(docs, run.Document{Name: fmt.Sprintf("org%d.yaml", i), Content: fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab%d}\nspec: {headquarters: %s}\n", i, hq)})
		}
		return mustJSON(ApplyRequest{Documents: docs, Update: true})
	}
	// Six new organisations: a registration, one of the bucket's ten.
	if code, _, e := auditedDo(t, srv, "POST", "/v1/resources", tokA, strings.Replace(orgs("SG"), `,"update":true`, "", 1)); code != http.StatusOK {
		t.Fatalf("register: %d %+v", code, e)
	}
	// Changed, they are six records: six of the nine left.
	_, before := f.counts(t)
	if code, _, e := auditedDo(t, srv, "POST", "/v1/resources", tokA, orgs("DE")); code != http.StatusOK {
		t.Fatalf("first update: %d %+v", code, e)
	}
	_, after := f.counts(t)
	if after-before != 6 {
		t.Fatalf("an update of six organisations appended %d records, want 6", after-before)
	}
	// Changed back: six more, of the three left.
	code, retry, e := auditedDo(t, srv, "POST", "/v1/resources", tokA, orgs("SG"))
	if code != http.StatusTooManyRequests || retry == "" || !strings.Contains(e.Message, "audit log") {
		t.Errorf("a second update of six with three left: %d %+v, want 429 naming the limit", code, e)
	}
	if _, now := f.counts(t); now != after {
		t.Errorf("the refused update appended %d records", now-after)
	}
}

// TestLedgerPageCostsAsAPlan: a page of the tenant's ledger is gap-checked
// (the store counts the audit log over the range it reads: tens of
// milliseconds at 100,000 entries), yet took one of the tenant's bucket,
// so a tenant could make the server count the whole log fifty times a
// second. It now takes five, as a plan does.
func TestLedgerPageCostsAsAPlan(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(New(f.c, Options{Tokens: f.st, Audit: f.st, RateLimit: RateLimit{Rate: 1.0 / 3600, Burst: 10}}))
	defer srv.Close()
	var codes []int
	for range 3 {
		code, _, _ := auditedDo(t, srv, "GET", "/v1/ledger", tokA, "")
		codes = append(codes, code)
	}
	if codes[0] == http.StatusTooManyRequests || codes[1] == http.StatusTooManyRequests || codes[2] != http.StatusTooManyRequests {
		t.Errorf("three ledger pages from a bucket of 10 answered %v, want the third alone refused with 429", codes)
	}
}
