package policy

import (
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// numberPack is goodRule with cond as its condition and defs (YAML, may
// be "") as its definitions.
func numberPack(t *testing.T, cond, defs string) *Engine {
	t.Helper()
	pack := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: \""+cond+"\"", 1)
	if defs != "" {
		pack = strings.Replace(pack, "rules:\n", "definitions:\n"+defs+"rules:\n", 1)
	}
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAttackNonFiniteComputeDenies: a job's compute that could not be
// computed (NaN, from a NaN parameter count) or overflowed (±Inf) reached
// the rules as a number; every comparison with NaN is false and +Inf is
// not above +Inf, so a compute-threshold rule did not fire and the job
// was placed (fail open). The query's compute and the base model's are
// now refused where the engine takes them in: every candidate and every
// transfer is denied by the engine, naming the fact, and no rule runs.
func TestAttackNonFiniteComputeDenies(t *testing.T) {
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct {
		name, cond, fact string
		flops, base      float64
	}{
		{"NaN compute", "job.flops > 1e26", "job.flops is NaN", math.NaN(), 0},
		{"+Inf compute", "job.flops * 3.0 > job.baseTrainingFLOPs", "job.flops is +Inf", math.Inf(1), math.Inf(1)},
		{"-Inf compute", "job.flops < 1e20", "job.flops is -Inf", math.Inf(-1), 0},
		{"+Inf base compute", "job.flops * 3.0 > job.baseTrainingFLOPs", "job.baseTrainingFLOPs is +Inf", 1e25, math.Inf(1)},
		{"NaN base compute", "job.flops * 3.0 > job.baseTrainingFLOPs", "job.baseTrainingFLOPs is NaN", 1e25, math.NaN()},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := numberPack(t, c.cond, "")
			job := jobSpec{}
			if c.base != 0 {
				job.Base = &catalog.BaseModel{Name: "base", TrainingFLOPs: c.base}
			}
			q := w.query(t, "2025-07-20", "us-lab", job, c.flops)
			s, err := e.Session(q)
			if err != nil {
				t.Fatal(err)
			}
			ds := w.datasets[firstDataset(w)]
			for name, d := range map[string]Decision{
				"Evaluate": s.Evaluate(site, pool, acc), "evaluate": s.evaluate(site, pool, acc),
				"EvaluateTransfer": e.EvaluateTransfer(q, ds, "SG"),
			} {
				if d.Allowed || !engineDenies(d, c.fact+", not a finite number") {
					t.Errorf("%s: want the engine's denial naming %q: %+v", name, c.fact, d)
				}
				if findRule(d.Denials, "r1") != nil {
					t.Errorf("%s: the rule ran on a fact that is not a number: %+v", name, d)
				}
			}
		})
	}
	// A finite compute is judged by the rule as before.
	s, err := numberPack(t, "job.flops > 1e26", "").Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Evaluate(site, pool, acc); !d.Allowed {
		t.Errorf("a finite compute below the threshold: %+v", d)
	}
}

// engineDenies is whether one of d's engine denials says want.
func engineDenies(d Decision, want string) bool {
	for _, f := range d.Denials {
		if f.Rule == EngineRule && strings.Contains(f.Message, want) {
			return true
		}
	}
	return false
}

func firstDataset(w *testWorld) string {
	for _, name := range slices.Sorted(maps.Keys(w.datasets)) {
		if d := w.datasets[name]; d.Spec.Location == "" && unknownClass(d) == "" {
			return name
		}
	}
	return ""
}

