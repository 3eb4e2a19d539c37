package policy

import (
	"sort"

	"meridian.dev/meridian/catalog"
)

// Rule states reported by RuleStatus.State.
const (
	StateActive        = "active"
	StateNotYet        = "not-yet-effective"
	StateExpired       = "expired"
	StateNotEnforced   = "not-enforced"
	StateDraft         = "draft"
	stateSuspendPrefix = "suspended until "
)

// RuleStatus is a rule's standing on one date.
type RuleStatus struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Jurisdiction string `json:"jurisdiction"`
	// Effect is what the rule does on that date: a deny rule whose
	// confidence is not "confirmed" acts as an advisory.
	Effect     Effect `json:"effect"`
	Scope      string `json:"scope"`
	Confidence string `json:"confidence"`
	// State is active, not-yet-effective, expired, not-enforced,
	// "suspended until DATE" or draft.
	State string `json:"state"`
	// Active reports whether the rule is evaluated on that date.
	Active bool `json:"active"`
	// EffectiveFrom and EffectiveUntil are YYYY-MM-DD ("" when open).
	EffectiveFrom  string   `json:"effectiveFrom"`
	EffectiveUntil string   `json:"effectiveUntil,omitempty"`
	Title          string   `json:"title,omitempty"`
	Source         string   `json:"source"`
	Sources        []string `json:"sources"`
	Pack           string   `json:"pack"`
}

// status computes a rule's state on a date.
func (r *Rule) status(asOf catalog.Date) (state string, active bool) {
	switch {
	case asOf.Before(r.EffectiveFrom):
		return StateNotYet, false
	case !r.EffectiveUntil.IsZero() && !asOf.Before(r.EffectiveUntil):
		return StateExpired, false
	}
	st := r.Enforcement.At(asOf)
	switch st.State {
	case NotEnforced:
		return StateNotEnforced, false
	case Draft:
		return StateDraft, false
	case SuspendedUntil:
		return stateSuspendPrefix + st.Until.String(), false
	}
	return StateActive, true
}

// effectiveEffect is what the rule does when its condition holds: only a
// confirmed rule may deny.
func (r *Rule) effectiveEffect() Effect {
	if r.Effect == Deny && r.Confidence != Confirmed {
		return Advisory
	}
	return r.Effect
}

// Status returns the rule's standing on a date.
func (r *Rule) Status(asOf catalog.Date) RuleStatus {
	state, active := r.status(asOf)
	return RuleStatus{
		ID: r.ID, Kind: r.Kind, Jurisdiction: r.Jurisdiction, Effect: r.effectiveEffect(), Scope: r.Scope,
		Confidence: r.Confidence, State: state, Active: active,
		EffectiveFrom: r.EffectiveFrom.String(), EffectiveUntil: r.EffectiveUntil.String(), Title: r.Title,
		Source: r.Source(), Sources: append([]string(nil), r.Sources...), Pack: r.Pack,
	}
}

// Rules returns every rule's standing on a date, sorted by id.
func (e *Engine) Rules(asOf catalog.Date) []RuleStatus {
	out := make([]RuleStatus, 0, len(e.rules))
	for _, c := range e.rules {
		out = append(out, c.Status(asOf))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
