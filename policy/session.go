package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"meridian.dev/meridian/catalog"
)

var noSuchKey = regexp.MustCompile(`no such key: ([A-Za-z0-9_]+)`)

// EngineRule is the rule id used for findings the engine itself makes when
// it cannot evaluate at all (unknown country, no accelerator, …).
const EngineRule = "meridian-fail-closed"

// Session evaluates the candidates of one plan: the Query (date,
// organisation, job, datasets, FLOPs, countries) is fixed, and results are
// cached per class of identical candidates. A Session is safe for
// concurrent use.
type Session struct {
	e     *Engine
	q     Query
	asOf  string
	org   facts
	job   facts
	jobF  findings // job-scope findings, computed once
	mu    sync.Mutex
	cache map[classKey]Decision
	// transfers caches transfer findings per destination country.
	transfers map[string]transferResult
	// Evaluations counts rule-set evaluations (cache misses), for tests and benchmarks.
	evaluations int
}

type findings struct {
	deny, obl, adv []Finding
	// bases lists the dataset transfer bases that lifted a denial.
	bases []string
}

func (f *findings) add(eff Effect, x Finding) {
	switch eff {
	case Deny:
		f.deny = append(f.deny, x)
	case Obligation:
		f.obl = append(f.obl, x)
	default:
		f.adv = append(f.adv, x)
	}
}

func (f *findings) merge(o findings) {
	f.deny = append(f.deny, o.deny...)
	f.obl = append(f.obl, o.obl...)
	f.adv = append(f.adv, o.adv...)
	f.bases = append(f.bases, o.bases...)
}

type transferResult struct {
	f         findings
	transfers []Transfer
}

// Session opens an evaluation session for one plan. A zero AsOf is an
// error: every evaluation happens at a stated date.
func (e *Engine) Session(q Query) (*Session, error) {
	if q.AsOf.IsZero() {
		return nil, fmt.Errorf("policy: query has no as-of date")
	}
	if q.Countries == nil {
		return nil, fmt.Errorf("policy: query has no country table")
	}
	s := &Session{
		e: e, q: q, asOf: q.AsOf.String(),
		org:       orgFacts(q.Org, q.Countries),
		job:       jobFacts(&q),
		cache:     map[classKey]Decision{},
		transfers: map[string]transferResult{},
	}
	if q.Org == nil {
		s.jobF.deny = append(s.jobF.deny, engineFinding("no organisation given: cannot determine headquarters, parent or restricted-party status"))
	} else {
		if _, ok := q.Countries[q.Org.Spec.Headquarters]; !ok {
			s.jobF.deny = append(s.jobF.deny, engineFinding(fmt.Sprintf("organisation %s: headquarters country %q is not in the country table, so its US country groups cannot be determined", q.Org.Metadata.Name, q.Org.Spec.Headquarters)))
		}
		if _, ok := q.Countries[q.Org.ParentHQ()]; !ok && q.Org.ParentHQ() != q.Org.Spec.Headquarters {
			s.jobF.deny = append(s.jobF.deny, engineFinding(fmt.Sprintf("organisation %s: ultimate parent's headquarters %q is not in the country table", q.Org.Metadata.Name, q.Org.ParentHQ())))
		}
	}
	act := s.activation(nil)
	for _, c := range e.rules {
		if c.Scope == ScopeJob {
			s.evalRule(c, act, nil, nil, &s.jobF)
		}
	}
	return s, nil
}

// Evaluations returns how many times the candidate rule set actually ran
// (cache misses) in this session.
func (s *Session) Evaluations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evaluations
}

func engineFinding(msg string) Finding {
	return Finding{Rule: EngineRule, Kind: "engine", Effect: Deny,
		Message: EngineRule + ": could not determine: " + msg + " (source: Meridian fails closed when a needed fact is missing)",
		Source:  "Meridian policy engine", Confidence: Confirmed}
}

// classKey names the class of a candidate: everything a candidate rule or
// definition may read. Candidates with one key get one evaluation.
type classKey struct {
	country, operatorHQ, acc, owner string
	acquired                        catalog.Date
	operator                        string
	// name and city are set only when some rule reads them.
	name, city string
}

