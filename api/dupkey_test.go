package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestDuplicateKeyRefused: a request body that gives a key twice in one
// object, at any depth, is answered 400 naming the key's path. Before,
// encoding/json took the last of the two where a proxy or a log in front
// of the server may take the first: the plan a gateway checked (job
// "a") was not the one the server made (job "b").
func TestDuplicateKeyRefused(t *testing.T) {
	f := newFixture(t)
	doc, _ := json.Marshal(jobYAML)
	cases := []struct {
		path, body, field string
	}{
		{"/v1/plans", `{"documents":[{"name":"j.yaml","content":` + string(doc) + `}],"job":"a","job":"b"}`, "job"},
		{"/v1/plans", `{"documents":[{"name":"j.yaml","content":` + string(doc) + `},{"name":"k.yaml","content":"","name":"l.yaml"}]}`, "documents[1].name"},
		// The decoder matches keys to fields whatever their case, and
		// after their escapes: each pair below fills one field.
		{"/v1/plans", `{"documents":[{"name":"j.yaml","content":` + string(doc) + `}],"job":"a","Job":"b"}`, "Job"},
		{"/v1/plans", `{"documents":[{"name":"j.yaml","content":` + string(doc) + `}],"job":"a","\u006aob":"b"}`, "job"},
		{"/v1/runs", `{"documents":[],"asOf":"2026-01-01","ASOF":"2027-01-01"}`, "ASOF"},
		{"/v1/datasets/x/verify", `{"site":"alpha","site":"beta"}`, "site"},
		{"/v1/resources", `{"documents":[{"name":"a","name":"b"}]}`, "documents[0].name"},
	}
	for _, c := range cases {
		code, e := f.raw(t, "POST", c.path, tokA, c.body)
		if code != http.StatusBadRequest || e.Field != c.field || !strings.Contains(e.Message, "twice") {
			t.Errorf("POST %s %.80s: %d %q (%s), want 400 naming %q", c.path, c.body, code, e.Field, e.Message, c.field)
		}
	}
	// The same keys in different objects are no duplicate.
	code, e := f.raw(t, "POST", "/v1/plans", tokA, `{"documents":[{"name":"j.yaml","content":`+string(doc)+`},{"name":"k.yaml","content":""}],"job":"train"}`)
	if code == http.StatusBadRequest && strings.Contains(e.Message, "twice") {
		t.Errorf("two documents, each with its own name: refused (%s)", e.Message)
	}
}
