// Package jsondup finds a key given twice in one JSON object, which
// encoding/json reads as the last of the two.
package jsondup

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Key looks through the JSON value at the start of b for an
// object that gives one key twice, at any depth, and returns the path of
// the second (documents[2].name); "" when there is none, or when b is not
// JSON (the decoder that reads b then says what is wrong with it).
//
// encoding/json takes the last of two equal keys, where a proxy, a
// gateway or a log in front of the server may take the first: the
// request one of them checked would not be the one the server acted on.
// Keys are equal as the decoder matches them to a struct's fields: after
// their escapes, and regardless of case (Site and site fill one field).
// Every request body decodes into structs, so no key differing only in
// case can be meant as another.
//
// It is one pass over b that keeps only the keys of the objects open
// around the place it reads (a slice of at most maxLinearKeys per object,
// a set past that), so a body costs a fraction of its decoding.
func Key(b []byte) string {
	s := keyScanner{b: b}
	return s.value()
}

// Kind is what is wrong with a key Check found.
type Kind int

const (
	// Twice: the key is given twice in one object, or two keys of a
	// struct's object differ only in case (they fill one field).
	Twice Kind = iota + 1
	// Case: the key names a field of the struct only in another case
	// (Want), which encoding/json would fill with it.
	Case
	// Unknown: the key names no field of the struct.
	Unknown
)

// Problem is the first key Check found wrong: its path (documents[2].Name,
// the key as given), what is wrong, and for Case the field's spelling.
type Problem struct {
	Kind Kind
	Path string
	Want string
}

// Check looks through the JSON value at the start of b as Key does, and
// as the value of type t (a pointer is followed) that it decodes into:
// a key of a struct's object must name one of its fields (as
// encoding/json names them: the json tag, or the Go name) exactly, case
// included. encoding/json matches keys to fields regardless of case, so
// {"Site": ...} fills "site", where a proxy, a policy check or a log in
// front of the server reads a key it does not know. A map's keys are its
// own, any spelling, and two differing only in case are two keys (those
// the decoder parses, of integers or of a type that reads text, are
// compared as parsed: "1" and "01" are one key); a
// value whose type decodes itself (json.Unmarshaler,
// encoding.TextUnmarshaler) or an interface is not looked into, nor is
// the text of a string (a document sent as YAML or JSON text).
//
// The zero Problem (Kind 0) when there is none, or when b is not JSON.
// The keys of a struct are found once per type (at most maxShapes types
// are kept).
func Check(b []byte, t reflect.Type) Problem {
	s := keyScanner{b: b, next: shapeFor(t)}
	if p := s.value(); p != "" {
		s.problem.Path = p
		return s.problem
	}
	return Problem{}
}

// maxLinearKeys is how many keys an object's keys are compared one by one
// against; an object with more gets a set of their folded forms.
const maxLinearKeys = 16

type keyFrame struct {
	object bool
	shape  *shape   // what the value decodes into; nil: anything
	exact  bool     // keys are equal only when equal (a map's)
	index  int      // the element of an array read now
	key    []byte   // the key of an object's member read now
	keys   [][]byte // an object's keys so far (up to maxLinearKeys)
	set    map[string]struct{}
}

type keyScanner struct {
	b     []byte
	i     int
	stack []keyFrame
	// next is the shape of the value read next (nil: anything), problem
	// what is wrong with the key whose path value returns.
	next    *shape
	problem Problem
}

func (s *keyScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads the string at s.i (its opening quote) and returns its
// contents as the decoder reads them, escapes resolved; ok is false past
// the end of b.
func (s *keyScanner) str(decode bool) (v []byte, ok bool) {
	start := s.i
	s.i++
	plain := true
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '\\':
			plain = false
			s.i += 2
		case c == '"':
			s.i++
			raw := s.b[start:s.i]
			if !decode {
				return nil, true
			}
			// The decoder reads each byte that is not UTF-8 as U+FFFD:
			// "\xff" and "\xfe" are one key of a map to it.
			if plain && utf8.Valid(raw) {
				return raw[1 : len(raw)-1], true
			}
			var out string
			if json.Unmarshal(raw, &out) != nil {
				return nil, false
			}
			return []byte(out), true
		default:
			s.i++
		}
	}
	return nil, false
}

