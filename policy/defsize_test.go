package policy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDefinitionTextBounded: definitions are computed once each, but a
// definition can double the text of the one before (def.a + def.a), and
// CEL's cost limit lets one expression build about 1 MB of it. Every
// definition is computed for every candidate and kept for the classes
// that share it: 300 definitions of 800 KB each (4 KB of rules text) held
// 240 MB for one session. A definition's value that is a text (or bytes)
// over maxDefText bytes is an error: the definition fails, and a rule
// that reads it denies.
func TestDefinitionTextBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("definitions:\n")
	fmt.Fprintf(&b, "  - {name: d0, expr: \"'%s'\", source: test}\n", strings.Repeat("x", 50_000))
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "  - {name: d%d, expr: \"def.d%d + def.d%d\", source: test}\n", i, i-1, i-1)
	}
	const n = 300
	for i := range n {
		fmt.Fprintf(&b, "  - {name: e%d, expr: \"def.d4 + site.country\", source: test}\n", i)
	}
	b.WriteString("rules:\n")
	pack := strings.Replace(goodRule, "rules:\n", b.String(), 1)
	pack = strings.Replace(pack, "condition: site.country == 'SG'", "condition: \"def.e0.endsWith('SG')\"", 1)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "s.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	site, pool, acc := w.candidate(t, "sg-1", 0)
	d := s.Evaluate(site, pool, acc)
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d definitions of 800 KB: %d MB held after one evaluation", n, held>>20)
	if held > 32<<20 {
		t.Errorf("one evaluation held %d MB", held>>20)
	}
	f := findRule(d.Denials, "r1")
	if d.Allowed || f == nil || !strings.Contains(f.Message, "could not be computed") {
		t.Errorf("a rule reading a definition over the bound: %+v", d)
	}
	runtime.KeepAlive(s)
}

// defPackDoubling is a pack whose definitions d1..d12 each double the
// value of the one before (double is the expression, with %[1]s the one
// before), and whose n definitions e0..e(n-1) each copy d12 into a value
// of their own (a list of 4,096 items, or a map as deep as its
// doublings); rule r1 denies when the first reads as holding something,
// and shows it.
func defPackDoubling(d0, double, copyExpr string, n int) string {
	var b strings.Builder
	b.WriteString("definitions:\n")
	fmt.Fprintf(&b, "  - {name: d0, expr: %q, source: test}\n", d0)
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "  - {name: d%d, expr: %q, source: test}\n", i, fmt.Sprintf(double, fmt.Sprintf("def.d%d", i-1)))
	}
	for i := range n {
		fmt.Fprintf(&b, "  - {name: e%d, expr: %q, source: test}\n", i, copyExpr)
	}
	b.WriteString("rules:\n")
	pack := strings.Replace(goodRule, "rules:\n", b.String(), 1)
	pack = strings.Replace(pack, "message: \"site {site.country}\"", "message: \"site {site.country} {def.e0}\"", 1)
	return strings.Replace(pack, "condition: site.country == 'SG'", "condition: \"site.country == 'SG' && size(def.e0) > 0\"", 1)
}

// TestDefinitionListMapBounded: a definition's value that is a list or a
// map had no bound (only a text did). Lists concatenate in O(1) of CEL's
// cost (the result is lazy), so 12 definitions doubling a list reach
// 4,096 items for a cost of 12, and each of 1,000 definitions copying it
// (map(x, x), under the cost limit) held a list of its own: 77 MB and
// 23 s for one evaluation (the 256 KiB of conditions a load may hold
// give room for 15,000 of them). A map nests: {'a': m, 'b': m}
// doubles what it holds each time, for a cost of 1, and a message showing
// it wrote every leaf. A definition's value is now bounded
// whatever its type (items, depth, bytes): over, it fails, the rules
// reading it deny, and the finding names the definition.
func TestDefinitionListMapBounded(t *testing.T) {
	for _, tc := range []struct {
		name, d0, double, copyExpr, want string
	}{
		{"list", "['" + strings.Repeat("x", 16) + "']", "%[1]s + %[1]s", "def.d12.map(x, x)", "items"},
		{"map", "{'k': '" + strings.Repeat("x", 16) + "'}", "{'a': %[1]s, 'b': %[1]s}", "{'m': def.d12}", "deep"},
		{"list of lists", "['" + strings.Repeat("x", 16) + "']", "[%[1]s, %[1]s]", "def.d12.map(x, x)", "deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 1000
			pack := defPackDoubling(tc.d0, tc.double, tc.copyExpr, n)
			e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "s.yaml", Data: []byte(pack)}}})
			if err != nil {
				t.Fatal(err)
			}
			w := loadTestWorld(t)
			s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0))
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			site, pool, acc := w.candidate(t, "sg-1", 0)
			d := s.Evaluate(site, pool, acc)
			took := time.Since(start)
			runtime.GC()
			runtime.ReadMemStats(&after)
			held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			t.Logf("%d definitions copying a doubled %s: %d MB held, %v for one evaluation", n, tc.name, held>>20, took)
			if held > 32<<20 {
				t.Errorf("one evaluation held %d MB", held>>20)
			}
			f := findRule(d.Denials, "r1")
			if d.Allowed || f == nil || !strings.Contains(f.Message, "could not be computed") || !strings.Contains(f.Message, "definition e0") {
				if f != nil && len(f.Message) > 200 {
					f.Message = fmt.Sprintf("%s... (%d bytes)", f.Message[:200], len(f.Message))
				}
				t.Fatalf("a rule reading a definition over the bound: %+v", d)
			}
			t.Log(f.Message)
			if !strings.Contains(f.Message, tc.want) {
				t.Errorf("the finding does not say what is over the bound (%q): %s", tc.want, f.Message)
			}
			runtime.KeepAlive(s)
		})
	}
}

// TestDefinitionListMapWithinBounds: a definition whose value is a list
// or a map within the bounds is computed and read as before.
func TestDefinitionListMapWithinBounds(t *testing.T) {
	pack := strings.Replace(goodRule, "rules:\n", `definitions:
  - {name: l, expr: "['SG', 'MY'] + [site.country]", source: test}
  - {name: m, expr: "{'c': def.l, 'n': {'k': 1.5}}", source: test}
rules:
`, 1)
	pack = strings.Replace(pack, "condition: site.country == 'SG'", `condition: "site.country in def.m.c && def.m.n.k == 1.5"`, 1)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "s.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	d := s.Evaluate(site, pool, acc)
	if f := findRule(d.Denials, "r1"); f == nil || f.Message != "r1: site SG (source: policy)" {
		t.Errorf("a rule reading definitions within the bounds: %+v", d)
	}
}

// BenchmarkDefinitionListDoubled is one evaluation of the pack of
// TestDefinitionListMapBounded's list case.
func BenchmarkDefinitionListDoubled(b *testing.B) {
	pack := defPackDoubling("['"+strings.Repeat("x", 16)+"']", "%[1]s + %[1]s", "def.d12.map(x, x)", 1000)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "s.yaml", Data: []byte(pack)}}})
	if err != nil {
		b.Fatal(err)
	}
	w := loadTestWorld(b)
	site, pool, acc := w.candidate(b, "sg-1", 0)
	b.ReportAllocs()
	for b.Loop() {
		s, err := e.Session(w.query(b, "2025-07-20", "us-lab", jobSpec{}, 0))
		if err != nil {
			b.Fatal(err)
		}
		if d := s.Evaluate(site, pool, acc); d.Allowed {
			b.Fatal("allowed")
		}
	}
}
