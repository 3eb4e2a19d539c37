package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celcommon "github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"meridian.dev/meridian/catalog"
)

// MaxExprCost bounds the cost of one condition or definition, in CEL's
// cost units (about one per operation; a comprehension costs its
// iterations). It is checked twice for user packs: at load, against the
// worst case CEL estimates for the expression with every fact at its
// largest (maxFactSize), and at every evaluation, where going over it
// stops the expression and fails closed. The built-in packs are checked at
// load only (runtime tracking costs about a third of an evaluation's
// allocations) and estimate far below the limit (TestExprCost).
const MaxExprCost = 100_000

// MaxConditionBytes bounds the bytes of every condition and definition of
// one load together, built-in packs included (6 KB). Compiling
// costs about 3 to 7 µs of CPU a byte of CEL (parsing, checking, the cost
// estimate, two programs), whatever its shape: a rules text of 4 MiB of
// conditions took 10 to 30 seconds to load, on a request's behalf. The
// conditions past the bound are not compiled and the load fails, naming
// the one that crossed it.
const MaxConditionBytes = 256 << 10

// maxFactSize is the largest size (characters of a string, items of a
// list) the cost estimate assumes for a fact. Facts are short: country
// codes, group lists, dates, names.
const maxFactSize = catalog.MaxFactItems

// interruptEvery is how many comprehension iterations run between checks
// of an evaluation's context.
const interruptEvery = 100

// scopeVars are the variables each scope may read.
var scopeVars = map[string][]string{
	ScopeJob:       {"asOf", "org", "job", "threshold"},
	ScopeCandidate: {"asOf", "org", "job", "site", "pool", "owner", "acc", "def", "threshold"},
	ScopeTransfer:  {"asOf", "org", "job", "dataset", "transfer", "threshold", "ledger"},
	ScopeDelivery:  {"asOf", "org", "job", "delivery", "threshold"},
	// Access rules read no transfer or site: their verdict depends on the
	// dataset and who runs the job, not on where the data goes. They read
	// the ledger: what the organisation was given before counts (the US
	// bulk-data rule totals 12 months of it).
	ScopeAccess: {"asOf", "org", "job", "dataset", "threshold", "ledger"},
}

// definitionVars are the variables a definition may read.
var definitionVars = []string{"asOf", "org", "job", "site", "pool", "owner", "acc", "def"}

// allVars lists every variable of the environment.
var allVars = []string{"asOf", "org", "job", "site", "pool", "owner", "acc", "def", "dataset", "transfer", "delivery", "threshold", "ledger"}

func newEnv() (*cel.Env, error) {
	m := cel.MapType(cel.StringType, cel.DynType)
	opts := []cel.EnvOption{
		cel.Variable("asOf", cel.StringType),
		cel.CrossTypeNumericComparisons(true),
	}
	for _, v := range allVars {
		switch v {
		case "asOf":
		case "ledger":
			opts = append(opts, cel.Variable(v, ledgerType))
		default:
			opts = append(opts, cel.Variable(v, m))
		}
	}
	opts = append(opts, ledgerFunctions()...)
	return cel.NewEnv(opts...)
}

// compiled is a rule ready to evaluate.
type compiled struct {
	*Rule
	prg cel.Program
	// partial evaluates with some facts unknown (unconfirmed facts).
	partial cel.Program
	// reads lists "var.field" facts the condition and message read.
	reads map[string]bool
	// msgDims are the candidate details its message and lifted
	// obligation read.
	msgDims dims
	// msgTmpl and oblTmpl are Message and the lifted obligation, parsed.
	msgTmpl, oblTmpl template
	// source is Source(), joined once; from and until are the rule's
	// dates as its findings print them.
	source, from, until string
	// track: see expr.track.
	track bool
	// bands are the thresholds the condition reads, by name, and corners
	// every combination of their readings (nil when it reads none).
	bands   []*Threshold
	corners []corner
	// idx is the rule's place in Engine.rules; keyDims are the candidate
	// details its finding depends on (what the condition reads, and the
	// accelerator, whose unconfirmed facts may weaken a denial): a
	// session caches the rule's judgement per projection of the class key
	// on them (Session.judge).
	idx     int
	keyDims dims
	proj    int // keyDims's index in Engine.projDims
}

