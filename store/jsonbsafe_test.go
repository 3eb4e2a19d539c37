package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzJSONBSafe: for any JSON document, jsonbSafe's is one that holds no
// escaped NUL and decodes to the same value with each NUL replaced by
// U+FFFD.
func FuzzJSONBSafe(f *testing.F) {
	for _, s := range []string{`{"a":"x\u0000y"}`, `"\\u0000"`, `["\\\u0000", "\u00000"]`, `{"k\u0000":1}`, `"\\\\u0000"`, `\`, `"\u0000\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := jsonbSafe([]byte(in))
		var before, after any
		if json.Unmarshal([]byte(in), &before) != nil {
			return
		}
		if err := json.Unmarshal([]byte(out), &after); err != nil {
			t.Fatalf("%q became %q, which is not JSON: %v", in, out, err)
		}
		if want := withoutNUL(before); !reflect.DeepEqual(want, after) {
			t.Fatalf("%q became %q: decodes to %#v, want %#v", in, out, after, want)
		}
	})
}

// withoutNUL is v with U+FFFD for each NUL in its strings and keys.
func withoutNUL(v any) any {
	fix := func(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }
	switch v := v.(type) {
	case string:
		return fix(v)
	case []any:
		for i := range v {
			v[i] = withoutNUL(v[i])
		}
		return v
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[fix(k)] = withoutNUL(x)
		}
		return out
	}
	return v
}