// TestAttackNonFiniteAcceleratorDenies: an accelerator fact that is NaN
// made "acc.tpp >= 4800" false, and the chip read as below every control
// threshold. Such a candidate is now denied by the engine, naming the
// fact, and no rule runs on it.
func TestAttackNonFiniteAcceleratorDenies(t *testing.T) {
	w := loadTestWorld(t)
	e := numberPack(t, "acc.tpp >= 4800.0", "")
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
	if err != nil {
		t.Fatal(err)
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, x := range []float64{math.NaN(), math.Inf(1)} {
		bad := *acc
		bad.TPP = catalog.Fact{Value: &x}
		for _, d := range []Decision{s.Evaluate(site, pool, &bad), s.evaluate(site, pool, &bad)} {
			if d.Allowed || !engineDenies(d, "acc.tpp is "+formatValue(x)+", not a finite number") {
				t.Errorf("tpp %v: want the engine's denial naming acc.tpp: %+v", x, d)
			}
		}
	}
	// Scaled to the rules' unit, a finite catalog value can overflow.
	big := math.MaxFloat64
	bad := *acc
	bad.MemoryBandwidthTBs = catalog.Fact{Value: &big}
	if d := s.Evaluate(site, pool, &bad); d.Allowed || !engineDenies(d, "acc.memoryBandwidthGBs is +Inf") {
		t.Errorf("a memory bandwidth that overflows in GB/s: %+v", d)
	}
}

// TestAttackNonFiniteDefinitionDenies: finite facts can give a
// definition that is not a finite number (a ratio over zero); a rule
// comparing it was false whichever way, and let the candidate through.
// The definition now fails, and the rules that read it deny, naming it.
func TestAttackNonFiniteDefinitionDenies(t *testing.T) {
	w := loadTestWorld(t)
	defs := "  - name: ratio\n    expr: acc.tpp / (acc.tpp - acc.tpp)\n    source: test\n" +
		"  - name: nan\n    expr: (acc.tpp - acc.tpp) / (acc.tpp - acc.tpp)\n    source: test\n"
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct{ cond, def string }{{"def.ratio < 1.0", "ratio"}, {"def.nan > 1.0", "nan"}} {
		s, err := numberPack(t, c.cond, defs).Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []Decision{s.Evaluate(site, pool, acc), s.evaluate(site, pool, acc)} {
			f := findRule(d.Denials, "r1")
			if d.Allowed || f == nil || !strings.Contains(f.Message, "definition "+c.def+" ") || !strings.Contains(f.Message, "not a finite number") {
				t.Errorf("%s: want r1 to deny naming the definition: %+v", c.cond, d)
			}
		}
	}
}

// TestAttackNonFiniteArithmeticDenies: a condition doing arithmetic
// inline made NaN or an infinity partway from finite facts (a ratio whose
// divisor is 0, a product that overflows), and the comparison that read
// it was false: the rule did not fire and the candidate was placed. The
// step's error now fails the rule closed, naming the rule and the step;
// in a definition, the rules that read it deny.
func TestAttackNonFiniteArithmeticDenies(t *testing.T) {
	w := loadTestWorld(t)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	for _, c := range []struct{ cond, defs, step string }{
		{"acc.tpp / (acc.tpp - acc.tpp) < 1.0", "", `"/"`},
		{"(acc.tpp - acc.tpp) / (acc.tpp - acc.tpp) >= 0.0", "", `"/"`},
		{"acc.tpp * 1e307 * 1e307 < 1.0", "", `"*"`},
		{"acc.tpp * 1e307 * 1e307 - acc.tpp * 1e307 * 1e307 > 0.0", "", `"*"`},
		{"def.big < 1.5", "  - name: big\n    expr: \"acc.tpp / (acc.tpp - acc.tpp) > 1.0 ? 2.0 : 1.0\"\n    source: test\n", "definition big"},
	} {
		s, err := numberPack(t, c.cond, c.defs).Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
		if err != nil {
			t.Fatal(err)
		}
		for name, d := range map[string]Decision{"Evaluate": s.Evaluate(site, pool, acc), "evaluate": s.evaluate(site, pool, acc)} {
			f := findRule(d.Denials, "r1")
			if d.Allowed || f == nil || f.Code != CodeUndetermined || !strings.Contains(f.Message, c.step) || !strings.Contains(f.Message, "not a finite number") {
				t.Errorf("%s: %s: want r1 to deny, naming %s as not finite: %+v", c.cond, name, c.step, d)
			}
		}
	}
	// Job scope, and finite arithmetic judged as before.
	for _, c := range []struct {
		cond    string
		allowed bool
	}{{"job.flops / (job.flops - job.flops) < 1.0", false}, {"job.flops / 2.0 > 1e26", true}, {"acc.tpp / 2.0 > 0.0", false}} {
		s, err := numberPack(t, c.cond, "").Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 1e21))
		if err != nil {
			t.Fatal(err)
		}
		d := s.Evaluate(site, pool, acc)
		if d.Allowed != c.allowed {
			t.Errorf("%s: allowed %v, want %v: %+v", c.cond, d.Allowed, c.allowed, d)
		}
		if f := findRule(d.Denials, "r1"); !c.allowed && (f == nil || strings.Contains(f.Message, "not a finite number") != strings.Contains(c.cond, "- job.flops")) {
			t.Errorf("%s: %+v", c.cond, d)
		}
	}
}

