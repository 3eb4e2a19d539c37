package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invopop/jsonschema"
)

// The OpenAPI 3.1 document is generated from the route table: paths,
// methods, access, parameters, and request and response bodies reflected
// from the Go types the handlers decode and encode. Struct schemas allow no
// other properties, so a handler that writes a field the document does not
// know fails the route matrix test, which checks every answer against it.

// OpenAPIVersion is the document's openapi field.
const OpenAPIVersion = "3.1.0"

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	doc, err := s.OpenAPI()
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(doc)
}

var (
	docMu sync.Mutex
	docs  = map[*Server][]byte{}
)

// OpenAPI returns the document for the registered routes.
func (s *Server) OpenAPI() ([]byte, error) {
	docMu.Lock()
	defer docMu.Unlock()
	if d := docs[s]; d != nil && len(d) > 0 {
		return d, nil
	}
	d, err := BuildOpenAPI(s.Routes())
	if err != nil {
		return nil, err
	}
	docs[s] = d
	return d, nil
}

// SchemaName is the components/schemas name of a Go type: its package's
// last element and its name (run.Run, store.Event).
func SchemaName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return ""
	}
	return path.Base(t.PkgPath()) + "." + t.Name()
}

var (
	textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
	jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	timeType      = reflect.TypeOf(time.Time{})
)

// mapType gives types that marshal themselves the schema of what they write.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch {
	case t == timeType:
		return &jsonschema.Schema{Type: "string", Format: "date-time"}
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		return &jsonschema.Schema{Type: "string"}
	case t.Kind() != reflect.Slice && (t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler)):
		return &jsonschema.Schema{} // any JSON
	}
	return nil
}

