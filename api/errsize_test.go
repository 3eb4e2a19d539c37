package api

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRefusalsOfLongValuesBounded: a refusal that quotes a value of the
// request's body (a staging's organization, a plan's or a dry run's asOf,
// a key the body's type does not have) carries at most MaxErrorMessage
// bytes of message and MaxErrorField of field, keeping the start and the
// end of what it says. Before, each quoted the value whole: 100 KB sent,
// 100 KB answered, and up to six times a 4 MiB body once escaped.
func TestRefusalsOfLongValuesBounded(t *testing.T) {
	mx := newSQLiteMatrix(t)
	long := strings.Repeat("x", 100000)
	for _, c := range []struct{ path, body, field, ends string }{
		{"/v1/datasets/" + ownerDataset + "/stage", `{"site":"alpha","organization":"` + long + `"}`, "organization", ""},
		{"/v1/datasets/" + ownerDataset + "/stage", `{"site":"alpha","dryRun":true,"asOf":"` + long + `"}`, "asOf", "want YYYY-MM-DD"},
		{"/v1/plans", `{"asOf":"` + long + `","documents":[{"name":"a","content":"x: 1"}]}`, "asOf", "want YYYY-MM-DD"},
		{"/v1/datasets/" + ownerDataset + "/verify", `{"site":"` + long + `"}`, "site", ""},
		{"/v1/plans", `{"` + long + `":1}`, "", ""},
	} {
		status, body := mx.do(t, "POST", c.path, tokOwner, c.body)
		var eb ErrorBody
		if err := json.Unmarshal(body, &eb); err != nil {
			t.Fatalf("POST %s: %v", c.path, err)
		}
		e := eb.Error
		if status != 400 || (c.field != "" && e.Field != c.field) {
			t.Errorf("POST %s: %d naming %.80q, want 400 naming %s", c.path, status, e.Field, c.field)
		}
		if len(body) > MaxErrorMessage+MaxErrorField+256 || len(e.Field) > MaxErrorField+64 {
			t.Errorf("POST %s naming %s: an answer of %d bytes (field %d) to a value of %d", c.path, c.field, len(body), len(e.Field), len(long))
		}
		if !strings.Contains(e.Message, "bytes cut") || !utf8.ValidString(e.Message) || !strings.HasSuffix(strings.TrimSpace(e.Message), strings.TrimSpace(c.ends)) && !strings.Contains(e.Message, c.ends) {
			t.Errorf("POST %s: message %.100q … %q", c.path, e.Message, e.Message[max(0, len(e.Message)-100):])
		}
	}
	// Short refusals are as they were.
	if got := cutMiddle("short", 16); got != "short" {
		t.Errorf("cutMiddle of a short text: %q", got)
	}
	if got := cutMiddle(strings.Repeat("é", 100), 33); !utf8.ValidString(got) || !strings.HasPrefix(got, "é") || !strings.HasSuffix(got, "é") {
		t.Errorf("cutMiddle cut a character: %q", got)
	}
}
