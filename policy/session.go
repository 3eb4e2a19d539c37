package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/textfit"
	"meridian.dev/meridian/internal/textsafe"
)

// EngineRule is the rule id used for findings the engine itself makes when
// it cannot evaluate at all (unknown country, no accelerator, …).
const EngineRule = "meridian-fail-closed"

// Session evaluates the candidates of one plan: the Query (date,
// organisation, job, datasets, FLOPs, countries) is fixed, and results are
// cached per class of identical candidates (classkey.go). A Session is
// safe for concurrent use.
type Session struct {
	e    *Engine
	q    Query
	ctx  context.Context
	asOf string
	org  facts
	job  facts
	jobF findings // job- and delivery-scope findings, computed once
	// oversize is set when a fact of the organisation or job is over
	// maxFactSize: jobF denies every candidate, and no rule runs.
	oversize bool
	mu       sync.Mutex
	// verdicts holds the classes' verdicts by coarse key.
	verdicts map[classKey]*verdict
	// decisions caches a class's decisions by decision key, when its
	// messages show details beyond the coarse key.
	decisions map[classKey]Decision
	// accs, owners, groups and sites share facts between candidates.
	accs   map[*catalog.Accelerator]accEntry
	owners map[ownerKey]facts
	groups map[*catalog.Country][]string
	sites  map[*catalog.Site]facts
	// celGroups holds groups converted for CEL, by country.
	celGroups map[*catalog.Country]ref.Val
	// pools shares pool facts between candidates (poolFacts).
	pools map[poolKey]facts
	// ownerChecks are the checks of organisations owning pools, by the
	// class-key id of pool.Owner (oversizedOwner).
	ownerChecks []ownerCheck
	// celAsOf, celOrg and celJob are asOf, org and job converted for CEL
	// once (celFacts), for candidate-scope evaluations.
	celAsOf        ref.Val
	celOrg, celJob facts
	// freeDefs are definitions' maps no verdict keeps (defMap).
	freeDefs []facts
	// rulesBy caches each candidate rule's judgement, and defsBy each
	// definition's value, by the projection of the coarse key on what
	// they read (judge, defsFor): a class that differs from an earlier
	// one only in details a rule does not read reuses its judgement.
	rulesBy map[projKey]*entry
	defsBy  map[projKey]defValue
	// projIDs numbers the projections of coarse keys (projections).
	projIDs map[classKey]int32
	// shown caches the findings of fired rules whose messages show a
	// candidate's details, by the projection of the decision key on what
	// the rule and its message read (render).
	shown map[shownKey]shownFinding
	// candRules are the candidate-scope rules in force on the query's date.
	candRules []*compiled
	// transfers caches transfer findings per destination country (with
	// the access findings of each dataset).
	transfers map[string]transferResult
	// accessBy caches the access-scope findings per dataset (access).
	accessBy map[*catalog.Dataset]accessResult
	// originTotals are the subjects of the query's datasets by origin,
	// and inQuery the datasets counted in them (datasetFacts), made once.
	totalsOnce   sync.Once
	originTotals map[string]subjectTotals
	inQuery      map[*catalog.Dataset]bool
	// vol counts exports for the ledger functions (volumes.go).
	vol volumes
	// evaluations counts rule-set evaluations (cache misses), for tests and benchmarks.
	evaluations int
	// ids numbers the strings of class keys, and siteIDs keeps each
	// site's numbered details (fullKey).
	ids     map[string]uint32
	siteIDs map[*catalog.Site]siteIDs
}

// Session opens an evaluation session for one plan. A zero AsOf is an
// error: every evaluation happens at a stated date.
func (e *Engine) Session(q Query) (*Session, error) {
	return e.SessionContext(context.Background(), q)
}

