package api

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"meridian.dev/meridian/run"
)

// TestWrongCaseKeyRefused walks every route that takes a body: each field
// of its request type, given alone with its first letter in the other
// case, is answered 400 naming the key's path and the field's spelling.
// Before, encoding/json filled the field whatever the key's case
// ({"Site": "beta"} verified at site beta), where a proxy, a gateway's
// check or a log in front of the server reads a key it does not know.
func TestWrongCaseKeyRefused(t *testing.T) {
	mx := newSQLiteMatrix(t)
	fill := strings.NewReplacer("{id}", "r-none", "{name}", "none", "{tenant}", "nobody")
	tried := 0
	for _, rt := range mx.h.Routes() {
		if rt.Request == nil {
			continue
		}
		tok := tokOwner
		if rt.Access == Admin {
			tok = tokAdmin
		}
		typ := reflect.TypeOf(rt.Request)
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			key := otherCase(name)
			code, b := mx.do(t, rt.Method, fill.Replace(rt.Path), tok, `{"`+key+`":null}`)
			var e ErrorBody
			json.Unmarshal(b, &e)
			if code != http.StatusBadRequest || e.Error.Field != key || !strings.Contains(e.Error.Message, `"`+name+`"`) {
				t.Errorf("%s %s {%q: null}: %d %q (%s), want 400 naming %s and %s", rt.Method, rt.Path, key, code, e.Error.Field, e.Error.Message, key, name)
			}
			tried++
		}
	}
	if tried < 20 {
		t.Fatalf("%d fields tried: the walk misses some", tried)
	}
}

// otherCase is name with its first letter in the other case.
func otherCase(name string) string {
	r, n := utf8.DecodeRuneInString(name)
	if unicode.IsUpper(r) {
		return string(unicode.ToLower(r)) + name[n:]
	}
	return string(unicode.ToUpper(r)) + name[n:]
}

// TestWrongCaseNestedKeyRefused: a key in another case is refused in an
// object of the body's too (a document's name), and a document's own text,
// a string that may hold JSON or YAML keys in any case, is not looked
// into.
func TestWrongCaseNestedKeyRefused(t *testing.T) {
	f := newFixture(t)
	doc, _ := json.Marshal(jobYAML)
	code, e := f.raw(t, "POST", "/v1/runs", tokA, `{"documents":[{"Name":"j.yaml","content":`+string(doc)+`}]}`)
	if code != http.StatusBadRequest || e.Field != "documents[0].Name" || !strings.Contains(e.Message, `"name"`) {
		t.Errorf("a document's Name: %d %q (%s), want 400 naming documents[0].Name and name", code, e.Field, e.Message)
	}
	text := jobYAML + "\n# {\"Site\": \"x\", \"NAME\": 1, \"name\": 2}\n"
	if _, err := NewClient(f.srv.URL, tokA).Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: text}}}); err != nil {
		t.Errorf("a document whose text holds keys in other cases: %v", err)
	}
}
