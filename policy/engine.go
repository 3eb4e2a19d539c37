package policy

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"

	"meridian.dev/meridian/catalog"
)

//go:embed packs/*.yaml
var builtinPacks embed.FS

// Options configures an Engine.
type Options struct {
	// Dirs are directories of user rule files (*.yaml, *.yml), added to the
	// built-in packs (the --rules DIR flag). A user rule may not reuse a
	// built-in rule's id.
	Dirs []string
	// NoBuiltin leaves the built-in packs out (tests of user packs).
	NoBuiltin bool
}

// Engine holds compiled rules. It is safe for concurrent use.
type Engine struct {
	rules []*compiled
	byID  map[string]*compiled
	defs  []*compiledDef
	// condFields are the candidate details outside the base class key
	// (country, operator HQ, accelerator, owner) that some condition or
	// definition reads: those rules can tell candidates apart by them, so
	// they are part of the class key. A detail read only by messages is
	// filled in per candidate when the message is rendered.
	condFields fieldMask
	// acqBounds are the string constants that conditions and definitions
	// compare pool.acquired against, sorted. When every read of
	// pool.acquired is such a comparison (acqExact false), the class key
	// holds the interval between bounds the date falls in, not the date.
	acqBounds []string
	acqExact  bool
	// hqDefs lists the definitions whose value depends on the operator's
	// headquarters. When no condition reads the headquarters other than
	// through them (hqViaDefs), the class key holds their values instead
	// of the headquarters: operators of different countries that the
	// rules treat alike share a class.
	hqDefs    []int
	hqDims    keyDims
	hqViaDefs bool
}

// fieldMask names candidate details that may or may not be in a class key.
type fieldMask uint8

const (
	fieldOperator   fieldMask = 1 << iota // site.operator, and owner.name of operator-owned pools
	fieldAcquired                         // pool.acquired
	fieldName                             // site.name
	fieldCity                             // site.city
	fieldOperatorHQ                       // site.operatorHQ, and the owner of operator-owned pools
)

// fieldsOf maps facts read ("var.field" or "var.*") to the details they depend on.
func fieldsOf(reads map[string]bool) fieldMask {
	var m fieldMask
	for r := range reads {
		if strings.HasPrefix(r, "owner.") {
			// An operator-owned pool's owner is the operator: its name is
			// the operator's, its headquarters the operator's.
			m |= fieldOperatorHQ
			if r == "owner.name" || r == "owner.*" {
				m |= fieldOperator
			}
			continue
		}
		switch r {
		case "site.operator":
			m |= fieldOperator
		case "site.operatorHQ", "site.operatorHQGroups":
			m |= fieldOperatorHQ
		case "site.name":
			m |= fieldName
		case "site.city":
			m |= fieldCity
		case "site.*":
			m |= fieldOperator | fieldOperatorHQ | fieldName | fieldCity
		case "pool.acquired", "pool.*":
			m |= fieldAcquired
		}
	}
	return m
}

type compiled struct {
	*Rule
	prg cel.Program
	// partial evaluates with some facts unknown (unconfirmed facts).
	partial cel.Program
	// reads lists "var.field" facts the condition and message read.
	reads map[string]bool
	// msgFields are the candidate details its message and lifted
	// obligation read.
	msgFields fieldMask
	// msgTmpl and oblTmpl are Message and the lifted obligation, parsed.
	msgTmpl, oblTmpl template
	// source is Source(), joined once.
	source string
}

type compiledDef struct {
	*Definition
	prg, partial cel.Program
	reads        map[string]bool
	// dims are the parts of a class key its value depends on, directly
	// or through the definitions it reads.
	dims keyDims
}

// keyDims names fields of a class key.
type keyDims uint16

const (
	dimCountry keyDims = 1 << iota
	dimOperatorHQ
	dimAcc
	dimOwner
	dimAcquired
	dimOperator
	dimName
	dimCity
	dimAll keyDims = 1<<iota - 1
)