// SessionContext is Session with a context: once ctx is done, evaluations
// stop (a condition in progress is interrupted) and fail closed, so a
// costly pack cannot stall a plan or the server.
func (e *Engine) SessionContext(ctx context.Context, q Query) (*Session, error) {
	if q.AsOf.IsZero() {
		return nil, fmt.Errorf("policy: query has no as-of date")
	}
	if q.Countries == nil {
		return nil, fmt.Errorf("policy: query has no country table")
	}
	s := e.newSession(ctx, q)
	s.verdicts, s.decisions = map[classKey]*verdict{}, map[classKey]Decision{}
	s.rulesBy, s.defsBy, s.shown, s.projIDs = map[projKey]*entry{}, map[projKey]defValue{}, map[shownKey]shownFinding{}, map[classKey]int32{}
	s.accs, s.owners, s.groups, s.sites = map[*catalog.Accelerator]accEntry{}, map[ownerKey]facts{}, map[*catalog.Country][]string{}, map[*catalog.Site]facts{}
	for _, c := range e.rules {
		if _, active := c.status(q.AsOf); active && c.Scope == ScopeCandidate {
			s.candRules = append(s.candRules, c)
		}
	}
	s.jobF.merge(s.orgFindings())
	big := s.factProblems()
	if msg := datasetsProblem(q.Datasets, maxQueryDatasets); msg != "" {
		big = append(big, msg)
	}
	for _, msg := range big {
		s.jobF.deny = append(s.jobF.deny, engineFinding(msg))
	}
	if len(big) > 0 {
		// Every candidate is denied for the fact, whatever the rules say:
		// running them would only cost what the fact's size lets it (the
		// built-in packs are not metered), for findings that change no
		// decision. Evaluate answers with the denial alone.
		s.oversize = true
		return s, nil
	}
	if q.Job != nil {
		for _, m := range q.Job.Spec.Release.Markets {
			// The rules read whether the EU is among the markets, and
			// which countries are: a market the country table does not
			// know ("Eu", a code since retired) could be either.
			if _, ok := q.Countries[m]; !ok && m != "EU" && m != "EEA" {
				s.jobF.deny = append(s.jobF.deny, engineFinding(fmt.Sprintf("release market %q is neither EU, EEA nor in the country table, so the rules on where the model is offered cannot be determined", m)))
			}
		}
	}
	act := s.activation(nil)
	for _, c := range e.rules {
		if c.Scope == ScopeJob {
			s.evalRule(c, act, &s.jobF)
		}
	}
	s.jobF.merge(s.deliveries())
	return s, nil
}

// oversized names the organisation's and job's facts larger than
// maxFactSize (items of a list, bytes of a string). The packs are bounded
// at load by CEL's estimate of their cost with facts of that size, and
// the built-in ones are not metered as they run, so a larger fact would
// let a tenant make every evaluation cost what it likes (and copy it into
// every finding that shows it). The catalog refuses such documents
// (catalog.MaxFactItems); one that comes another way is denied, failing
// closed, and no rule reads it.
func (s *Session) oversized() []string {
	return append(oversizedFacts("org", s.org), oversizedFacts("job", s.job)...)
}

// factProblems are oversized and unknownWords together: facts no rule
// can be trusted to judge, which deny every candidate and transfer.
func (s *Session) factProblems() []string {
	out := append(s.oversized(), s.unknownWords()...)
	out = append(out, nonFiniteFacts("org", s.org)...)
	return append(out, nonFiniteFacts("job", s.job)...)
}

// unknownWords names the vocabulary facts of the organisation and the job
// (vocabularyOf) that hold a word outside their vocabulary. The rules
// compare them with the vocabulary's words: "CN-CIIO" or "LoRA" matched
// none, and a rule on a critical-infrastructure operator or a method
// read as not applying. The catalog refuses such documents; one that
// comes another way is denied, failing closed. (org.restricted is
// orgFindings's.)
func (s *Session) unknownWords() []string {
	var out []string
	check := func(fact string, words ...string) {
		for _, w := range words {
			if !contains(vocabularyOf(fact), w) {
				out = append(out, fmt.Sprintf("%s holds %q, not one of %s, so the rules that read it cannot be determined", fact, w, strings.Join(vocabularyOf(fact), ", ")))
				return
			}
		}
	}
	if o := s.q.Org; o != nil {
		check("org.attributes", o.Spec.Attributes...)
	}
	if j := s.q.Job; j != nil {
		if j.Spec.Method != "" {
			check("job.method", j.Spec.Method)
		}
		if b := j.Spec.Model.Base; b != nil && b.License != "" {
			check("job.baseLicense", b.License)
		}
	}
	return out
}

// oversizedFacts names the facts of m, the variable name, over
// maxFactSize (Session.oversized).
func oversizedFacts(name string, m facts) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch x := m[k].(type) {
		case []string:
			if len(x) > maxFactSize {
				out = append(out, fmt.Sprintf("%s.%s has %d items, more than the %d the rules' cost is bounded for", name, k, len(x), maxFactSize))
				continue
			}
			for _, item := range x {
				if len(item) > maxFactSize {
					out = append(out, fmt.Sprintf("%s.%s has an item of %d bytes, more than the %d the rules' cost is bounded for", name, k, len(item), maxFactSize))
					break
				}
			}
		case string:
			// The screening's source is the engine's own text.
			if len(x) > maxFactSize && k != "restrictedSource" {
				out = append(out, fmt.Sprintf("%s.%s is %d bytes, more than the %d the rules' cost is bounded for", name, k, len(x), maxFactSize))
			}
		}
	}
	return out
}

