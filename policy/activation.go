package policy

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"meridian.dev/meridian/catalog"
)

// An activation hands a rule its variables. Candidate rules get a candAct
// built from facts shared across the session; the other scopes get a map
// (activation); unconfirmedDeps uses a partial activation with some facts
// unknown.

// candAct is a candidate's variables as a CEL activation, without
// building a map of them. Its facts hold CEL values (celFacts).
type candAct struct {
	s                           *Session
	site, pool, owner, acc, def facts
	unconfirmed                 []string // accelerator facts of status U
	// others is the pool's owning organisation when it is another
	// tenant's (othersOwner): the rules read its name, the messages do
	// not show it.
	others string
}

// ResolveName implements interpreter.Activation. The values are converted
// for CEL once per session (celFacts); messages read them back (native).
func (a *candAct) ResolveName(name string) (any, bool) {
	switch name {
	case "asOf":
		return a.s.celAsOf, true
	case "org":
		return a.s.celOrg, true
	case "job":
		return a.s.celJob, true
	case "site":
		return a.site, true
	case "pool":
		return a.pool, true
	case "owner":
		return a.owner, true
	case "acc":
		return a.acc, true
	case "def":
		return a.def, true
	case "threshold":
		return a.s.e.celThTexts, true
	case "dataset", "transfer", "delivery":
		return facts{}, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *candAct) Parent() interpreter.Activation { return nil }

// vars is the candidate's own variables as a map.
func (a *candAct) vars() map[string]any {
	return map[string]any{"site": a.site, "pool": a.pool, "owner": a.owner, "acc": a.acc, "def": a.def}
}

// accEntry is what a session keeps per accelerator.
type accEntry struct {
	facts       facts
	unconfirmed []string
}

// ownerKey is what a pool's owner facts depend on.
type ownerKey struct{ owner, operator, operatorHQ string }

// candidateVars is every variable a candidate-scope expression may read,
// with an empty def for the definitions to fill. The accelerator's and
// owner's facts are shared between the candidates of a session (read-only).
func (s *Session) candidateVars(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) *candAct {
	a := s.candidateFacts(site, pool, acc)
	a.def = make(facts, len(s.e.defs))
	return a
}

// candidateFacts is candidateVars without def.
func (s *Session) candidateFacts(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) *candAct {
	s.mu.Lock()
	af, ok := s.accs[acc]
	if !ok {
		af = accEntry{s.e.celFacts(accFacts(acc)), accUnconfirmed(acc)}
		s.accs[acc] = af
	}
	k := ownerKey{pool.Owner, site.Spec.Operator.Name, site.Spec.Operator.Headquarters}
	of := s.owners[k]
	if of == nil {
		of = s.e.celFacts(ownerOf(site, pool, &s.q))
		s.owners[k] = of
	}
	sf := s.sites[site]
	if sf == nil {
		sf = siteFactsWith(site, s.q.Countries, s.celGroupsOf, func(v any) any { return s.e.adapter.NativeToValue(v) })
		s.sites[site] = sf
	}
	if s.pools == nil {
		s.pools = map[poolKey]facts{}
	}
	pk := poolKey{pool.Owner, pool.Acquired}
	pf := s.pools[pk]
	if pf == nil {
		pf = s.e.celFacts(poolFacts(pool, &s.q))
		s.pools[pk] = pf
	}
	s.mu.Unlock()
	return &candAct{s: s, site: sf, pool: pf, owner: of, acc: af.facts, unconfirmed: af.unconfirmed, others: othersOwner(pool, s.q.Tenant)}
}

// poolKey is what a pool's facts depend on (poolFacts).
type poolKey struct {
	owner    string
	acquired catalog.Date
}

// celGroupsOf is a country's US groups converted for CEL (celFacts),
// shared between sites; s.mu is held.
func (s *Session) celGroupsOf(c *catalog.Country) any {
	if s.celGroups == nil {
		s.celGroups = map[*catalog.Country]ref.Val{}
	}
	g, ok := s.celGroups[c]
	if !ok {
		g = s.e.adapter.NativeToValue(s.groupsOf(c))
		s.celGroups[c] = g
	}
	return g
}

// groupsOf is a country's US groups, shared between sites; s.mu is held.
func (s *Session) groupsOf(c *catalog.Country) []string {
	g, ok := s.groups[c]
	if !ok {
		g = groups(c)
		s.groups[c] = g
	}
	return g
}

// activation is the variables of a job-, transfer- or delivery-scope
// rule: the session's, plus extra.
func (s *Session) activation(extra map[string]any) interpreter.Activation {
	vars := map[string]any{
		"asOf": s.asOf, "org": s.org, "job": s.job,
		"site": facts{}, "pool": facts{}, "owner": facts{}, "acc": facts{},
		"def": facts{}, "dataset": facts{}, "transfer": facts{}, "delivery": facts{},
		"threshold": s.e.thresholdTexts(), "ledger": noLedger,
	}
	for k, v := range extra {
		vars[k] = v
	}
	act, _ := interpreter.NewActivation(vars)
	return act
}

// partialActivation is a candidate's variables with the facts named by
// cc.patterns unknown, and the thresholds at one corner.
func (s *Session) partialActivation(cc *candCtx, thresholds facts) interpreter.PartialActivation {
	vars := map[string]any{
		"asOf": s.asOf, "org": s.org, "job": s.job,
		"dataset": facts{}, "transfer": facts{}, "delivery": facts{}, "threshold": thresholds,
	}
	for k, v := range cc.vars.vars() {
		vars[k] = v
	}
	vars["def"] = cc.partialDefs
	act, _ := cel.PartialVars(vars, cc.patterns...)
	return act
}

// ledgerAct is an activation with one rule's own ledger.
type ledgerAct struct {
	interpreter.Activation
	led *ledgerVal
}

// ResolveName implements interpreter.Activation.
func (a ledgerAct) ResolveName(name string) (any, bool) {
	if name == "ledger" {
		return a.led, true
	}
	return a.Activation.ResolveName(name)
}

// Parent implements interpreter.Activation.
func (a ledgerAct) Parent() interpreter.Activation { return nil }

// ledgerText is what the rule evaluated on act was told by the ledger.
func ledgerText(act interpreter.Activation) string {
	v, ok := act.ResolveName("ledger")
	if !ok {
		return ""
	}
	l, _ := v.(*ledgerVal)
	if l == nil || l.s == nil {
		return ""
	}
	return l.text()
}
