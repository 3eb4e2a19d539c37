package api

import (
	"encoding/json"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
)

// TestDocumentNameBounded: a document's name of more than MaxDocumentName
// bytes is refused 400 naming the document, quoting at most 64 bytes of
// it, on every route that takes documents, before they are decoded.
// Before, the name headed each problem the loader found, one a resource:
// a 10 KB name over 1,000 one-line resources (24 KB sent) made a refusal
// of 10 MB.
func TestDocumentNameBounded(t *testing.T) {
	mx := newSQLiteMatrix(t)
	long := strings.Repeat("x", 10000)
	docs := []run.Document{{Name: long, Content: strings.Repeat("---\nkind: X\n", 1000)}}
	bodies := map[string]any{
		"/v1/runs":      run.SubmitRequest{Documents: docs},
		"/v1/plans":     run.PlanRequest{Documents: docs},
		"/v1/estimates": run.EstimateRequest{Documents: docs, Accelerator: "h100", Count: 1},
		"/v1/resources": ApplyRequest{Documents: docs},
	}
	before, _ := mx.snapshot(t)
	for path, v := range bodies {
		b, _ := json.Marshal(v)
		status, body := mx.do(t, "POST", path, tokOwner, string(b))
		var eb ErrorBody
		json.Unmarshal(body, &eb)
		if status != 400 || eb.Error.Field != "documents[0].name" || len(body) > 1024 {
			t.Errorf("POST %s with a 10 KB document name: %d naming %q, %d bytes: %.300s; want 400 naming documents[0].name in under 1 KiB", path, status, eb.Error.Field, len(body), body)
		}
	}
	if after, _ := mx.snapshot(t); after != before {
		t.Errorf("the refusals changed the store")
	}
	// A name of MaxDocumentName bytes is a name as any other.
	b, _ := json.Marshal(run.PlanRequest{Documents: []run.Document{{Name: strings.Repeat("j", MaxDocumentName), Content: ownerJob(ownerOrg)}}})
	if status, body := mx.do(t, "POST", "/v1/plans", tokOwner, string(b)); status != 200 {
		t.Errorf("a plan whose document's name is %d bytes: %d %.300s", MaxDocumentName, status, body)
	}
}