// oversizedSite names the facts of a candidate's site and pool that its
// site's registration or files bring (a site's operator writes them, and
// an agent reports them) and that are over maxFactSize bytes, or "". The
// catalog bounds an organisation's and a job's facts, not a site's; the
// built-in packs read these unmetered, a user pack's under the runtime
// meter only (so that a deny would depend on where the meter stops), and
// the findings copy them into every message that shows them. Such a
// candidate is denied, failing closed, and no rule reads it.
func oversizedSite(site *catalog.Site, pool *catalog.Pool) string {
	var out []string
	for _, f := range []struct{ name, v string }{
		{"site.name", site.Metadata.Name},
		{"site.country", site.Spec.Country},
		{"site.city", site.Spec.City},
		{"site.operator", site.Spec.Operator.Name},
		{"site.operatorHQ", site.Spec.Operator.Headquarters},
		{"pool.owner", pool.Owner},
	} {
		if len(f.v) > maxFactSize {
			out = append(out, fmt.Sprintf("%s is %d bytes, more than the %d the rules' cost is bounded for", f.name, len(f.v), maxFactSize))
		}
	}
	return strings.Join(out, "; ")
}

// siteDenied is the decision on a candidate whose site or pool has a
// fact over the bound (oversizedSite). The site is named by the start of
// its name only: the message must not carry what is too large.
func (s *Session) siteDenied(site *catalog.Site, big string) Decision {
	var f findings
	f.merge(s.jobF)
	f.deny = append(f.deny, engineFinding(fmt.Sprintf("site %s: %s", nameStart(site.Metadata.Name), big)))
	return decide(f, nil)
}

// accDenied is the decision on a candidate whose accelerator has a
// numeric fact that is not a finite number (nonFiniteAcc): denied,
// failing closed, without running the rules on it.
func (s *Session) accDenied(bad string) Decision {
	var f findings
	f.merge(s.jobF)
	f.deny = append(f.deny, engineFinding(bad))
	return decide(f, nil)
}

// joinProblems joins the problems one fact or resource has.
func joinProblems(p []string) string { return strings.Join(p, "; ") }

// nameStart is v cut to at most 64 bytes, at a character boundary, marked
// with "…" when cut.
func nameStart(v string) string {
	if p := textfit.Prefix(v, 64); len(p) < len(v) {
		return p + "…"
	}
	return v
}

// ownerCheck is whether the facts of a pool's owning organisation were
// checked against maxFactSize, and what is over it ("" when nothing).
type ownerCheck struct {
	checked bool
	big     string
}

// oversizedOwner says which facts of the organisation that owns the pool
// are over maxFactSize, or "", checking each owner once a session by its
// class-key id (owner, the id of pool.Owner); s.mu is held. The owner is
// an organisation of the tenant's (or another's, known by name only): the
// catalog bounds its lists as it bounds the querying organisation's, but
// the engine does not rely on that (Session.oversized), and unlike the
// built-in packs' facts a user pack's rule would read an oversized one
// under the runtime cost meter only, whose own tracking takes seconds of
// CPU on a list of 100,000 items before it stops the evaluation. A pool
// its site's operator owns has the operator's name and headquarters as
// owner facts, which the site's facts hold too: those are strings, which
// the meter stops at a cost linear in their length.
func (s *Session) oversizedOwner(owner uint32, site *catalog.Site, pool *catalog.Pool) string {
	if pool.OwnerOrganization() == "" {
		return ""
	}
	if int(owner) >= len(s.ownerChecks) {
		s.ownerChecks = append(s.ownerChecks, make([]ownerCheck, int(owner)+1-len(s.ownerChecks))...)
	}
	c := &s.ownerChecks[owner]
	if !c.checked {
		c.checked = true
		c.big = strings.Join(oversizedFacts("owner", ownerOf(site, pool, &s.q)), "; ")
	}
	return c.big
}

// ownerDenied is the decision on a candidate whose pool's owner has a
// fact over the bound (oversizedOwner): denied, failing closed, without
// running the rules on it.
func (s *Session) ownerDenied(site *catalog.Site, pool *catalog.Pool, big string) Decision {
	var f findings
	f.merge(s.jobF)
	f.deny = append(f.deny, engineFinding(fmt.Sprintf("site %s: pool owner %s: %s", site.Metadata.Name, shownOwner(pool, s.q.Tenant), big)))
	return decide(f, nil)
}