type compiledDef struct {
	*Definition
	prg, partial cel.Program
	track        bool // see expr.track
	reads        map[string]bool
	// dims are the parts of a class key its value depends on, directly
	// or through the definitions it reads.
	dims dims
	proj int // dims's index in Engine.projDims
}

// projOf is the index of d in e.projDims, added if new.
func (e *Engine) projOf(d dims) int {
	if i := slices.Index(e.projDims, d); i >= 0 {
		return i
	}
	e.projDims = append(e.projDims, d)
	return len(e.projDims) - 1
}

// problemAt makes a Problem from a "file:line" position.
func problemAt(pos, rule, field, format string, a ...any) Problem {
	p := Problem{File: pos, Rule: rule, Field: field, Message: fmt.Sprintf(format, a...)}
	if i := strings.LastIndexByte(pos, ':'); i > 0 {
		if n, err := strconv.Atoi(pos[i+1:]); err == nil {
			p.File, p.Line = pos[:i], n
		}
	}
	return p
}

// compile builds an engine from parsed packs, collecting every problem.
func compile(packs []*Pack) (*Engine, Problems) {
	e, ps, _ := compileContext(context.Background(), packs)
	return e, ps
}

// compileContext is compile stopping with ctx before each definition and
// rule it compiles (a condition can take milliseconds to check and
// estimate, and a load holds thousands). The error is ctx's end.
func compileContext(ctx context.Context, packs []*Pack) (*Engine, Problems, error) {
	return compileWith(ctx, packs, &problemList{})
}

// compileWith is compileContext after the problems ps holds already (a
// load's, found reading its files): an engine only when there are none.
func compileWith(ctx context.Context, packs []*Pack, ps *problemList) (*Engine, Problems, error) {
	e, err := compileInto(ctx, packs, ps)
	if err != nil {
		return nil, nil, err
	}
	if all := ps.list(); len(all) > 0 {
		return nil, all, nil
	}
	return e, nil, nil
}

