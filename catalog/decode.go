package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// internalErrorMsg starts the error returned when decoding panicked.
const internalErrorMsg = "internal error while reading YAML (please report this file)"

// MaxFileBytes bounds one resource file; larger files are refused rather than read.
const MaxFileBytes = 32 << 20

// Set is a collection of resources read from YAML files, in file order.
type Set struct {
	Organizations []*Organization
	Datasets      []*Dataset
	Sites         []*Site
	Jobs          []*TrainingJob

	// files keeps each file's syntax tree so that validation errors found
	// after decoding can still name a line.
	files map[string]*ast.File
}

// kindHeader is read first to pick the Go type for a document.
type kindHeader struct {
	APIVersion, Kind, Name string
}

// headerOf reads apiVersion, kind and metadata.name from a document without
// decoding it, so that a broken body still gets a named resource in errors.
func headerOf(body ast.Node) kindHeader {
	var h kindHeader
	pairs, _ := mappingPairs(unwrap(body))
	for _, mv := range pairs {
		if mv.Key == nil {
			continue
		}
		switch keyString(mv.Key) {
		case "apiVersion":
			h.APIVersion = scalarString(mv.Value)
		case "kind":
			h.Kind = scalarString(mv.Value)
		case "metadata":
			meta, _ := mappingPairs(unwrap(mv.Value))
			for _, m := range meta {
				if m.Key != nil && keyString(m.Key) == "name" {
					h.Name = scalarString(m.Value)
				}
			}
		}
	}
	return h
}

func scalarString(n ast.Node) string {
	if n == nil {
		return ""
	}
	switch v := unwrap(n).(type) {
	case *ast.StringNode:
		return v.Value
	case ast.ScalarNode:
		if tk := v.GetToken(); tk != nil {
			return tk.Value
		}
	}
	return ""
}

