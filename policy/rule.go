package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

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
	// ScopeAccess rules read dataset (with org, job and asOf): who gets
	// the data, wherever it is placed. They run once per session and
	// dataset, and their findings join every candidate's decision and
	// every staging of the dataset, whether or not the data crosses a
	// border (transfer rules judge only a move).
	ScopeAccess = "access"
)

// Scopes lists the accepted scopes.
var Scopes = []string{ScopeCandidate, ScopeTransfer, ScopeJob, ScopeDelivery, ScopeAccess}

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
