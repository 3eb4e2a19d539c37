package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
)

// typeErrorText words a value of the wrong JSON kind in body (e) as its
// sender wrote it: the path of the value in the body (documents[1].name;
// "" for the body itself) and what was wanted and given in JSON's kinds.
// encoding/json's own text names the Go types and fields the body is
// decoded into ("cannot unmarshal string into Go struct field
// PlanRequest.documents.name of type int"), which say nothing to a
// client in another language, show the server's insides, and leave out
// which element of an array was wrong.
func typeErrorText(body []byte, e *json.UnmarshalTypeError) (field, msg string) {
	field = jsonPathAt(body, e.Offset)
	msg = "want " + jsonKindOf(e.Type) + ", not " + givenKind(e.Value)
	if field != "" {
		msg = field + ": " + msg
	}
	return field, msg
}

// textUnmarshaler is the type of a value that decodes itself from a JSON
// string (encoding.TextUnmarshaler).
var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// jsonKindOf is the JSON kind a value of Go type t is decoded from, as a
// sender would say it ("a string", "an integer from 0 to 255").
func jsonKindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := t.Bits(); n < 64 {
			return fmt.Sprintf("an integer from %d to %d", -(int64(1) << (n - 1)), int64(1)<<(n-1)-1)
		}
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n := t.Bits(); n < bits.UintSize && n < 64 {
			return fmt.Sprintf("an integer from 0 to %d", uint64(1)<<n-1)
		}
		return "an integer of 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string (base64)"
		}
		return "an array"
	case reflect.Array:
		return fmt.Sprintf("an array of %d", t.Len())
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}

// givenKind words encoding/json's description of the value it was given
// ("string", "number -5", "bool", "array", "object").
func givenKind(v string) string {
	switch {
	case v == "bool":
		return "true or false"
	case v == "array" || v == "object":
		return "an " + v
	case strings.HasPrefix(v, "number "):
		n := strings.TrimPrefix(v, "number ")
		if len(n) > maxNumberShown {
			n = n[:maxNumberShown] + "..."
		}
		return "the number " + n
	}
	return "a " + v
}

// maxNumberShown bounds the digits of a number a refusal quotes.
const maxNumberShown = 32

// pathFrame is an array or object open around the value jsonPathAt reads.
type pathFrame struct {
	array   bool
	index   int    // an array's element read now
	key     string // an object's member read now
	wantKey bool   // an object's next token is a key (or its end)
}

// jsonPathAt returns the path (documents[1].name, as jsondup writes
// them) of the value of body that encoding/json was reading at offset off
// (an UnmarshalTypeError's Offset: just past a literal, or just inside an
// array or object): the first value whose start ends at or past off. body
// has decoded far enough to fail there, so it is JSON up to off. The path
// is written once, at the end: one per value read would be the depth of
// the nesting for each value, its square for a body nested deep.
func jsonPathAt(body []byte, off int64) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []pathFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			valueRead(stack)
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			stack[n-1].key, _ = tok.(string)
			stack[n-1].wantKey = false
			continue
		}
		if dec.InputOffset() >= off {
			return framePath(stack)
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, pathFrame{array: d == '[', wantKey: d == '{'})
			continue
		}
		valueRead(stack)
	}
}

// valueRead moves the innermost frame past the value just read.
func valueRead(stack []pathFrame) {
	if n := len(stack); n > 0 {
		if stack[n-1].array {
			stack[n-1].index++
		} else {
			stack[n-1].wantKey = true
		}
	}
}

// framePath writes the path of the value the frames are open around.
func framePath(stack []pathFrame) string {
	var p strings.Builder
	for i, f := range stack {
		if f.array {
			p.WriteString("[" + strconv.Itoa(f.index) + "]")
			continue
		}
		if i > 0 {
			p.WriteByte('.')
		}
		p.WriteString(f.key)
	}
	return p.String()
}
