package catalog

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"meridian.dev/meridian/internal/textsafe"
)

// decoder fills a Go value from a document's nodes, walking the tree
// alongside the value's type. It reports every problem at once, each with
// its line, its field path (spec.pools[0].count) and, for unknown fields,
// the accepted names; it converts nothing silently (8.5 into an integer
// field, "2" into a number). Values reached through an alias are checked
// against the type where the alias is used and reported on its line.
type decoder struct {
	file, res string
	errs      Errors
	// hidden counts the problems past MaxProblemsPerFile, which are
	// counted, not built.
	hidden int
	// expanded counts the nodes reached through aliases; past
	// MaxAliasExpansion the document is refused.
	expanded      int
	expandedBytes int // of the scalars reached through aliases
	bombed        bool
	// path is the field being decoded, as a stack of keys and list
	// indexes; it becomes a string (spec.pools[0].count) only in errors.
	path []pathElem
}

// pathElem is one step of a field path: a key, or an index when key is "".
type pathElem struct {
	key   string
	index int
}

func (d *decoder) push(key string, index int) { d.path = append(d.path, pathElem{key, index}) }
func (d *decoder) pop()                       { d.path = d.path[:len(d.path)-1] }

// pathString renders the current path, with key appended when not "".
func (d *decoder) pathString(key string) string {
	var b strings.Builder
	for _, e := range d.path {
		if e.key == "" {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
	}
	if key != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(key)
	}
	return b.String()
}

// add reports a problem with the current field (and key, when not "").
func (d *decoder) add(line int, key, msg string, accepted ...string) {
	if len(d.errs) >= MaxProblemsPerFile {
		d.hidden++
		return
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Resource: d.res, Field: d.pathString(key), Msg: msg, Accepted: accepted})
}

var textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// structInfo is a struct type's YAML fields.
type structInfo struct {
	index map[string]int // field index by YAML name
	names []string       // YAML names in declaration order
}

var structInfos sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if si, ok := structInfos.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		si.index[name] = i
		si.names = append(si.names, name)
	}
	structInfos.Store(t, si)
	return si
}