// dimsOf says which class-key fields facts read by an expression depend
// on; defs are the definitions compiled so far. Anything it does not
// know depends on the whole key.
func dimsOf(reads map[string]bool, defs []*compiledDef) keyDims {
	var m keyDims
	for r := range reads {
		v, field, _ := strings.Cut(r, ".")
		switch v {
		case "asOf", "org", "job":
		case "acc":
			m |= dimAcc
		case "site":
			switch field {
			case "country", "groups", "eu", "eea":
				m |= dimCountry
			case "operatorHQ", "operatorHQGroups":
				m |= dimOperatorHQ
			case "operator":
				m |= dimOperator
			case "name":
				m |= dimName
			case "city":
				m |= dimCity
			default:
				m |= dimCountry | dimOperatorHQ | dimOperator | dimName | dimCity
			}
		case "pool":
			switch field {
			case "owner", "ownerKind":
				m |= dimOwner
			case "acquired":
				m |= dimAcquired
			default:
				m |= dimOwner | dimAcquired
			}
		case "owner":
			m |= dimOwner | dimOperator | dimOperatorHQ
		case "def":
			found := false
			for _, d := range defs {
				if field == "*" || d.Name == field {
					m |= d.dims
					found = true
				}
			}
			if !found {
				m |= dimAll
			}
		default:
			m |= dimAll
		}
	}
	return m
}

// directDims is dimsOf for the facts an expression reads itself, not
// through definitions.
func directDims(reads map[string]bool) keyDims {
	direct := map[string]bool{}
	for r := range reads {
		if !strings.HasPrefix(r, "def.") {
			direct[r] = true
		}
	}
	return dimsOf(direct, nil)
}

// project keeps only the fields of k in dims.
func (k classKey) project(dims keyDims) classKey {
	var p classKey
	if dims&dimCountry != 0 {
		p.country = k.country
	}
	if dims&dimOperatorHQ != 0 {
		p.operatorHQ = k.operatorHQ
	}
	if dims&dimAcc != 0 {
		p.acc = k.acc
	}
	if dims&dimOwner != 0 {
		p.owner = k.owner
	}
	if dims&dimAcquired != 0 {
		p.acquired, p.band = k.acquired, k.band
	}
	if dims&dimOperator != 0 {
		p.operator = k.operator
	}
	if dims&dimName != 0 {
		p.name = k.name
	}
	if dims&dimCity != 0 {
		p.city = k.city
	}
	return p
}

// Variables every scope may read, and those only some may.
var scopeVars = map[string][]string{
	ScopeJob:       {"asOf", "org", "job"},
	ScopeCandidate: {"asOf", "org", "job", "site", "pool", "owner", "acc", "def"},
	ScopeTransfer:  {"asOf", "org", "job", "dataset", "transfer"},
}

func newEnv() (*cel.Env, error) {
	m := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("asOf", cel.StringType),
		cel.Variable("org", m),
		cel.Variable("job", m),
		cel.Variable("site", m),
		cel.Variable("pool", m),
		cel.Variable("owner", m),
		cel.Variable("acc", m),
		cel.Variable("def", m),
		cel.Variable("dataset", m),
		cel.Variable("transfer", m),
		cel.CrossTypeNumericComparisons(true),
	)
}

// Builtin returns an engine with the embedded packs only.
func Builtin() (*Engine, error) { return New(Options{}) }

// New compiles the built-in packs (unless opts.NoBuiltin) and every rule
// file in opts.Dirs. Any error (a bad field, a condition that does not
// compile, a duplicate id) fails the whole load, naming file and line.
func New(opts Options) (*Engine, error) {
	var packs []*Pack
	if !opts.NoBuiltin {
		entries, err := fs.ReadDir(builtinPacks, "packs")
		if err != nil {
			return nil, fmt.Errorf("built-in packs: %w", err)
		}
		for _, e := range entries {
			data, err := builtinPacks.ReadFile("packs/" + e.Name())
			if err != nil {
				return nil, err
			}
			p, err := ParsePack("built-in:packs/"+e.Name(), data)
			if err != nil {
				return nil, err
			}
			packs = append(packs, p)
		}
	}
	for _, dir := range opts.Dirs {
		ps, err := readDir(dir)
		if err != nil {
			return nil, err
		}
		packs = append(packs, ps...)
	}
	return compile(packs)
}

func readDir(dir string) ([]*Pack, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--rules %s: %w", dir, err)
	}
	var files []string
	if st.IsDir() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("--rules %s: %w", dir, err)
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("--rules %s: no *.yaml rule files in the directory", dir)
		}
	} else {
		files = []string{dir}
	}
	sort.Strings(files)
	var packs []*Pack
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--rules: %w", err)
		}
		p, err := ParsePack(f, data)
		if err != nil {
			return nil, err
		}
		packs = append(packs, p)
	}
	return packs, nil
}

