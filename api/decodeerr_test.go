package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// goTypeWords are what encoding/json's own refusal of a value of the
// wrong kind says of the server's Go types.
var goTypeWords = []string{"Go ", "struct", "of type", "unmarshal", "PlanRequest", "Document", "StageRequest"}

// TestBodyKindNamedAsJSON: a body whose value is of the wrong JSON kind
// was refused with encoding/json's text ("cannot unmarshal number into
// Go struct field Document.documents.content of type string"): the Go
// types and fields the server decodes into, no field of the answer, and
// no element of the array. It is now refused 400 naming the value's path
// in the body, in the field and the message, and the kinds wanted and
// given as JSON names them.
func TestBodyKindNamedAsJSON(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path, body string
		field, want        string
	}{
		{"POST", "/v1/plans", `{"documents": [{"name": "job.yaml", "content": 5}]}`, "documents[0].content", "want a string, not a number"},
		{"POST", "/v1/plans", `{"documents": {"name": "job.yaml"}}`, "documents", "want an array, not an object"},
		{"POST", "/v1/plans", `[{"documents": []}]`, "", "want an object, not an array"},
		{"POST", "/v1/runs", `{"documents": [{"name": "a", "content": "x"}, {"name": ["b"], "content": "y"}]}`, "documents[1].name", "want a string, not an array"},
		{"POST", "/v1/datasets/corpus/stage", `{"site": "alpha", "dryRun": "yes"}`, "dryRun", "want true or false, not a string"},
		{"POST", "/v1/datasets/corpus/verify", `{"site": {"name": "alpha"}}`, "site", "want a string, not an object"},
	} {
		code, e := f.raw(t, c.method, c.path, tokA, c.body)
		if code != http.StatusBadRequest || e.Field != c.field || !strings.Contains(e.Message, c.want) {
			t.Errorf("%s %s %s: %d %+v; want 400 naming %q, %q", c.method, c.path, c.body, code, e, c.field, c.want)
		}
		for _, w := range goTypeWords {
			if strings.Contains(e.Message, w) {
				t.Errorf("%s %s %s: the refusal %q names the server's Go types (%q)", c.method, c.path, c.body, e.Message, w)
			}
		}
	}
}

// TestTypeErrorText: the path and kinds of a refusal, for values a route
// body has none of today: sized integers, maps, arrays in arrays, and an
// embedded struct (whose Go name encoding/json puts in its field path,
// where the body has no such key).
func TestTypeErrorText(t *testing.T) {
	type Inner struct {
		A int `json:"a"`
	}
	type body struct {
		Inner
		N  uint8              `json:"n"`
		I  int16              `json:"i"`
		F  float64            `json:"f"`
		M  map[string][]int64 `json:"m"`
		AA [][]string         `json:"aa"`
		B  []byte             `json:"b"`
	}
	for _, c := range []struct{ in, field, msg string }{
		{`{"n": 300}`, "n", "n: want an integer from 0 to 255, not the number 300"},
		{`{"i": 1.5}`, "i", "i: want an integer from -32768 to 32767, not the number 1.5"},
		{`{"f": true}`, "f", "f: want a number, not true or false"},
		{`{"n": 1, "m": {"k": [1, 2], "j": [3, "x"]}}`, "m.j[1]", "m.j[1]: want an integer, not a string"},
		{`{"aa": [["a"], ["b", 7]]}`, "aa[1][1]", "aa[1][1]: want a string, not a number"},
		{` { "a" : "x" } `, "a", "a: want an integer, not a string"},
		{`{"m": {"a\"b,]": [1], "k\u0065y": [2, "x"]}}`, "m.key[1]", "m.key[1]: want an integer, not a string"},
		{`{"aa": [["x,]}\"[", "y"], [1]]}`, "aa[1][0]", "aa[1][0]: want a string, not a number"},
		{`{"aa": [[], [null, "a"], {}]}`, "aa[2]", "aa[2]: want an array, not an object"},
		{`{"b": 5}`, "b", "b: want a string (base64), not a number"},
		{`"x"`, "", "want an object, not a string"},
		{`{"n": ` + strings.Repeat("9", 100) + `}`, "n", "n: want an integer from 0 to 255, not the number " + strings.Repeat("9", maxNumberShown) + "..."},
	} {
		var v body
		var te *json.UnmarshalTypeError
		err := json.Unmarshal([]byte(c.in), &v)
		if !errors.As(err, &te) {
			t.Fatalf("%s: %v, not a type error", c.in, err)
		}
		if field, msg := typeErrorText([]byte(c.in), te); field != c.field || msg != c.msg {
			t.Errorf("%s: %q %q; want %q %q", c.in, field, msg, c.field, c.msg)
		}
	}
	rec := httptest.NewRecorder()
	var v body
	if unmarshalBody(rec, []byte(`{"m": {"k": ["1"]}}`), &v, "test body") {
		t.Fatal("a body of the wrong kind decoded")
	}
	if !strings.Contains(rec.Body.String(), `"field":"m.k[0]"`) {
		t.Errorf("refusal %s does not name m.k[0]", rec.Body.String())
	}
}

