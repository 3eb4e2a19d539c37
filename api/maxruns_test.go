package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"meridian.dev/meridian/run"
)

// TestTooManyRunsIsAConflict: a submission refused because its tenant has
// as many runs not yet ended as the server allows is the tenant's to
// mend (cancel one, or wait for one to end), not the server's fault (a
// 500) nor a passing rate the client should ask again at once (a 429).
func TestTooManyRunsIsAConflict(t *testing.T) {
	rec := httptest.NewRecorder()
	fail(rec, fmt.Errorf("submit: %w: t1 has 3, the most it may", run.ErrTooManyRuns))
	var body struct{ Error Error }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusConflict || body.Error.Code != "too_many_runs" || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("answered %d %+v (Retry-After %q), want 409 too_many_runs", rec.Code, body.Error, rec.Header().Get("Retry-After"))
	}
}