func compile(packs []*Pack) (*Engine, error) {
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	e := &Engine{byID: map[string]*compiled{}}
	var errs []string
	defNames := map[string]bool{}
	for _, p := range packs {
		for _, d := range p.Definitions {
			if defNames[d.Name] {
				errs = append(errs, fmt.Sprintf("%s: definition %q: defined in another pack too", d.Pos, d.Name))
				continue
			}
			prg, partial, reads, acq, err := compileExpr(env, d.Expr, ScopeCandidate, false)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: definition %q: expr: %v", d.Pos, d.Name, err))
				continue
			}
			e.noteCondition(reads, acq)
			for r := range reads {
				if name, ok := strings.CutPrefix(r, "def."); ok && !defNames[name] {
					errs = append(errs, fmt.Sprintf("%s: definition %q: reads def.%s, which is not defined before it", d.Pos, d.Name, name))
				}
			}
			defNames[d.Name] = true
			e.defs = append(e.defs, &compiledDef{Definition: d, prg: prg, partial: partial, reads: reads, dims: dimsOf(reads, e.defs)})
		}
	}
	hqDirect := false
	for _, p := range packs {
		for _, r := range p.Rules {
			if prev, dup := e.byID[r.ID]; dup {
				errs = append(errs, fmt.Sprintf("%s: rule %q: id already used at %s", r.Pos, r.ID, prev.Pos))
				continue
			}
			prg, partial, reads, acq, err := compileExpr(env, r.Condition, r.Scope, true)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: rule %q: condition: %v", r.Pos, r.ID, err))
				continue
			}
			if r.Scope == ScopeCandidate {
				e.noteCondition(reads, acq)
				if directDims(reads)&dimOperatorHQ != 0 {
					hqDirect = true
				}
			}
			msgReads := map[string]bool{}
			for _, tmpl := range []string{r.Message, r.liftedObligation()} {
				for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
					if m[2] != "" {
						msgReads[m[1]+"."+m[2]] = true
					}
				}
			}
			for _, m := range placeholder.FindAllStringSubmatch(r.Message, -1) {
				if m[2] == "" {
					if m[1] != "asOf" {
						errs = append(errs, fmt.Sprintf("%s: rule %q: message: {%s}: want {var.field} or {asOf}", r.Pos, r.ID, m[1]))
					}
					continue
				}
				if !contains(scopeVars[r.Scope], m[1]) {
					errs = append(errs, fmt.Sprintf("%s: rule %q: message: {%s.%s}: %s is not available to %s-scope rules (available: %s)",
						r.Pos, r.ID, m[1], m[2], m[1], r.Scope, strings.Join(scopeVars[r.Scope], ", ")))
				}
				reads[m[1]+"."+m[2]] = true
			}
			for rd := range reads {
				if name, ok := strings.CutPrefix(rd, "def."); ok && !defNames[name] {
					errs = append(errs, fmt.Sprintf("%s: rule %q: reads def.%s, which no pack defines", r.Pos, r.ID, name))
				}
			}
			c := &compiled{Rule: r, prg: prg, partial: partial, reads: reads, msgFields: fieldsOf(msgReads),
				msgTmpl: parseTemplate(r.Message), oblTmpl: parseTemplate(r.liftedObligation()), source: r.Source()}
			e.rules = append(e.rules, c)
			e.byID[r.ID] = c
		}
	}
	sort.Strings(e.acqBounds)
	e.acqBounds = slices.Compact(e.acqBounds)
	e.hqViaDefs = !hqDirect
	for i, d := range e.defs {
		if d.dims&dimOperatorHQ == 0 {
			continue
		}
		if d.dims&dimAcc != 0 {
			// Its value alone would not say how it behaves with
			// unconfirmed accelerator facts unknown: keep the headquarters.
			e.hqViaDefs = false
		}
		e.hqDefs = append(e.hqDefs, i)
		e.hqDims |= d.dims
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return e, nil
}

// noteCondition adds what a condition or definition reads to the class key.
func (e *Engine) noteCondition(reads map[string]bool, acq acquiredUse) {
	e.condFields |= fieldsOf(reads)
	e.acqExact = e.acqExact || acq.exact
	e.acqBounds = append(e.acqBounds, acq.bounds...)
}

// acquiredUse is how an expression reads pool.acquired: bounds are the
// string constants it compares it with; exact is true when it reads it in
// any other way (or reads pool as a whole), so only the exact date will do.
type acquiredUse struct {
	bounds []string
	exact  bool
}

