package jsondup

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type checkDoc struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

type checkBase struct {
	ID string `json:"id"`
}

// selfDecoding takes any JSON: the decoder hands it its bytes.
type selfDecoding struct{ raw []byte }

func (d *selfDecoding) UnmarshalJSON(b []byte) error { d.raw = b; return nil }

type checkRequest struct {
	checkBase
	Site      string              `json:"site"`
	Kind      string              `json:"kind,omitempty"`
	Documents []checkDoc          `json:"documents"`
	Labels    map[string]string   `json:"labels"`
	ByName    map[string]checkDoc `json:"byName"`
	Self      []*checkRequest     `json:"self"`
	Any       any                 `json:"any"`
	Raw       json.RawMessage     `json:"raw"`
	Own       selfDecoding        `json:"own"`
	Untagged  int
	Skipped   int `json:"-"`
	hidden    int
}

// TestCheckCaseSensitive: a key of a struct's object that names a field
// only in another case is refused with its path and the field's
// spelling, at any depth and after its escapes; a key naming no field is
// refused; a map's keys, a string's text and what a type decodes itself
// are not looked into. encoding/json fills "site" with {"Site": ...}.
func TestCheckCaseSensitive(t *testing.T) {
	cases := []struct {
		in   string
		want Problem
	}{
		{`{"site":"a","documents":[{"name":"j","content":"x"}],"id":"1","Untagged":1}`, Problem{}},
		{`{"Site":"a"}`, Problem{Case, "Site", "site"}},
		{`{"\u0053ite":"a"}`, Problem{Case, "Site", "site"}},
		{`{"\u212aind":"a"}`, Problem{Case, "\u212aind", "kind"}}, // the Kelvin sign folds to k
		{`{"ID":"1"}`, Problem{Case, "ID", "id"}},                 // an embedded struct's field
		{`{"untagged":1}`, Problem{Case, "untagged", "Untagged"}},
		{`{"documents":[{"name":"a"},{"Name":"b"}]}`, Problem{Case, "documents[1].Name", "name"}},
		{`{"self":[{"self":[{"site":"x"},{"SITE":"x"}]}]}`, Problem{Case, "self[0].self[1].SITE", "site"}},
		{`{"byName":{"Site":{"name":"a"},"x":{"NAME":"a"}}}`, Problem{Case, "byName.x.NAME", "name"}},
		{`{"colour":"red"}`, Problem{Unknown, "colour", ""}},
		{`{"":"red"}`, Problem{Unknown, `""`, ""}},
		{`{"Skipped":1}`, Problem{Unknown, "Skipped", ""}},
		{`{"hidden":1}`, Problem{Unknown, "hidden", ""}},
		{`{"documents":[{"name":"a","size":1}]}`, Problem{Unknown, "documents[0].size", ""}},
		{`{"site":"a","Site":"b"}`, Problem{Twice, "Site", ""}}, // one field: given twice
		// A map's keys are any, and differ in case; given twice they are
		// still refused.
		{`{"labels":{"Site":"x","site":"y","A":"1","a":"2"}}`, Problem{}},
		{`{"labels":{"a":"1","b":"2","a":"3"}}`, Problem{Twice, "labels.a", ""}},
		// A document sent as text is a string: its keys are its own.
		{`{"documents":[{"name":"a","content":"{\"Name\":1,\"name\":2,\"Site\":3}"}]}`, Problem{}},
		{`{"any":{"Whatever":{"X":1}},"raw":{"Foo":[{"Bar":1}]},"own":{"Baz":1}}`, Problem{}},
		// A value of another kind than its field's: the decoder refuses it.
		{`{"documents":{"Name":1},"labels":[{"Q":1}]}`, Problem{}},
		{`not json`, Problem{}},
	}
	typ := reflect.TypeFor[checkRequest]()
	for _, c := range cases {
		if got := Check([]byte(c.in), typ); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.in, got, c.want)
		}
		// The pointer a decoder is given reads the same.
		if got := Check([]byte(c.in), reflect.TypeFor[*checkRequest]()); got != c.want {
			t.Errorf("%s (through a pointer): %+v, want %+v", c.in, got, c.want)
		}
	}
	// A map of many keys differing in case, past those compared one by one.
	var many strings.Builder
	many.WriteString(`{"labels":{`)
	for i := range 3 * maxLinearKeys {
		many.WriteString(`"k` + strings.Repeat("x", i) + `":"","K` + strings.Repeat("x", i) + `":"",`)
	}
	if got := Check([]byte(many.String()+`"z":""}}`), typ); got != (Problem{}) {
		t.Errorf("a map of %d keys differing in case: %+v", 6*maxLinearKeys, got)
	}
	if got := Check([]byte(many.String()+`"kxx":""}}`), typ); got != (Problem{Twice, "labels.kxx", ""}) {
		t.Errorf("a map's key given twice past %d keys: %+v", maxLinearKeys, got)
	}
}

// Embedded twice at one depth, W hides itself; the tagged Y hides the
// untagged one; Z is hidden by the outer Z.
type embedA struct {
	X int `json:"x"`
	Y int
	Z int `json:"z"`
	W int
}

type embedB struct {
	Y int `json:"Y"`
	W int
}

type embedC struct{ Q int }

type embedOwn struct{ V int }

func (*embedOwn) UnmarshalText([]byte) error { return nil }

