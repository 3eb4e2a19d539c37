package catalog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestFieldErrorFormat(t *testing.T) {
	many := make([]string, 50)
	for i := range many {
		many[i] = fmt.Sprintf("v%02d", i)
	}
	cases := []struct {
		name string
		err  *FieldError
		want string
	}{
		{"full", &FieldError{File: "a.yaml", Line: 3, Resource: "Site/x", Field: "spec.country", Msg: `"XX" is not a known country`, Accepted: []string{"CN", "US"}},
			`a.yaml:3: Site/x: spec.country: "XX" is not a known country (accepted: CN, US)`},
		{"no line", &FieldError{File: "a.yaml", Msg: "file is too big"}, "a.yaml: file is too big"},
		{"control characters stay on one line", &FieldError{File: "a.yaml", Line: 1, Resource: "Site/multi\nline", Msg: "bad\nthing"},
			`a.yaml:1: "Site/multi\nline": bad thing`},
		{"a bidirectional override in a name is quoted", &FieldError{Resource: "Site/\u202eevil", Field: "spec.note\u2066", Msg: "m", Accepted: []string{"a\u2067b"}},
			`"Site/\u202eevil": "spec.note\u2066": m (accepted: "a\u2067b")`},
		{"a line separator in a name is quoted", &FieldError{File: "a\u2029.yaml", Resource: "Site/x\u2028forged", Msg: "m"},
			`"a\u2029.yaml": "Site/x\u2028forged": m`},
		{"bytes that are not UTF-8 in a name are quoted", &FieldError{Resource: "Site/\xff", Msg: "m"},
			`"Site/\xff": m`},
		{"a bidirectional override or a line separator in the message is a space", &FieldError{Field: "f", Msg: "name \u202eevil\u2028forged: allowed\u2029"},
			"f: name  evil forged: allowed "},
		{"long accepted list is cut", &FieldError{Field: "f", Msg: "m", Accepted: many},
			"f: m (accepted: " + strings.Join(many[:40], ", ") + ", … 10 more)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.err.Error(); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestErrorsUnwrapAndSort(t *testing.T) {
	es := Errors{
		{File: "b.yaml", Line: 1, Msg: "x"},
		{File: "a.yaml", Line: 9, Msg: "y"},
		{File: "a.yaml", Line: 2, Msg: "z"},
	}
	err := es.errOrNil()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatal("errors.As does not find a FieldError in Errors")
	}
	if got := err.Error(); got != "a.yaml:2: z\na.yaml:9: y\nb.yaml:1: x" {
		t.Errorf("not sorted by file and line:\n%s", got)
	}
	if (Errors{}).errOrNil() != nil {
		t.Error("empty list is not nil")
	}
}
