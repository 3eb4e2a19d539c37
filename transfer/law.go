package transfer

import (
	"fmt"
	"sort"
	"strings"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// Law decides whether a dataset may be moved to a country, and whether the
// organisation may be given it there at all (even when it does not move).
// It is the part of the policy engine that staging needs; *policy.Engine
// satisfies it.
// Implementations must fail closed: when in doubt, Allowed is false.
type Law interface {
	EvaluateTransfer(q policy.Query, ds *catalog.Dataset, toCountry string) policy.Decision
}

// RuleLister is an optional capability of a Law: the rules it holds and
// their state on a date. When the Law has it, each ledger entry also lists
// every transfer and access rule in force on the as-of date, that is every
// rule the decision was evaluated against, not only those that reported a
// finding.
type RuleLister interface {
	Rules(asOf catalog.Date) []policy.RuleStatus
}

var _ RuleLister = (*policy.Engine)(nil)

// Pinner is an optional capability of a Law whose rules can change while
// it is used, as a server's law in force does when an admin applies a
// revision: Pin returns the law in force now, which does not change. A
// ledger entry records the decision and the rules it was evaluated
// against (RuleLister); asked of the changing law one after the other,
// the two could come from different revisions, and the entry then listed
// rules the decision was never evaluated against.
type Pinner interface {
	Pin() Law
}

// pin is l as it stands now (Pinner), or l itself.
func pin(l Law) Law {
	if p, ok := l.(Pinner); ok {
		if pl := p.Pin(); pl != nil {
			return pl
		}
	}
	return l
}

// evaluatedRules lists the transfer and access rules in force on asOf,
// sorted, or nil when the law cannot say.
func evaluatedRules(l Law, asOf catalog.Date) []string {
	rl, ok := l.(RuleLister)
	if !ok {
		return nil
	}
	ids := []string{}
	for _, r := range rl.Rules(asOf) {
		if r.Active && (r.Scope == policy.ScopeTransfer || r.Scope == policy.ScopeAccess) {
			ids = append(ids, r.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// DeniedError is returned when the law refuses a transfer; it carries every
// denial with its rule, reason and source.
type DeniedError struct {
	Dataset, From, To string
	// AsOf is the day whose law refused: the UTC day, or another day it
	// was somewhere on Earth (Days), which each denial then names.
	AsOf    catalog.Date
	Denials []policy.Finding
}

func (e *DeniedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "transfer of dataset %s from %s to %s refused as of %s", e.Dataset, e.From, e.To, e.AsOf)
	if len(e.Denials) == 0 {
		b.WriteString(": the law engine gave no reason (failing closed)")
	}
	for _, d := range e.Denials {
		fmt.Fprintf(&b, "\n  rule %s: %s (source: %s)", d.Rule, d.Text(), d.Source)
	}
	return b.String()
}

// The policy engine is the Law staging uses in production.
var _ Law = (*policy.Engine)(nil)

// BasisLaw is a small, real Law with no rule packs, for tests and for
// embedding without the policy engine: data may stay in its origin country; public and
// de-identified data may go anywhere; any other class may leave only when the
// dataset declares at least one transfer basis, which is then reported as
// the basis used. It knows no country-specific rule.
type BasisLaw struct{}

// Rule ids BasisLaw reports.
const (
	RuleDomestic = "meridian-transfer-domestic"
	RuleOpenData = "meridian-transfer-open-data"
	RuleBasis    = "meridian-transfer-basis-required"
)

const basisSource = "Meridian minimal transfer floor (not a statute); the policy engine holds the law"

// EvaluateTransfer implements Law.
func (BasisLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	from := ds.Spec.Origin
	tr := policy.Transfer{Dataset: ds.Metadata.Name, From: from, To: to}
	switch {
	case from == "" || to == "":
		return policy.Decision{Denials: []policy.Finding{{Rule: RuleBasis, Effect: policy.Deny, Message: "origin or destination country unknown", Source: basisSource}}}
	case from == to:
		return policy.Decision{Allowed: true, Transfers: []policy.Transfer{tr}}
	case ds.Spec.Classification == catalog.ClassPublic || ds.Spec.Classification == catalog.ClassDeidentified:
		return policy.Decision{Allowed: true, Transfers: []policy.Transfer{tr},
			Advisories: []policy.Finding{{Rule: RuleOpenData, Effect: policy.Advisory, Message: ds.Spec.Classification + " data: no transfer basis needed", Source: basisSource}}}
	case len(ds.Spec.TransferBases) > 0:
		tr.Basis = ds.Spec.TransferBases[0]
		return policy.Decision{Allowed: true, Transfers: []policy.Transfer{tr}}
	default:
		return policy.Decision{Denials: []policy.Finding{{Rule: RuleBasis, Effect: policy.Deny,
			Message: fmt.Sprintf("%s data may not leave %s for %s without a declared transfer basis", ds.Spec.Classification, from, to),
			Source:  basisSource}}}
	}
}

// ZoneNote says, of a refusal as of day taken on the UTC day today, why a
// day other than today's was asked: it is that day now in some time zone
// (Days). It is empty when day is today or today is not known.
func ZoneNote(day, today catalog.Date) string { return zoneNote(day, today) }

func zoneNote(day, today catalog.Date) string {
	switch {
	case today.IsZero() || day.Equal(today.Time):
		return ""
	case day.After(today):
		return fmt.Sprintf(" (it is %s already in some time zone, and its rules are in force there)", day)
	default:
		return fmt.Sprintf(" (it is still %s in some time zone, and its rules are in force there)", day)
	}
}

// Zoned is findings with each message saying, when day is not today (the
// UTC day), that it is day in some time zone (ZoneNote): a refusal on the
// eve of a rule names the rule and why it binds already.
func Zoned(findings []policy.Finding, day, today catalog.Date) []policy.Finding {
	note := ZoneNote(day, today)
	if note == "" || len(findings) == 0 {
		return findings
	}
	out := make([]policy.Finding, len(findings))
	for i, f := range findings {
		f.Message = WithNote(f.Message, note)
		out[i] = f
	}
	return out
}

// WithNote is a finding's message with note added: before the source the
// message ends with, where it ends with one, so that the source is still
// the message's last part (policy.Finding.Text drops it there when the
// finding's own source says it; after the note it was shown twice).
func WithNote(msg, note string) string {
	if i := strings.LastIndex(msg, " (source: "); i >= 0 && strings.HasSuffix(msg, ")") {
		return msg[:i] + note + msg[i:]
	}
	return msg + note
}