// isNull reports whether n is YAML's null (no value, ~ or null).
func isNull(n *node) bool {
	if n == nil {
		return true
	}
	if n.kind != scalarNode || n.quoted || (n.tag != "" && n.tag != "!!null") {
		return false
	}
	switch n.value {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

// describe names a node for messages.
func describe(n *node) string {
	switch n.kind {
	case mappingNode:
		return "a mapping"
	case sequenceNode:
		return "a list"
	}
	if isNull(n) {
		return "null"
	}
	if !n.quoted {
		if _, ok := parseBool(n.value); ok {
			return n.value
		}
		if _, err := strconv.ParseFloat(n.value, 64); err == nil {
			return n.value
		}
	}
	return strconv.Quote(n.value)
}

// supportedTags are the explicit tags a document may use; !!str makes a
// plain scalar a string, the others say what the value already is.
var supportedTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true, "!!map": true, "!!seq": true}

// decode fills v (addressable) from n; at is the line errors are reported
// on when n was reached through an alias (0 otherwise).
func (d *decoder) decode(n *node, v reflect.Value, at int) {
	if n == nil || d.bombed {
		return
	}
	if n.kind == aliasNode {
		if at == 0 {
			at = n.line
		}
		n = n.target
	}
	if at != 0 {
		d.expanded++
		d.expandedBytes += len(n.value)
		if d.expanded > MaxAliasExpansion || d.expandedBytes > MaxAliasExpansionBytes {
			d.bombed = true
			d.add(at, "", fmt.Sprintf("aliases expand to more than %d values or %d bytes; refused", MaxAliasExpansion, MaxAliasExpansionBytes))
			return
		}
	}
	line := n.line
	if at != 0 {
		line = at
	}
	if n.tag != "" && !supportedTags[n.tag] {
		d.add(line, "", fmt.Sprintf("tag %s is not supported", n.tag))
		return
	}
	if n.tag == "!!str" && n.kind == scalarNode && !n.quoted {
		c := *n
		c.quoted, c.tag = true, ""
		n = &c
	}
	if isNull(n) {
		return // null leaves the zero value
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if n.kind != scalarNode {
			d.add(line, "", fmt.Sprintf("want a single value, got %s", describe(n)))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.value)); err != nil {
			d.add(line, "", err.Error())
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), at)
	case reflect.Struct:
		d.decodeStruct(n, v, at, line)
	case reflect.Map:
		d.decodeMap(n, v, at, line)
	case reflect.Slice:
		if n.kind != sequenceNode {
			d.add(line, "", fmt.Sprintf("want a list, got %s", describe(n)))
			return
		}
		s := reflect.MakeSlice(t, len(n.items), len(n.items))
		for i, item := range n.items {
			d.push("", i)
			d.decode(item, s.Index(i), at)
			d.pop()
		}
		v.Set(s)
	case reflect.String:
		if n.kind != scalarNode {
			d.add(line, "", fmt.Sprintf("want a string, got %s", describe(n)))
			return
		}
		if d.text(line, "", n.value) {
			v.SetString(n.value)
		}
	case reflect.Bool:
		b, ok := false, false
		if n.kind == scalarNode && !n.quoted {
			b, ok = parseBool(n.value)
		}
		if !ok {
			d.add(line, "", fmt.Sprintf("want true or false, got %s", describe(n)))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.decodeInt(n, v, line)
	case reflect.Float32, reflect.Float64:
		f, ok := 0.0, false
		if n.kind == scalarNode && !n.quoted {
			f, ok = parseFloat(n.value)
		}
		if !ok {
			d.add(line, "", fmt.Sprintf("want a number, got %s", describe(n)))
			return
		}
		v.SetFloat(f)
	default:
		d.add(line, "", fmt.Sprintf("internal: cannot decode into %s", t))
	}
}

// text checks a string value: nothing a display would write escaped but
// tab and newline (RefusedText).
func (d *decoder) text(line int, key, s string) bool {
	if i, why := RefusedText(s); i >= 0 {
		d.add(line, "", "holds "+why+"; refused")
		return false
	}
	return true
}

// RefusedText is the byte offset of the first character or byte of s, a
// text field, that a display would write escaped (textsafe.IndexKeeping)
// other than a tab or a newline, and what it is and does, naming it as
// U+XXXX; or -1 and "". A NUL or a terminal escape in a name or a path is
// never meant, an explicit bidirectional control or a line separator
// shows the text as other text than it is, and so does a character drawn
// as nothing (a zero-width space, a joiner between two Latin letters: a
// name that looks like another one). The contextual characters are kept
// where textsafe shows them as themselves (textsafe.Fits): a joiner or a
// non-joiner within a word of a script that joins its letters or between
// emoji parts, a direction mark next to a letter or digit of a script
// written right to left, a variation selector right after the character
// it draws.
func RefusedText(s string) (int, string) {
	i := textsafe.IndexKeeping(s, "\t\n")
	if i < 0 {
		return -1, ""
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && n == 1:
		return i, fmt.Sprintf("the byte 0x%02X, which is not UTF-8", s[i])
	case textsafe.Bidi(r):
		return i, fmt.Sprintf("the bidirectional control %U, which would display the text after it in another order than it is stored", r)
	case r == '\u2028' || r == '\u2029':
		return i, fmt.Sprintf("the line or paragraph separator %U, which breaks the line it is shown on as a newline does", r)
	case r == '\u200c' || r == '\u200d':
		return i, fmt.Sprintf("the zero-width joiner or non-joiner %U out of place (it is kept between two letters of a script that joins its letters, or a joiner between emoji parts), where it is drawn as nothing and makes the text look like other text", r)
	case r == '\u200e' || r == '\u200f' || r == '\u061c':
		return i, fmt.Sprintf("the direction mark %U next to no letter or digit of a script written right to left (where it is kept), where it is drawn as nothing", r)
	case textsafe.Contextual(r):
		return i, fmt.Sprintf("the variation selector %U where it selects no form of the character before it (it is kept right after a letter, digit, symbol or punctuation mark, one per character), where it is drawn as nothing and can carry hidden text", r)
	case textsafe.Invisible(r):
		return i, fmt.Sprintf("the invisible character %U, which is drawn as nothing and makes the text look like other text", r)
	}
	return i, fmt.Sprintf("the control character %U", r)
}

