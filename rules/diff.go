package rules

import (
	"fmt"
	"sort"
	"strings"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Diff is what changed between two laws: rules added, removed, and changed
// (dates, effect, enforcement, confidence, condition, liftedBy, scope,
// kind, jurisdiction, message, sources), and the packs' definitions and
// thresholds added, removed or changed.
type Diff struct {
	Added   []string     `json:"added"`
	Removed []string     `json:"removed"`
	Changed []RuleChange `json:"changed"`
	// Definitions and Thresholds are the named definitions (def.NAME) and
	// thresholds (threshold.NAME) that differ, From empty for one added and
	// To empty for one removed: a rule whose condition reads one decides
	// otherwise with it, though none of its own fields changed.
	Definitions []FieldChange `json:"definitions,omitempty"`
	Thresholds  []FieldChange `json:"thresholds,omitempty"`
}

// RuleChange is one rule's changed fields.
type RuleChange struct {
	ID     string        `json:"id"`
	Fields []FieldChange `json:"fields"`
}

// FieldChange is one field's old and new value, as text.
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changed)+len(d.Definitions)+len(d.Thresholds) == 0
}

// names lists the names of changes.
func names(cs []FieldChange) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Field)
	}
	return out
}

func (d *Diff) changedIDs() []string {
	out := make([]string, 0, len(d.Changed))
	for _, c := range d.Changed {
		out = append(out, c.ID)
	}
	return out
}

// Written is what a diff reads of a law: its rules, definitions and
// thresholds as their files write them. A compiled *policy.Engine is one;
// so is a *policy.Written, the files parsed without compiling a condition
// (State.WrittenAt), which is all a diff needs.
type Written interface {
	Rules(asOf catalog.Date) []policy.RuleStatus
	Rule(id string) (*policy.Rule, bool)
	Definitions() []*policy.Definition
	Thresholds() map[string]*policy.Threshold
}

func ids(e Written) map[string]*policy.Rule {
	out := map[string]*policy.Rule{}
	for _, st := range e.Rules(catalog.Date{}) {
		if r, ok := e.Rule(st.ID); ok {
			out[st.ID] = r
		}
	}
	return out
}

// Compare returns what changed from a to b.
func Compare(a, b Written) *Diff {
	ra, rb := ids(a), ids(b)
	d := &Diff{Added: []string{}, Removed: []string{}, Changed: []RuleChange{}}
	for id := range rb {
		if ra[id] == nil {
			d.Added = append(d.Added, id)
		}
	}
	for id, x := range ra {
		y := rb[id]
		if y == nil {
			d.Removed = append(d.Removed, id)
			continue
		}
		if fs := fields(x, y); len(fs) > 0 {
			d.Changed = append(d.Changed, RuleChange{ID: id, Fields: fs})
		}
	}
	sort.Strings(d.Added)
	sort.Strings(d.Removed)
	sort.Slice(d.Changed, func(i, j int) bool { return d.Changed[i].ID < d.Changed[j].ID })
	da, db := map[string]string{}, map[string]string{}
	for _, x := range a.Definitions() {
		da[x.Name] = strings.TrimSpace(x.Expr)
	}
	for _, x := range b.Definitions() {
		db[x.Name] = strings.TrimSpace(x.Expr)
	}
	d.Definitions = named(da, db)
	ta, tb := map[string]string{}, map[string]string{}
	for n, t := range a.Thresholds() {
		ta[n] = threshold(t)
	}
	for n, t := range b.Thresholds() {
		tb[n] = threshold(t)
	}
	d.Thresholds = named(ta, tb)
	return d
}

// named compares two sets of named texts, in name order.
func named(a, b map[string]string) []FieldChange {
	var out []FieldChange
	for n, x := range a {
		if y := b[n]; x != y {
			out = append(out, FieldChange{Field: n, From: x, To: y})
		}
	}
	for n, y := range b {
		if _, ok := a[n]; !ok {
			out = append(out, FieldChange{Field: n, To: y})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// threshold is a threshold as text: its unit, confidence and readings.
func threshold(t *policy.Threshold) string {
	var b strings.Builder
	fmt.Fprintf(&b, "unit=%s confidence=%s readings=", t.Unit, t.Confidence)
	for i, r := range t.Readings {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%g (%s)", r.Value, r.Source)
	}
	return b.String()
}

func fields(x, y *policy.Rule) []FieldChange {
	var out []FieldChange
	cmp := func(field, a, b string) {
		if a != b {
			out = append(out, FieldChange{Field: field, From: a, To: b})
		}
	}
	cmp("effectiveFrom", x.EffectiveFrom.String(), y.EffectiveFrom.String())
	cmp("effectiveUntil", x.EffectiveUntil.String(), y.EffectiveUntil.String())
	cmp("effect", string(x.Effect), string(y.Effect))
	cmp("enforcement", enforcement(x.Enforcement), enforcement(y.Enforcement))
	cmp("confidence", x.Confidence, y.Confidence)
	cmp("condition", strings.TrimSpace(x.Condition), strings.TrimSpace(y.Condition))
	cmp("liftedBy", lift(x.LiftedBy), lift(y.LiftedBy))
	cmp("scope", x.Scope, y.Scope)
	cmp("kind", x.Kind, y.Kind)
	cmp("jurisdiction", x.Jurisdiction, y.Jurisdiction)
	cmp("message", strings.TrimSpace(x.Message), strings.TrimSpace(y.Message))
	cmp("sources", strings.Join(x.Sources, "; "), strings.Join(y.Sources, "; "))
	return out
}

func enforcement(e policy.Enforcement) string {
	parts := make([]string, 0, len(e))
	for _, s := range e {
		p := s.String()
		if !s.From.IsZero() {
			p = s.From.String() + ": " + p
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func lift(l *policy.Lift) string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf("licence=%v bases=%v obligation=%q", l.Licence, l.Bases, l.Obligation)
}