// compileInto is compileContext adding its problems to ps. Once ps is
// full (it may be full already, of the files' other problems) the
// definitions and rules left are counted, not compiled: the load has
// failed, and each costs a CEL compilation and cost estimate. The engine
// is nil when ps holds any problem, found here or before.
func compileInto(ctx context.Context, packs []*Pack, ps *problemList) (*Engine, error) {
	stop := func() error {
		if ctx.Err() == nil {
			return nil
		}
		return fmt.Errorf("compiling the rules stopped: %w", context.Cause(ctx))
	}
	if err := stop(); err != nil {
		return nil, err
	}
	env, err := newEnv()
	if err != nil {
		ps.add(Problem{File: "policy engine", Message: err.Error()})
		return nil, nil
	}
	e := &Engine{byID: map[string]*compiled{}, thresholds: map[string]*Threshold{}, adapter: env.CELTypeAdapter()}
	bad := func(pos, rule, field, format string, a ...any) {
		if ps.full() {
			ps.skip()
			return
		}
		ps.add(problemAt(pos, rule, field, format, a...))
	}
	for _, p := range packs {
		for _, t := range p.Thresholds {
			if prev, dup := e.thresholds[t.Name]; dup {
				bad(t.Pos, "threshold "+t.Name, "name", "defined in another pack too (%s)", prev.Pos)
				continue
			}
			e.thresholds[t.Name] = t
		}
	}
	e.thTexts = thresholdTexts(e.thresholds)
	e.celThTexts = e.celFacts(e.thTexts)
	// left is what MaxConditionBytes leaves; once an expression takes it
	// below zero, the rest are counted as not compiled.
	left := MaxConditionBytes
	charge := func(pos, who, field, src string) bool {
		if left < 0 {
			ps.unchecked++
			return false
		}
		if left -= len(src); left < 0 {
			bad(pos, who, field, "the conditions and definitions of the rule files come to more than %d bytes together, the limit of one load; checking stopped here", MaxConditionBytes)
			return false
		}
		return true
	}
	defNames := map[string]bool{}
	for _, p := range packs {
		for _, d := range p.Definitions {
			if err := stop(); err != nil {
				return nil, err
			}
			if ps.full() {
				ps.unchecked++
				continue
			}
			who := "definition " + d.Name
			if defNames[d.Name] {
				bad(d.Pos, who, "name", "defined in another pack too")
				continue
			}
			if !charge(d.Pos, who, "expr", d.Expr) {
				continue
			}
			x, err := compileExpr(env, d.Expr, definitionVars, false, !p.builtin)
			if err != nil {
				bad(d.Pos, who, "expr", "%v", err)
				continue
			}
			for _, msg := range e.checkReads(x.reads, defNames, nil) {
				bad(d.Pos, who, "expr", "%s", msg)
			}
			for _, msg := range x.vocab {
				bad(d.Pos, who, "expr", "%s", msg)
			}
			e.noteCondition(x.reads, x.acq)
			e.asOfDays = append(e.asOfDays, x.asOfDays...)
			e.defsWhole = e.defsWhole || x.reads["def.*"]
			defNames[d.Name] = true
			e.defs = append(e.defs, &compiledDef{Definition: d, prg: x.prg, partial: x.partial, track: x.track, reads: x.reads, dims: dimsOf(x.reads, e.defs)})
		}
	}
	for _, p := range packs {
		for _, r := range p.Rules {
			if err := stop(); err != nil {
				return nil, err
			}
			if ps.full() {
				ps.unchecked++
				continue
			}
			if prev, dup := e.byID[r.ID]; dup {
				bad(r.Pos, r.ID, "id", "already used at %s", prev.Pos)
				continue
			}
			if !charge(r.Pos, r.ID, "condition", r.Condition) {
				continue
			}
			c := e.compileRule(env, r, defNames, !p.builtin, func(field, format string, a ...any) {
				bad(r.Pos, r.ID, field, format, a...)
			})
			if c == nil {
				continue
			}
			e.rules = append(e.rules, c)
			e.byID[r.ID] = c
		}
	}
	sort.Strings(e.acqBounds)
	e.acqBounds = slices.Compact(e.acqBounds)
	for _, d := range e.defs {
		d.proj = e.projOf(d.dims)
	}
	for _, c := range e.rules {
		if c.Scope == ScopeCandidate {
			c.proj = e.projOf(c.keyDims)
		}
	}
	if len(ps.list()) > 0 {
		return nil, nil
	}
	return e, nil
}

// compileRule compiles one rule's condition and checks what it and its
// messages name, handing each problem to report. It is nil when there
// was any.
func (e *Engine) compileRule(env *cel.Env, r *Rule, defNames map[string]bool, track bool, report func(field, format string, a ...any)) *compiled {
	problems := 0
	bad := func(field, format string, a ...any) {
		problems++
		report(field, format, a...)
	}
	x, err := compileExpr(env, r.Condition, scopeVars[r.Scope], true, track)
	if err != nil {
		bad("condition", "%v", err)
		return nil
	}
	for _, msg := range e.checkReads(x.reads, defNames, e.thresholds) {
		bad("condition", "%s", msg)
	}
	for _, msg := range x.vocab {
		bad("condition", "%s", msg)
	}
	e.asOfDays = append(e.asOfDays, x.asOfDays...)
	for _, w := range x.ledgerWins {
		if !slices.Contains(e.ledgerWins, w) {
			e.ledgerWins = append(e.ledgerWins, w)
		}
	}
	if r.Scope == ScopeCandidate {
		e.noteCondition(x.reads, x.acq)
	}
	condDims := dimsOf(x.reads, e.defs)
	msgReads := map[string]bool{}
	for i, tmpl := range []string{r.Message, r.liftedObligation()} {
		field := "message"
		if i == 1 {
			field = "liftedBy.obligation"
		}
		for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
			if m[2] == "" {
				if m[1] != "asOf" {
					bad(field, "{%s}: want {var.field} or {asOf}", m[1])
				}
				continue
			}
			if m[1] == "ledger" || !contains(scopeVars[r.Scope], m[1]) {
				bad(field, "{%s.%s}: %s is not available to %s-scope messages (available: %s)",
					m[1], m[2], m[1], r.Scope, strings.Join(without(scopeVars[r.Scope], "ledger"), ", "))
				continue
			}
			msgReads[m[1]+"."+m[2]] = true
		}
	}
	for _, msg := range e.checkReads(msgReads, defNames, e.thresholds) {
		bad("message", "%s", msg)
	}
	for rd := range msgReads {
		x.reads[rd] = true
	}
	if l := r.LiftedBy; l != nil {
		for i, b := range l.Bases {
			if !contains(vocabularyOf("dataset.bases"), b) {
				bad(fmt.Sprintf("liftedBy.bases[%d]", i), "%q is not a legal basis of the vocabulary%s (accepted: %s)",
					b, retiredNote(b), strings.Join(vocabularyOf("dataset.bases"), ", "))
			}
		}
	}
	c := &compiled{Rule: r, prg: x.prg, partial: x.partial, reads: x.reads, msgDims: dimsOf(msgReads, e.defs),
		msgTmpl: parseTemplate(r.Message), oblTmpl: parseTemplate(r.liftedObligation()), source: r.Source(), from: r.EffectiveFrom.String(), until: r.EffectiveUntil.String(), track: x.track,
		idx: len(e.rules), keyDims: condDims | dimAcc}
	var names []string
	for rd := range x.reads {
		if name, ok := strings.CutPrefix(rd, "threshold."); ok && e.thresholds[name] != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		c.bands = append(c.bands, e.thresholds[n])
	}
	if len(c.bands) > 0 {
		if c.corners = corners(c.bands); len(c.corners) > maxCorners {
			bad("condition", "reads thresholds with %d combinations of readings, over the limit of %d", len(c.corners), maxCorners)
		}
	}
	if problems > 0 {
		return nil
	}
	return c
}

