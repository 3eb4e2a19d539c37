package catalog

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// shapeChecker walks a document's syntax tree alongside the Go type it will
// decode into, before decoding. It reports every shape problem at once, each
// with its line, its field path (spec.pools[0].count) and, for unknown
// fields, the accepted field names: more than the YAML library's own errors
// say, and none of its silent conversions (8.5 into an integer field).
type shapeChecker struct {
	file, res string
	errs      Errors
	// anchors maps anchor names to their values, so that an alias is checked
	// against the type at the place it is used.
	anchors map[string]ast.Node
	// visits bounds the work on documents that alias the same node many
	// times over; past it the decoder alone checks the rest.
	visits int
}

// maxVisits is the number of nodes one document may make the checker visit.
const maxVisits = 1 << 20

func (c *shapeChecker) add(n ast.Node, path, msg string, accepted ...string) {
	c.errs = append(c.errs, &FieldError{File: c.file, Line: nodeLine(n), Resource: c.res, Field: path, Msg: msg, Accepted: accepted})
}

var textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// yamlFields returns a struct's fields by YAML name, and the names in order.
func yamlFields(t reflect.Type) (map[string]reflect.StructField, []string) {
	fields := map[string]reflect.StructField{}
	var names []string
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
		fields[name] = f
		names = append(names, name)
	}
	return fields, names
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a node's YAML type for messages.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode:
		return strconv.Quote(v.Value)
	case *ast.LiteralNode:
		return "a block of text"
	case *ast.BoolNode:
		return strconv.FormatBool(v.Value)
	case *ast.NullNode:
		return "null"
	}
	if s, ok := n.(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	return n.Type().String()
}

// unwrap looks through tags and anchors to the value they decorate.
func unwrap(n ast.Node) ast.Node {
	for {
		u := unwrap1(n)
		if u == n {
			return n
		}
		n = u
	}
}

// unwrap1 removes one tag or anchor.
func unwrap1(n ast.Node) ast.Node {
	switch v := n.(type) {
	case *ast.TagNode:
		if v.Value != nil {
			return v.Value
		}
	case *ast.AnchorNode:
		if v.Value != nil {
			return v.Value
		}
	}
	return n
}