// BenchmarkTypeErrorPath: the cost of naming the path of a wrong kind at
// the end of a body of 4 MiB of small documents (the worst place: the
// path is found by a pass up to it), beside the decoding that found it.
func BenchmarkTypeErrorPath(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"documents": [`)
	for sb.Len() < MaxBodyBytes-64 {
		sb.WriteString(`{"name": "a", "content": "b"}, `)
	}
	sb.WriteString(`{"name": "a", "content": 5}]}`)
	body := []byte(sb.String())
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req struct {
				Documents []struct{ Name, Content string } `json:"documents"`
			}
			if json.Unmarshal(body, &req) == nil {
				b.Fatal("decoded")
			}
		}
	})
	b.Run("path", func(b *testing.B) {
		var req struct {
			Documents []struct{ Name, Content string } `json:"documents"`
		}
		var te *json.UnmarshalTypeError
		if !errors.As(json.Unmarshal(body, &req), &te) {
			b.Fatal("no type error")
		}
		b.ReportAllocs()
		for b.Loop() {
			if p := jsonPathAt(body, te.Offset); !strings.HasSuffix(p, ".content") {
				b.Fatal(p)
			}
		}
	})
}

// FuzzTypeErrorPath: for any body that a struct without embedded fields
// refuses for a value's kind, the path found names the fields
// encoding/json names (its Field, which leaves out array indices and map
// keys), and no body makes jsonPathAt fail.
func FuzzTypeErrorPath(f *testing.F) {
	for _, s := range []string{`{"n": "x"}`, `{"docs": [{"name": 1}]}`, `{"m": {"a": {"b": [true]}}}`, `[`, `{"docs": [{}, {"name": [1]}]}`, `{"s\u0065": 5}`} {
		f.Add([]byte(s))
	}
	type doc struct {
		Name string `json:"name"`
	}
	type body struct {
		N    int                         `json:"n"`
		Docs []doc                       `json:"docs"`
		M    map[string]map[string][]int `json:"m"`
		Se   string                      `json:"se"`
	}
	index := regexp.MustCompile(`\[\d+\]`)
	f.Fuzz(func(t *testing.T, b []byte) {
		jsonPathAt(b, int64(len(b)/2))
		var v body
		var te *json.UnmarshalTypeError
		if !errors.As(json.Unmarshal(b, &v), &te) {
			return
		}
		got := index.ReplaceAllString(jsonPathAt(b, te.Offset), "")
		// encoding/json names a map's field, not its keys below it.
		if strings.HasPrefix(got, "m.") && strings.HasPrefix(te.Field, "m") {
			return
		}
		// The decoder matches keys in any case; the server's bodies are
		// refused for that before they are decoded (jsondup.Case).
		if !strings.EqualFold(got, te.Field) {
			t.Errorf("%q: path %q, encoding/json's field %q", b, got, te.Field)
		}
	})
}
