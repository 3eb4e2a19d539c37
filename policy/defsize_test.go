package policy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
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