// comparisons are the CEL operators whose result on a string and a
// constant depends only on where the string sorts relative to the constant.
var comparisons = map[string]bool{"_<_": true, "_<=_": true, "_>_": true, "_>=_": true, "_==_": true, "_!=_": true}

func isAcquired(x celast.Expr) bool {
	if x.Kind() != celast.SelectKind {
		return false
	}
	s := x.AsSelect()
	return s.Operand().Kind() == celast.IdentKind && s.Operand().AsIdent() == "pool" && s.FieldName() == "acquired"
}

// acquiredUses finds every read of pool.acquired in a checked expression.
func acquiredUses(root celast.Expr, reads map[string]bool) acquiredUse {
	var u acquiredUse
	all, compared := 0, 0
	celast.PostOrderVisit(root, celast.NewExprVisitor(func(x celast.Expr) {
		switch x.Kind() {
		case celast.SelectKind:
			if isAcquired(x) {
				all++
				if x.AsSelect().IsTestOnly() {
					u.exact = true // has(pool.acquired): presence is in the key anyway, but stay simple
				}
			}
		case celast.CallKind:
			call := x.AsCall()
			args := call.Args()
			if !comparisons[call.FunctionName()] || len(args) != 2 || call.IsMemberFunction() {
				return
			}
			for i, a := range args {
				other := args[1-i]
				if !isAcquired(a) || other.Kind() != celast.LiteralKind {
					continue
				}
				str, isStr := other.AsLiteral().Value().(string)
				if !isStr {
					continue
				}
				compared++
				u.bounds = append(u.bounds, str)
			}
		}
	}))
	if compared != all || reads["pool.*"] {
		u.exact = true
	}
	return u
}

// compileExpr compiles one CEL expression, checks it reads only the
// variables of its scope, and returns the facts it reads ("var.field", or
// "var.*" when a variable is used other than by a field selection).
func compileExpr(env *cel.Env, src, scope string, wantBool bool) (prg, partial cel.Program, reads map[string]bool, acq acquiredUse, err error) {
	checked, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, nil, nil, acq, iss.Err()
	}
	if wantBool && !checked.OutputType().IsExactType(cel.BoolType) && !checked.OutputType().IsExactType(cel.DynType) {
		return nil, nil, nil, acq, fmt.Errorf("gives %s, want bool", checked.OutputType())
	}
	reads = map[string]bool{}
	idents := map[string]int{}
	selects := map[string]int{}
	celast.PostOrderVisit(checked.NativeRep().Expr(), celast.NewExprVisitor(func(x celast.Expr) {
		switch x.Kind() {
		case celast.IdentKind:
			idents[x.AsIdent()]++
		case celast.SelectKind:
			s := x.AsSelect()
			if s.Operand().Kind() == celast.IdentKind {
				selects[s.Operand().AsIdent()]++
				reads[s.Operand().AsIdent()+"."+s.FieldName()] = true
			}
		}
	}))
	for v, n := range idents {
		if !contains(scopeVars[ScopeCandidate], v) && !contains(scopeVars[ScopeTransfer], v) {
			continue // a comprehension variable; the checker rejected undeclared names
		}
		if !contains(scopeVars[scope], v) {
			return nil, nil, nil, acq, fmt.Errorf("reads %s, which %s-scope rules do not have (available: %s)", v, scope, strings.Join(scopeVars[scope], ", "))
		}
		if n != selects[v] {
			reads[v+".*"] = true
		}
	}
	acq = acquiredUses(checked.NativeRep().Expr(), reads)
	if prg, err = env.Program(checked, cel.EvalOptions(cel.OptOptimize)); err != nil {
		return nil, nil, nil, acq, err
	}
	if partial, err = env.Program(checked, cel.EvalOptions(cel.OptPartialEval)); err != nil {
		return nil, nil, nil, acq, err
	}
	return prg, partial, reads, acq, nil
}

// Rule returns the rule with the given id.
func (e *Engine) Rule(id string) (*Rule, bool) {
	c, ok := e.byID[id]
	if !ok {
		return nil, false
	}
	return c.Rule, true
}

// Definitions returns the named definitions (classification and grouping
// expressions) in load order.
func (e *Engine) Definitions() []*Definition {
	out := make([]*Definition, len(e.defs))
	for i, d := range e.defs {
		out[i] = d.Definition
	}
	return out
}

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