func (s *Session) classKey(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) classKey {
	// The operator's name is always part of the class: it is the owner's
	// name (owner.name) for operator-owned pools.
	k := classKey{country: site.Spec.Country, operatorHQ: site.Spec.Operator.Headquarters,
		acc: acc.ID, owner: pool.Owner, acquired: pool.Acquired, operator: site.Spec.Operator.Name}
	for _, x := range s.e.extraSiteKeys {
		switch x {
		case "site.name":
			k.name = site.Metadata.Name
		case "site.city":
			k.city = site.Spec.City
		case "site.*":
			k.name, k.city = site.Metadata.Name, site.Spec.City
		}
	}
	return k
}

// Evaluate returns the decision for one candidate: a site, one of its
// pools and that pool's accelerator. The decision combines job-scope
// findings, the candidate's own findings and the transfer of every
// dataset of the query to the site's country. Decisions are cached per
// class; the returned slices must be treated as read-only (they have no
// spare capacity, so append copies).
func (s *Session) Evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) Decision {
	if site == nil || pool == nil {
		return decide(findings{deny: []Finding{engineFinding("no site or pool given")}}, nil)
	}
	if acc == nil {
		return decide(findings{deny: []Finding{engineFinding(fmt.Sprintf("accelerator %q of site %s is not in the catalog, so it cannot be classified", pool.Accelerator, site.Metadata.Name))}}, nil)
	}
	key := s.classKey(site, pool, acc)
	s.mu.Lock()
	if d, ok := s.cache[key]; ok {
		s.mu.Unlock()
		return d
	}
	s.evaluations++
	s.mu.Unlock()

	d := s.evaluate(site, pool, acc)
	s.mu.Lock()
	s.cache[key] = d
	s.mu.Unlock()
	return d
}

func (s *Session) evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) Decision {
	var f findings
	f.merge(s.jobF)
	if _, ok := s.q.Countries[site.Spec.Country]; !ok {
		f.deny = append(f.deny, engineFinding(fmt.Sprintf("site country %q is not in the country table, so its country groups and data-protection status are unknown", site.Spec.Country)))
		return decide(f, nil)
	}
	vars := s.candidateVars(site, pool, acc)
	act := s.activation(vars)
	defErrs := s.evalDefs(vars["def"].(facts), act)
	cc := &candCtx{vars: vars, unconfirmed: accUnconfirmed(acc)}
	for _, c := range s.e.rules {
		if c.Scope == ScopeCandidate {
			s.evalRule(c, act, defErrs, cc, &f)
		}
	}
	tr := s.transfersTo(site.Spec.Country)
	f.merge(tr.f)
	return decide(f, tr.transfers)
}

func (s *Session) candidateVars(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) map[string]any {
	pf, of := ownerFacts(site, pool, &s.q)
	return map[string]any{
		"site":  siteFacts(site, s.q.Countries),
		"pool":  pf,
		"owner": of,
		"acc":   accFacts(acc),
		"def":   facts{},
	}
}

func (s *Session) activation(extra map[string]any) interpreter.Activation {
	vars := map[string]any{
		"asOf": s.asOf, "org": s.org, "job": s.job,
		"site": facts{}, "pool": facts{}, "owner": facts{}, "acc": facts{},
		"def": facts{}, "dataset": facts{}, "transfer": facts{},
	}
	for k, v := range extra {
		vars[k] = v
	}
	act, _ := interpreter.NewActivation(vars)
	return act
}

// evalDefs computes the definitions in order into def; a definition that
// errors is left out, and its error is returned for the rules that read it.
func (s *Session) evalDefs(def facts, act interpreter.Activation) map[string]error {
	var errs map[string]error
	for _, d := range s.e.defs {
		out, _, err := d.prg.Eval(act)
		if err != nil {
			if errs == nil {
				errs = map[string]error{}
			}
			errs[d.Name] = fmt.Errorf("%s", explain(err, d.reads))
			continue
		}
		def[d.Name] = out.Value()
	}
	return errs
}

