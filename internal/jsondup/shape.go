package jsondup

import (
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// shape is what a Go type takes as JSON, as far as Check looks: a
// struct's object (fields), a map's object (elem: its values) or an
// array's elements (list, elem). nil is anything: a scalar, an
// interface, or a type that decodes itself.
type shape struct {
	list   bool
	fields map[string]*shape // a struct's, by their JSON names; nil for a map or a list
	folded map[string]string // a struct's JSON names, by foldKey
	elem   *shape
	// key is a map's key type when the decoder parses its keys (integers,
	// a type that reads text) rather than taking the text they are; nil
	// otherwise.
	key reflect.Type
}

func (sh *shape) elemShape() *shape {
	if sh == nil {
		return nil
	}
	return sh.elem
}

// maxShapes bounds the types whose shapes are kept: the types a program
// decodes are its own, few and fixed, so past it a shape is made again
// at each Check rather than kept.
const maxShapes = 256

var shapes struct {
	sync.Mutex
	m map[reflect.Type]*shape
}

func shapeFor(t reflect.Type) *shape {
	if t == nil {
		return nil
	}
	shapes.Lock()
	sh, ok := shapes.m[t]
	shapes.Unlock()
	if ok {
		return sh
	}
	sh = shapeOf(t, map[reflect.Type]*shape{})
	shapes.Lock()
	if shapes.m == nil {
		shapes.m = map[reflect.Type]*shape{}
	}
	if len(shapes.m) < maxShapes {
		shapes.m[t] = sh
	}
	shapes.Unlock()
	return sh
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// shapeOf is t's shape; made holds those being made, so that a type that
// holds itself (through a pointer, a slice or a map) is one shape.
func shapeOf(t reflect.Type, made map[reflect.Type]*shape) *shape {
	if sh, ok := made[t]; ok {
		return sh
	}
	// The decoder hands such a value its JSON (on a pointer to it, where
	// it is addressable, as fields and elements are).
	for _, u := range []reflect.Type{jsonUnmarshaler, textUnmarshaler} {
		if t.Implements(u) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(u) {
			return nil
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return shapeOf(t.Elem(), made)
	case reflect.Map:
		sh := &shape{}
		if kt := t.Key(); kt.Kind() != reflect.String || reflect.PointerTo(kt).Implements(textUnmarshaler) {
			sh.key = kt
		}
		made[t] = sh
		sh.elem = shapeOf(t.Elem(), made)
		return sh
	case reflect.Slice, reflect.Array:
		sh := &shape{list: true}
		made[t] = sh
		sh.elem = shapeOf(t.Elem(), made)
		return sh
	case reflect.Struct:
		sh := &shape{fields: map[string]*shape{}, folded: map[string]string{}}
		made[t] = sh
		for name, ft := range structFields(t) {
			sh.fields[name] = shapeOf(ft, made)
			sh.folded[foldKey([]byte(name))] = name
		}
		return sh
	}
	return nil
}

// structFields is the fields encoding/json decodes an object of struct t
// into, by their JSON names, with the types they hold: the rules of its
// typeFields (the fields of embedded structs are promoted, the shallowest
// field of a name wins, a tagged one over an untagged one at one depth,
// and two left equal hide each other).
func structFields(t reflect.Type) map[string]reflect.Type {
	type field struct {
		name   string
		tagged bool
		depth  int
		typ    reflect.Type
	}
	var fields []field
	next := []reflect.Type{t}
	count, nextCount := map[reflect.Type]int{}, map[reflect.Type]int{t: 1}
	visited := map[reflect.Type]bool{}
	for depth := 0; len(next) > 0; depth++ {
		current := next
		next = nil
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, st := range current {
			if visited[st] {
				continue
			}
			visited[st] = true
			for i := range st.NumField() {
				sf := st.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				if !validTag(name) {
					name = ""
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{name: name, tagged: name != "", depth: depth, typ: sf.Type}
					if f.name == "" {
						f.name = sf.Name
					}
					fields = append(fields, f)
					if count[st] > 1 {
						// The struct is embedded twice at this depth: its
						// fields hide each other.
						fields = append(fields, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, ft)
				}
			}
		}
	}
	slices.SortStableFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(a.depth, b.depth); c != 0 {
			return c
		}
		switch {
		case a.tagged && !b.tagged:
			return -1
		case b.tagged && !a.tagged:
			return 1
		}
		return 0
	})
	out := map[string]reflect.Type{}
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		if j-i == 1 || fields[i].depth != fields[i+1].depth || fields[i].tagged != fields[i+1].tagged {
			out[fields[i].name] = fields[i].typ
		}
		i = j
	}
	return out
}

// validTag is encoding/json's isValidTag: a name it takes from a tag.
func validTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// parsedKey is k as a map of key type kt holds it, in a form equal for
// keys the decoder reads as one ("1", "01" and "+1" of a map of
// integers); k itself when the decoder cannot read it (and refuses it).
func parsedKey(kt reflect.Type, k []byte) []byte {
	if reflect.PointerTo(kt).Implements(textUnmarshaler) {
		v := reflect.New(kt)
		if v.Interface().(encoding.TextUnmarshaler).UnmarshalText(k) != nil {
			return k
		}
		return fmt.Appendf(nil, "%#v", v.Elem().Interface())
	}
	switch kt.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, err := strconv.ParseInt(string(k), 10, 64); err == nil {
			return strconv.AppendInt(nil, n, 10)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if n, err := strconv.ParseUint(string(k), 10, 64); err == nil {
			return strconv.AppendUint(nil, n, 10)
		}
	}
	return k
}
