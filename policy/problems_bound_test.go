package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rulesOf is a rule file of n rules, rule i of kind kind(i) with
// condition cond(i).
func rulesOf(n int, kind, cond func(int) string) []byte {
	return rulesWith(n, kind, cond, func(int) string { return "site {site.name}" })
}

func rulesWith(n int, kind, cond, msg func(int) string) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: many}\nrules:\n")
	for i := range n {
		fmt.Fprintf(&b, `  - id: r-%d
    jurisdiction: ORG
    kind: %s
    effect: deny
    effectiveFrom: 2024-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [problems_bound_test.go]
    message: %q
    condition: %q
`, i, kind(i), msg(i), cond(i))
	}
	return []byte(b.String())
}

func loadProblems(t *testing.T, files ...File) Problems {
	t.Helper()
	_, err := New(Options{NoBuiltin: true, Files: files})
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("load: %v, want Problems", err)
	}
	return ps
}

// TestLoadProblemsBounded: a rules text of 4,000 broken rules a file (as
// many as the YAML bound of 100,000 nodes lets in), and as many files as
// a request holds, made a problem for each, built and kept, before any
// caller could cut the list. A load lists at most MaxProblems, the last saying how many more
// were found; past the list's end the rest are counted, not built.
func TestLoadProblemsBounded(t *testing.T) {
	const n = 4_000
	data := rulesOf(n, func(i int) string { return fmt.Sprintf("kind-%d", i) }, func(int) string { return "true" })
	start := time.Now()
	ps := loadProblems(t, File{Name: "bad.yaml", Data: data})
	t.Logf("%d rules with a bad kind: %d problems listed in %v", n, len(ps), time.Since(start))
	if len(ps) != MaxProblems {
		t.Fatalf("%d problems listed, want %d: %.2000s", len(ps), MaxProblems, ps)
	}
	for i, p := range ps[:MaxProblems-1] {
		if p.File != "bad.yaml" || p.Field != "kind" || !strings.Contains(p.Message, fmt.Sprintf(`"kind-%d"`, i)) {
			t.Fatalf("problem %d: %s, want rule r-%d's kind", i, p, i)
		}
	}
	last := ps[MaxProblems-1]
	want := fmt.Sprintf("%d more problems not listed", n-(MaxProblems-1))
	if !strings.Contains(last.Message, want) {
		t.Errorf("last problem %s, want it to say %q", last, want)
	}
	// Two files: the problems of both count towards one list.
	ps = loadProblems(t, File{Name: "a.yaml", Data: rulesOf(80, func(int) string { return "bad" }, func(int) string { return "true" })},
		File{Name: "b.yaml", Data: rulesOf(80, func(int) string { return "bad" }, func(int) string { return "true" })})
	if len(ps) != MaxProblems || !strings.Contains(ps[MaxProblems-1].Message, fmt.Sprintf("%d more problems not listed", 160-(MaxProblems-1))) {
		t.Errorf("two files of 80 problems: %d listed, last %s", len(ps), ps[len(ps)-1])
	}
	if got := Lint(Options{NoBuiltin: true, Files: []File{{Name: "bad.yaml", Data: data}}}); len(got) != MaxProblems {
		t.Errorf("Lint listed %d problems, want %d", len(got), MaxProblems)
	}
}

// TestCompileStopsAtMaxProblems: once the list is full, the conditions
// left are not compiled (the load has failed; each costs a CEL
// compilation and cost estimate), and the last problem says checking
// stopped and how many were left.
func TestCompileStopsAtMaxProblems(t *testing.T) {
	const n = 4_000
	data := rulesOf(n, func(int) string { return "org-policy" }, func(i int) string { return fmt.Sprintf("site.nosuch%d == 'x'", i) })
	start := time.Now()
	ps := loadProblems(t, File{Name: "bad.yaml", Data: data})
	t.Logf("%d rules reading no fact: %d problems listed in %v", n, len(ps), time.Since(start))
	if len(ps) != MaxProblems {
		t.Fatalf("%d problems listed, want %d: %.2000s", len(ps), MaxProblems, ps)
	}
	last := ps[MaxProblems-1]
	if !strings.Contains(last.Message, "checking stopped") || !strings.Contains(last.Message, fmt.Sprintf("%d definitions and rules were not compiled", n-MaxProblems)) {
		t.Errorf("last problem %s, want it to say checking stopped with %d not compiled", last, n-MaxProblems)
	}
	// One rule's message of 50,000 placeholders that are not facts: one
	// problem each, before.
	ps = loadProblems(t, File{Name: "msg.yaml", Data: rulesWith(1, func(int) string { return "org-policy" }, func(int) string { return "true" },
		func(int) string { return "{site.name}" + strings.Repeat("{x}", 50_000) })})
	if len(ps) != MaxProblems || !strings.Contains(ps[MaxProblems-1].Message, fmt.Sprintf("%d more problems not listed", 50_000-(MaxProblems-1))) {
		t.Errorf("a message of 50,000 bad placeholders: %d problems listed, last %.300s", len(ps), ps[len(ps)-1])
	}
	// Fewer problems than the bound: every one listed, none saying more.
	ps = loadProblems(t, File{Name: "bad.yaml", Data: rulesOf(MaxProblems, func(int) string { return "org-policy" }, func(i int) string { return fmt.Sprintf("site.nosuch%d == 'x'", i) })})
	if len(ps) != MaxProblems || strings.Contains(ps.Error(), "not listed") {
		t.Errorf("%d problems at the bound: %d listed, last %s", MaxProblems, len(ps), ps[len(ps)-1])
	}
}

