package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"meridian.dev/meridian/catalog"
)

// PackKind is the kind of a rule file.
const PackKind = "RulePack"

// Rule kinds (facts/rules.md (d)).
const (
	KindExportControl    = "export-control"
	KindHostCountry      = "host-country"
	KindDataTransfer     = "data-transfer"
	KindComputeThreshold = "compute-threshold"
	KindServiceMarket    = "service-market"
	KindRestrictedParty  = "restricted-party"
	KindOrgPolicy        = "org-policy"
)

// RuleKinds lists the accepted rule kinds.
var RuleKinds = []string{KindExportControl, KindHostCountry, KindDataTransfer, KindComputeThreshold, KindServiceMarket, KindRestrictedParty, KindOrgPolicy}

// Scopes say which facts a rule reads and how often it is evaluated.
const (
	// ScopeCandidate rules read site, pool, owner and acc; they run once per
	// class of identical candidates.
	ScopeCandidate = "candidate"
	// ScopeTransfer rules read dataset and transfer; they run once per
	// dataset and destination country.
	ScopeTransfer = "transfer"
	// ScopeJob rules read only org, job and asOf; they run once per session.
	ScopeJob = "job"
)

// Scopes lists the accepted scopes.
var Scopes = []string{ScopeCandidate, ScopeTransfer, ScopeJob}

// Confidence levels of a rule's facts.
const (
	Confirmed   = "confirmed"
	Reported    = "reported"
	Unconfirmed = "unconfirmed"
)

// Confidences lists the accepted confidence values.
var Confidences = []string{Confirmed, Reported, Unconfirmed}

// Enforcement states.
const (
	InForce        = "in-force"
	NotEnforced    = "not-enforced"
	SuspendedUntil = "suspended-until"
	Draft          = "draft"
)

// Effects lists the accepted effects.
var Effects = []Effect{Deny, Obligation, Advisory}

// EnforcementStep is one enforcement state that holds from a date on.
// Until is set only for suspended-until: from that day the rule is in force again.
type EnforcementStep struct {
	State string       `json:"state"`
	From  catalog.Date `json:"from,omitempty"`
	Until catalog.Date `json:"until,omitempty"`
}

// String prints the step as written in rule files.
func (s EnforcementStep) String() string {
	if s.State == SuspendedUntil {
		return SuspendedUntil + " " + s.Until.String()
	}
	return s.State
}

// Enforcement is a rule's enforcement history, ordered by From. A rule file
// writes it either as one state ("in-force", "draft", "not-enforced",
// "suspended-until 2026-11-10") or as a list of {state, from}.
type Enforcement []EnforcementStep

func parseState(s string) (EnforcementStep, error) {
	s = strings.TrimSpace(s)
	switch s {
	case InForce, NotEnforced, Draft:
		return EnforcementStep{State: s}, nil
	}
	if rest, ok := strings.CutPrefix(s, SuspendedUntil); ok {
		d, err := catalog.ParseDate(strings.TrimSpace(rest))
		if err != nil {
			return EnforcementStep{}, fmt.Errorf("enforcement %q: want suspended-until YYYY-MM-DD", s)
		}
		return EnforcementStep{State: SuspendedUntil, Until: d}, nil
	}
	return EnforcementStep{}, fmt.Errorf("enforcement %q: want one of in-force, not-enforced, draft, suspended-until YYYY-MM-DD", s)
}