// explain turns CEL's "no such key: tpp" into the fact it means
// ("fact acc.tpp is not known"), using the facts the expression reads.
func explain(err error, reads map[string]bool) string {
	reason := err.Error()
	m := noSuchKey.FindStringSubmatch(reason)
	if m == nil {
		return reason
	}
	var names []string
	for rd := range reads {
		if strings.HasSuffix(rd, "."+m[1]) {
			names = append(names, rd)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return reason
	}
	return fmt.Sprintf("fact %s is not known (%s)", strings.Join(names, " or "), reason)
}

// evalRule runs one rule and files its finding, if any.
func (s *Session) evalRule(c *compiled, act interpreter.Activation, defErrs map[string]error, cc *candCtx, f *findings) {
	if _, active := c.status(s.q.AsOf); !active {
		return
	}
	out, _, err := c.prg.Eval(act)
	if err == nil {
		if b, ok := out.Value().(bool); ok {
			if !b {
				return
			}
			s.fire(c, act, cc, f)
			return
		}
		err = fmt.Errorf("condition gave %v, not true or false", out.Value())
	}
	// Fail closed: a deny or obligation rule that cannot be evaluated
	// denies; an advisory rule cannot deny even when it holds, so its error
	// stays an advisory.
	reason := explain(err, c.reads)
	for _, d := range s.e.defs { // in load order, so messages are deterministic
		if derr, ok := defErrs[d.Name]; ok && c.reads["def."+d.Name] && strings.Contains(reason, "no such key: "+d.Name) {
			reason = fmt.Sprintf("%s (definition %s could not be computed: %v)", reason, d.Name, derr)
			break
		}
	}
	msg := fmt.Sprintf("%s: could not determine whether this rule applies: %s; a fact it needs is missing or invalid (source: %s)", c.ID, reason, c.Sources[0])
	eff := Deny
	if c.Effect == Advisory {
		eff = Advisory
	}
	f.add(eff, Finding{Rule: c.ID, Kind: c.Kind, Effect: eff, Message: msg, Source: c.Source(), Confidence: c.Confidence})
}

// fire records a rule whose condition held, lifting a denial when a licence
// or (for transfers) a dataset's basis allows it.
func (s *Session) fire(c *compiled, act interpreter.Activation, cc *candCtx, f *findings) {
	eff := c.effectiveEffect()
	text := render(c.Message, act)
	msg := fmt.Sprintf("%s: %s (source: %s)", c.ID, text, c.Sources[0])
	if c.Confidence != Confirmed {
		msg = fmt.Sprintf("%s: [%s] %s (source: %s)", c.ID, c.Confidence, text, c.Sources[0])
	}
	fd := Finding{Rule: c.ID, Kind: c.Kind, Effect: eff, Message: msg, Source: c.Source(), Confidence: c.Confidence}
	if eff == Deny && c.LiftedBy != nil {
		if lift := s.lift(c, act); lift != "" {
			fd.Effect = Obligation
			ob := c.LiftedBy.Obligation
			if ob == "" {
				ob = "the denial is lifted; comply with the conditions of the authorisation"
			}
			fd.Message = fmt.Sprintf("%s: %s; lifted by %s: %s (source: %s)", c.ID, text, lift, render(ob, act), c.Sources[0])
			if b, ok := strings.CutPrefix(lift, "basis "); ok && !contains(f.bases, b) {
				f.bases = append(f.bases, b)
			}
			f.add(Obligation, fd)
			return
		}
		if exp := s.expiredLicence(c.ID); exp != "" {
			fd.Message = fmt.Sprintf("%s: %s; licence recorded for this rule expired on %s (source: %s)", c.ID, text, exp, c.Sources[0])
		}
	}
	if eff == Deny && cc != nil {
		if weak := s.unconfirmedDeps(c, cc); len(weak) > 0 {
			// The denial holds only because of unconfirmed catalog facts:
			// it advises, with the facts named, instead of denying.
			eff = Advisory
			fd.Effect, fd.Confidence = Advisory, Unconfirmed
			fd.Message = fmt.Sprintf("%s: [relies on unconfirmed %s] %s (source: %s)", c.ID, strings.Join(weak, ", "), text, c.Sources[0])
		}
	}
	f.add(eff, fd)
}

// candCtx is what a candidate's rules share beyond their activation.
type candCtx struct {
	vars        map[string]any
	unconfirmed []string // acc fields whose catalog status is U
	// weakDefs and partialDefs are computed on first need.
	done        bool
	patterns    []*cel.AttributePatternType
	partialDefs facts
}

// unconfirmedDeps says which unconfirmed accelerator facts a denial
// depends on: it evaluates the rule again with those facts (and the
// definitions derived from them) unknown; if the outcome is then unknown,
// the denial rests on them. It returns nil when the denial stands without them.
func (s *Session) unconfirmedDeps(c *compiled, cc *candCtx) []string {
	if len(cc.unconfirmed) == 0 {
		return nil
	}
	if !cc.done {
		cc.done = true
		for _, u := range cc.unconfirmed {
			cc.patterns = append(cc.patterns, cel.AttributePattern("acc").QualString(u))
		}
		cc.partialDefs = facts{}
		for _, d := range s.e.defs {
			out, _, err := d.partial.Eval(s.partialActivation(cc))
			if err != nil {
				continue
			}
			if types.IsUnknown(out) {
				cc.patterns = append(cc.patterns, cel.AttributePattern("def").QualString(d.Name))
				continue
			}
			cc.partialDefs[d.Name] = out.Value()
		}
	}
	out, _, err := c.partial.Eval(s.partialActivation(cc))
	if err != nil || !types.IsUnknown(out) {
		return nil
	}
	// Name the unconfirmed facts the rule reads, directly or through the
	// definitions it reads.
	reads := map[string]bool{}
	for r := range c.reads {
		reads[r] = true
	}
	for i := len(s.e.defs) - 1; i >= 0; i-- {
		if d := s.e.defs[i]; reads["def."+d.Name] || reads["def.*"] {
			for r := range d.reads {
				reads[r] = true
			}
		}
	}
	var names []string
	for _, u := range cc.unconfirmed {
		if reads["acc."+u] || reads["acc.*"] {
			names = append(names, "acc."+u)
		}
	}
	if len(names) == 0 {
		names = []string{"accelerator facts"}
	}
	return names
}

func (s *Session) partialActivation(cc *candCtx) interpreter.PartialActivation {
	vars := map[string]any{
		"asOf": s.asOf, "org": s.org, "job": s.job,
		"dataset": facts{}, "transfer": facts{},
	}
	for k, v := range cc.vars {
		vars[k] = v
	}
	vars["def"] = cc.partialDefs
	act, _ := cel.PartialVars(vars, cc.patterns...)
	return act
}

// lift returns what lifts c's denial ("licence (expires …)" or "basis X"), or "".
func (s *Session) lift(c *compiled, act interpreter.Activation) string {
	if c.LiftedBy.Licence && s.q.Org != nil {
		for _, l := range s.q.Org.Spec.Licenses {
			if l.Rule == c.ID && (l.Expires.IsZero() || !l.Expires.Before(s.q.AsOf)) {
				if l.Expires.IsZero() {
					return "licence recorded for " + c.ID
				}
				return fmt.Sprintf("licence recorded for %s (expires %s)", c.ID, l.Expires)
			}
		}
	}
	if len(c.LiftedBy.Bases) > 0 {
		v, found := act.ResolveName("dataset")
		if !found {
			return ""
		}
		ds, _ := v.(facts)
		bases, _ := ds["bases"].([]string)
		for _, want := range c.LiftedBy.Bases {
			for _, b := range bases {
				if b == want {
					return "basis " + b
				}
			}
		}
	}
	return ""
}

func (s *Session) expiredLicence(id string) string {
	if s.q.Org == nil {
		return ""
	}
	for _, l := range s.q.Org.Spec.Licenses {
		if l.Rule == id && !l.Expires.IsZero() && l.Expires.Before(s.q.AsOf) {
			return l.Expires.String()
		}
	}
	return ""
}

func decide(f findings, tr []Transfer) Decision {
	return Decision{
		Allowed:     len(f.deny) == 0,
		Denials:     clip(f.deny),
		Obligations: clip(f.obl),
		Advisories:  clip(f.adv),
		Transfers:   clip(tr),
	}
}

func clip[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s[:len(s):len(s)]
}

// render fills {var.field} and {asOf} placeholders from the activation.
func render(tmpl string, act interpreter.Activation) string {
	return placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		parts := placeholder.FindStringSubmatch(m)
		v, ok := act.ResolveName(parts[1])
		if !ok {
			return "<unknown " + strings.Trim(m, "{}") + ">"
		}
		if parts[2] == "" {
			return fmt.Sprint(v)
		}
		mp, _ := v.(facts)
		x, ok := mp[parts[2]]
		if !ok {
			return "<unknown " + strings.Trim(m, "{}") + ">"
		}
		return formatValue(x)
	})
}

func formatValue(x any) string {
	switch v := x.(type) {
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []string:
		if len(v) == 0 {
			return "none"
		}
		return strings.Join(v, ", ")
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return strings.Join(parts, ", ")
	default:
		return fmt.Sprint(v)
	}
}
