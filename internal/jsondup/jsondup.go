// Package jsondup finds a key given twice in one JSON object, which
// encoding/json reads as the last of the two.
package jsondup

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
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

// maxLinearKeys is how many keys an object's keys are compared one by one
// against; an object with more gets a set of their folded forms.
const maxLinearKeys = 16

type keyFrame struct {
	object bool
	index  int      // the element of an array read now
	key    []byte   // the key of an object's member read now
	keys   [][]byte // an object's keys so far (up to maxLinearKeys)
	set    map[string]struct{}
}

type keyScanner struct {
	b     []byte
	i     int
	stack []keyFrame
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
			if plain {
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
	if top.set != nil {
		f := foldKey(k)
		if _, dup := top.set[f]; dup {
			return s.path(), true
		}
		top.set[f] = struct{}{}
		return "", true
	}
	for _, seen := range top.keys {
		if bytes.EqualFold(seen, k) {
			return s.path(), true
		}
	}
	if len(top.keys) < maxLinearKeys {
		top.keys = append(top.keys, k)
		return "", true
	}
	top.set = make(map[string]struct{}, 2*maxLinearKeys)
	for _, seen := range top.keys {
		top.set[foldKey(seen)] = struct{}{}
	}
	top.set[foldKey(k)] = struct{}{}
	return "", true
}

// push opens an object or an array, reusing the frame (and its keys'
// slice) of one closed before at that depth.
func (s *keyScanner) push(object bool) bool {
	if len(s.stack) >= maxKeyDepth {
		return false
	}
	if len(s.stack) < cap(s.stack) {
		s.stack = s.stack[:len(s.stack)+1]
		f := &s.stack[len(s.stack)-1]
		*f = keyFrame{object: object, keys: f.keys[:0]}
		return true
	}
	s.stack = append(s.stack, keyFrame{object: object})
	return true
}

// maxKeyDepth bounds the nesting the scan follows, as encoding/json's
// own (10,000) bounds the decoder's: a body of 4 MiB of '[' would
// otherwise cost a frame a byte. Past it the decoder refuses the body.
const maxKeyDepth = 10000

// path names the member read now: documents[2].name.
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