// UnmarshalYAML reads a single state or a list of {state, from}.
func (e *Enforcement) UnmarshalYAML(unmarshal func(any) error) error {
	var raw any
	if err := unmarshal(&raw); err != nil {
		return err
	}
	switch v := raw.(type) {
	case string:
		st, err := parseState(v)
		if err != nil {
			return err
		}
		*e = Enforcement{st}
		return nil
	case []any:
		out := make(Enforcement, 0, len(v))
		for i, item := range v {
			m, ok := item.(map[string]any)
			if !ok {
				return fmt.Errorf("enforcement[%d]: want {state, from}", i)
			}
			for k := range m {
				if k != "state" && k != "from" {
					return fmt.Errorf("enforcement[%d]: unknown field %q (accepted: state, from)", i, k)
				}
			}
			state, _ := m["state"].(string)
			st, err := parseState(state)
			if err != nil {
				return fmt.Errorf("enforcement[%d]: %w", i, err)
			}
			if f, ok := m["from"]; ok {
				d, err := catalog.ParseDate(fmt.Sprint(f))
				if err != nil {
					return fmt.Errorf("enforcement[%d].from: %w", i, err)
				}
				st.From = d
			} else if i > 0 {
				return fmt.Errorf("enforcement[%d].from: required after the first step", i)
			}
			if i > 0 && !out[i-1].From.Before(st.From) {
				return fmt.Errorf("enforcement[%d].from: %s is not after the previous step's %s", i, st.From, out[i-1].From)
			}
			out = append(out, st)
		}
		*e = out
		return nil
	}
	return fmt.Errorf("enforcement: want a state (in-force, not-enforced, draft, suspended-until YYYY-MM-DD) or a list of {state, from}")
}

// MarshalJSON writes the steps as a list.
func (e Enforcement) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, s := range e {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"state":%q`, s.String())
		if !s.From.IsZero() {
			fmt.Fprintf(&b, `,"from":%q`, s.From.String())
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// At returns the enforcement state on day d: the last step that started on
// or before d (the first step when none did). A suspension whose end date
// has come reads as in-force.
func (e Enforcement) At(d catalog.Date) EnforcementStep {
	if len(e) == 0 {
		return EnforcementStep{State: InForce}
	}
	cur := e[0]
	for _, s := range e[1:] {
		if !s.From.After(d) {
			cur = s
		}
	}
	if cur.State == SuspendedUntil && !d.Before(cur.Until) {
		return EnforcementStep{State: InForce, From: cur.Until}
	}
	return cur
}

// Lift says what turns a rule's denial into an obligation.
type Lift struct {
	// Licence: an organisation licence naming this rule's id (not expired on
	// the as-of date) lifts the denial.
	Licence bool `yaml:"licence,omitempty" json:"licence,omitempty"`
	// Bases: a dataset transfer basis in this list lifts the denial for that
	// dataset (transfer-scope rules only).
	Bases []string `yaml:"bases,omitempty" json:"bases,omitempty"`
	// Obligation is the message template shown once lifted.
	Obligation string `yaml:"obligation,omitempty" json:"obligation,omitempty"`
}

// Rule is one clause of one law or policy.
type Rule struct {
	ID             string       `yaml:"id" json:"id"`
	Title          string       `yaml:"title,omitempty" json:"title,omitempty"`
	Jurisdiction   string       `yaml:"jurisdiction" json:"jurisdiction"`
	Kind           string       `yaml:"kind" json:"kind"`
	Scope          string       `yaml:"scope" json:"scope"`
	Effect         Effect       `yaml:"effect" json:"effect"`
	EffectiveFrom  catalog.Date `yaml:"effectiveFrom" json:"effectiveFrom"`
	EffectiveUntil catalog.Date `yaml:"effectiveUntil,omitempty" json:"effectiveUntil,omitempty"`
	Enforcement    Enforcement  `yaml:"enforcement" json:"enforcement"`
	Confidence     string       `yaml:"confidence" json:"confidence"`
	Sources        []string     `yaml:"sources" json:"sources"`
	Message        string       `yaml:"message" json:"message"`
	Condition      string       `yaml:"condition" json:"condition"`
	LiftedBy       *Lift        `yaml:"liftedBy,omitempty" json:"liftedBy,omitempty"`
	Notes          string       `yaml:"notes,omitempty" json:"notes,omitempty"`

	// Pack and Pos say where the rule was read from.
	Pack string `yaml:"-" json:"pack"`
	Pos  string `yaml:"-" json:"position"`
}

// MarshalJSON writes the rule with its dates as YYYY-MM-DD.
func (r *Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		*plain
		EffectiveFrom  string `json:"effectiveFrom"`
		EffectiveUntil string `json:"effectiveUntil,omitempty"`
	}{(*plain)(r), r.EffectiveFrom.String(), r.EffectiveUntil.String()})
	return bytes.TrimRight(b.Bytes(), "\n"), err
}

// Source returns the rule's sources joined for a Finding.
func (r *Rule) Source() string { return strings.Join(r.Sources, "; ") }

// Definition is a named CEL expression over candidate facts, computed once
// per candidate class and read by rules as def.NAME (for example the
// 3A090 classification of the accelerator).
type Definition struct {
	Name   string `yaml:"name" json:"name"`
	Expr   string `yaml:"expr" json:"expr"`
	Source string `yaml:"source" json:"source"`
	Notes  string `yaml:"notes,omitempty" json:"notes,omitempty"`
	Pos    string `yaml:"-" json:"position"`
}

// Pack is one rule file.
type Pack struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description,omitempty"`
	} `yaml:"metadata"`
	Definitions []*Definition `yaml:"definitions,omitempty"`
	Rules       []*Rule       `yaml:"rules"`
}