// newSession holds what every kind of evaluation needs.
func (e *Engine) newSession(ctx context.Context, q Query) *Session {
	if ctx == nil {
		ctx = context.Background()
	}
	s := &Session{e: e, q: q, ctx: ctx, asOf: q.AsOf.String(), org: orgFacts(q.Org, q.Screening, q.Countries, q.AsOf),
		job: jobFacts(&q), transfers: map[string]transferResult{},
		ids: map[string]uint32{}, siteIDs: map[*catalog.Site]siteIDs{}}
	s.celAsOf, s.celOrg, s.celJob = e.adapter.NativeToValue(s.asOf), e.celFacts(s.org), e.celFacts(s.job)
	return s
}

// orgFindings are the engine's own findings on the organisation: what
// cannot be determined about it.
func (s *Session) orgFindings() findings {
	var f findings
	q := s.q
	if q.Org == nil {
		f.deny = append(f.deny, engineFinding("no organisation given: cannot determine headquarters, parent or restricted-party status"))
		return f
	}
	if _, ok := q.Countries[q.Org.Spec.Headquarters]; !ok {
		f.deny = append(f.deny, engineFinding(fmt.Sprintf("organisation %s: headquarters country %q is not in the country table, so its US country groups cannot be determined", q.Org.Metadata.Name, q.Org.Spec.Headquarters)))
	}
	if _, ok := q.Countries[q.Org.ParentHQ()]; !ok && q.Org.ParentHQ() != q.Org.Spec.Headquarters {
		f.deny = append(f.deny, engineFinding(fmt.Sprintf("organisation %s: ultimate parent's headquarters %q is not in the country table", q.Org.Metadata.Name, q.Org.ParentHQ())))
	}
	if st := q.Org.Restricted(); !contains(catalog.RestrictedPartyValues, st) {
		// The rules compare org.restricted with the vocabulary's words:
		// one outside it ("Entity-List") matched none of them, and a
		// listed party was judged as none.
		f.deny = append(f.deny, engineFinding(fmt.Sprintf("organisation %s: declared restricted-party status %q is not one of %s", q.Org.Metadata.Name, st, strings.Join(catalog.RestrictedPartyValues, ", "))))
	}
	if sc := q.Screening; sc != nil {
		switch sc.Status {
		case catalog.RestrictedUndetermined:
			f.deny = append(f.deny, engineFinding(fmt.Sprintf("organisation %s: restricted-party status is undetermined: %s; a person must confirm or dismiss the match (meridian screen confirm|dismiss)", q.Org.Metadata.Name, sc.Source)))
		case catalog.RestrictedListed:
			f.deny = append(f.deny, engineFinding(fmt.Sprintf("organisation %s is on a restricted-party list that no loaded rule grades: %s", q.Org.Metadata.Name, sc.Source)))
		case catalog.RestrictedNone, catalog.RestrictedEntityList, catalog.RestrictedAffiliateOfListed:
		default:
			f.deny = append(f.deny, engineFinding(fmt.Sprintf("organisation %s: screening status %q is not a restricted-party status", q.Org.Metadata.Name, sc.Status)))
		}
	}
	return f
}

// Evaluations returns how many times the candidate rule set actually ran
// (cache misses) in this session.
func (s *Session) Evaluations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evaluations
}

// EngineFinding is the denial of a placement whose law could not be
// evaluated at all: the engine's rule, CodeUndetermined, failing closed.
func EngineFinding(msg string) Finding { return engineFinding(msg) }

// engineSource is the source of the engine's own findings.
const engineSource = "Meridian policy engine"

func engineFinding(msg string) Finding {
	// The message ends with the finding's own source, as a rule's does, so
	// that a line printing the finding and its source names it once; it
	// cited another ("Meridian fails closed…"), and such lines named two.
	return Finding{Rule: EngineRule, Kind: "engine", Effect: Deny,
		// msg names what a tenant or a site wrote (an organisation's
		// name, a dataset's, a pool's owner), printed to terminals and
		// kept in logs: each character that may not be shown as itself
		// is written out.
		Message: EngineRule + ": could not determine: " + textsafe.Escape(msg) + "; Meridian fails closed when a needed fact is missing (source: " + engineSource + ")",
		Source:  engineSource, Confidence: Confirmed, Code: CodeUndetermined}
}

// verdict is what the rules say about a class, before any message is
// rendered: the findings in rule order, some ready, some fired rules
// whose messages are filled in per candidate.
type verdict struct {
	entries []*entry
	def     facts // the definitions' values, for messages
	// transfers is false when the site's country is unknown (no transfer is evaluated).
	transfers bool
	// need are the details the fired rules' messages read; they join the
	// coarse key to make the decision key.
	need dims
	// decision is the class's one decision when need is empty, once rendered.
	decision *Decision
}