// BidiControl reports whether r is an explicit bidirectional formatting
// character (textsafe.Bidi): an embedding, an override or an isolate,
// which shows the text after it in another order than it is stored.
func BidiControl(r rune) bool { return textsafe.Bidi(r) }

// pair is one key and value of a mapping.
type pair struct {
	key  string
	line int // where errors about the key go
	val  *node
}

// pairs returns a mapping's keys and values, the merged ones ("<<: *x")
// first, so that the mapping's own keys override them. It reports
// duplicate keys and keys that are not text. at is the line of the alias
// the mapping was reached through, or 0.
func (d *decoder) pairs(n *node, at int, buf []pair) []pair {
	out := buf[:0]
	var merged []*node
	var index map[string]int // for large mappings, where a scan would be quadratic
	find := func(key string) int {
		if index == nil {
			return findPair(out, key)
		}
		if i, ok := index[key]; ok {
			return i
		}
		return -1
	}
	for i := 0; i+1 < len(n.items); i += 2 {
		k, val := n.items[i], n.items[i+1]
		if k.kind == aliasNode {
			k = k.target
		}
		line := k.line
		if at != 0 {
			line = at
		}
		if k.kind != scalarNode {
			d.add(line, "", fmt.Sprintf("a key must be text, got %s", describe(k)))
			continue
		}
		if k.value == "<<" && !k.quoted {
			merged = append(merged, val)
			continue
		}
		if first := find(k.value); first >= 0 {
			d.add(line, k.value, fmt.Sprintf("defined twice in one mapping (first on line %d)", out[first].line))
			continue
		}
		if !d.text(line, k.value, k.value) {
			continue
		}
		out = append(out, pair{k.value, line, val})
		switch {
		case index != nil:
			index[k.value] = len(out) - 1
		case len(out) > 16:
			index = make(map[string]int, len(n.items)/2)
			for i, p := range out {
				index[p.key] = i
			}
		}
	}
	if len(merged) == 0 {
		return out
	}
	var all []pair
	taken := map[string]bool{}
	for _, p := range out {
		taken[p.key] = true
	}
	for _, m := range merged {
		mat := at
		if m.kind == aliasNode {
			if mat == 0 {
				mat = m.line
			}
			m = m.target
		}
		sources := []*node{m}
		if m.kind == sequenceNode {
			sources = nil
			for _, s := range m.items {
				if s.kind == aliasNode {
					s = s.target
				}
				sources = append(sources, s)
			}
		}
		for _, s := range sources {
			if s.kind != mappingNode {
				d.add(m.line, "", "<< merges only mappings")
				continue
			}
			// Merged keys count towards the alias budget: a merge copies them.
			if d.expanded += len(s.items) / 2; d.expanded > MaxAliasExpansion {
				if !d.bombed {
					d.bombed = true
					d.add(m.line, "", fmt.Sprintf("aliases expand to more than %d values or %d bytes; refused", MaxAliasExpansion, MaxAliasExpansionBytes))
				}
				return out
			}
			for _, p := range d.pairs(s, mat, nil) {
				if !taken[p.key] {
					taken[p.key] = true
					all = append(all, p)
				}
			}
		}
	}
	return append(all, out...)
}

// findPair returns the index of key in ps, or -1. Mappings in resources
// have a few keys, so a scan beats a map; large ones are rare.
func findPair(ps []pair, key string) int {
	for i := range ps {
		if ps[i].key == key {
			return i
		}
	}
	return -1
}