// check reports shape problems of node against type t at path.
func (c *shapeChecker) check(node ast.Node, t reflect.Type, path string) {
	if node == nil || c.visits > maxVisits {
		return
	}
	c.visits++
	for {
		if a, ok := node.(*ast.AnchorNode); ok && a.Name != nil {
			if c.anchors == nil {
				c.anchors = map[string]ast.Node{}
			}
			c.anchors[keyString2(a.Name)] = a.Value
		}
		u := unwrap1(node)
		if u == node {
			break
		}
		node = u
	}
	n := node
	if n == nil {
		return
	}
	switch v := n.(type) {
	case *ast.NullNode, *ast.CommentGroupNode:
		// null leaves the zero value.
		return
	case *ast.AliasNode:
		if v.Value == nil {
			return
		}
		target, ok := c.anchors[keyString2(v.Value)]
		if !ok {
			c.add(n, path, fmt.Sprintf("alias *%s refers to no anchor defined before it", keyString2(v.Value)))
			return
		}
		if _, isAlias := unwrap(target).(*ast.AliasNode); isAlias {
			return // an alias of an alias: left to the decoder
		}
		// Errors inside the aliased value are reported where it is used.
		before := len(c.errs)
		c.check(target, t, path)
		for _, e := range c.errs[before:] {
			e.Line = nodeLine(n)
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		c.checkText(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.check(n, t.Elem(), path)
	case reflect.Struct:
		c.checkStruct(n, t, path)
	case reflect.Map:
		c.checkMap(n, t, path)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			c.add(n, path, fmt.Sprintf("want a list, got %s", describe(n)))
			return
		}
		for i, v := range seq.Values {
			c.check(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		switch n.(type) {
		case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
			c.add(n, path, fmt.Sprintf("want a string, got %s", describe(n)))
		}
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			c.add(n, path, fmt.Sprintf("want true or false, got %s", describe(n)))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.checkInt(n, t, path)
	case reflect.Float32, reflect.Float64:
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		default:
			if _, ok := plainNumber(n); !ok {
				c.add(n, path, fmt.Sprintf("want a number, got %s", describe(n)))
			}
		}
	}
}

func (c *shapeChecker) checkStruct(n ast.Node, t reflect.Type, path string) {
	pairs, ok := mappingPairs(n)
	if !ok {
		what := "the resource"
		if path != "" {
			what = path
		}
		c.add(n, path, fmt.Sprintf("want a mapping (fields of %s), got %s", what, describe(n)))
		return
	}
	fields, names := yamlFields(t)
	for _, mv := range pairs {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			continue // merged mappings are checked by the decoder
		}
		key := keyString(mv.Key)
		f, ok := fields[key]
		if !ok {
			c.add(mv.Key, join(path, key), "unknown field", names...)
			continue
		}
		c.check(mv.Value, f.Type, join(path, key))
	}
}

func (c *shapeChecker) checkMap(n ast.Node, t reflect.Type, path string) {
	pairs, ok := mappingPairs(n)
	if !ok {
		c.add(n, path, fmt.Sprintf("want a mapping, got %s", describe(n)))
		return
	}
	for _, mv := range pairs {
		if mv.Key == nil || mv.Key.IsMergeKey() {
			continue
		}
		c.check(mv.Value, t.Elem(), join(path, keyString(mv.Key)))
	}
}

func (c *shapeChecker) checkInt(n ast.Node, t reflect.Type, path string) {
	var x float64
	switch v := n.(type) {
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			x = float64(i)
		case uint64:
			x = float64(i)
		}
	case *ast.FloatNode:
		x = v.Value
	default:
		f, ok := plainNumber(n)
		if !ok {
			c.add(n, path, fmt.Sprintf("want a whole number, got %s", describe(n)))
			return
		}
		x = f
	}
	if x != math.Trunc(x) {
		c.add(n, path, fmt.Sprintf("%v is not a whole number", x))
		return
	}
	if bits := t.Bits(); x >= math.Ldexp(1, bits-1) || x < -math.Ldexp(1, bits-1) {
		c.add(n, path, fmt.Sprintf("%v is too large", x))
	}
}

// checkText parses a scalar with the type's own UnmarshalText (Date,
// Duration), so that its error gets a line and a field.
func (c *shapeChecker) checkText(n ast.Node, t reflect.Type, path string) {
	var s string
	switch v := n.(type) {
	case *ast.StringNode:
		s = v.Value
	case *ast.LiteralNode:
		s = v.Value.Value
	default:
		sc, ok := n.(ast.ScalarNode)
		if !ok {
			c.add(n, path, fmt.Sprintf("want a single value, got %s", describe(n)))
			return
		}
		s = fmt.Sprint(sc.GetValue())
		if tk := n.GetToken(); tk != nil {
			s = tk.Value
		}
	}
	v := reflect.New(t).Interface().(encoding.TextUnmarshaler)
	if err := v.UnmarshalText([]byte(s)); err != nil {
		c.add(n, path, err.Error())
	}
}

// plainNumber reads an unquoted scalar such as 7.6e9 or 1e12, which the
// YAML parser keeps as a string but decodes into number fields.
func plainNumber(n ast.Node) (float64, bool) {
	sn, ok := n.(*ast.StringNode)
	if !ok || sn.Token == nil || sn.Token.Type != token.StringType {
		return 0, false
	}
	f, err := strconv.ParseFloat(sn.Value, 64)
	return f, err == nil
}

// mappingPairs returns the key-value pairs of a mapping node.
func mappingPairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

func keyString(k ast.MapKeyNode) string {
	switch v := k.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.MappingKeyNode:
		if v.Value != nil {
			return keyString2(v.Value)
		}
	}
	return keyString2(k)
}

func keyString2(n ast.Node) string {
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return n.String()
}