// MaxPackBytes bounds one rule file.
const MaxPackBytes = 4 << 20

var (
	idPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,99}$`)
	namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	// placeholder matches {var.field} (or {asOf}) in message templates.
	placeholder = regexp.MustCompile(`\{([a-zA-Z_][a-zA-Z0-9_]*)(?:\.([a-zA-Z_][a-zA-Z0-9_]*))?\}`)
	// factPlaceholder matches {var.field} only.
	factPlaceholder = regexp.MustCompile(`\{[a-zA-Z_][a-zA-Z0-9_]*\.[a-zA-Z_][a-zA-Z0-9_]*\}`)
)

// ParsePack reads and checks one rule file. It checks syntax, unknown
// fields and every value except the CEL conditions, which the engine
// compiles. Errors name file:line and the field.
func ParsePack(name string, data []byte) (p *Pack, err error) {
	// The YAML library has panicked on some malformed inputs (found by
	// fuzzing); a rule file must never crash the program.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%s: malformed YAML (%v)", name, r)
		}
	}()
	return parsePack(name, data)
}

func parsePack(name string, data []byte) (*Pack, error) {
	if len(data) > MaxPackBytes {
		return nil, fmt.Errorf("%s: file is %d bytes, over the %d-byte limit", name, len(data), MaxPackBytes)
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", name, yaml.FormatError(err, false, false))
	}
	var docs int
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs++
		}
	}
	if docs != 1 {
		return nil, fmt.Errorf("%s: want exactly one YAML document (a %s), found %d", name, PackKind, docs)
	}
	var p Pack
	if err := yaml.UnmarshalWithOptions(data, &p, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("%s: %s", name, yaml.FormatError(err, false, false))
	}
	at := func(path string) string {
		return fmt.Sprintf("%s:%d", name, lineOf(file, path))
	}
	var errs []string
	bad := func(path, field, format string, a ...any) {
		errs = append(errs, fmt.Sprintf("%s: %s: %s", at(path), field, fmt.Sprintf(format, a...)))
	}
	if p.APIVersion != catalog.APIVersion {
		bad("$.apiVersion", "apiVersion", "%q is not supported (accepted: %s)", p.APIVersion, catalog.APIVersion)
	}
	if p.Kind != PackKind {
		bad("$.kind", "kind", "%q is not a rule file (accepted: %s)", p.Kind, PackKind)
	}
	if !idPattern.MatchString(p.Metadata.Name) {
		bad("$.metadata", "metadata.name", "%q: want lower-case letters, digits, '.' and '-'", p.Metadata.Name)
	}
	seenDef := map[string]bool{}
	for i, d := range p.Definitions {
		path := fmt.Sprintf("$.definitions[%d]", i)
		if d == nil {
			bad(path, fmt.Sprintf("definitions[%d]", i), "empty entry")
			continue
		}
		d.Pos = at(path)
		f := fmt.Sprintf("definitions[%d]", i)
		if !namePattern.MatchString(d.Name) {
			bad(path, f+".name", "%q: want an identifier (letters, digits, _)", d.Name)
		}
		if seenDef[d.Name] {
			bad(path, f+".name", "%q defined twice", d.Name)
		}
		seenDef[d.Name] = true
		if strings.TrimSpace(d.Expr) == "" {
			bad(path, f+".expr", "required")
		}
		if strings.TrimSpace(d.Source) == "" {
			bad(path, f+".source", "required: every threshold carries its source")
		}
	}
	if len(p.Rules) == 0 {
		bad("$", "rules", "a rule file needs at least one rule")
	}
	seen := map[string]bool{}
	for i, r := range p.Rules {
		path := fmt.Sprintf("$.rules[%d]", i)
		f := fmt.Sprintf("rules[%d]", i)
		if r == nil {
			bad(path, f, "empty entry")
			continue
		}
		r.Pack = p.Metadata.Name
		r.Pos = at(path)
		if !idPattern.MatchString(r.ID) {
			bad(path+".id", f+".id", "%q: want lower-case letters, digits, '.' and '-'", r.ID)
		} else {
			f = fmt.Sprintf("rules[%d] (%s)", i, r.ID)
		}
		if seen[r.ID] {
			bad(path+".id", f+".id", "%q defined twice", r.ID)
		}
		seen[r.ID] = true
		if strings.TrimSpace(r.Jurisdiction) == "" {
			bad(path, f+".jurisdiction", "required (an ISO country, EU or ORG)")
		}
		if !contains(RuleKinds, r.Kind) {
			bad(path+".kind", f+".kind", "%q (accepted: %s)", r.Kind, strings.Join(RuleKinds, ", "))
		}
		if r.Scope == "" {
			r.Scope = ScopeCandidate
		}
		if !contains(Scopes, r.Scope) {
			bad(path+".scope", f+".scope", "%q (accepted: %s)", r.Scope, strings.Join(Scopes, ", "))
		}
		if !containsEffect(r.Effect) {
			bad(path+".effect", f+".effect", "%q (accepted: deny, obligation, advisory)", r.Effect)
		}
		if r.EffectiveFrom.IsZero() {
			bad(path, f+".effectiveFrom", "required (YYYY-MM-DD)")
		}
		if !r.EffectiveUntil.IsZero() && !r.EffectiveFrom.Before(r.EffectiveUntil) {
			bad(path+".effectiveUntil", f+".effectiveUntil", "%s is not after effectiveFrom %s", r.EffectiveUntil, r.EffectiveFrom)
		}
		if len(r.Enforcement) == 0 {
			bad(path, f+".enforcement", "required (in-force, not-enforced, draft, suspended-until YYYY-MM-DD, or a list of {state, from})")
		}
		if !contains(Confidences, r.Confidence) {
			bad(path+".confidence", f+".confidence", "%q (accepted: %s)", r.Confidence, strings.Join(Confidences, ", "))
		}
		if len(r.Sources) == 0 {
			bad(path, f+".sources", "required: every rule names its source")
		}
		for j, s := range r.Sources {
			if strings.TrimSpace(s) == "" {
				bad(path, fmt.Sprintf("%s.sources[%d]", f, j), "empty")
			}
		}
		if strings.TrimSpace(r.Message) == "" {
			bad(path, f+".message", "required")
		} else if !factPlaceholder.MatchString(r.Message) {
			bad(path+".message", f+".message", "must name the fact that triggered it with a {var.field} placeholder, e.g. {site.country}")
		}
		if strings.TrimSpace(r.Condition) == "" {
			bad(path, f+".condition", "required (a CEL expression that is true when the rule applies)")
		}
		if l := r.LiftedBy; l != nil {
			if len(l.Bases) > 0 && r.Scope != ScopeTransfer {
				bad(path+".liftedBy", f+".liftedBy.bases", "only transfer-scope rules can be lifted by a dataset's transfer basis")
			}
			if !l.Licence && len(l.Bases) == 0 {
				bad(path+".liftedBy", f+".liftedBy", "say what lifts the rule: licence: true and/or bases: [...]")
			}
			if r.Effect != Deny {
				bad(path+".liftedBy", f+".liftedBy", "only a deny rule can be lifted")
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return &p, nil
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

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func containsEffect(e Effect) bool {
	for _, x := range Effects {
		if x == e {
			return true
		}
	}
	return false
}
