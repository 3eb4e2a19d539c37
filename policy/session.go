package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"meridian.dev/meridian/catalog"
)

// missingKey finds the first "no such key: NAME" in a CEL error and
// returns NAME, or "".
func missingKey(reason string) string {
	const prefix = "no such key: "
	for rest := reason; ; {
		i := strings.Index(rest, prefix)
		if i < 0 {
			return ""
		}
		rest = rest[i+len(prefix):]
		n := 0
		for n < len(rest) && isKeyByte(rest[n]) {
			n++
		}
		if n > 0 {
			return rest[:n]
		}
	}
}

func isKeyByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// EngineRule is the rule id used for findings the engine itself makes when
// it cannot evaluate at all (unknown country, no accelerator, …).
const EngineRule = "meridian-fail-closed"

// Session evaluates the candidates of one plan: the Query (date,
// organisation, job, datasets, FLOPs, countries) is fixed, and results are
// cached per class of identical candidates. A Session is safe for
// concurrent use.
type Session struct {
	e    *Engine
	q    Query
	asOf string
	org  facts
	job  facts
	jobF findings // job-scope findings, computed once
	mu   sync.Mutex
	// verdicts caches rule outcomes per coarse class, cache decisions per
	// decision key.
	verdicts map[classKey]*verdict
	cache    map[classKey]Decision
	// accs, owners and groups share facts between candidates.
	accs   map[*catalog.Accelerator]accEntry
	owners map[ownerKey]facts
	groups map[*catalog.Country][]string
	sites  map[*catalog.Site]facts
	// candRules are the candidate-scope rules in force on the query's date.
	candRules []*compiled
	// byK1 finds a class's verdict from the coarse key with the operator's
	// headquarters (before hqSignature), skipping the signature.
	byK1 map[classKey]*verdict
	// hqSigs caches hqSignature.
	hqSigs map[classKey]string
	// defs caches each definition's results by the part of the class key it depends on.
	defs []map[classKey]defResult
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
		verdicts:  map[classKey]*verdict{},
		accs:      map[*catalog.Accelerator]accEntry{},
		owners:    map[ownerKey]facts{},
		groups:    map[*catalog.Country][]string{},
		sites:     map[*catalog.Site]facts{},
		hqSigs:    map[classKey]string{},
		byK1:      map[classKey]*verdict{},
		defs:      make([]map[classKey]defResult, len(e.defs)),
		cache:     map[classKey]Decision{},
		transfers: map[string]transferResult{},
	}
	for i := range s.defs {
		s.defs[i] = map[classKey]defResult{}
	}
	for _, c := range e.rules {
		if _, active := c.status(q.AsOf); active && c.Scope == ScopeCandidate {
			s.candRules = append(s.candRules, c)
		}
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
// definition may read. Candidates with one coarse key (see coarse) get one
// evaluation of the rules; candidates with one decision key (see
// verdict.decisionKey) get one Decision.
type classKey struct {
	country, operatorHQ, acc, owner string
	acquired                        catalog.Date
	// band is where acquired sorts among the engine's bounds (see
	// Engine.band), set when the exact date is not in the key.
	band     int
	operator string
	// hqSig stands for operatorHQ when the rules read it only through
	// definitions (Engine.hqViaDefs): those definitions' values.
	hqSig string
	// name and city are set only when some rule reads them.
	name, city string
}

// fullKey is every detail of a candidate the facts are built from.
func fullKey(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) classKey {
	return classKey{country: site.Spec.Country, operatorHQ: site.Spec.Operator.Headquarters,
		acc: acc.ID, owner: pool.Owner, acquired: pool.Acquired, operator: site.Spec.Operator.Name,
		name: site.Metadata.Name, city: site.Spec.City}
}

// coarse drops from a full key the details no condition or definition
// reads, and replaces the acquisition date by its band when conditions
// only compare it with constants: candidates with one coarse key meet
// every rule the same way.
func (e *Engine) coarse(k classKey) classKey {
	c := classKey{country: k.country, operatorHQ: k.operatorHQ, acc: k.acc, owner: k.owner}
	if e.condFields&fieldOperator != 0 {
		c.operator = k.operator
	}
	if e.condFields&fieldName != 0 {
		c.name = k.name
	}
	if e.condFields&fieldCity != 0 {
		c.city = k.city
	}
	if e.condFields&fieldAcquired != 0 {
		if e.acqExact {
			c.acquired = k.acquired
		} else {
			c.band = e.band(k.acquired)
		}
	}
	return c
}

// band places a date among acqBounds: -1 when there is no date, else twice
// the number of bounds below it, plus one when it equals a bound. Every
// comparison (<, <=, >, >=, ==, !=) of the date with a bound has the same
// outcome for dates of one band.
func (e *Engine) band(d catalog.Date) int {
	if d.IsZero() {
		return -1
	}
	var buf [32]byte
	s := d.AppendFormat(buf[:0], catalog.DateLayout)
	lo, hi := 0, len(e.acqBounds) // first bound >= s
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e.acqBounds[m] < string(s) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	b := 2 * lo
	if lo < len(e.acqBounds) && e.acqBounds[lo] == string(s) {
		b++
	}
	return b
}

// verdict is what the rules say about a coarse class, before any message
// is rendered: the findings in rule order, some ready, some fired rules
// whose messages are filled in per candidate.
type verdict struct {
	entries []entry
	def     facts // the definitions' values, for messages
	// transfers is false when the site's country is unknown (no transfer is evaluated).
	transfers bool
	// need are the details the fired rules' messages read; they join the
	// coarse key to make the decision key.
	need fieldMask
	// decision is the class's one decision when need is empty, once rendered.
	decision *Decision
	// key is the class's coarse key.
	key classKey
}

type entry struct {
	eff Effect
	fd  Finding   // when c is nil
	c   *compiled // a fired rule
	fr  firing
}

// decisionKey is the coarse key plus the details the messages read.
func (v *verdict) decisionKey(coarse, full classKey) classKey {
	k := coarse
	if v.need&fieldOperator != 0 {
		k.operator = full.operator
	}
	if v.need&fieldAcquired != 0 {
		k.acquired = full.acquired
	}
	if v.need&fieldName != 0 {
		k.name = full.name
	}
	if v.need&fieldCity != 0 {
		k.city = full.city
	}
	if v.need&fieldOperatorHQ != 0 {
		k.operatorHQ = full.operatorHQ
	}
	return k
}

// Evaluate returns the decision for one candidate: a site, one of its
// pools and that pool's accelerator. The decision combines job-scope
// findings, the candidate's own findings and the transfer of every
// dataset of the query to the site's country. Rule outcomes are cached per
// class, and decisions per class and the details their messages show; the
// returned slices must be treated as read-only (they have no spare
// capacity, so append copies).
func (s *Session) Evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) Decision {
	if site == nil || pool == nil {
		return decide(findings{deny: []Finding{engineFinding("no site or pool given")}}, nil)
	}
	if acc == nil {
		return decide(findings{deny: []Finding{engineFinding(fmt.Sprintf("accelerator %q of site %s is not in the catalog, so it cannot be classified", pool.Accelerator, site.Metadata.Name))}}, nil)
	}
	full := fullKey(site, pool, acc)
	k1 := s.e.coarse(full) // what the definitions are cached under
	s.mu.Lock()
	v := s.byK1[k1]
	if v != nil {
		if v.decision != nil {
			s.mu.Unlock()
			return *v.decision
		}
		if d, ok := s.cache[v.decisionKey(v.key, full)]; ok {
			s.mu.Unlock()
			return d
		}
	}
	s.mu.Unlock()

	var vars *candAct // the candidate's facts, when judge just built them
	if v == nil {
		ck := k1
		if s.e.hqViaDefs {
			ck.operatorHQ, ck.hqSig = "", s.hqSignature(k1, site, pool, acc)
		}
		s.mu.Lock()
		v = s.verdicts[ck]
		if v == nil {
			s.evaluations++
		}
		s.mu.Unlock()
		if v == nil {
			v, vars = s.judge(k1, site, pool, acc)
			v.key = ck
		}
		s.mu.Lock()
		if w := s.verdicts[ck]; w != nil {
			v = w
		} else {
			s.verdicts[ck] = v
		}
		s.byK1[k1] = v
		s.mu.Unlock()
	}
	d := s.render(v, vars, site, pool, acc)
	s.mu.Lock()
	if v.need == 0 {
		v.decision = &d // the class's only decision
	} else {
		s.cache[v.decisionKey(v.key, full)] = d
	}
	s.mu.Unlock()
	return d
}

