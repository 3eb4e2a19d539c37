package policy

import (
	"github.com/google/cel-go/common/types"

	"meridian.dev/meridian/catalog"
)

// Engine holds compiled rules. It is safe for concurrent use. Build one
// with New or Builtin; a failed load returns no engine.
type Engine struct {
	// digest is the SHA-256 of every file the engine was loaded from
	// (built-in packs, directories, files), names and contents, in order.
	digest     string
	rules      []*compiled
	byID       map[string]*compiled
	defs       []*compiledDef
	thresholds map[string]*Threshold
	thTexts    facts // thresholdTexts(thresholds)
	celThTexts facts // thTexts as CEL values (celFacts)
	// adapter converts Go values to CEL values, as the interpreter does
	// on every read of a fact; facts read often are converted once.
	adapter types.Adapter
	// condDims are the candidate details (beyond dimBase) that some
	// condition or definition reads: candidates that differ in them may
	// meet the rules differently, so they are part of the coarse key. A
	// detail read only by messages joins the decision key instead.
	condDims dims
	// acqBounds are the string constants that conditions and definitions
	// compare pool.acquired against, sorted. When every read of
	// pool.acquired is such a comparison (acqExact false), the class key
	// holds the interval between bounds the date falls in, not the date.
	acqBounds []string
	acqExact  bool
	// asOfDays are the days on which conditions and definitions that
	// compare asOf with dates change their answers (Dates).
	asOfDays []catalog.Date
	// ledgerWins are the ledger totals rules read over windows that move
	// with asOf (QueryDates lists the days exports leave them).
	ledgerWins []ledgerWindow
	// defsWhole is true when a definition reads def as a whole (its
	// value may then hold the map of a class's definitions, which is
	// not reused).
	defsWhole bool
	// projDims are the distinct projections of a coarse key that
	// candidate rules (keyDims) and definitions (dims) are cached by.
	projDims []dims
	// tune switches cache refinements off, for the benchmark that
	// measures what each is worth (BenchmarkCacheRefinements).
	tune tuning
}

// tuning switches off cache refinements; the zero value has them all on.
// Two refinements were measured and removed (docs/policy-engine.md): a
// verdict key holding the values of the definitions that read the
// operator's headquarters instead of the headquarters, and definitions
// shared between classes by the part of the key they read. Neither saved
// CPU time measurably on 10,000 candidates.
type tuning struct {
	exactDates bool // key on the exact acquisition date, not its band
}

// Digest is the hex SHA-256 of every rule file the engine was loaded from,
// names and contents in load order: two engines with one digest hold the
// same law, whatever revision each calls it (a built-in pack of another
// binary, a pack of a rules directory edited between starts).
func (e *Engine) Digest() string { return e.digest }

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

// Thresholds returns the thresholds the packs define, by name.
func (e *Engine) Thresholds() map[string]*Threshold {
	out := make(map[string]*Threshold, len(e.thresholds))
	for k, v := range e.thresholds {
		out[k] = v
	}
	return out
}

// thresholdTexts are what messages show for {threshold.NAME}.
func (e *Engine) thresholdTexts() facts { return e.thTexts }

// RuleThresholds returns the thresholds a rule's condition reads, by name.
func (e *Engine) RuleThresholds(id string) []*Threshold {
	c, ok := e.byID[id]
	if !ok {
		return nil
	}
	return append([]*Threshold(nil), c.bands...)
}