// value reads one JSON value and everything in it; the path of a
// duplicate key, or "".
func (s *keyScanner) value() string {
	for {
		s.space()
		if s.i >= len(s.b) {
			return ""
		}
		switch s.b[s.i] {
		case '{':
			s.i++
			if !s.push(true) {
				return ""
			}
			s.space()
			if s.i < len(s.b) && s.b[s.i] == '}' {
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
				break
			}
			if p, ok := s.member(); !ok || p != "" {
				return p
			}
			continue
		case '[':
			s.i++
			if !s.push(false) {
				return ""
			}
			s.next = s.stack[len(s.stack)-1].shape.elemShape()
			s.space()
			if s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
				break
			}
			continue
		case '"':
			if _, ok := s.str(false); !ok {
				return ""
			}
		default:
			// A number, true, false or null: up to the next delimiter.
			for s.i < len(s.b) && !delimiter(s.b[s.i]) {
				s.i++
			}
		}
		// A value ended: close what it ends, and find the next one.
		for {
			if len(s.stack) == 0 {
				return ""
			}
			s.space()
			if s.i >= len(s.b) {
				return ""
			}
			top := &s.stack[len(s.stack)-1]
			c := s.b[s.i]
			s.i++
			if c == ',' {
				if top.object {
					if p, ok := s.member(); !ok || p != "" {
						return p
					}
				} else {
					top.index++
					s.next = top.shape.elemShape()
				}
				break
			}
			if top.object && c == '}' || !top.object && c == ']' {
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			return "" // not JSON: the decoder says so
		}
	}
}

// member reads an object member's key and colon, after which its value
// starts; it returns the path of the key when the object gave it before.
// ok is false when b is not JSON there.
func (s *keyScanner) member() (path string, ok bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	k, ok := s.str(true)
	if !ok {
		return "", false
	}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return "", false
	}
	s.i++
	top := &s.stack[len(s.stack)-1]
	top.key = k
	same := k // the key as the decoder tells keys apart
	if top.exact && top.shape.key != nil {
		same = parsedKey(top.shape.key, k)
	}
	if s.seen(top, same) {
		s.problem = Problem{Kind: Twice}
		return s.path(), true
	}
	s.next = nil
	switch sh := top.shape; {
	case sh == nil:
	case sh.fields == nil:
		s.next = sh.elem // a map's value
	default:
		f, ok := sh.fields[string(k)]
		if ok {
			s.next = f
			break
		}
		if want, ok := sh.folded[foldKey(k)]; ok {
			s.problem = Problem{Kind: Case, Want: want}
		} else {
			s.problem = Problem{Kind: Unknown}
		}
		return s.path(), true
	}
	return "", true
}

// seen reports whether the object of top gave k before (equal as top
// compares keys), and adds it to the keys it gave.
func (s *keyScanner) seen(top *keyFrame, k []byte) bool {
	fold := foldKey
	if top.exact {
		fold = func(k []byte) string { return string(k) }
	}
	if top.set != nil {
		f := fold(k)
		if _, dup := top.set[f]; dup {
			return true
		}
		top.set[f] = struct{}{}
		return false
	}
	for _, seen := range top.keys {
		if top.exact && bytes.Equal(seen, k) || !top.exact && bytes.EqualFold(seen, k) {
			return true
		}
	}
	if len(top.keys) < maxLinearKeys {
		top.keys = append(top.keys, k)
		return false
	}
	top.set = make(map[string]struct{}, 2*maxLinearKeys)
	for _, seen := range top.keys {
		top.set[fold(seen)] = struct{}{}
	}
	top.set[fold(k)] = struct{}{}
	return false
}

// push opens an object or an array, reusing the frame (and its keys'
// slice) of one closed before at that depth.
// The frame takes the shape of the value read next when it is one of
// an object (a struct's or a map's) or of an array, as the value is.
func (s *keyScanner) push(object bool) bool {
	if len(s.stack) >= maxKeyDepth {
		return false
	}
	sh := s.next
	s.next = nil
	if sh != nil && sh.list == object {
		sh = nil // not what the type takes: the decoder refuses it
	}
	f := keyFrame{object: object, shape: sh, exact: sh != nil && object && sh.fields == nil}
	if len(s.stack) < cap(s.stack) {
		s.stack = s.stack[:len(s.stack)+1]
		top := &s.stack[len(s.stack)-1]
		f.keys = top.keys[:0]
		*top = f
		return true
	}
	s.stack = append(s.stack, f)
	return true
}

// maxKeyDepth bounds the nesting the scan follows, as encoding/json's
// own (10,000) bounds the decoder's: a body of 4 MiB of '[' would
// otherwise cost a frame a byte. Past it the decoder refuses the body.
const maxKeyDepth = 10000

// path names the member read now: documents[2].name; "" (two quotes)
// for the empty key of the outermost object, whose path would otherwise
// be the empty string, which Key and Check return for none.
func (s *keyScanner) path() string {
	var p strings.Builder
	for i, f := range s.stack {
		if f.object {
			if i > 0 {
				p.WriteByte('.')
			}
			p.Write(f.key)
		} else {
			p.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	if p.Len() == 0 {
		return `""`
	}
	return p.String()
}

// foldKey is k in a form equal for every key bytes.EqualFold finds equal
// to it: each letter as the least of its case folding orbit.
func foldKey(k []byte) string {
	var out strings.Builder
	out.Grow(len(k))
	for _, r := range string(k) {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		out.WriteRune(least)
	}
	return out.String()
}

// delimiter reports whether c ends a number or a literal.
func delimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