type entry struct {
	eff Effect
	fd  Finding   // when c is nil
	c   *compiled // a fired rule
	fr  firing
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
		// Both names are the site's to write: shown by their start only
		// (oversizedSite).
		return decide(findings{deny: []Finding{engineFinding(fmt.Sprintf("accelerator %q of site %s is not in the catalog, so it cannot be classified", nameStart(pool.Accelerator), nameStart(site.Metadata.Name)))}}, nil)
	}
	if s.oversize {
		return decide(s.jobF, nil)
	}
	if big := oversizedSite(site, pool); big != "" {
		return s.siteDenied(site, big)
	}
	if bad := nonFiniteAcc(acc); bad != "" {
		return s.accDenied(bad)
	}
	s.mu.Lock()
	full := s.fullKey(site, pool, acc)
	if big := s.oversizedOwner(full.owner, site, pool); big != "" {
		s.mu.Unlock()
		return s.ownerDenied(site, pool, big)
	}
	coarse := s.e.coarse(full)
	v := s.verdicts[coarse]
	if v != nil {
		if v.decision != nil {
			s.mu.Unlock()
			return *v.decision
		}
		if d, ok := s.decisions[coarse.with(full, v.need)]; ok {
			s.mu.Unlock()
			return d
		}
	} else {
		s.evaluations++
	}
	s.mu.Unlock()

	var vars *candAct // the candidate's facts, when judge just built them
	reuse := false
	if v == nil {
		v, vars = s.judge(site, pool, acc, coarse, true)
		// A verdict that needs no candidate facts to render does not keep
		// the definitions' map judge filled: it is reused once rendered.
		reuse = vars != nil && v.need == 0 && !s.e.defsWhole
		s.mu.Lock()
		if w := s.verdicts[coarse]; w != nil {
			v = w // another goroutine judged the class first
		} else {
			s.verdicts[coarse] = v
		}
		s.mu.Unlock()
	}
	d := s.render(v, vars, site, pool, acc, &renderKeys{coarse, full})
	s.mu.Lock()
	if reuse && len(s.freeDefs) < 4 {
		s.freeDefs = append(s.freeDefs, vars.def)
	}
	if v.need == 0 {
		v.decision = &d // the class's only decision
	} else {
		s.decisions[coarse.with(full, v.need)] = d
	}
	s.mu.Unlock()
	return d
}

// evaluate is an uncached evaluation of one candidate (the reference the
// cache's tests compare Evaluate with): it stops where Evaluate does.
func (s *Session) evaluate(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator) Decision {
	if s.oversize {
		return decide(s.jobF, nil)
	}
	if big := oversizedSite(site, pool); big != "" {
		return s.siteDenied(site, big)
	}
	if bad := nonFiniteAcc(acc); bad != "" {
		return s.accDenied(bad)
	}
	s.mu.Lock()
	big := s.oversizedOwner(s.id(pool.Owner), site, pool)
	s.mu.Unlock()
	if big != "" {
		return s.ownerDenied(site, pool, big)
	}
	v, vars := s.judge(site, pool, acc, classKey{}, false)
	return s.render(v, vars, site, pool, acc, nil)
}

// projKey is one rule or definition (index i) and the number of a
// projection of a coarse key on what it reads (projections).
type projKey struct{ i, proj int32 }

// shownKey is one rule (index i) and the projection of a decision key on
// what it and its message read.
type shownKey struct {
	i int
	k classKey
}

// projections numbers the projections of a coarse key on each of the
// engine's projDims (numbers are shared by the whole session), so that
// the caches keyed by them hash a small key. A projection that keeps the
// whole coarse key is the class's own: it gets -1, not cached (the
// class's verdict is).
func (s *Session) projections(coarse classKey, buf []int32) []int32 {
	ids := buf[:0]
	all := dimBase | s.e.condDims
	s.mu.Lock()
	for _, d := range s.e.projDims {
		if d&all == all {
			ids = append(ids, -1)
			continue
		}
		k := classKey{}.with(coarse, d)
		id, ok := s.projIDs[k]
		if !ok {
			id = int32(len(s.projIDs))
			s.projIDs[k] = id
		}
		ids = append(ids, id)
	}
	s.mu.Unlock()
	return ids
}

// defValue is a definition's value (as a CEL value) or its error, and
// then the cause (defFailure).
type defValue struct {
	val   any
	err   error
	cause string
}