func without(list []string, v string) []string {
	var out []string
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// noteCondition adds what a condition or definition reads to the class key.
func (e *Engine) noteCondition(reads map[string]bool, acq acquiredUse) {
	e.condDims |= dimsOf(reads, e.defs)
	e.acqExact = e.acqExact || acq.exact
	e.acqBounds = append(e.acqBounds, acq.bounds...)
}

// checkReads names the facts an expression or message reads that do not
// exist: unknown fields of a variable, definitions not defined before,
// thresholds no pack defines.
func (e *Engine) checkReads(reads map[string]bool, defNames map[string]bool, thresholds map[string]*Threshold) []string {
	var out []string
	for _, rd := range sortedKeys(reads) {
		v, field, _ := strings.Cut(rd, ".")
		if field == "*" {
			continue
		}
		switch v {
		case "def":
			if !defNames[field] {
				out = append(out, fmt.Sprintf("reads def.%s, which no pack defines before it", field))
			}
		case "threshold":
			if thresholds == nil {
				out = append(out, fmt.Sprintf("reads threshold.%s: definitions cannot read thresholds; compare in the rule", field))
			} else if thresholds[field] == nil {
				out = append(out, fmt.Sprintf("reads threshold.%s, which no pack defines", field))
			}
		default:
			if known, ok := factFields[v]; ok && !contains(known, field) {
				out = append(out, fmt.Sprintf("reads %s.%s, which is not a fact (%s has: %s)", v, field, v, strings.Join(known, ", ")))
			}
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// expr is one compiled expression and what it reads.
type expr struct {
	prg, partial cel.Program
	// reads lists the facts read ("var.field", or "var.*" when a
	// variable is used other than by a field selection).
	reads map[string]bool
	acq   acquiredUse
	// asOfDays are the days its comparisons of asOf with dates change on.
	asOfDays []catalog.Date
	// ledgerWins are its ledger totals whose windows move with asOf.
	ledgerWins []ledgerWindow
	// vocab lists words it compares with a vocabulary fact that are not
	// in the vocabulary.
	vocab []string
	// cost is CEL's worst-case estimate of its cost.
	cost uint64
	// track: a user pack's expression, evaluated under the cost limit and
	// interruptible by the context inside comprehensions.
	track bool
}

// eval runs a program of an expression compiled with or without
// tracking. Every evaluation first looks at the context; a tracked one
// also hands CEL the context, which it checks inside comprehensions (at
// the price of a cancellable context per evaluation, which the built-in
// packs, bounded at load, do without).
func eval(ctx context.Context, prg cel.Program, track bool, act any) (ref.Val, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("evaluation stopped: %w", err)
	}
	var out ref.Val
	var err error
	if track {
		out, _, err = prg.ContextEval(ctx, act)
	} else {
		out, _, err = prg.Eval(act)
	}
	return out, err
}

// compileExpr compiles one CEL expression, checks it reads only vars,
// estimates its worst-case cost, and returns the facts it reads. With
// track, every evaluation also counts its cost and stops at MaxExprCost.
func compileExpr(env *cel.Env, src string, vars []string, wantBool, track bool) (expr, error) {
	var x expr
	checked, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return x, celErrors(src, iss.Errors())
	}
	if wantBool && !checked.OutputType().IsExactType(cel.BoolType) && !checked.OutputType().IsExactType(cel.DynType) {
		return x, fmt.Errorf("gives %s, want bool", checked.OutputType())
	}
	x.reads = map[string]bool{}
	idents := map[string]int{}
	selects := map[string]int{}
	root := checked.NativeRep().Expr()
	celast.PostOrderVisit(root, celast.NewExprVisitor(func(n celast.Expr) {
		switch n.Kind() {
		case celast.IdentKind:
			idents[n.AsIdent()]++
		case celast.SelectKind:
			s := n.AsSelect()
			if s.Operand().Kind() == celast.IdentKind {
				selects[s.Operand().AsIdent()]++
				x.reads[s.Operand().AsIdent()+"."+s.FieldName()] = true
			}
		}
	}))
	for v, n := range idents {
		if !contains(allVars, v) {
			continue // a comprehension variable; the checker rejected undeclared names
		}
		if !contains(vars, v) {
			return x, fmt.Errorf("reads %s, which is not available here (available: %s)", v, strings.Join(vars, ", "))
		}
		if n != selects[v] && v != "ledger" {
			x.reads[v+".*"] = true
		}
	}
	x.acq = acquiredUses(root, x.reads)
	days, err := asOfDays(checked.NativeRep())
	if err != nil {
		return x, err
	}
	x.asOfDays = days
	x.ledgerWins = ledgerWindows(checked.NativeRep())
	x.vocab = vocabularyProblems(root)
	est, err := env.EstimateCost(checked, costEstimator{})
	if err != nil {
		return x, fmt.Errorf("cost cannot be estimated: %v", err)
	}
	x.cost, x.track = est.Max, track
	if est.Max > MaxExprCost {
		return x, fmt.Errorf("too costly: CEL estimates up to %d cost units with facts of up to %d items, over the limit of %d; avoid nested comprehensions over facts", est.Max, maxFactSize, MaxExprCost)
	}
	if err := constantProblem(env, checked.NativeRep()); err != nil {
		return x, err
	}
	opts := []cel.ProgramOption{cel.InterruptCheckFrequency(interruptEvery), finiteArithmetic(checked.NativeRep().SourceInfo())}
	if track {
		opts = append(opts, cel.CostLimit(MaxExprCost))
	}
	if x.prg, err = env.Program(checked, append(opts, cel.EvalOptions(cel.OptOptimize))...); err != nil {
		return x, err
	}
	if x.partial, err = env.Program(checked, append(opts, cel.EvalOptions(cel.OptPartialEval))...); err != nil {
		return x, err
	}
	return x, nil
}

// costEstimator bounds the size of every fact for CEL's cost estimate.
type costEstimator struct{}

func (costEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if p := n.Path(); len(p) > 0 && contains(allVars, p[0]) {
		s := checker.SizeEstimate{Min: 0, Max: maxFactSize}
		return &s
	}
	return nil
}

func (costEstimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	if strings.HasPrefix(overloadID, "ledger_") {
		// A few map lookups over a cached list of datasets.
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: maxFactSize}}
	}
	return nil
}