// BuildOpenAPI returns the OpenAPI document of routes.
func BuildOpenAPI(routes []Route) ([]byte, error) {
	ref := &jsonschema.Reflector{Namer: SchemaName, Mapper: mapType, Anonymous: true}
	schemas := map[string]any{}
	schemaOf := func(v any) (map[string]any, error) {
		s := ref.Reflect(v)
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		b = []byte(strings.ReplaceAll(string(b), "#/$defs/", "#/components/schemas/"))
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		if defs, ok := m["$defs"].(map[string]any); ok {
			for k, d := range defs {
				schemas[k] = d
			}
			delete(m, "$defs")
		}
		delete(m, "$schema")
		return m, nil
	}
	errSchema, err := schemaOf(ErrorBody{})
	if err != nil {
		return nil, err
	}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op := map[string]any{
			"operationId":  operationID(rt),
			"summary":      rt.Summary,
			"x-access":     rt.Access.String(),
			"x-timeout":    timeoutOf(rt),
			"x-rate-cost":  (&rt).cost(),
			"x-body-limit": (&rt).maxBody(),
		}
		if rt.CrossTenant {
			op["x-cross-tenant"] = true
		}
		if rt.Access != Public {
			op["security"] = []map[string][]string{{"bearer": {}}}
		} else {
			op["security"] = []map[string][]string{}
		}
		var params []map[string]any
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				params = append(params, map[string]any{"name": seg[1 : len(seg)-1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": map[string]any{"type": q.Type}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Request != nil {
			rs, err := schemaOf(rt.Request)
			if err != nil {
				return nil, err
			}
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": rs}}}
		}
		responses := map[string]any{}
		ok := map[string]any{"description": "success"}
		switch {
		case rt.Response != nil:
			rs, err := schemaOf(rt.Response)
			if err != nil {
				return nil, err
			}
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": rs}}
		case rt.ResponseType != "":
			ok["content"] = map[string]any{rt.ResponseType: map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		if len(rt.StreamEvents) > 0 {
			// The stream: its events' data, by event name (OpenAPI 3.1 has
			// no word for the items of a stream; 3.2's itemSchema came later).
			evs := map[string]any{}
			for name, v := range rt.StreamEvents {
				es, err := schemaOf(v)
				if err != nil {
					return nil, err
				}
				evs[name] = es
			}
			content, _ := ok["content"].(map[string]any)
			if content == nil {
				content = map[string]any{}
				ok["content"] = content
			}
			content["text/event-stream"] = map[string]any{"schema": map[string]any{"type": "string"}, "x-sse-events": evs}
		}
		responses[strconv.Itoa((&rt).status())] = ok
		// Every route answers 400 to a query or header it would misread
		// (queryValid, singletonHeaders).
		codes := append([]int{http.StatusBadRequest}, rt.Errors...)
		if rt.Access != Public {
			codes = append(codes, http.StatusUnauthorized, http.StatusTooManyRequests)
		}
		if rt.Access == Admin {
			codes = append(codes, http.StatusForbidden)
		}
		// Every route answers 413 to a body over its x-body-limit, and
		// every route but a GET 415 to a body that is not JSON
		// (contentTypeValid).
		codes = append(codes, http.StatusRequestEntityTooLarge)
		if rt.Method != http.MethodGet {
			codes = append(codes, http.StatusUnsupportedMediaType)
		}
		codes = append(codes, http.StatusInternalServerError, http.StatusServiceUnavailable)
		for _, c := range codes {
			content := map[string]any{"application/json": map[string]any{"schema": errSchema}}
			if c == http.StatusUnprocessableEntity && rt.Response != nil && reflect.TypeOf(rt.Response).Name() == "StageResult" {
				ds, err := schemaOf(DeniedBody{})
				if err != nil {
					return nil, err
				}
				content = map[string]any{"application/json": map[string]any{"schema": map[string]any{"oneOf": []any{errSchema, ds}}}}
			}
			responses[strconv.Itoa(c)] = map[string]any{"description": http.StatusText(c), "content": content}
		}
		op["responses"] = responses
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	seen := map[reflect.Type]bool{}
	for _, rt := range routes {
		for _, v := range []any{rt.Request, rt.Response} {
			if v != nil {
				markNullable(reflect.TypeOf(v), schemas, seen)
			}
		}
		for _, v := range rt.StreamEvents {
			markNullable(reflect.TypeOf(v), schemas, seen)
		}
	}
	markNullable(reflect.TypeOf(ErrorBody{}), schemas, seen)
	markNullable(reflect.TypeOf(DeniedBody{}), schemas, seen)
	doc := map[string]any{
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":   "Meridian API",
			"version": "v1",
			"description": "Runs, plans, estimates, the catalog, datasets, the audit log and tenants. " +
				"Every route but the public ones takes a bearer token; a token speaks for one tenant, which sees only its own runs and data. " +
				"Errors are {\"error\": {\"code\", \"field\", \"message\"}}.",
		},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
		"x-health":   "GET /healthz answers {\"status\": \"ok\"} to anyone (load balancers)",
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return out, nil
}

func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, seg := range strings.Split(rt.Path, "/") {
		seg = strings.Trim(seg, "{}")
		if seg == "" || seg == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(seg[:1]) + strings.ReplaceAll(seg[1:], ".", ""))
	}
	return b.String()
}

func timeoutOf(rt Route) string {
	if rt.Streaming {
		return "stream (at most " + MaxStream.String() + ")"
	}
	if rt.Follow {
		return (&rt).timeout().String() + "; with follow, a stream (at most " + MaxStream.String() + ")"
	}
	return (&rt).timeout().String()
}

// markNullable lets the properties that Go may write as null (nil
// pointers, slices, maps and interfaces) be null, in the definition of every
// struct type reachable from t.
func markNullable(t reflect.Type, schemas map[string]any, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	def, _ := schemas[SchemaName(t)].(map[string]any)
	var props map[string]any
	if def != nil {
		props, _ = def["properties"].(map[string]any)
	}
	markFields(t, props, schemas, seen)
}

func markFields(t reflect.Type, props map[string]any, schemas map[string]any, seen map[reflect.Type]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			// Embedded: its fields are the parent's properties.
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				markFields(et, props, schemas, seen)
				markNullable(et, schemas, seen)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		markNullable(f.Type, schemas, seen)
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		default:
			continue
		}
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Uint8 {
			continue
		}
		p, ok := props[name].(map[string]any)
		if !ok {
			continue
		}
		props[name] = map[string]any{"anyOf": []any{p, map[string]any{"type": "null"}}}
	}
}