// TestNonFiniteConversionRefusedAtLoad: double('NaN') in a condition is
// a number no comparison holds for; it is folded when the rule is
// compiled, and refused there, naming the rule.
func TestNonFiniteConversionRefusedAtLoad(t *testing.T) {
	pack := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: \"site.country == 'SG' && acc.tpp > double('NaN')\"", 1)
	_, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(pack)}}})
	if err == nil || !strings.Contains(err.Error(), "r1") || !strings.Contains(err.Error(), "not a finite number") {
		t.Errorf("a condition comparing with double('NaN'): %v, want a load error naming r1", err)
	}
}

// TestAttackConstantDivisionByZeroRefusedAtLoad: a condition or
// definition with a step that fails whatever the facts are (a division of
// literals by zero, an integer overflow of literals, a fact divided by a
// constant zero) loaded, and its rule denied every candidate at every
// evaluation. The pack is now refused when it loads, naming the rule or
// definition and the step; arithmetic on literals that is finite loads.
func TestAttackConstantDivisionByZeroRefusedAtLoad(t *testing.T) {
	for _, c := range []struct{ cond, defs, who, step string }{
		{"acc.tpp > 1.0/0.0", "", "r1", "1.0 / 0.0"},
		{"site.country == 'SG' || acc.tpp > -(2.0 * 3.0) / (1.0 - 1.0)", "", "r1", "-(2.0 * 3.0) / (1.0 - 1.0)"},
		{"acc.tpp > double(1 / 0)", "", "r1", "double(1 / 0)"},
		{"acc.tpp > double(9223372036854775807 + 1)", "", "r1", "double(9223372036854775807 + 1)"},
		{"acc.tpp > 1e308 * 10.0", "", "r1", "1e+308 * 10.0"},
		{"-acc.tpp / 0.0 > 1.0", "", "r1", "-acc.tpp / 0.0"},
		{"acc.tpp / (2.0 - 2.0) > 1.0", "", "r1", "acc.tpp / (2.0 - 2.0)"},
		{"def.ratio > 1.0", "  - name: ratio\n    expr: acc.tpp / (0.5 * 0.0)\n    source: test\n", "definition ratio", "acc.tpp / (0.5 * 0.0)"},
	} {
		pack := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: \""+c.cond+"\"", 1)
		if c.defs != "" {
			pack = strings.Replace(pack, "rules:\n", "definitions:\n"+c.defs+"rules:\n", 1)
		}
		_, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(pack)}}})
		if err == nil || !strings.Contains(err.Error(), c.who) || !strings.Contains(err.Error(), c.step) {
			t.Errorf("%s: %v, want a load error naming %s and %q", c.cond, err, c.who, c.step)
		}
	}
	for _, cond := range []string{"acc.tpp > 1.0 / 4.0", "acc.tpp / (2.0 - 1.5) > double(7 / 2)", "acc.tpp / 0.5 > 1e308 * 0.1"} {
		pack := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: \""+cond+"\"", 1)
		if _, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(pack)}}}); err != nil {
			t.Errorf("%s: %v", cond, err)
		}
	}
}