// arithmetic names the calls whose result finiteArithmetic checks: the
// arithmetic operators and the conversion to double ('NaN', 'Inf' and
// '1e308' as strings convert).
var arithmetic = map[string]string{
	operators.Add:               `"+"`,
	operators.Subtract:          `"-"`,
	operators.Multiply:          `"*"`,
	operators.Divide:            `"/"`,
	overloads.TypeConvertDouble: "double()",
}

// finiteArithmetic makes an arithmetic step of an expression whose result
// is a double that is not finite (a division by zero, an overflow, a NaN
// read from a string) an error naming the step. CEL's double arithmetic
// gives NaN and ±Inf without an error, and a comparison with NaN is false
// whichever way: "a / b > x", with b zero partway, was false and the rule
// did not fire, letting through what its author meant to deny. As an
// error, the rule could not be evaluated, and a deny or obligation rule
// denies naming itself (Session.failure); a definition fails and the rules
// that read it deny. CEL's error rules still hold: "e || true" is true,
// where the outcome does not depend on the step.
func finiteArithmetic(src *celast.SourceInfo) cel.ProgramOption {
	return cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		call, ok := i.(interpreter.InterpretableCall)
		if !ok {
			return i, nil
		}
		op, ok := arithmetic[call.Function()]
		if !ok {
			return i, nil
		}
		if _, done := call.(*finiteCall); done {
			return i, nil
		}
		where := ""
		if src != nil {
			if loc := src.GetStartLocation(call.ID()); loc.Line() > 0 {
				where = fmt.Sprintf(" at line %d, column %d of the expression", loc.Line(), loc.Column()+1)
			}
		}
		why := "a division by zero or an overflow partway"
		if call.Function() == overloads.TypeConvertDouble {
			why = "converted from text that is no finite number"
		}
		return &finiteCall{InterpretableCall: call, what: op + where, why: why}, nil
	})
}

