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
	key     []byte // an object's member read now: its key as sent, quotes included
	wantKey bool   // an object's next string is a key
}

// jsonPathAt returns the path (documents[1].name, as jsondup writes
// them) of the value of body that encoding/json was reading at offset off
// (an UnmarshalTypeError's Offset: just past a literal, or just inside an
// array or object): the first value whose first token ends at or past
// off. body decoded as far as off, so it is JSON up to there, and this
// reads it byte by byte without decoding (json.Decoder's tokens cost
// three times the decoding that failed: 0.7 s and 3.5 million
// allocations for 4 MiB of small documents); the path is written once.
func jsonPathAt(body []byte, off int64) string {
	var stack []pathFrame
	for i := 0; i < len(body); i++ {
		c := body[i]
		n := len(stack)
		switch c {
		case ' ', '\t', '\n', '\r', ':':
			continue
		case ',':
			valueRead(stack)
			continue
		case '}', ']':
			if n > 0 {
				stack = stack[:n-1]
			}
			continue
		}
		end := tokenEnd(body, i)
		if n > 0 && stack[n-1].wantKey {
			stack[n-1].key, stack[n-1].wantKey = body[i:end], false
			i = end - 1
			continue
		}
		if int64(end) >= off {
			return framePath(stack)
		}
		switch c {
		case '{', '[':
			stack = append(stack, pathFrame{array: c == '[', wantKey: c == '{'})
		default:
			i = end - 1
		}
	}
	return ""
}

// tokenEnd is the offset just past the token that starts at body[i]: a
// delimiter, a string (its closing quote) or a literal (a number, true,
// false, null).
func tokenEnd(body []byte, i int) int {
	switch body[i] {
	case '{', '[':
		return i + 1
	case '"':
		for j := i + 1; j < len(body); j++ {
			switch body[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(body)
	}
	j := i
	for j < len(body) && !endsLiteral(body[j]) {
		j++
	}
	return j
}

// endsLiteral says whether c, read after a literal, is past its end.
func endsLiteral(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
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

// framePath writes the path of the value the frames are open around,
// each key as it reads once its escapes are.
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
		var k string
		if json.Unmarshal(f.key, &k) != nil {
			k = string(bytes.Trim(f.key, `"`))
		}
		p.WriteString(k)
	}
	return p.String()
}
