// Package regoeng runs the benchmark rule set with OPA's Rego.
package regoeng

import (
	"context"
	"sort"

	"github.com/open-policy-agent/opa/v1/rego"

	engines "meridian.dev/bench/policy-engines"
)

// Rego holds the prepared Rego query.
type Rego struct {
	pq rego.PreparedEvalQuery
}

// NewRego parses and prepares the Rego module.
func NewRego(ctx context.Context) (*Rego, error) {
	pq, err := rego.New(rego.Query("data.meridian.deny"), rego.Module("meridian.rego", engines.RegoModule)).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &Rego{pq: pq}, nil
}

// Eval returns the ids of the rules that hold for one candidate, sorted.
func (r *Rego) Eval(ctx context.Context, in map[string]any) ([]string, error) {
	rs, err := r.pq.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return nil, err
	}
	var out []string
	if len(rs) > 0 && len(rs[0].Expressions) > 0 {
		if set, ok := rs[0].Expressions[0].Value.([]any); ok {
			for _, x := range set {
				out = append(out, x.(string))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
