package jsondup

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// tokenProblem walks b with encoding/json's own tokenizer, as a value of
// type t, and reports whether an object in it gives one key twice (keys as
// the decoder reads them) or gives a struct's object a key that is not
// exactly one of its fields' names.
func tokenProblem(b []byte, t reflect.Type) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func(t reflect.Type) (bool, error)
	walk = func(t reflect.Type) (bool, error) {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t != nil && (t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
			t = nil
		}
		switch tok {
		case json.Delim('['):
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			bad := false
			for dec.More() {
				p, err := walk(elem)
				if err != nil {
					return false, err
				}
				bad = bad || p
			}
			_, err := dec.Token()
			return bad, err
		case json.Delim('{'):
			var fields map[string]reflect.Type
			var elem reflect.Type
			if t != nil && t.Kind() == reflect.Struct {
				fields = structFields(t)
			} else if t != nil && t.Kind() == reflect.Map {
				elem = t.Elem()
			}
			seen := map[string]bool{}
			bad := false
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return false, err
				}
				key := k.(string)
				bad = bad || seen[key]
				seen[key] = true
				vt := elem
				if fields != nil {
					ft, ok := fields[key]
					bad = bad || !ok
					vt = ft
				}
				p, err := walk(vt)
				if err != nil {
					return false, err
				}
				bad = bad || p
			}
			_, err := dec.Token()
			return bad, err
		}
		return false, nil
	}
	bad, err := walk(t)
	return bad && err == nil
}

// FuzzCheckAsDecoder holds Check to encoding/json's reading of a body it
// decodes: whenever the decoder takes the body and its own tokenizer finds
// a key given twice or a struct's key that is not its field's exact name,
// Check finds a problem too.
func FuzzCheckAsDecoder(f *testing.F) {
	for _, s := range []string{
		`{"site":"a","documents":[{"name":"j","content":"x"}],"id":"1","Untagged":1}`,
		`{"labels":{"a":"1","b":"2"},"byName":{"x":{"name":"a"}}}`,
		`{"self":[{"self":[{"site":"x"}]}],"any":{"A":1,"a":2},"raw":[1,{"x":"y"}]}`,
		"{\"labels\":{\"\xff\":\"a\",\"\\u00e9\":\"b\"}}",
		"{\"byName\":{\"a\xff\":{},\"a\xfe\":{\"name\":\"\"}}}",
		`{"documents":[{"name":"\ud800","content":"\"}"}],"kind":"\u212a"}`,
	} {
		f.Add([]byte(s))
	}
	typ := reflect.TypeFor[checkRequest]()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Check(b, typ)
		var v checkRequest
		if err := json.Unmarshal(b, &v); err != nil {
			var ute *json.UnmarshalTypeError
			if !errors.As(err, &ute) {
				return
			}
		}
		if p.Kind == 0 && tokenProblem(b, typ) {
			t.Fatalf("Check found nothing in %q, where the decoder reads a key twice or in another case", b)
		}
		if p.Kind == Unknown || p.Kind == Case {
			if !tokenProblem(b, typ) {
				t.Fatalf("Check found %+v in %q, which the decoder reads as it is", p, b)
			}
		}
	})
}