func (d *decoder) decodeStruct(n *node, v reflect.Value, at, line int) {
	if n.kind != mappingNode {
		what := d.pathString("")
		if what == "" {
			what = "the resource"
		}
		d.add(line, "", fmt.Sprintf("want a mapping (fields of %s), got %s", what, describe(n)))
		return
	}
	si := structInfoOf(v.Type())
	var buf [16]pair
	for _, p := range d.pairs(n, at, buf[:]) {
		fi, ok := si.index[p.key]
		if !ok {
			d.add(p.line, p.key, "unknown field", si.names...)
			continue
		}
		d.push(p.key, 0)
		d.decode(p.val, v.Field(fi), at)
		d.pop()
	}
}

func (d *decoder) decodeMap(n *node, v reflect.Value, at, line int) {
	if n.kind != mappingNode {
		d.add(line, "", fmt.Sprintf("want a mapping, got %s", describe(n)))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.add(line, "", fmt.Sprintf("internal: map key %s", t.Key()))
		return
	}
	ps := d.pairs(n, at, nil)
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(ps)))
	}
	for _, p := range ps {
		e := reflect.New(t.Elem()).Elem()
		d.push(p.key, 0)
		d.decode(p.val, e, at)
		d.pop()
		v.SetMapIndex(reflect.ValueOf(p.key).Convert(t.Key()), e)
	}
}

func (d *decoder) decodeInt(n *node, v reflect.Value, line int) {
	if n.kind != scalarNode || n.quoted {
		d.add(line, "", fmt.Sprintf("want a whole number, got %s", describe(n)))
		return
	}
	bits := v.Type().Bits()
	if i, ok := parseInt(n.value); ok {
		if bits < 64 && (i >= 1<<(bits-1) || i < -(1<<(bits-1))) {
			d.add(line, "", fmt.Sprintf("%d is too large", i))
			return
		}
		v.SetInt(i)
		return
	}
	x, ok := parseFloat(n.value)
	if !ok {
		d.add(line, "", fmt.Sprintf("want a whole number, got %s", describe(n)))
		return
	}
	if x != math.Trunc(x) || math.IsInf(x, 0) {
		d.add(line, "", fmt.Sprintf("%v is not a whole number", x))
		return
	}
	if x >= math.Ldexp(1, bits-1) || x < -math.Ldexp(1, bits-1) {
		d.add(line, "", fmt.Sprintf("%v is too large", x))
		return
	}
	v.SetInt(int64(x))
}

// parseBool reads YAML's true and false.
func parseBool(s string) (bool, bool) {
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// parseFloat reads a plain YAML number: 7.6e9, 1_000, 0x10, .inf, .nan.
func parseFloat(s string) (float64, bool) {
	switch s {
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
		return math.Inf(1), true
	case "-.inf", "-.Inf", "-.INF":
		return math.Inf(-1), true
	case ".nan", ".NaN", ".NAN":
		return math.NaN(), true
	}
	if i, ok := parseInt(s); ok {
		return float64(i), true
	}
	if strings.ContainsAny(s, "xXpP_") || strings.EqualFold(strings.TrimLeft(s, "+-"), "inf") || strings.EqualFold(strings.TrimLeft(s, "+-"), "infinity") || strings.EqualFold(s, "nan") {
		return 0, false // Go's spellings that YAML does not have
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// parseInt reads a plain YAML integer: decimal (a leading zero is not
// octal), or 0x, 0o and 0b for hexadecimal, octal and binary.
func parseInt(s string) (int64, bool) {
	digits := strings.TrimLeft(s, "+-")
	base := 10
	if len(digits) > 2 && digits[0] == '0' && strings.ContainsRune("xob", rune(digits[1])) {
		base = 0
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '+' && c != '-' && (base == 10 || !strings.ContainsRune("xobXOBabcdefABCDEF", rune(c))) {
			return 0, false // not an integer: say so without building an error
		}
	}
	i, err := strconv.ParseInt(s, base, 64)
	return i, err == nil
}
