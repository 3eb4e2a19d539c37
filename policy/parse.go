package policy

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"meridian.dev/meridian/catalog"
)

var (
	idPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,99}$`)
	namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	// placeholder matches {var.field} (or {asOf}) in message templates.
	placeholder = regexp.MustCompile(`\{([a-zA-Z_][a-zA-Z0-9_]*)(?:\.([a-zA-Z_][a-zA-Z0-9_]*))?\}`)
	// factPlaceholder matches {var.field} only.
	factPlaceholder = regexp.MustCompile(`\{[a-zA-Z_][a-zA-Z0-9_]*\.[a-zA-Z_][a-zA-Z0-9_]*\}`)
)

// ParsePack reads and checks one rule file. It checks syntax, unknown
// fields and every value except the CEL conditions and the vocabulary,
// which the engine checks when it compiles. Errors are Problems naming
// file:line, the rule and the field.
func ParsePack(name string, data []byte) (p *Pack, err error) {
	return parsePackContext(context.Background(), name, data)
}

// parsePackContext is ParsePack stopping with ctx: between the stages of
// reading the YAML and between rules, definitions and thresholds. A file
// at MaxPackBytes takes seconds to read, and a request that ends (a
// client gone, a deadline) must not keep a core busy for it. The error
// is then ctx's cause, not Problems: the file is not at fault.
func parsePackContext(ctx context.Context, name string, data []byte) (p *Pack, err error) {
	// The YAML library has panicked on some malformed inputs (found by
	// fuzzing); a rule file must never crash the program.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, Problems{{File: name, Message: fmt.Sprintf("malformed YAML (%v)", r)}}
		}
	}()
	p, ps, err := parsePack(ctx, name, data)
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	return p, nil
}

// stopped is ctx's cause, as the error of reading name, when ctx is done.
func stopped(ctx context.Context, name string) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("reading rule file %s stopped: %w", name, context.Cause(ctx))
}

func parsePack(ctx context.Context, name string, data []byte) (*Pack, Problems, error) {
	whole := func(format string, a ...any) Problems {
		return Problems{{File: name, Message: clipText(fmt.Sprintf(format, a...), maxProblemText)}}
	}
	if err := stopped(ctx, name); err != nil {
		return nil, nil, err
	}
	if len(data) > MaxPackBytes {
		return nil, whole("file is %d bytes, over the %d-byte limit for a rule file", len(data), MaxPackBytes), nil
	}
	// The YAML library below takes minutes on a few kilobytes nested
	// tens of thousands deep; the loader's bounded parser goes first.
	if err := catalog.CheckYAML(name, data); err != nil {
		return nil, whole("%v", err), nil
	}
	if err := stopped(ctx, name); err != nil {
		return nil, nil, err
	}
	// A bidirectional override, embedding or isolate makes a rule display
	// as other text than it is: a condition or a message that reads one
	// way in a review, a table or an audit record and acts another (the
	// "Trojan Source" trick). Written as such, one is refused anywhere in
	// the file, comments included; written as an escape ("\u202e"), in the
	// decoded values below.
	if line, r := bidiLine(data); line > 0 {
		return nil, Problems{{File: name, Line: line, Message: bidiMessage(r)}}, nil
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, whole("%s", yaml.FormatError(err, false, false)), nil
	}
	if err := stopped(ctx, name); err != nil {
		return nil, nil, err
	}
	var docs int
	var body ast.Node
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs++
			body = d.Body
		}
	}
	if docs != 1 {
		return nil, whole("want exactly one YAML document (a %s), found %d", PackKind, docs), nil
	}
	// Decoded from the tree just parsed: parsing the bytes again took as
	// long again (a second of CPU for a file near MaxPackBytes).
	var p Pack
	if err := yaml.NodeToValue(body, &p, yaml.DisallowUnknownField()); err != nil {
		return nil, whole("%s", yaml.FormatError(err, false, false)), nil
	}
	if err := stopped(ctx, name); err != nil {
		return nil, nil, err
	}
	// Past MaxProblems a problem is counted, not built: finding its line
	// walks the tree, and its message quotes the file.
	var ps problemList
	bad := func(path, rule, field, format string, a ...any) {
		if ps.full() {
			ps.skip()
			return
		}
		ps.add(Problem{File: name, Line: lineOf(file, path), Rule: rule, Field: field, Message: fmt.Sprintf(format, a...)})
	}
	pos := func(path string) string { return fmt.Sprintf("%s:%d", name, lineOf(file, path)) }
	textValues(reflect.ValueOf(p), "$", func(path, what string) {
		bad(path, "", strings.TrimPrefix(path, "$."), "holds %s; refused", what)
	})
	if p.APIVersion != catalog.APIVersion {
		bad("$.apiVersion", "", "apiVersion", "%q is not supported (accepted: %s)", p.APIVersion, catalog.APIVersion)
	}
	if p.Kind != PackKind {
		bad("$.kind", "", "kind", "%q is not a rule file (accepted: %s)", p.Kind, PackKind)
	}
	if !idPattern.MatchString(p.Metadata.Name) {
		bad("$.metadata", "", "metadata.name", "%q: want lower-case letters, digits, '.' and '-'", p.Metadata.Name)
	}
	// checkName: a definition's or threshold's name is an identifier
	// that appears once among its kind.
	checkName := func(path, who, name string, seen map[string]bool) {
		if !namePattern.MatchString(name) {
			bad(path, who, "name", "%q: want an identifier (letters, digits, _)", name)
		}
		if seen[name] {
			bad(path, who, "name", "%q defined twice", name)
		}
		seen[name] = true
	}
	seenDef := map[string]bool{}
	for i, d := range p.Definitions {
		if err := stopped(ctx, name); err != nil {
			return nil, nil, err
		}
		path := fmt.Sprintf("$.definitions[%d]", i)
		if d == nil {
			bad(path, "", fmt.Sprintf("definitions[%d]", i), "empty entry")
			continue
		}
		d.Pos = pos(path)
		who := "definition " + d.Name
		checkName(path, who, d.Name, seenDef)
		if strings.TrimSpace(d.Expr) == "" {
			bad(path, who, "expr", "required")
		}
		if strings.TrimSpace(d.Source) == "" {
			bad(path, who, "source", "required: every threshold carries its source")
		}
	}
	seenTh := map[string]bool{}
	for i, t := range p.Thresholds {
		if err := stopped(ctx, name); err != nil {
			return nil, nil, err
		}
		path := fmt.Sprintf("$.thresholds[%d]", i)
		if t == nil {
			bad(path, "", fmt.Sprintf("thresholds[%d]", i), "empty entry")
			continue
		}
		t.Pos = pos(path)
		who := "threshold " + t.Name
		checkName(path, who, t.Name, seenTh)
		if !contains(Confidences, t.Confidence) {
			bad(path, who, "confidence", "%q (accepted: %s)", t.Confidence, strings.Join(Confidences, ", "))
		}
		switch {
		case len(t.Readings) == 0:
			bad(path, who, "readings", "required: at least one {value, source}")
		case len(t.Readings) > maxReadings:
			bad(path, who, "readings", "%d readings, over the limit of %d", len(t.Readings), maxReadings)
		}
		for j, r := range t.Readings {
			rp := fmt.Sprintf("%s.readings[%d]", path, j)
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
				bad(rp, who, fmt.Sprintf("readings[%d].value", j), "%v is not a number", r.Value)
			}
			if strings.TrimSpace(r.Source) == "" {
				bad(rp, who, fmt.Sprintf("readings[%d].source", j), "required: each reading of a threshold has its own source")
			}
		}
		if len(t.Readings) > 1 && t.Confidence == Confirmed && t.IsBand() {
			bad(path, who, "confidence", "a confirmed threshold has one value; readings that differ are a band, so say how sure they are (reported or unconfirmed)")
		}
	}
	if len(p.Rules) == 0 {
		bad("$", "", "rules", "a rule file needs at least one rule")
	}
	seen := map[string]bool{}
	for i, r := range p.Rules {
		if err := stopped(ctx, name); err != nil {
			return nil, nil, err
		}
		path := fmt.Sprintf("$.rules[%d]", i)
		if r == nil {
			bad(path, "", fmt.Sprintf("rules[%d]", i), "empty entry")
			continue
		}
		r.Pack = p.Metadata.Name
		r.Pos = pos(path)
		who := r.ID
		if !idPattern.MatchString(r.ID) {
			who = fmt.Sprintf("rules[%d]", i)
			bad(path+".id", who, "id", "%q: want lower-case letters, digits, '.' and '-'", r.ID)
		}
		if seen[r.ID] {
			bad(path+".id", who, "id", "%q defined twice", r.ID)
		}
		seen[r.ID] = true
		if strings.TrimSpace(r.Jurisdiction) == "" {
			bad(path, who, "jurisdiction", "required (an ISO country, EU or ORG)")
		}
		if !contains(RuleKinds, r.Kind) {
			bad(path+".kind", who, "kind", "%q (accepted: %s)", r.Kind, strings.Join(RuleKinds, ", "))
		}
		if r.Scope == "" {
			r.Scope = ScopeCandidate
			if r.Kind == KindWeightsDelivery {
				r.Scope = ScopeDelivery
			}
		}
		if !contains(Scopes, r.Scope) {
			bad(path+".scope", who, "scope", "%q (accepted: %s)", r.Scope, strings.Join(Scopes, ", "))
		}
		if r.Kind == KindWeightsDelivery && r.Scope != ScopeDelivery {
			bad(path+".scope", who, "scope", "a %s rule reads where the weights go: want scope %s", KindWeightsDelivery, ScopeDelivery)
		}
		if !containsEffect(r.Effect) {
			bad(path+".effect", who, "effect", "%q (accepted: deny, obligation, advisory)", r.Effect)
		}
		if r.EffectiveFrom.IsZero() {
			bad(path, who, "effectiveFrom", "required (YYYY-MM-DD)")
		}
		if !r.EffectiveUntil.IsZero() && !r.EffectiveFrom.Before(r.EffectiveUntil) {
			bad(path+".effectiveUntil", who, "effectiveUntil", "%s is not after effectiveFrom %s", r.EffectiveUntil, r.EffectiveFrom)
		}
		if len(r.Enforcement) == 0 {
			bad(path, who, "enforcement", "required (in-force, not-enforced, draft, suspended-until YYYY-MM-DD, or a list of {state, from})")
		} else if first := r.Enforcement[0]; !r.EffectiveFrom.IsZero() && first.From.After(r.EffectiveFrom) {
			// Enforcement.At reads the first step back to effectiveFrom, so
			// the days before it would be under a state written for later
			// ones (a rule "not enforced from June" off since January, or
			// one "in force from June" on). Whether it binds then is the
			// author's to say; refusing makes them say it.
			bad(path+".enforcement[0].from", who, "enforcement[0].from",
				"the first step starts on %s, after effectiveFrom %s: say the state from %s on (start the first step on or before effectiveFrom)",
				first.From, r.EffectiveFrom, r.EffectiveFrom)
		}
		if !contains(Confidences, r.Confidence) {
			bad(path+".confidence", who, "confidence", "%q (accepted: %s)", r.Confidence, strings.Join(Confidences, ", "))
		}
		if len(r.Sources) == 0 {
			bad(path, who, "sources", "required: every rule names its source")
		}
		for j, s := range r.Sources {
			if strings.TrimSpace(s) == "" {
				bad(path, who, fmt.Sprintf("sources[%d]", j), "empty")
			}
		}
		if strings.TrimSpace(r.Message) == "" {
			bad(path, who, "message", "required")
		} else if !factPlaceholder.MatchString(r.Message) {
			bad(path+".message", who, "message", "must name the fact that triggered it with a {var.field} placeholder, e.g. {site.country}")
		}
		if strings.TrimSpace(r.Condition) == "" {
			bad(path, who, "condition", "required (a CEL expression that is true when the rule applies)")
		}
		if l := r.LiftedBy; l != nil {
			if len(l.Bases) > 0 && r.Scope != ScopeTransfer {
				bad(path+".liftedBy", who, "liftedBy.bases", "only transfer-scope rules can be lifted by a dataset's transfer basis")
			}
			if !l.Licence && len(l.Bases) == 0 {
				bad(path+".liftedBy", who, "liftedBy", "say what lifts the rule: licence: true and/or bases: [...]")
			}
			if l.Licence && r.Effect != Deny {
				bad(path+".liftedBy", who, "liftedBy.licence", "only a deny rule can be lifted by a licence")
			}
		}
	}
	return &p, ps.list(), nil
}

func bidiMessage(r rune) string {
	return fmt.Sprintf("holds the bidirectional control %U, which would display the text after it in another order than it is written; refused", r)
}

// bidiLine is the line of data's first bidirectional control
// (catalog.BidiControl) and the control, or 0.
func bidiLine(data []byte) (int, rune) {
	for line, rest := 1, data; len(rest) > 0; line++ {
		l, next, _ := bytes.Cut(rest, []byte("\n"))
		if i := bytes.IndexFunc(l, catalog.BidiControl); i >= 0 {
			r, _ := utf8.DecodeRune(l[i:])
			return line, r
		}
		rest = next
	}
	return 0, 0
}

// textValues calls found with the YAML path of each string in v, a
// decoded pack, that holds what a catalog's text may not
// (catalog.RefusedText: a control character, a bidirectional control, or
// a character the display writes escaped, such as a joiner out of place),
// and what it holds. A rule's title, message and sources are shown in
// every plan, review and audit record: one that draws as other text than
// it holds (a zero-width joiner inside a word, a direction mark beside no
// right-to-left letter) was let through when only bidirectional controls
// were refused.
func textValues(v reflect.Value, path string, found func(path, what string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			textValues(v.Elem(), path, found)
		}
	case reflect.String:
		if i, what := catalog.RefusedText(v.String()); i >= 0 {
			found(path, fmt.Sprintf("%s at byte %d", what, i))
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			textValues(v.Index(i), fmt.Sprintf("%s[%d]", path, i), found)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if t.Field(i).IsExported() && name != "" && name != "-" {
				textValues(v.Field(i), path+"."+name, found)
			}
		}
	}
}

func lineOf(file *ast.File, path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 1
	}
	n, err := p.FilterFile(file)
	if err != nil || n == nil || n.GetToken() == nil {
		return 1
	}
	return n.GetToken().Position.Line
}