// defMap is an empty map for a class's definitions, reused when one is free.
func (s *Session) defMap() facts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.freeDefs); n > 0 {
		m := s.freeDefs[n-1]
		s.freeDefs = s.freeDefs[:n-1]
		clear(m)
		return m
	}
	return make(facts, len(s.e.defs))
}

// judging is what judge builds for a class on first need: the candidate's
// facts, the definitions' values and errors, and what unconfirmedDeps
// shares between rules.
type judging struct {
	s       *Session
	site    *catalog.Site
	pool    *catalog.Pool
	acc     *catalog.Accelerator
	vars    *candAct
	defErrs map[string]error
	cc      *candCtx
}

// build builds them; ids are the class's projections (nil: evaluate
// everything afresh).
func (j *judging) build(ids []int32) {
	if j.vars != nil {
		return
	}
	s := j.s
	if ids != nil {
		j.vars = s.candidateFacts(j.site, j.pool, j.acc)
		j.vars.def = s.defMap()
	} else {
		j.vars = s.candidateVars(j.site, j.pool, j.acc)
	}
	if ids != nil {
		j.defErrs = s.defsFor(ids, j.vars)
	} else {
		j.defErrs = s.evalDefs(j.vars.def, j.vars)
	}
	j.cc = &candCtx{vars: j.vars, unconfirmed: j.vars.unconfirmed}
}

// judge runs the candidate rules for one candidate's class, and returns
// the candidate's facts it built (nil when it built none). With cached,
// each rule's judgement and each definition's value is looked up first by
// the projection of the coarse key on what it reads (keyDims, dims), and
// kept for the classes that share it; without, everything is evaluated
// afresh.
func (s *Session) judge(site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator, coarse classKey, cached bool) (*verdict, *candAct) {
	v := &verdict{}
	if _, ok := s.q.Countries[site.Spec.Country]; !ok {
		v.entries = append(v.entries, &entry{eff: Deny, fd: engineFinding(fmt.Sprintf("site country %q is not in the country table, so its country groups and data-protection status are unknown", site.Spec.Country))})
		return v, nil
	}
	v.transfers = true
	if cached && s.ctx.Err() != nil {
		cached = false // a stopped session fails closed on every new class
	}
	jg := judging{s: s, site: site, pool: pool, acc: acc}
	var buf [16]int32
	var ids []int32 // the class's projections; nil: evaluate everything afresh
	if cached {
		ids = s.projections(coarse, buf[:0])
	}
	v.entries = make([]*entry, 0, len(s.candRules))
	for _, c := range s.candRules {
		var j *entry
		var k projKey
		keep := ids != nil && ids[c.proj] >= 0
		found := false
		if keep {
			k = projKey{int32(c.idx), ids[c.proj]}
			s.mu.Lock()
			j, found = s.rulesBy[k]
			s.mu.Unlock()
		}
		if !found {
			jg.build(ids)
			j = s.judgeRule(c, jg.vars, jg.cc, jg.defErrs)
			if keep {
				s.mu.Lock()
				s.rulesBy[k] = j
				s.mu.Unlock()
			}
		}
		if j == nil {
			continue // the rule filed nothing
		}
		v.entries = append(v.entries, j)
		if j.c != nil {
			v.need |= c.msgDims
		}
	}
	if v.need != 0 {
		// Messages read the candidate's facts: render builds them (for
		// another candidate of the class) with these definitions.
		jg.build(ids)
		v.def = jg.vars.def
	}
	return v, jg.vars
}

// judgeRule runs one candidate rule on a candidate's facts, and returns
// its entry in a verdict (nil when it files nothing).
func (s *Session) judgeRule(c *compiled, vars *candAct, cc *candCtx, defErrs map[string]error) *entry {
	out := s.runRule(c, vars, defErrs)
	switch {
	case out.fired:
		fr := s.judgeFiring(c, vars, cc, out)
		if c.msgDims == 0 {
			// The message shows only what the class shares.
			eff, fd := fr.finding(c, vars)
			return &entry{eff: eff, fd: fd}
		}
		return &entry{eff: fr.eff, c: c, fr: fr}
	case out.failed != nil:
		fd := *out.failed
		// An error may quote what the condition read: another tenant's
		// organisation is not named (the class key holds the owner, so
		// the entry is this owner's only).
		fd.Message = hideName(fd.Message, vars.others)
		return &entry{eff: fd.Effect, fd: fd}
	}
	return nil
}

