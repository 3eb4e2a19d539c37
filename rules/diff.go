package rules

import (
	"fmt"
	"sort"
	"strings"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Diff is what changed between two laws: rules added, removed, and changed
// (dates, effect, enforcement, confidence, condition, liftedBy).
type Diff struct {
	Added   []string     `json:"added"`
	Removed []string     `json:"removed"`
	Changed []RuleChange `json:"changed"`
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
func (d *Diff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

func (d *Diff) changedIDs() []string {
	out := make([]string, 0, len(d.Changed))
	for _, c := range d.Changed {
		out = append(out, c.ID)
	}
	return out
}

func ids(e *policy.Engine) map[string]*policy.Rule {
	out := map[string]*policy.Rule{}
	for _, st := range e.Rules(catalog.Date{}) {
		if r, ok := e.Rule(st.ID); ok {
			out[st.ID] = r
		}
	}
	return out
}

// Compare returns what changed from a to b.
func Compare(a, b *policy.Engine) *Diff {
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
	return d
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
	return fmt.Sprintf("licence=%v bases=%v", l.Licence, l.Bases)
}