type embedded struct {
	embedA
	embedB
	*embedC
	Z    int
	T    int `json:"t!"`
	Bad  int `json:"a\"b"`
	Own  embedOwn
	Deep struct {
		embedA
	} `json:"deep"`
}

// TestStructFieldsAsDecoder: the fields Check takes for a struct are
// those encoding/json fills: each of its names decodes with unknown
// fields refused, and every other name of the struct's (Go names, tags)
// is refused by it. A name the check took that the decoder does not
// would be dropped by it unread.
func TestStructFieldsAsDecoder(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[embedded](), reflect.TypeFor[checkRequest]()} {
		fields := structFields(typ)
		names := []string{"x", "X", "y", "Y", "z", "Z", "W", "w", "Q", "T", "t!", "Bad", "a\"b", "Own", "V", "deep", "Deep",
			"embedA", "embedB", "embedC", "checkBase", "id", "site", "Skipped", "hidden", "Untagged"}
		for name := range fields {
			names = append(names, name)
		}
		for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
			body, _ := json.Marshal(map[string]any{name: nil})
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			err := dec.Decode(reflect.New(typ).Interface())
			known := err == nil || !strings.Contains(err.Error(), "unknown field")
			if err != nil && known && !strings.Contains(err.Error(), "embedded pointer") {
				var ute *json.UnmarshalTypeError
				if !errors.As(err, &ute) {
					t.Fatalf("%s %q: %v", typ, name, err)
				}
			}
			// The decoder fills a field with a key in another case too.
			folded := false
			for f := range fields {
				folded = folded || strings.EqualFold(f, name)
			}
			if _, ok := fields[name]; ok && !known || folded != known {
				t.Errorf("%s: %q a field to the check: %v (in another case: %v); to the decoder: %v", typ, name, ok, folded, known)
			}
		}
	}
}

// TestKeyNotUTF8: encoding/json reads each byte of a key that is not
// UTF-8 as U+FFFD, so "\xff" and "\xfe" (and "\ufffd") are one key of a
// map to it, the last one given winning, where a proxy or a log in front
// of the server may keep the first. Before, the bytes were compared as
// they are and the key given twice went through.
func TestKeyNotUTF8(t *testing.T) {
	for _, body := range []string{
		"{\"labels\":{\"\xff\":\"a\",\"\xfe\":\"b\"}}",
		"{\"labels\":{\"\xff\":\"a\",\"\\ufffd\":\"b\"}}",
		"{\"labels\":{\"x\xed\xa0\":\"a\",\"x\xfe\xfe\":\"b\"}}",
	} {
		var v checkRequest
		if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Labels) != 1 {
			t.Fatalf("%q: the decoder reads %d labels (%v); the test wants it to read one", body, len(v.Labels), err)
		}
		if got := Check([]byte(body), reflect.TypeFor[checkRequest]()); got.Kind != Twice || !strings.HasPrefix(got.Path, "labels.") {
			t.Errorf("Check %q: %+v, want a key given twice", body, got)
		}
		if got := Key([]byte(body)); !strings.HasPrefix(got, "labels.") {
			t.Errorf("Key %q: %q, want a key given twice", body, got)
		}
	}
	// Keys of valid UTF-8 are still compared as they are.
	if got := Check([]byte(`{"labels":{"é":"a","e":"b"}}`), reflect.TypeFor[checkRequest]()); got != (Problem{}) {
		t.Errorf("distinct keys: %+v", got)
	}
}

// lowerKey is a map key read through UnmarshalText, which lowercases it.
type lowerKey string

func (k *lowerKey) UnmarshalText(b []byte) error {
	*k = lowerKey(strings.ToLower(string(b)))
	return nil
}

type parsedKeys struct {
	ByNumber map[int]string      `json:"byNumber"`
	ByUint   map[uint8]string    `json:"byUint"`
	ByText   map[lowerKey]string `json:"byText"`
}

// TestMapKeysAsParsed: encoding/json parses the keys of a map of integers
// (strconv: "1", "01" and "+1" are 1) and hands those of a map whose key
// type reads text (encoding.TextUnmarshaler) to that type, so keys
// spelled apart can be one key to it, the last one given winning. Before,
// they were compared as the text they are and the key given twice went
// through.
func TestMapKeysAsParsed(t *testing.T) {
	typ := reflect.TypeFor[parsedKeys]()
	for _, c := range []struct {
		in   string
		want Problem
	}{
		{`{"byNumber":{"1":"a","01":"b"}}`, Problem{Twice, "byNumber.01", ""}},
		{`{"byNumber":{"+1":"a","1":"b"}}`, Problem{Twice, "byNumber.1", ""}},
		{`{"byUint":{"7":"a","007":"b"}}`, Problem{Twice, "byUint.007", ""}},
		{`{"byText":{"Site":"a","SITE":"b"}}`, Problem{Twice, "byText.SITE", ""}},
		{`{"byNumber":{"1":"a","10":"b","-1":"c"},"byText":{"a":"1","b":"2"}}`, Problem{}},
		// Not a number: the decoder refuses it.
		{`{"byNumber":{"x":"a","y":"b"}}`, Problem{}},
	} {
		var v parsedKeys
		err := json.Unmarshal([]byte(c.in), &v)
		if c.want.Kind == Twice && (err != nil || len(v.ByNumber)+len(v.ByUint)+len(v.ByText) != 1) {
			t.Fatalf("%s: the decoder reads %+v (%v); the test wants one key", c.in, v, err)
		}
		if got := Check([]byte(c.in), typ); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.in, got, c.want)
		}
	}
}
