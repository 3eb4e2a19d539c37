package jsondup

import (
	"strings"
	"testing"
)

// TestDuplicateKeyScan: Key finds a key given twice wherever it
// is, and nothing in JSON that has none (keys of sibling objects, text in
// strings that looks like keys).
func TestDuplicateKeyScan(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{}`, ""},
		{`{"a":1,"b":[1,{"a":2}],"c":{"a":{"a":3}}}`, ""},
		{`[{"a":1},{"a":2},{"A":3}]`, ""},
		{`{"a":"\"a\":1,\"a\":2","b":"}{"}`, ""},
		{`{"a":1,"a":2}`, "a"},
		{`{"a":{"b":[true,null,{"c":1,"d":{},"c":2}]}}`, "a.b[2].c"},
		{`{"x":[[],[{"k":1}],[{"k":1,"K":2}]]}`, "x[2][0].K"},
		{`{"\u00e9":1,"\u00c9":2}`, "\u00c9"},
		{`{"k":1,"\u212a":2}`, "\u212a"}, // the Kelvin sign folds to k
		{`{"a":1} {"a":1,"a":2}`, ""},    // after the value: the decoder refuses it
		{`{"a":1,"a":`, "a"},
		{`{"a":1,"a"`, ""},
		{`{"a":1,`, ""},
		{`not json`, ""},
		// The empty key has a path of its own: "" would say none.
		{`{"":1,"":2}`, `""`},
		{`{"a":{"":1,"":2}}`, "a."},
	}
	// An object of many keys, past the ones compared one by one.
	var many strings.Builder
	many.WriteString(`{`)
	for i := range 3 * maxLinearKeys {
		many.WriteString(`"k` + strings.Repeat("x", i) + `":0,`)
	}
	cases = append(cases, struct{ in, want string }{many.String() + `"z":1}`, ""}, struct{ in, want string }{many.String() + `"KXX":1}`, "KXX"})
	for _, c := range cases {
		if got := Key([]byte(c.in)); got != c.want {
			t.Errorf("%.60s: %q, want %q", c.in, got, c.want)
		}
	}
}

// TestDuplicateKeyDepthBounded: the scan of a body nested past what the
// decoder reads stops there, holding no frame a byte of it. Before, 4 MiB
// of '[' took 4 Mi frames of the scan's stack (here 1 MiB: 1 Mi frames).
func TestDuplicateKeyDepthBounded(t *testing.T) {
	body := []byte(strings.Repeat("[", 1<<20))
	s := keyScanner{b: body}
	if p := s.value(); p != "" {
		t.Fatalf("%q", p)
	}
	// encoding/json reads no deeper than 10,000 levels.
	const decoderDepth = 10000
	if cap(s.stack) > 2*decoderDepth {
		t.Errorf("the scan grew its stack to %d frames for %d bytes of '['", cap(s.stack), len(body))
	}
	deep := strings.Repeat(`{"a":`, decoderDepth-1) + `{"b":1,"b":2}` + strings.Repeat("}", decoderDepth-1)
	if p := Key([]byte(deep)); !strings.HasSuffix(p, "a.b") {
		t.Errorf("a key given twice at depth %d: %.40q", decoderDepth, p)
	}
}
