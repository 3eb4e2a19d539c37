// Package policy holds Meridian's law: dated, sourced rules, their built-in
// packs, and an evaluator that says whether a placement is lawful, what it
// obliges and what to beware of. Evaluation fails closed.
package policy

import (
	"meridian.dev/meridian/catalog"
)

// Effect is what a rule does when its condition holds.
type Effect string

// Effects.
const (
	Deny       Effect = "deny"
	Obligation Effect = "obligation"
	Advisory   Effect = "advisory"
)

// Finding is one rule's verdict on one candidate. JSON names are public (SCHEMA.md).
type Finding struct {
	Rule       string `json:"rule"`
	Kind       string `json:"kind,omitempty"`
	Effect     Effect `json:"effect,omitempty"`
	Message    string `json:"message"`
	Source     string `json:"source"`
	Confidence string `json:"confidence,omitempty"`
}

// Transfer is the legal basis under which one dataset may move to the site.
type Transfer struct {
	Dataset string `json:"dataset"`
	From    string `json:"from"`
	To      string `json:"to"`
	Basis   string `json:"basis,omitempty"`
}

// Decision is the result of all rules on one candidate.
type Decision struct {
	Allowed     bool
	Denials     []Finding
	Obligations []Finding
	Advisories  []Finding
	Transfers   []Transfer
}

// Query is what stays fixed across the candidates of one plan.
type Query struct {
	AsOf     catalog.Date
	Org      *catalog.Organization
	Job      *catalog.TrainingJob // may be nil for a data-only question
	Datasets []*catalog.Dataset
	// TrainingFLOPs is the job's total model FLOPs (compute-threshold rules).
	TrainingFLOPs float64
	Countries     map[string]*catalog.Country
}
