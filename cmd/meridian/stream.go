package main

import (
	"bufio"
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/printer"
	"github.com/goccy/go-yaml/token"
	yamlv3 "go.yaml.in/yaml/v3"
)

// The plan of a large catalog lists thousands of placements and rejection
// groups. These writers print a struct such as planner.Plan the way
// render does (indented JSON, or YAML converted from it), byte for byte,
// but one top-level field at a time and each element of a list field by
// itself, so that the whole document is never built in memory. Elements
// go through encoding/json, so fields added to planner.Placement or
// planner.Rejection appear without code here.

// streamField is one top-level field of a struct to write.
type streamField struct {
	name  string
	value reflect.Value
	list  bool // a non-empty slice, written element by element
}

// streamFields returns the fields encoding/json would write for v, or
// ok=false when v is not a plain struct (then callers encode it whole).
func streamFields(v any) (fields []streamField, ok bool) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, false
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct || implementsMarshaler(rv.Type()) {
		return nil, false
	}
	t := rv.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			return nil, false // embedded fields: left to encoding/json
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fv := rv.Field(i)
		if hasOpt(opts, "omitempty") && isEmptyValue(fv) {
			continue
		}
		if hasOpt(opts, "omitzero") && isZeroValue(fv) {
			continue
		}
		if hasOpt(opts, "string") {
			return nil, false
		}
		list := fv.Kind() == reflect.Slice && fv.Len() > 0 && f.Type.Elem().Kind() != reflect.Uint8 && !implementsMarshaler(f.Type)
		fields = append(fields, streamField{name, fv, list})
	}
	return fields, true
}

func hasOpt(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func implementsMarshaler(t reflect.Type) bool {
	return t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType) ||
		t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
}