// finiteCall is an arithmetic step whose result must be finite.
type finiteCall struct {
	interpreter.InterpretableCall
	what, why string
}

func (c *finiteCall) Eval(a interpreter.Activation) ref.Val {
	return c.check(c.InterpretableCall.Eval(a))
}

func (c *finiteCall) Exec(f *interpreter.ExecutionFrame) ref.Val {
	return c.check(c.InterpretableCall.Exec(f))
}

func (c *finiteCall) check(v ref.Val) ref.Val {
	if d, ok := v.(types.Double); ok && !finite(float64(d)) {
		return types.NewErr("%s gave %v, not a finite number (%s)", c.what, float64(d), c.why)
	}
	return v
}

// maxExprErrors bounds the CEL errors a problem lists of one expression,
// and exprQuote the bytes of the expression's line each quotes on either
// side of where it is. CEL's own text listed up to 100 errors, each with
// its whole line (up to 16 KiB): a one-line expression of 100,000
// characters with 100 errors made a message of megabytes, one for every
// such condition of a file.
const (
	maxExprErrors = 5
	exprQuote     = 40
)

// celErrors writes CEL's errors of src as CEL does (ERROR: <input>:LINE:COL:
// MESSAGE, the line, a caret under the column), the first maxExprErrors,
// each message cut and the line quoted around the column only.
func celErrors(src string, errs []*celcommon.Error) error {
	lines := strings.Split(src, "\n")
	var b strings.Builder
	for i, e := range errs {
		if i == maxExprErrors {
			fmt.Fprintf(&b, "\n(and %d more errors)", len(errs)-i)
			break
		}
		if i > 0 {
			b.WriteString("\n")
		}
		line, col := e.Location.Line(), e.Location.Column()
		fmt.Fprintf(&b, "ERROR: <input>:%d:%d: %s", line, col+1, clipText(e.Message, 200))
		if line < 1 || line > len(lines) {
			continue
		}
		runes := []rune(strings.ReplaceAll(lines[line-1], "\t", " "))
		if col < 0 || col > len(runes) {
			continue
		}
		from, to := max(col-exprQuote, 0), min(col+exprQuote, len(runes))
		pre, post := "", ""
		if from > 0 {
			pre = "…"
		}
		if to < len(runes) {
			post = "…"
		}
		fmt.Fprintf(&b, "\n | %s%s%s\n | %s%s^", pre, string(runes[from:to]), post, strings.Repeat(" ", len([]rune(pre))), strings.Repeat(".", col-from))
	}
	return errors.New(b.String())
}