// hqSignature is the values of the definitions that depend on the
// operator's headquarters, for a candidate of coarse key k, computed once
// per session for each combination of what they read.
func (s *Session) hqSignature(k classKey, site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) string {
	pk := k.project(s.e.hqDims)
	s.mu.Lock()
	sig, ok := s.hqSigs[pk]
	s.mu.Unlock()
	if ok {
		return sig
	}
	vars := s.candidateVars(site, pool, acc)
	errs := s.evalDefsFor(&k, vars.def, vars)
	var b strings.Builder
	for _, i := range s.e.hqDefs {
		name := s.e.defs[i].Name
		if err, failed := errs[name]; failed {
			fmt.Fprintf(&b, "%s!%q;", name, err.Error())
		} else {
			fmt.Fprintf(&b, "%s=%#v;", name, vars.def[name])
		}
	}
	sig = b.String()
	s.mu.Lock()
	s.hqSigs[pk] = sig
	s.mu.Unlock()
	return sig
}

// evaluate is an uncached evaluation of one candidate.
func (s *Session) evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) Decision {
	v, vars := s.judge(s.e.coarse(fullKey(site, pool, acc)), site, pool, acc)
	return s.render(v, vars, site, pool, acc)
}

// judge runs the candidate rules for one candidate's class, and returns
// the candidate's facts it built (nil when it built none).
func (s *Session) judge(ck classKey, site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) (*verdict, *candAct) {
	v := &verdict{}
	if _, ok := s.q.Countries[site.Spec.Country]; !ok {
		v.entries = append(v.entries, entry{eff: Deny, fd: engineFinding(fmt.Sprintf("site country %q is not in the country table, so its country groups and data-protection status are unknown", site.Spec.Country))})
		return v, nil
	}
	v.transfers = true
	vars := s.candidateVars(site, pool, acc)
	act := vars
	v.def = vars.def
	defErrs := s.evalDefsFor(&ck, v.def, act)
	cc := &candCtx{vars: vars, unconfirmed: vars.unconfirmed}
	for _, c := range s.candRules {
		fired, fd := s.runRule(c, act, defErrs)
		switch {
		case fired:
			fr := s.judgeFiring(c, act, cc)
			if c.msgFields == 0 {
				// The message shows only what the class shares.
				eff, fd := fr.finding(c, act)
				v.entries = append(v.entries, entry{eff: eff, fd: fd})
				continue
			}
			v.entries = append(v.entries, entry{eff: fr.eff, c: c, fr: fr})
			v.need |= c.msgFields
		case fd != nil:
			v.entries = append(v.entries, entry{eff: fd.Effect, fd: *fd})
		}
	}
	return v, vars
}