// TestProblemQuotesBounded: a problem quotes what it found, and a rule
// file makes that as long as it likes: a kind of 100 KB, and a condition
// of 15,000-character lines with a hundred errors, which CEL's own text
// quoted whole (up to 16 KiB) once for each error: 3 MB.
func TestProblemQuotesBounded(t *testing.T) {
	long := strings.Repeat("k", 100_000)
	line := strings.Repeat("site.country == ) && ", 700)
	cond := strings.Repeat(line+"\n", 5) + "true"
	data := rulesOf(2, func(i int) string {
		if i == 0 {
			return long
		}
		return "org-policy"
	}, func(int) string { return cond })
	ps := loadProblems(t, File{Name: "bad.yaml", Data: data})
	if len(ps) == 0 {
		t.Fatal("no problems")
	}
	ps = loadProblems(t, File{Name: "bad.yaml", Data: rulesOf(1, func(int) string { return "org-policy" }, func(int) string { return cond })},
		File{Name: "kind.yaml", Data: rulesOf(1, func(int) string { return long }, func(int) string { return "true" })})
	var sawCEL, sawKind bool
	for _, p := range ps {
		if len(p.Message) > maxProblemText {
			t.Errorf("%s:%d %s: message of %d bytes, over %d", p.File, p.Line, p.Field, len(p.Message), maxProblemText)
		}
		sawCEL = sawCEL || p.Field == "condition" && strings.Contains(p.Message, "ERROR: <input>:1:")
		sawKind = sawKind || p.Field == "kind" && strings.Contains(p.Message, "bytes cut")
	}
	if !sawCEL || !sawKind {
		t.Errorf("want the condition's CEL errors and the kind, cut: %v", ps)
	}
}

// TestConditionBytesBounded: compiling costs CPU by the byte of CEL, and
// a rules text of 4 MiB of conditions took 10 to 30 seconds to load. The
// conditions and definitions of one load come to at most
// MaxConditionBytes; the one that crosses it is the problem, and the rest
// are not compiled.
func TestConditionBytesBounded(t *testing.T) {
	one := strings.Repeat("site.country == 'xy' || ", 40) + "true" // 964 bytes
	n := MaxConditionBytes/len(one) + 10
	data := rulesOf(n, func(int) string { return "org-policy" }, func(int) string { return one })
	start := time.Now()
	_, err := New(Options{Files: []File{{Name: "big.yaml", Data: data}}})
	t.Logf("%d conditions of %d bytes (%d bytes of file): %v", n, len(one), len(data), time.Since(start))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("load: %.500v, want the rule that crossed the bound and the count of those not compiled", err)
	}
	if p := ps[0]; p.File != "big.yaml" || p.Field != "condition" || !strings.HasPrefix(p.Rule, "r-") ||
		!strings.Contains(p.Message, fmt.Sprintf("more than %d bytes", MaxConditionBytes)) {
		t.Errorf("first problem %s, want a rule's condition over the bound", p)
	}
	if !strings.Contains(ps[1].Message, "were not compiled") {
		t.Errorf("last problem %s, want it to count the rules not compiled", ps[1])
	}
	// Under the bound, with the built-in packs, it loads.
	if _, err := New(Options{Files: []File{{Name: "big.yaml", Data: rulesOf(n-30-MaxConditionBytes/len(one)/10, func(int) string { return "org-policy" }, func(int) string { return one })}}}); err != nil {
		t.Errorf("under the bound: %.500v", err)
	}
}