// render turns a verdict into one candidate's decision, filling the fired
// rules' messages with the candidate's own facts (vars, when already built
// for this candidate, with v's definitions). With keys (the candidate's
// coarse and full keys), a rendered finding is looked up first and kept
// by the projection of the decision key on what the rule and its message
// read.
func (s *Session) render(v *verdict, vars *candAct, site *catalog.Site, pool *catalog.Pool, acc *catalog.Accelerator, keys *renderKeys) Decision {
	var tr transferResult
	if v.transfers {
		tr = s.transfersTo(site.Spec.Country)
	}
	// Size the lists once: job findings, the class's, the transfers'.
	nd, no, na := len(s.jobF.deny)+len(tr.f.deny), len(s.jobF.obl)+len(tr.f.obl), len(s.jobF.adv)+len(tr.f.adv)
	for _, x := range v.entries {
		switch x.eff {
		case Deny:
			nd++
		case Obligation:
			no++
		default:
			na++
		}
	}
	f := findings{deny: make([]Finding, 0, nd), obl: make([]Finding, 0, no), adv: make([]Finding, 0, na)}
	f.merge(s.jobF)
	for _, x := range v.entries {
		if x.c == nil {
			f.add(x.eff, x.fd)
			continue
		}
		var k shownKey
		if keys != nil {
			k = shownKey{x.c.idx, classKey{}.with(keys.coarse, x.c.keyDims).with(keys.full, x.c.msgDims)}
			s.mu.Lock()
			sf, ok := s.shown[k]
			s.mu.Unlock()
			if ok {
				f.add(sf.eff, sf.fd)
				continue
			}
		}
		if vars == nil {
			vars = s.candidateFacts(site, pool, acc)
			vars.def = v.def
		}
		eff, fd := x.fr.finding(x.c, vars)
		if keys != nil {
			s.mu.Lock()
			s.shown[k] = shownFinding{eff, fd}
			s.mu.Unlock()
		}
		f.add(eff, fd)
	}
	if !v.transfers {
		return decide(f, nil)
	}
	f.merge(tr.f)
	return decide(f, tr.transfers)
}

// renderKeys are a candidate's coarse and full class keys.
type renderKeys struct{ coarse, full classKey }

// shownFinding is a fired rule's rendered finding.
type shownFinding struct {
	eff Effect
	fd  Finding
}

// defsFor is evalDefs with each definition's value looked up first by the
// projection of the coarse key on what it reads (its dims), and kept for
// the classes that share it; values are CEL values.
func (s *Session) defsFor(ids []int32, act *candAct) map[string]error {
	var errs map[string]error
	var causes map[string]string // defFailure's, by definition
	for i, d := range s.e.defs {
		k := projKey{int32(i), ids[d.proj]}
		keep := ids[d.proj] >= 0
		var dv defValue
		ok := false
		if keep {
			s.mu.Lock()
			dv, ok = s.defsBy[k]
			s.mu.Unlock()
		}
		if !ok {
			out, err := eval(s.ctx, d.prg, d.track, act)
			if err == nil {
				err = nonFiniteDef(d.Name, out)
			}
			if err != nil {
				dv.err, dv.cause = defFailure(d, err, causes)
			} else {
				dv.val = out
			}
			if keep {
				s.mu.Lock()
				s.defsBy[k] = dv
				s.mu.Unlock()
			}
		}
		if dv.err != nil {
			if errs == nil {
				errs, causes = map[string]error{}, map[string]string{}
			}
			errs[d.Name], causes[d.Name] = dv.err, dv.cause
			act.def[d.Name] = failedDef(d.Name)
			continue
		}
		act.def[d.Name] = dv.val
	}
	return errs
}

// nonFiniteDef is the error of a definition whose value is a number that
// is not finite: finite facts can give one (a ratio whose divisor is 0),
// and a rule comparing it, false whichever way, would not fire. The
// definition fails, and the rules that read it fail closed.
//
// A definition whose value is over the bounds of defSize fails too: each
// definition is computed for every candidate and kept for the classes
// that share it, and one can double the value of the one before: a text
// (def.a + def.a) up to what CEL's cost limit lets one expression build,
// about 1 MB; a list (def.l + def.l, lazy, a cost of 1) or a map
// ({'a': def.m, 'b': def.m}) without end, a copy of it (def.l.map(x, x))
// as large as the cost limit allows. Thousands of them held gigabytes,
// and a message showing one wrote every item.
func nonFiniteDef(name string, out ref.Val) error {
	if x, ok := number(out); ok && !finite(x) {
		return fmt.Errorf("definition %s is %v, not a finite number", name, x)
	}
	switch v := out.(type) {
	case types.String:
		if len(v) > maxDefText {
			return fmt.Errorf("definition %s is a text of %d bytes, over the limit of %d", name, len(v), maxDefText)
		}
		return nil
	case types.Bytes:
		if len(v) > maxDefText {
			return fmt.Errorf("definition %s is %d bytes, over the limit of %d", name, len(v), maxDefText)
		}
		return nil
	}
	var z defSize
	if why := z.add(out, 0); why != "" {
		return fmt.Errorf("definition %s %s", name, why)
	}
	return nil
}

