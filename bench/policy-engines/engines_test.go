package engines_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	engines "meridian.dev/bench/policy-engines"
	"meridian.dev/bench/policy-engines/celeng"
	"meridian.dev/bench/policy-engines/regoeng"
)

// TestSameAnswers checks both engines give the same findings on every
// candidate, so the benchmark compares like with like.
func TestSameAnswers(t *testing.T) {
	ctx := context.Background()
	c, err := celeng.NewCEL()
	if err != nil {
		t.Fatal(err)
	}
	r, err := regoeng.NewRego(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fired := 0
	for i, in := range engines.Candidates(200) {
		a, err := c.Eval(in)
		if err != nil {
			t.Fatalf("cel %d: %v", i, err)
		}
		b, err := r.Eval(ctx, in)
		if err != nil {
			t.Fatalf("rego %d: %v", i, err)
		}
		if d := cmp.Diff(a, b); d != "" {
			t.Fatalf("candidate %d: CEL vs Rego (-cel +rego):\n%s", i, d)
		}
		fired += len(a)
	}
	if fired == 0 {
		t.Fatal("no rule fired on any candidate; the workload tests nothing")
	}
}

func BenchmarkCEL10k(b *testing.B) {
	c, err := celeng.NewCEL()
	if err != nil {
		b.Fatal(err)
	}
	cands := engines.Candidates(10000)
	b.ResetTimer()
	for range b.N {
		for _, in := range cands {
			if _, err := c.Eval(in); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkRego10k(b *testing.B) {
	ctx := context.Background()
	r, err := regoeng.NewRego(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cands := engines.Candidates(10000)
	b.ResetTimer()
	for range b.N {
		for _, in := range cands {
			if _, err := r.Eval(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	}
}