// render turns a verdict into one candidate's decision, filling the fired
// rules' messages with the candidate's own facts (vars, when already built
// for this candidate, with v's definitions).
func (s *Session) render(v *verdict, vars *candAct, site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) Decision {
	var f findings
	f.merge(s.jobF)
	var act interpreter.Activation
	for _, x := range v.entries {
		if x.c == nil {
			f.add(x.eff, x.fd)
			continue
		}
		if act == nil {
			if vars == nil {
				vars = s.candidateFacts(site, pool, acc)
				vars.def = v.def
			}
			act = vars
		}
		eff, fd := x.fr.finding(x.c, act)
		f.add(eff, fd)
	}
	if !v.transfers {
		return decide(f, nil)
	}
	tr := s.transfersTo(site.Spec.Country)
	f.merge(tr.f)
	return decide(f, tr.transfers)
}

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
		af = accEntry{accFacts(acc), accUnconfirmed(acc)}
		s.accs[acc] = af
	}
	k := ownerKey{pool.Owner, site.Spec.Operator.Name, site.Spec.Operator.Headquarters}
	of := s.owners[k]
	if of == nil {
		of = ownerOf(site, pool, &s.q)
		s.owners[k] = of
	}
	sf := s.sites[site]
	if sf == nil {
		sf = siteFactsWith(site, s.q.Countries, s.groupsOf)
		s.sites[site] = sf
	}
	s.mu.Unlock()
	return &candAct{s: s, site: sf, pool: poolFacts(pool, &s.q), owner: of, acc: af.facts, unconfirmed: af.unconfirmed}
}