// isEmptyValue is encoding/json's omitempty test.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZeroValue is encoding/json's omitzero test.
func isZeroValue(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

// jsonPiece encodes v as render's JSON does, with prefix before every line
// but the first, and no trailing newline.
type jsonPiece struct {
	compact, indented bytes.Buffer
	// plain caches readsBackPlain's answers for the strings written
	// (jsonToYAML).
	plain plainCache
}

func (p *jsonPiece) encode(v any, prefix string) ([]byte, error) {
	p.compact.Reset()
	enc := json.NewEncoder(&p.compact)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	p.indented.Reset()
	indentJSON(&p.indented, bytes.TrimSuffix(p.compact.Bytes(), []byte("\n")), prefix, "  ")
	return p.indented.Bytes(), nil
}

// indentJSON appends to dst the compact JSON src (as encoding/json writes
// it: no white space outside strings) indented as json.Indent would. It
// trusts src to be valid, which json.Indent checks byte by byte at several
// times the cost.
func indentJSON(dst *bytes.Buffer, src []byte, prefix, indent string) {
	depth := 0
	open := false // after { or [: the newline waits, so that {} stays whole
	newline := func(d int) {
		dst.WriteByte('\n')
		dst.WriteString(prefix)
		for range d {
			dst.WriteString(indent)
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open && c != '}' && c != ']' {
			open = false
			newline(depth)
		}
		switch c {
		case '"':
			// Copy the string whole, escapes included.
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			dst.Write(src[i:min(j+1, len(src))])
			i = j
		case '{', '[':
			dst.WriteByte(c)
			open = true
			depth++
		case '}', ']':
			depth--
			if open {
				open = false
			} else {
				newline(depth)
			}
			dst.WriteByte(c)
		case ',':
			dst.WriteByte(c)
			newline(depth)
		case ':':
			dst.WriteString(": ")
		default:
			dst.WriteByte(c)
		}
	}
}

// writeJSONStream writes v as writeJSON would, field by field.
func writeJSONStream(w io.Writer, v any) error {
	fields, ok := streamFields(v)
	if !ok {
		return writeJSON(w, v)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var p jsonPiece
	if len(fields) == 0 {
		bw.WriteString("{}\n")
		return bw.Flush()
	}
	bw.WriteString("{\n")
	for i, f := range fields {
		key, err := p.encode(f.name, "")
		if err != nil {
			return err
		}
		bw.WriteString("  ")
		bw.Write(key)
		bw.WriteString(": ")
		if f.list {
			bw.WriteString("[\n")
			n := f.value.Len()
			err := eachInOrder(bw, f.value, func(p *jsonPiece, out *bytes.Buffer, j int, elem any) error {
				b, err := p.encode(elem, "    ")
				if err != nil {
					return err
				}
				out.WriteString("    ")
				out.Write(b)
				if j < n-1 {
					out.WriteByte(',')
				}
				out.WriteByte('\n')
				return nil
			})
			if err != nil {
				return err
			}
			bw.WriteString("  ]")
		} else {
			b, err := p.encode(f.value.Interface(), "  ")
			if err != nil {
				return err
			}
			bw.Write(b)
		}
		if i < len(fields)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// writeYAMLStream writes v as render's YAML (converted from its JSON), one
// field and one list element at a time.
func writeYAMLStream(w io.Writer, v any) error {
	fields, ok := streamFields(v)
	if !ok {
		return writeYAMLWhole(w, v)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var p jsonPiece
	if len(fields) == 0 {
		bw.WriteString("{}\n")
		return bw.Flush()
	}
	for _, f := range fields {
		if !f.list {
			b, err := p.encode(map[string]any{f.name: f.value.Interface()}, "")
			if err != nil {
				return err
			}
			y, err := jsonToYAML(b, &p.plain)
			if err != nil {
				return err
			}
			bw.Write(y)
			continue
		}
		indent, err := yamlListKey(bw, f.name)
		if err != nil {
			return err
		}
		err = eachInOrder(bw, f.value, func(p *jsonPiece, out *bytes.Buffer, _ int, elem any) error {
			return yamlListElem(out, p, indent, elem)
		})
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

// yamlListKey writes the key line of a YAML list under key and returns
// the indent its elements take: "key:\n- 0\n" is written as the key line,
// then each element as a one-element list (yamlListElem), indented as the
// list is under its key.
func yamlListKey(w io.Writer, key string) ([]byte, error) {
	head, err := jsonToYAML(mustJSON(map[string][]int{key: {0}}), nil)
	if err != nil {
		return nil, err
	}
	nl := bytes.IndexByte(head, '\n') + 1
	if _, err := w.Write(head[:nl]); err != nil {
		return nil, err
	}
	return head[nl : nl+len(head[nl:])-len(bytes.TrimLeft(head[nl:], " "))], nil
}

// yamlListElem writes elem as one element of the list yamlListKey began.
func yamlListElem(w io.Writer, p *jsonPiece, indent []byte, elem any) error {
	b, err := p.encode([]any{elem}, "")
	if err != nil {
		return err
	}
	y, err := jsonToYAML(b, &p.plain)
	if err != nil {
		return err
	}
	for len(y) > 0 {
		line := y[:bytes.IndexByte(y, '\n')+1]
		if len(line) == 0 {
			line = y
		}
		w.Write(indent)
		if _, err := w.Write(line); err != nil {
			return err
		}
		y = y[len(line):]
	}
	return nil
}

// listBatch is how many list elements one goroutine encodes at a time.
const listBatch = 256

// eachInOrder calls encode for every element of list, in batches spread
// over one goroutine per CPU, and writes what each batch produced to bw in
// list order. At most two batches per CPU are held in memory at once.
func eachInOrder(bw *bufio.Writer, list reflect.Value, encode func(p *jsonPiece, out *bytes.Buffer, i int, elem any) error) error {
	n := list.Len()
	batches := (n + listBatch - 1) / listBatch
	workers := min(runtime.GOMAXPROCS(0), batches)
	if workers <= 1 {
		var p jsonPiece
		var out bytes.Buffer
		for i := 0; i < n; i++ {
			out.Reset()
			if err := encode(&p, &out, i, list.Index(i).Interface()); err != nil {
				return err
			}
			bw.Write(out.Bytes())
		}
		return nil
	}
	type result struct {
		out *bytes.Buffer
		err error
	}
	var buffers sync.Pool // of *bytes.Buffer, sized by the batches before
	results := make([]chan *result, batches)
	for i := range results {
		results[i] = make(chan *result, 1)
	}
	var next atomic.Int64
	window := make(chan struct{}, 2*workers) // batches encoded but not yet written
	stop := make(chan struct{})
	defer close(stop)
	for range workers {
		go func() {
			var p jsonPiece
			for {
				select {
				case window <- struct{}{}:
				case <-stop:
					return
				}
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				r := &result{}
				if buf, ok := buffers.Get().(*bytes.Buffer); ok {
					r.out = buf
				} else {
					r.out = new(bytes.Buffer)
				}
				for i := b * listBatch; i < min(n, (b+1)*listBatch) && r.err == nil; i++ {
					r.err = encode(&p, r.out, i, list.Index(i).Interface())
				}
				results[b] <- r
			}
		}()
	}
	for b := range batches {
		r := <-results[b]
		<-window
		if r.err != nil {
			return r.err
		}
		bw.Write(r.out.Bytes())
		r.out.Reset()
		buffers.Put(r.out)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// writeYAMLWhole is render's YAML for values that are not streamed.
func writeYAMLWhole(w io.Writer, v any) error {
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		return err
	}
	y, err := jsonToYAML(buf.Bytes(), nil)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// jsonToYAML is the JSON b as YAML, as the YAML library's JSONToYAML
// writes it, but with each string (a key or a value) that the library
// writes plain and that would not read back as the same string written
// in the library's double-quoted style instead. The library's own test
// of whether a string needs quotes (token.IsNeedQuoted) misses some: a
// tab, a carriage return, ".inf", ".nan", "? a", "<<" (a merge key), a
// string of several lines (written as a block scalar, which a key cannot
// be and which loses a lone newline), and for yaml.v3 "1e3" or U+2028.
// Each came back as another string, or as no document, at every -o yaml
// (a run's reason, a site's message, a workload's environment). Which
// strings read back plain is asked of the readers themselves
// (readsBackPlain), not of a list of characters kept here; seen, when
// not nil, keeps their answers across calls. Numbers are read with
// encoding/json (decodeJSONOrdered), not with the library, which read
// 5e-7 as a string, and a float written with an exponent and no dot gets
// one, as "5.0e-07", without which the library reads it as a string.
func jsonToYAML(b []byte, seen *plainCache) ([]byte, error) {
	v, err := decodeJSONOrdered(b)
	if err != nil {
		return nil, err
	}
	node, err := yaml.ValueToNode(v)
	if err != nil {
		return nil, err
	}
	// The library writes a float as strconv.FormatFloat's shortest 'g'
	// form, which for 5e-7 or 2e+21 has an exponent and no dot, and then
	// reads that back as a string; with a dot ("5.0e-07") it reads, as
	// yaml.v3 does, a float.
	for _, n := range ast.Filter(ast.FloatType, node) {
		fn, ok := n.(*ast.FloatNode)
		if !ok || fn.Token == nil || strings.Contains(fn.Token.Value, ".") {
			continue
		}
		if e := strings.IndexAny(fn.Token.Value, "eE"); e > 0 {
			text := fn.Token.Value[:e] + ".0" + fn.Token.Value[e:]
			fn.Token.Value, fn.Token.Origin = text, text
		}
	}
	if seen == nil {
		seen = new(plainCache)
	}
	for _, n := range ast.Filter(ast.StringType, node) {
		// Every string is a StringNode, its token typed as the text
		// would read (".inf" an infinity, "1e3" a number).
		sn, ok := n.(*ast.StringNode)
		if !ok || sn.Token == nil || sn.Token.Type == token.DoubleQuoteType || sn.Token.Type == token.SingleQuoteType {
			continue
		}
		// A string the library quotes it writes as strconv.Quote
		// does (its encoder's encodeString), which reads back as
		// the string; one it writes plain is the string itself, and
		// never begins with a quote (token.IsNeedQuoted quotes those).
		if strings.HasPrefix(sn.Value, `"`) || seen.readsBackPlain(sn.Value) {
			continue
		}
		sn.Token.Type = token.DoubleQuoteType
	}
	var pr printer.Printer
	return pr.PrintNode(node), nil
}

// plainCache keeps readsBackPlain's answers for strings of at most
// maxPlainCached bytes, up to maxPlainCache of them: a plan's thousands
// of placements repeat the same keys and names, which are short. Each
// worker of the streaming writer keeps one: strings of up to 128 bytes,
// up to 512 KiB each; a longer string (a reason) is asked again.
type plainCache struct {
	m map[string]bool
}

const (
	maxPlainCache  = 4096
	maxPlainCached = 128
)

// readsBackPlain says whether s, written plain (as it is), alone and as a
// key, reads back as the string s with the YAML library the CLI writes
// with and with yaml.v3, which reads Meridian's catalog (and reads "1e3"
// as a number where the other reads a string).
func (c *plainCache) readsBackPlain(s string) bool {
	if ok, found := c.m[s]; found {
		return ok
	}
	ok := readsAs(yaml.Unmarshal, s) && readsAs(yamlv3.Unmarshal, s)
	if len(s) > maxPlainCached {
		return ok
	}
	if c.m == nil || len(c.m) >= maxPlainCache {
		c.m = make(map[string]bool)
	}
	c.m[s] = ok
	return ok
}

// readsAs says whether unmarshal reads the YAML document s as the string
// s, and the document "s: 0" as a map whose one key is s: a key may read
// as another ("<<" merges maps into the one it is in).
func readsAs(unmarshal func([]byte, any) error, s string) bool {
	var got any
	if unmarshal([]byte(s), &got) != nil {
		return false
	}
	if str, ok := got.(string); !ok || str != s {
		return false
	}
	got = nil
	if unmarshal([]byte(s+": 0"), &got) != nil {
		return false
	}
	switch m := got.(type) {
	case map[string]any:
		_, ok := m[s]
		return ok && len(m) == 1
	case map[any]any:
		_, ok := m[s]
		return ok && len(m) == 1
	}
	return false
}

// decodeJSONOrdered is the JSON document b as the YAML library's encoder
// takes it: an object as a yaml.MapSlice in the document's order of keys,
// an array as []any, and a number as the int64, uint64 or float64 it is.
// The library's own reader (yaml.UnmarshalWithOptions) read a number with
// an exponent and no dot (5e-7, 2e+21: encoding/json writes floats under
// 1e-6 or from 1e21 so) and an integer past 64 bits as strings, which -o
// yaml then wrote as strings. Only a number past float64's range (which
// encoding/json never writes) stays a string.
func decodeJSONOrdered(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := decodeJSONValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("JSON to write as YAML: more than one value")
	}
	return v, nil
}

func decodeJSONValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			// A key the object names twice (an audit entry's payload
			// is kept as the log holds it, and a log may have been
			// rewritten) keeps its first place and its last value,
			// the value encoding/json reads. Both items were written,
			// and the YAML then read back with neither reader: a map
			// may not repeat a key.
			m := yaml.MapSlice{}
			var at map[string]int // m's index of each key, once m is long
			for d.More() {
				t, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := t.(string) // an object's key is always a string
				v, err := decodeJSONValue(d)
				if err != nil {
					return nil, err
				}
				if i, ok := indexOfKey(m, at, k); ok {
					m[i].Value = v
					continue
				}
				m = append(m, yaml.MapItem{Key: k, Value: v})
				if at != nil {
					at[k] = len(m) - 1
				} else if len(m) > maxLinearKeys {
					at = make(map[string]int, 2*len(m))
					for i, it := range m {
						at[it.Key.(string)] = i
					}
				}
			}
			_, err := d.Token()
			return m, err
		case '[':
			l := []any{}
			for d.More() {
				v, err := decodeJSONValue(d)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := d.Token()
			return l, err
		}
		return nil, fmt.Errorf("JSON to write as YAML: unexpected %v", t)
	case json.Number:
		return jsonNumber(t), nil
	}
	return t, nil
}

// maxLinearKeys is how many keys an object may have before
// decodeJSONValue looks a key up in a map rather than along the object:
// most of a plan's objects have fewer.
const maxLinearKeys = 16

// indexOfKey is the index of key k in m (at, when not nil, maps each of
// m's keys to it), and whether m has k.
func indexOfKey(m yaml.MapSlice, at map[string]int, k string) (int, bool) {
	if at != nil {
		i, ok := at[k]
		return i, ok
	}
	for i := range m {
		if m[i].Key == k {
			return i, true
		}
	}
	return 0, false
}

// jsonNumber is n as an int64 or uint64 when it is an integer that fits,
// else as a float64; n's text itself (a string, written quoted) when it is
// an integer past 64 bits, whose digits a float would round (an estimate's
// flops: 282100000000000000000), or past float64's range.
func jsonNumber(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u
		}
		return s
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}
