package policy

import (
	"fmt"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/parser"
)

// foldable names the calls whose result depends on their arguments
// alone: with literal arguments, they are computed when the pack loads.
var foldable = map[string]bool{
	operators.Add: true, operators.Subtract: true, operators.Multiply: true,
	operators.Divide: true, operators.Modulo: true, operators.Negate: true,
	overloads.TypeConvertDouble: true, overloads.TypeConvertInt: true, overloads.TypeConvertUint: true,
}

// constantProblem refuses an expression with a step that fails whatever
// the facts are: arithmetic on literals alone that gives no finite
// number or an error ("1.0 / 0.0", "1 / 0", double('NaN')), or a division
// or remainder by a constant zero ("acc.tpp / 0.0"). Such a step loaded,
// and failed closed at every evaluation (finiteArithmetic): the rule
// denied every candidate naming itself, a definition failed every rule
// that read it. The author learns of it when the pack loads instead. The
// cost is bounded by the expression's size: each literal-only part is
// computed once, the largest ones only.
func constantProblem(env *cel.Env, a *celast.AST) error {
	info := a.SourceInfo()
	konst := map[int64]bool{}
	parent := map[int64]int64{}
	var calls []celast.Expr
	celast.PostOrderVisit(a.Expr(), celast.NewExprVisitor(func(n celast.Expr) {
		switch n.Kind() {
		case celast.LiteralKind:
			konst[n.ID()] = true
		case celast.CallKind:
			c := n.AsCall()
			for _, arg := range c.Args() {
				parent[arg.ID()] = n.ID()
			}
			calls = append(calls, n)
			if c.IsMemberFunction() || !foldable[c.FunctionName()] {
				return
			}
			for _, arg := range c.Args() {
				if !konst[arg.ID()] {
					return
				}
			}
			konst[n.ID()] = true
		}
	}))
	where := func(n celast.Expr) string {
		if loc := info.GetStartLocation(n.ID()); loc.Line() > 0 {
			return fmt.Sprintf(" at line %d, column %d of the expression", loc.Line(), loc.Column()+1)
		}
		return ""
	}
	// Each largest literal-only step (its parent is not one), computed.
	values := map[int64]ref.Val{}
	for _, n := range calls {
		if !konst[n.ID()] || konst[parent[n.ID()]] {
			continue
		}
		text, err := parser.Unparse(n, info)
		if err != nil {
			return fmt.Errorf("the constant%s cannot be read back: %v", where(n), err)
		}
		v, err := constantValue(env, text)
		if err != nil {
			return fmt.Errorf("step %q%s fails whatever the facts are, so the expression could never be evaluated: %v", text, where(n), err)
		}
		values[n.ID()] = v
	}
	// A division or remainder of a fact by a constant zero.
	for _, n := range calls {
		c := n.AsCall()
		if fn := c.FunctionName(); konst[n.ID()] || (fn != operators.Divide && fn != operators.Modulo) || len(c.Args()) != 2 {
			continue
		}
		d := c.Args()[1]
		v := values[d.ID()]
		if d.Kind() == celast.LiteralKind {
			v = d.AsLiteral()
		}
		if v == nil || !isZero(v) {
			continue
		}
		text, err := parser.Unparse(n, info)
		if err != nil {
			text = "a division"
		}
		return fmt.Errorf("step %q%s divides by a constant zero, which gives no finite number whatever the facts are, so the expression could never be evaluated", text, where(n))
	}
	return nil
}

// constantValue computes a literal-only expression, with the same check
// of each arithmetic step as an evaluation.
func constantValue(env *cel.Env, text string) (ref.Val, error) {
	checked, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err()
	}
	prg, err := env.Program(checked, finiteArithmetic(nil))
	if err != nil {
		return nil, err
	}
	v, _, err := prg.Eval(cel.NoVars())
	if err != nil {
		return nil, err
	}
	return v, nil
}

func isZero(v ref.Val) bool {
	switch x := v.(type) {
	case types.Double:
		return x == 0
	case types.Int:
		return x == 0
	case types.Uint:
		return x == 0
	}
	return false
}
