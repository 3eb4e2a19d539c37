package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
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
	// KindWeightsDelivery rules govern where trained weights may go
	// (TrainingJob spec.weightsDelivery); they use the delivery scope.
	KindWeightsDelivery = "weights-delivery"
	// KindModelProvenance rules read the base model a job starts from.
	KindModelProvenance = "model-provenance"
)

// RuleKinds lists the accepted rule kinds.
var RuleKinds = []string{KindExportControl, KindHostCountry, KindDataTransfer, KindComputeThreshold, KindServiceMarket, KindRestrictedParty, KindOrgPolicy, KindWeightsDelivery, KindModelProvenance}

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
	// ScopeDelivery rules read delivery (one country of the job's
	// weightsDelivery); they run once per session and delivery country.
	ScopeDelivery = "delivery"
)

// Scopes lists the accepted scopes.
var Scopes = []string{ScopeCandidate, ScopeTransfer, ScopeJob, ScopeDelivery}

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

// Lift says what answers a rule: a denial becomes an obligation; an
// obligation or advisory stays what it is, with the lifted message (the
// declared basis is shown as counted).
type Lift struct {
	// Licence: an organisation licence naming this rule's id (not expired on
	// the as-of date) lifts the denial.
	Licence bool `yaml:"licence,omitempty" json:"licence,omitempty"`
	// Bases: a dataset transfer basis in this list lifts the denial for that
	// dataset (transfer-scope rules only). Each must be a legal basis of
	// the vocabulary (catalog.LegalBases).
	Bases []string `yaml:"bases,omitempty" json:"bases,omitempty"`
	// Obligation is the message template shown once lifted.
	Obligation string `yaml:"obligation,omitempty" json:"obligation,omitempty"`
}

// Reading is one sourced value of a threshold.
type Reading struct {
	Value  float64 `yaml:"value" json:"value"`
	Source string  `yaml:"source" json:"source"`
}

// Threshold is a number a rule compares a fact with, stated as the
// readings of the law that sources support. A rule reads it as
// threshold.NAME and is evaluated under every reading: where its condition
// holds under all of them it has its effect; where it holds under some, it
// advises, naming the band and the threshold's confidence; where it holds
// under none it does not apply.
type Threshold struct {
	Name       string    `yaml:"name" json:"name"`
	Unit       string    `yaml:"unit,omitempty" json:"unit,omitempty"`
	Confidence string    `yaml:"confidence" json:"confidence"`
	Readings   []Reading `yaml:"readings" json:"readings"`
	Notes      string    `yaml:"notes,omitempty" json:"notes,omitempty"`
	Pos        string    `yaml:"-" json:"position"`
}

// Low and High are the smallest and largest readings.
func (t *Threshold) Low() float64 {
	lo := t.Readings[0].Value
	for _, r := range t.Readings[1:] {
		lo = min(lo, r.Value)
	}
	return lo
}

// High is the largest reading.
func (t *Threshold) High() float64 {
	hi := t.Readings[0].Value
	for _, r := range t.Readings[1:] {
		hi = max(hi, r.Value)
	}
	return hi
}

// IsBand reports whether the readings differ.
func (t *Threshold) IsBand() bool { return t.Low() != t.High() }

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
	Thresholds  []*Threshold  `yaml:"thresholds,omitempty"`
	Rules       []*Rule       `yaml:"rules"`

	builtin bool // an embedded pack (see File)
}

// MaxPackBytes bounds one rule file; a larger file is refused before it
// is read.
const MaxPackBytes = 4 << 20

// Limits on what one rule may ask of the engine.
const (
	// maxReadings bounds the readings of one threshold.
	maxReadings = 8
	// maxCorners bounds the combinations of readings one rule is
	// evaluated under.
	maxCorners = 64
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
	// The YAML library has panicked on some malformed inputs (found by
	// fuzzing); a rule file must never crash the program.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, Problems{{File: name, Message: fmt.Sprintf("malformed YAML (%v)", r)}}
		}
	}()
	p, ps := parsePack(name, data)
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	return p, nil
}

func parsePack(name string, data []byte) (*Pack, Problems) {
	whole := func(format string, a ...any) Problems {
		return Problems{{File: name, Message: fmt.Sprintf(format, a...)}}
	}
	if len(data) > MaxPackBytes {
		return nil, whole("file is %d bytes, over the %d-byte limit for a rule file", len(data), MaxPackBytes)
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, whole("%s", yaml.FormatError(err, false, false))
	}
	var docs int
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs++
		}
	}
	if docs != 1 {
		return nil, whole("want exactly one YAML document (a %s), found %d", PackKind, docs)
	}
	var p Pack
	if err := yaml.UnmarshalWithOptions(data, &p, yaml.DisallowUnknownField()); err != nil {
		return nil, whole("%s", yaml.FormatError(err, false, false))
	}
	var ps Problems
	bad := func(path, rule, field, format string, a ...any) {
		ps = append(ps, Problem{File: name, Line: lineOf(file, path), Rule: rule, Field: field, Message: fmt.Sprintf(format, a...)})
	}
	pos := func(path string) string { return fmt.Sprintf("%s:%d", name, lineOf(file, path)) }
	if p.APIVersion != catalog.APIVersion {
		bad("$.apiVersion", "", "apiVersion", "%q is not supported (accepted: %s)", p.APIVersion, catalog.APIVersion)
	}
	if p.Kind != PackKind {
		bad("$.kind", "", "kind", "%q is not a rule file (accepted: %s)", p.Kind, PackKind)
	}
	if !idPattern.MatchString(p.Metadata.Name) {
		bad("$.metadata", "", "metadata.name", "%q: want lower-case letters, digits, '.' and '-'", p.Metadata.Name)
	}
	seenDef := map[string]bool{}
	for i, d := range p.Definitions {
		path := fmt.Sprintf("$.definitions[%d]", i)
		if d == nil {
			bad(path, "", fmt.Sprintf("definitions[%d]", i), "empty entry")
			continue
		}
		d.Pos = pos(path)
		who := "definition " + d.Name
		if !namePattern.MatchString(d.Name) {
			bad(path, who, "name", "%q: want an identifier (letters, digits, _)", d.Name)
		}
		if seenDef[d.Name] {
			bad(path, who, "name", "%q defined twice", d.Name)
		}
		seenDef[d.Name] = true
		if strings.TrimSpace(d.Expr) == "" {
			bad(path, who, "expr", "required")
		}
		if strings.TrimSpace(d.Source) == "" {
			bad(path, who, "source", "required: every threshold carries its source")
		}
	}
	seenTh := map[string]bool{}
	for i, t := range p.Thresholds {
		path := fmt.Sprintf("$.thresholds[%d]", i)
		if t == nil {
			bad(path, "", fmt.Sprintf("thresholds[%d]", i), "empty entry")
			continue
		}
		t.Pos = pos(path)
		who := "threshold " + t.Name
		if !namePattern.MatchString(t.Name) {
			bad(path, who, "name", "%q: want an identifier (letters, digits, _)", t.Name)
		}
		if seenTh[t.Name] {
			bad(path, who, "name", "%q defined twice", t.Name)
		}
		seenTh[t.Name] = true
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
	return &p, ps
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
