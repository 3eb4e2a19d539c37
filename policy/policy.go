package policy

import (
	"strings"

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
	// Code says what a rejection's reason means for whoever acts on it:
	// CodeDenied (the law says no), CodeUndetermined (a fact is missing or a
	// rule could not be evaluated: failing closed until the data is fixed)
	// or CodeNotNow (capacity, money, time: it may change by itself).
	Code string `json:"code,omitempty"`
	// EffectiveFrom is the first day the finding's rule is law, and
	// EffectiveUntil the first day it no longer is, both YYYY-MM-DD (empty
	// for findings that are not a rule's, and EffectiveUntil for a rule
	// with no end date): whoever reads a rejection can tell a new rule
	// from an old one, and one about to lapse.
	EffectiveFrom  string `json:"effectiveFrom,omitempty"`
	EffectiveUntil string `json:"effectiveUntil,omitempty"`
}

// Effective says when the finding's rule is law, for people: "effective
// from 2025-01-13", or with an end date "effective from 2023-01-01 until
// 2024-03-22 (no longer law from that day)"; "" for a finding that is not
// a rule's.
func (f Finding) Effective() string {
	switch {
	case f.EffectiveFrom == "":
		return ""
	case f.EffectiveUntil == "":
		return "effective from " + f.EffectiveFrom
	}
	return "effective from " + f.EffectiveFrom + " until " + f.EffectiveUntil + " (no longer law from that day)"
}

// Text is the finding's message without what a line that names its rule
// and source prints beside it: the engine's messages start with the rule
// id and end with the source, which such a line would show twice.
func (f Finding) Text() string {
	m := strings.TrimPrefix(f.Message, f.Rule+": ")
	// The embedded source may be the first part of the finding's (a rule
	// whose later revision cites more): drop it when the source says it.
	if i := strings.LastIndex(m, " (source: "); f.Source != "" && i >= 0 && strings.HasSuffix(m, ")") {
		if embedded := m[i+len(" (source: ") : len(m)-1]; strings.HasPrefix(f.Source, embedded) {
			m = m[:i]
		}
	}
	return m
}

// Rejection codes (Finding.Code).
const (
	CodeDenied       = "denied"
	CodeUndetermined = "undetermined"
	CodeNotNow       = "not-now"
)

// Transfer is the legal basis under which one dataset may move to the site.
type Transfer struct {
	Dataset string `json:"dataset"`
	From    string `json:"from"`
	To      string `json:"to"`
	Basis   string `json:"basis,omitempty"`
}

// Decision is the result of all rules on one candidate.
type Decision struct {
	Allowed     bool       `json:"allowed"`
	Denials     []Finding  `json:"denials,omitempty"`
	Obligations []Finding  `json:"obligations,omitempty"`
	Advisories  []Finding  `json:"advisories,omitempty"`
	Transfers   []Transfer `json:"transfers,omitempty"`
}

// Query is what stays fixed across the candidates of one plan.
type Query struct {
	AsOf catalog.Date
	// Tenant is the tenant whose organisation Org is ("" on the command
	// line: catalog.DefaultTenant). Organisation names are each tenant's:
	// a pool's owner in the operator's catalog is Org, or resolved from
	// Organizations, only when it names this tenant's (catalog.NamesOrg),
	// and Exports counts this tenant's exports only.
	Tenant   string
	Org      *catalog.Organization
	Job      *catalog.TrainingJob // may be nil for a data-only question
	Datasets []*catalog.Dataset
	// TrainingFLOPs is the job's total model FLOPs (compute-threshold rules).
	TrainingFLOPs float64
	Countries     map[string]*catalog.Country
	// Organizations resolves a pool's owner "organization:NAME" to its
	// headquarters and parent; the querying Org is found by name without it.
	// An owner that cannot be resolved is a fact missing, so it fails closed.
	Organizations map[string]*catalog.Organization
	// Sites resolves a dataset's spec.location (a site name) to the country
	// where the data is now. Without a location the data is in its origin.
	Sites map[string]*catalog.Site
	// Exports is what the organisation and its group exported before this
	// query: the transfer ledger. Nil for plans without a server: only the
	// query's own datasets are counted, and the findings say so.
	Exports Exports
	// Registrations names, by dataset, the sealed register record of its
	// registration that the registry read confirmed (SealedRegistration):
	// which registration of its name the query's dataset is; a staging
	// adds the contents it read (StagedRegistration). Without one a
	// dataset is its DatasetRegistration (see Query.Registration).
	Registrations map[string]string
	// Screening is the organisation's restricted-party screening result
	// (package screen); it overrides the status the organisation declares.
	Screening *Screening
}

// Screening is the result of screening an organisation against the
// restricted-party lists.
type Screening struct {
	// Status is a restricted-party status (catalog.RestrictedPartyStatuses):
	// entity-list for an exact Entity List match, listed for an exact match
	// on another list, undetermined while a possible match awaits a
	// person's decision, none when nothing matched or a person dismissed
	// the match.
	Status string `json:"status"`
	// Source names the list entry or the person's decision behind Status.
	Source string `json:"source"`
}