// accEntry is what a session keeps per accelerator.
type accEntry struct {
	facts       facts
	unconfirmed []string
}

// candAct is a candidate's variables as a CEL activation, without
// building a map of them.
type candAct struct {
	s                           *Session
	site, pool, owner, acc, def facts
	unconfirmed                 []string // accelerator facts of status U
}

// ResolveName implements interpreter.Activation.
func (a *candAct) ResolveName(name string) (any, bool) {
	switch name {
	case "asOf":
		return a.s.asOf, true
	case "org":
		return a.s.org, true
	case "job":
		return a.s.job, true
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
	case "dataset", "transfer":
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

// groupsOf is a country's US groups, shared between sites; s.mu is held.
func (s *Session) groupsOf(c *catalog.Country) []string {
	g, ok := s.groups[c]
	if !ok {
		g = groups(c)
		s.groups[c] = g
	}
	return g
}

// ownerKey is what a pool's owner facts depend on.
type ownerKey struct{ owner, operator, operatorHQ string }

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
	return s.evalDefsFor(nil, def, act)
}

// defResult is one definition's value, or its error, for one projection
// of the class key.
type defResult struct {
	v   any
	err error
}

// evalDefsFor is evalDefs with the values shared between classes: a
// definition's value is cached under the part of the class key it
// depends on (ck nil: no sharing).
func (s *Session) evalDefsFor(ck *classKey, def facts, act interpreter.Activation) map[string]error {
	var errs map[string]error
	for i, d := range s.e.defs {
		var pk classKey
		if ck != nil {
			pk = ck.project(d.dims)
			s.mu.Lock()
			r, ok := s.defs[i][pk]
			s.mu.Unlock()
			if ok {
				if r.err != nil {
					if errs == nil {
						errs = map[string]error{}
					}
					errs[d.Name] = r.err
				} else {
					def[d.Name] = r.v
				}
				continue
			}
		}
		var r defResult
		out, _, err := d.prg.Eval(act)
		if err != nil {
			if errs == nil {
				errs = map[string]error{}
			}
			r.err = fmt.Errorf("%s", explain(err, d.reads))
			errs[d.Name] = r.err
		} else {
			r.v = out.Value()
			def[d.Name] = r.v
		}
		if ck != nil {
			s.mu.Lock()
			s.defs[i][pk] = r
			s.mu.Unlock()
		}
	}
	return errs
}

// explain turns CEL's "no such key: tpp" into the fact it means
// ("fact acc.tpp is not known"), using the facts the expression reads.
func explain(err error, reads map[string]bool) string {
	reason := err.Error()
	key := missingKey(reason)
	if key == "" {
		return reason
	}
	var names []string
	for rd := range reads {
		if strings.HasSuffix(rd, "."+key) {
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
	fired, fd := s.runRule(c, act, defErrs)
	switch {
	case fired:
		s.fire(c, act, cc, f)
	case fd != nil:
		f.add(fd.Effect, *fd)
	}
}

// runRule evaluates the condition of a rule in force: fired is true when
// it holds; a finding comes back when it cannot be evaluated.
func (s *Session) runRule(c *compiled, act interpreter.Activation, defErrs map[string]error) (fired bool, failed *Finding) {
	out, _, err := c.prg.Eval(act)
	if err == nil {
		if b, ok := out.Value().(bool); ok {
			return b, nil
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
	return false, &Finding{Rule: c.ID, Kind: c.Kind, Effect: eff, Message: msg, Source: c.source, Confidence: c.Confidence}
}

// firing is what became of a rule whose condition held, short of its
// message: the effect it has and why.
type firing struct {
	eff     Effect
	lift    string   // what lifted the denial, if anything
	expired string   // the expiry of a licence that no longer lifts it
	weak    []string // unconfirmed facts the denial rests on
}

// fire records a rule whose condition held, lifting a denial when a licence
// or (for transfers) a dataset's basis allows it.
func (s *Session) fire(c *compiled, act interpreter.Activation, cc *candCtx, f *findings) {
	fr := s.judgeFiring(c, act, cc)
	if b, ok := strings.CutPrefix(fr.lift, "basis "); ok && !contains(f.bases, b) {
		f.bases = append(f.bases, b)
	}
	eff, fd := fr.finding(c, act)
	f.add(eff, fd)
}

// judgeFiring decides the effect of a rule whose condition held.
func (s *Session) judgeFiring(c *compiled, act interpreter.Activation, cc *candCtx) firing {
	fr := firing{eff: c.effectiveEffect()}
	if fr.eff == Deny && c.LiftedBy != nil {
		if fr.lift = s.lift(c, act); fr.lift != "" {
			fr.eff = Obligation
			return fr
		}
		fr.expired = s.expiredLicence(c.ID)
	}
	if fr.eff == Deny && cc != nil {
		if fr.weak = s.unconfirmedDeps(c, cc); len(fr.weak) > 0 {
			// The denial holds only because of unconfirmed catalog facts:
			// it advises, with the facts named, instead of denying.
			fr.eff = Advisory
		}
	}
	return fr
}

// finding writes the finding of a fired rule, its messages rendered from act.
func (fr firing) finding(c *compiled, act interpreter.Activation) (Effect, Finding) {
	text := c.msgTmpl.fill(act)
	msg := fmt.Sprintf("%s: %s (source: %s)", c.ID, text, c.Sources[0])
	if c.Confidence != Confirmed {
		msg = fmt.Sprintf("%s: [%s] %s (source: %s)", c.ID, c.Confidence, text, c.Sources[0])
	}
	fd := Finding{Rule: c.ID, Kind: c.Kind, Effect: fr.eff, Message: msg, Source: c.source, Confidence: c.Confidence}
	switch {
	case fr.lift != "":
		fd.Message = fmt.Sprintf("%s: %s; lifted by %s: %s (source: %s)", c.ID, text, fr.lift, c.oblTmpl.fill(act), c.Sources[0])
	case len(fr.weak) > 0:
		fd.Confidence = Unconfirmed
		fd.Message = fmt.Sprintf("%s: [relies on unconfirmed %s] %s (source: %s)", c.ID, strings.Join(fr.weak, ", "), text, c.Sources[0])
	case fr.expired != "":
		fd.Message = fmt.Sprintf("%s: %s; licence recorded for this rule expired on %s (source: %s)", c.ID, text, fr.expired, c.Sources[0])
	}
	return fr.eff, fd
}

// liftedObligation is the message template shown when the rule's denial is lifted.
func (r *Rule) liftedObligation() string {
	if r.LiftedBy == nil {
		return ""
	}
	if r.LiftedBy.Obligation == "" {
		return "the denial is lifted; comply with the conditions of the authorisation"
	}
	return r.LiftedBy.Obligation
}

// candCtx is what a candidate's rules share beyond their activation.
type candCtx struct {
	vars        *candAct
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
	for k, v := range cc.vars.vars() {
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

// template is a message with its {var.field} and {asOf} placeholders
// found once: lits[i] comes before phs[i], and lits has one more entry.
type template struct {
	lits []string
	phs  []placeholderRef
}

type placeholderRef struct{ v, field, raw string }

func parseTemplate(tmpl string) template {
	var t template
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(tmpl, -1) {
		t.lits = append(t.lits, tmpl[last:m[0]])
		p := placeholderRef{v: tmpl[m[2]:m[3]], raw: tmpl[m[0]:m[1]]}
		if m[4] >= 0 {
			p.field = tmpl[m[4]:m[5]]
		}
		t.phs = append(t.phs, p)
		last = m[1]
	}
	t.lits = append(t.lits, tmpl[last:])
	return t
}

// fill renders the template from the activation.
func (t template) fill(act interpreter.Activation) string {
	if len(t.phs) == 0 {
		return t.lits[0]
	}
	var b strings.Builder
	for i, p := range t.phs {
		b.WriteString(t.lits[i])
		b.WriteString(p.value(act))
	}
	b.WriteString(t.lits[len(t.phs)])
	return b.String()
}

func (p placeholderRef) value(act interpreter.Activation) string {
	v, ok := act.ResolveName(p.v)
	if !ok {
		return "<unknown " + strings.Trim(p.raw, "{}") + ">"
	}
	if p.field == "" {
		return fmt.Sprint(v)
	}
	mp, _ := v.(facts)
	x, ok := mp[p.field]
	if !ok {
		return "<unknown " + strings.Trim(p.raw, "{}") + ">"
	}
	return formatValue(x)
}

// render fills {var.field} and {asOf} placeholders from the activation.
func render(tmpl string, act interpreter.Activation) string {
	return parseTemplate(tmpl).fill(act)
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
