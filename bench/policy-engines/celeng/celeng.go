// Package celeng runs the benchmark rule set with cel-go.
package celeng

import (
	"sort"

	"github.com/google/cel-go/cel"

	engines "meridian.dev/bench/policy-engines"
)

// CEL holds the compiled CEL rule set.
type CEL struct {
	ids      []string
	prgs     []cel.Program
	eccn, d5 cel.Program
}

// NewCEL compiles the CEL rules.
func NewCEL() (*CEL, error) {
	m := cel.MapType(cel.StringType, cel.DynType)
	env, err := cel.NewEnv(
		cel.Variable("asOf", cel.StringType), cel.Variable("eccn", cel.StringType), cel.Variable("d5", cel.BoolType),
		cel.Variable("site", m), cel.Variable("acc", m), cel.Variable("pool", m), cel.Variable("owner", m),
		cel.Variable("org", m), cel.Variable("dataset", m), cel.Variable("job", m),
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, err
	}
	prog := func(src string) (cel.Program, error) {
		a, iss := env.Compile(src)
		if iss.Err() != nil {
			return nil, iss.Err()
		}
		return env.Program(a, cel.EvalOptions(cel.OptOptimize))
	}
	c := &CEL{}
	for id := range engines.CELRules {
		c.ids = append(c.ids, id)
	}
	sort.Strings(c.ids)
	for _, id := range c.ids {
		p, err := prog(engines.CELRules[id])
		if err != nil {
			return nil, err
		}
		c.prgs = append(c.prgs, p)
	}
	if c.eccn, err = prog(engines.CELEccn); err != nil {
		return nil, err
	}
	if c.d5, err = prog(engines.CELD5); err != nil {
		return nil, err
	}
	return c, nil
}

// Eval returns the ids of the rules that hold for one candidate, sorted.
func (c *CEL) Eval(in map[string]any) ([]string, error) {
	vars := make(map[string]any, len(in)+2)
	for k, v := range in {
		vars[k] = v
	}
	e, _, err := c.eccn.Eval(vars)
	if err != nil {
		return nil, err
	}
	vars["eccn"] = e.Value()
	d, _, err := c.d5.Eval(vars)
	if err != nil {
		return nil, err
	}
	vars["d5"] = d.Value()
	var out []string
	for i, p := range c.prgs {
		v, _, err := p.Eval(vars)
		if err != nil {
			return nil, err
		}
		if v.Value() == true {
			out = append(out, c.ids[i])
		}
	}
	return out, nil
}