// pathOfLine returns the field path of the first key on line, or "".
func pathOfLine(body ast.Node, line int) string {
	if line <= 0 {
		return ""
	}
	var found string
	var walk func(n ast.Node, path string)
	walk = func(n ast.Node, path string) {
		if n == nil || found != "" {
			return
		}
		n = unwrap(n)
		if n == nil {
			return
		}
		if pairs, ok := mappingPairs(n); ok {
			for _, mv := range pairs {
				if mv.Key == nil {
					continue
				}
				p := join(path, keyString(mv.Key))
				if nodeLine(mv.Key) == line {
					found = p
					return
				}
				walk(mv.Value, p)
			}
			return
		}
		if seq, ok := n.(*ast.SequenceNode); ok {
			for i, v := range seq.Values {
				walk(v, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(body, "")
	return found
}

// Kinds lists the resource kinds a file may hold.
var Kinds = []string{KindOrganization, KindDataset, KindSite, KindTrainingJob}

// Decode reads every YAML document in data. It checks syntax, types and
// unknown fields; meaning (countries, references) is checked by World.Validate.
// name is used in errors.
func Decode(name string, data []byte) (set *Set, err error) {
	// The YAML library is third-party code; a panic inside it on hostile
	// input must not take the process down.
	defer func() {
		if r := recover(); r != nil {
			set, err = nil, &FieldError{File: name, Msg: fmt.Sprintf("%s: %v", internalErrorMsg, r)}
		}
	}()
	set = &Set{files: map[string]*ast.File{}}
	if len(data) > MaxFileBytes {
		return nil, &FieldError{File: name, Msg: fmt.Sprintf("file is %d bytes, over the %d-byte limit", len(data), MaxFileBytes)}
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(name, "", err)
	}
	set.files[name] = file
	var errs Errors
	for i, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if _, ok := doc.Body.(*ast.MappingNode); !ok {
			if _, ok := doc.Body.(*ast.MappingValueNode); !ok {
				if isEmptyNode(doc.Body) {
					continue
				}
				errs = append(errs, &FieldError{File: name, Line: nodeLine(doc.Body), Msg: "document is not a mapping: want apiVersion, kind, metadata and spec"})
				continue
			}
		}
		pos := Position{File: name, Line: nodeLine(doc.Body), doc: i}
		h := headerOf(doc.Body)
		if h.APIVersion != APIVersion {
			msg := fmt.Sprintf("%q is not supported", h.APIVersion)
			if h.APIVersion == "" {
				msg = "required"
			}
			errs = append(errs, &FieldError{File: name, Line: lineOf(doc.Body, "$.apiVersion", pos.Line), Field: "apiVersion",
				Msg: msg, Accepted: []string{APIVersion}})
			continue
		}
		var target any
		switch h.Kind {
		case KindOrganization:
			r := &Organization{Pos: pos}
			set.Organizations = append(set.Organizations, r)
			target = r
		case KindDataset:
			r := &Dataset{Pos: pos}
			set.Datasets = append(set.Datasets, r)
			target = r
		case KindSite:
			r := &Site{Pos: pos}
			set.Sites = append(set.Sites, r)
			target = r
		case KindTrainingJob:
			r := &TrainingJob{Pos: pos}
			set.Jobs = append(set.Jobs, r)
			target = r
		default:
			msg := fmt.Sprintf("%q is not a known kind", h.Kind)
			if h.Kind == "" {
				msg = "required"
			}
			errs = append(errs, &FieldError{File: name, Line: lineOf(doc.Body, "$.kind", pos.Line), Field: "kind",
				Msg: msg, Accepted: Kinds})
			continue
		}
		res := h.Kind
		if h.Name != "" {
			res += "/" + h.Name
		}
		// Check the shape first: its errors name the field and line, and it
		// catches what the decoder would silently convert.
		sc := &shapeChecker{file: name, res: res}
		sc.check(doc.Body, reflect.TypeOf(target).Elem(), "")
		if len(sc.errs) > 0 {
			errs = append(errs, sc.errs...)
			continue
		}
		if err := yaml.NodeToValue(doc.Body, target, yaml.DisallowUnknownField()); err != nil {
			fe := yamlError(name, res, err)
			if fe.Field == "" {
				fe.Field = pathOfLine(doc.Body, fe.Line)
			}
			errs = append(errs, fe)
		}
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return set, nil
}

func isEmptyNode(n ast.Node) bool {
	switch n.(type) {
	case *ast.NullNode, *ast.CommentGroupNode:
		return true
	}
	return false
}

// yamlError turns a go-yaml error into a FieldError with the line it names.
func yamlError(file, kind string, err error) *FieldError {
	fe := &FieldError{File: file, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		fe.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			fe.Line = tk.Position.Line
		}
		var tErr *yaml.TypeError
		if errors.As(err, &tErr) && tErr.StructFieldName != nil {
			fe.Field = *tErr.StructFieldName
		}
	}
	if kind != "" {
		fe.Resource = kind
	}
	fe.Msg = strings.TrimSpace(fe.Msg)
	return fe
}

func nodeLine(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// lineOf finds the line of a YAML path such as $.spec.pools[0].count in a
// document, or returns def when the path is absent.
func lineOf(body ast.Node, path string, def int) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return def
	}
	n, err := p.FilterNode(body)
	if err != nil || n == nil {
		return def
	}
	if l := nodeLine(n); l > 0 {
		return l
	}
	return def
}

// lineFor returns the line of field (a dotted path like spec.pools[0].count)
// in the document a resource was read from.
func (s *Set) lineFor(pos Position, field string) int {
	if s == nil || s.files == nil {
		return pos.Line
	}
	f := s.files[pos.File]
	if f == nil || pos.doc >= len(f.Docs) || f.Docs[pos.doc] == nil {
		return pos.Line
	}
	body := f.Docs[pos.doc].Body
	// A missing field is reported on the line of its nearest parent.
	for field != "" {
		if l := lineOf(body, "$."+field, 0); l > 0 {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return pos.Line
}

// Merge appends o's resources to s.
func (s *Set) Merge(o *Set) {
	if o == nil {
		return
	}
	s.Organizations = append(s.Organizations, o.Organizations...)
	s.Datasets = append(s.Datasets, o.Datasets...)
	s.Sites = append(s.Sites, o.Sites...)
	s.Jobs = append(s.Jobs, o.Jobs...)
	if s.files == nil {
		s.files = map[string]*ast.File{}
	}
	for k, v := range o.files {
		s.files[k] = v
	}
}

// LoadFiles reads resources from files and directories (every *.yaml and
// *.yml inside, sorted by name). "-" reads standard input.
func LoadFiles(paths ...string) (*Set, error) {
	set := &Set{files: map[string]*ast.File{}}
	var errs Errors
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := readLimited(f)
			if err != nil {
				return nil, err
			}
			s, err := Decode(f, data)
			if err != nil {
				var es Errors
				var fe *FieldError
				switch {
				case errors.As(err, &es):
					errs = append(errs, es...)
				case errors.As(err, &fe):
					errs = append(errs, fe)
				default:
					return nil, err
				}
				continue
			}
			set.Merge(s)
		}
	}
	if err := errs.errOrNil(); err != nil {
		return nil, err
	}
	return set, nil
}

func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{"-"}, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var out []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", p, err)
	}
	sort.Strings(out)
	return out, nil
}

func readLimited(path string) ([]byte, error) {
	var r *os.File
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		defer f.Close()
		r = f
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n > MaxFileBytes {
		return nil, &FieldError{File: path, Msg: fmt.Sprintf("file is over the %d-byte limit", MaxFileBytes)}
	}
	return buf.Bytes(), nil
}