// maxDefText bounds the bytes of a definition's value that is a text.
// Facts are short (names, codes, dates); a definition joins a few.
const maxDefText = 4096

// maxDefItems bounds the items of a definition's value that is a list or
// a map, all levels together (a map's entry is one item): four of the
// largest fact lists (catalog.MaxFactItems).
const maxDefItems = 4 * catalog.MaxFactItems

// maxDefDepth bounds how deep a definition's lists and maps nest: a fact
// is a map of lists at most (2); a definition may put them in one more.
const maxDefDepth = 4

// maxDefBytes bounds the bytes of a definition's value that is a list or
// a map: its texts' bytes (map keys included), and 8 bytes for each other
// value.
const maxDefBytes = 4 * maxDefText

// defSize adds up a definition's value: its items and bytes so far.
type defSize struct{ items, bytes int }

// add adds v, at depth (the lists and maps around it), and says what is
// over a bound, or "". It stops at the first bound crossed, so that its
// cost is bounded whatever v holds: a list's or a map's size is read
// before its items are.
func (z *defSize) add(v ref.Val, depth int) string {
	switch x := v.(type) {
	case types.String:
		z.bytes += len(x)
	case types.Bytes:
		z.bytes += len(x)
	case traits.Lister, traits.Mapper:
		if depth >= maxDefDepth {
			return fmt.Sprintf("holds lists or maps nested more than %d deep, over the limit", maxDefDepth)
		}
		n, ok := v.(traits.Sizer).Size().(types.Int)
		if !ok || n < 0 || int64(n) > int64(maxDefItems-z.items) {
			return fmt.Sprintf("holds more than %d items (lists and maps together), over the limit", maxDefItems)
		}
		z.items += int(n)
		m, isMap := v.(traits.Mapper)
		for it := v.(traits.Iterable).Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			if why := z.add(k, depth+1); why != "" {
				return why
			}
			if isMap {
				if why := z.add(m.Get(k), depth+1); why != "" {
					return why
				}
			}
		}
	default:
		z.bytes += 8
	}
	if z.bytes > maxDefBytes {
		return fmt.Sprintf("holds more than %d bytes, over the limit", maxDefBytes)
	}
	return ""
}

// defFailure is the error of definition d, which failed with err, and its
// cause: when d failed because a definition it reads failed (causes holds
// theirs), the error names that one and quotes its cause, the error of
// the first definition of the chain that failed on its own; otherwise
// the error is its own cause. A chain of definitions reading the one
// before quotes one cause, not each error of the chain.
func defFailure(d *compiledDef, err error, causes map[string]string) (error, string) {
	msg := explain(err, d.reads)
	if len(causes) > 0 {
		for _, r := range slices.Sorted(maps.Keys(d.reads)) {
			name, ok := strings.CutPrefix(r, "def.")
			if c, failed := causes[name]; ok && failed && strings.Contains(msg, "no such key: "+name) {
				return fmt.Errorf("%s (definition %s could not be computed: %s)", msg, name, c), c
			}
		}
	}
	return errors.New(msg), msg
}

// failedDef is the value of a definition that could not be computed: an
// error, which a condition that reads it gets as it got a missing key.
// Left out of def, the definition read as absent to has(def.x) and
// 'x' in def, and a rule guarded by them let the candidate through; a
// failed one is present, and reading it fails the rule closed.
func failedDef(name string) ref.Val { return types.NewErr("no such key: %s", name) }

// evalDefs computes the definitions in order into def; a definition that
// errors is left out, and its error is returned for the rules that read it.
func (s *Session) evalDefs(def facts, act *candAct) map[string]error {
	var errs map[string]error
	var causes map[string]string
	for _, d := range s.e.defs {
		out, err := eval(s.ctx, d.prg, d.track, act)
		if err == nil {
			err = nonFiniteDef(d.Name, out)
		}
		if err != nil {
			if errs == nil {
				errs, causes = map[string]error{}, map[string]string{}
			}
			errs[d.Name], causes[d.Name] = defFailure(d, err, causes)
			def[d.Name] = failedDef(d.Name)
			continue
		}
		def[d.Name] = out.Value()
	}
	return errs
}
