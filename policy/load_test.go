package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestLoadProblems: a load reports every problem of every file with its
// file, line, rule and field, and returns no engine.
func TestLoadProblems(t *testing.T) {
	bad1 := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: site.contry == 'SG'", 1)
	bad2 := strings.Replace(strings.Replace(goodRule, "id: r1", "id: r2", 1), "confidence: confirmed", "confidence: sure", 1)
	files := []File{{Name: "a.yaml", Data: []byte(bad1)}, {Name: "b.yaml", Data: []byte(bad2)}, {Name: "c.yaml", Data: []byte(strings.Replace(goodRule, "id: r1", "id: r3", 1))}}
	e, err := New(Options{NoBuiltin: true, Files: files})
	if e != nil || err == nil {
		t.Fatalf("loaded with problems: %v", err)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T, want Problems", err)
	}
	want := []Problem{
		{File: "a.yaml", Line: 5, Rule: "r1", Field: "condition"},
		{File: "b.yaml", Line: 11, Rule: "r2", Field: "confidence"},
	}
	if len(ps) != len(want) {
		t.Fatalf("problems %v, want %d", ps, len(want))
	}
	for i, w := range want {
		p := ps[i]
		if p.File != w.File || p.Line != w.Line || p.Rule != w.Rule || p.Field != w.Field || p.Message == "" {
			t.Errorf("problem %d = %+v, want file, line, rule and field %+v", i, p, w)
		}
	}
	if got := Lint(Options{NoBuiltin: true, Files: files}); len(got) != 2 {
		t.Errorf("Lint found %v, want the same two problems", got)
	}
	if got := Lint(Options{NoBuiltin: true, Files: files[2:]}); got != nil {
		t.Errorf("Lint of a good file: %v", got)
	}
}

// TestFileSizeLimit: a 50 MB rule file is refused without being read into
// memory, on disk and in memory.
func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(50 << 20); err != nil { // sparse: no 50 MB written
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "ok.yaml"), []byte(goodRule), 0o644); err != nil {
		t.Fatal(err)
	}
	ps := Lint(Options{NoBuiltin: true, Dirs: []string{dir}})
	if len(ps) != 1 || ps[0].File != big || !strings.Contains(ps[0].Message, "52428800 bytes, over the 4194304-byte limit") {
		t.Fatalf("want one problem naming the file and its size: %v", ps)
	}
	_, err = New(Options{NoBuiltin: true, Files: []File{{Name: "mem.yaml", Data: make([]byte, 50<<20)}}})
	if err == nil || !strings.Contains(err.Error(), "mem.yaml: file is 52428800 bytes, over the") {
		t.Fatalf("an in-memory 50 MB file: %v", err)
	}
}

// TestRuleFileNotRegular: a FIFO found in a directory of rule files is
// refused at once, naming it, rather than waited on in its open for a
// writer (one file named by itself may be a pipe:
// TestRuleFileNamedMayBeAPipe).
func TestRuleFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "rules.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan Problems, 1)
	go func() { done <- Lint(Options{NoBuiltin: true, Dirs: []string{dir}}) }()
	select {
	case ps := <-done:
		if len(ps) != 1 || ps[0].File != fifo || !strings.Contains(ps[0].Message, "not a regular file (a FIFO)") {
			t.Errorf("%s: %v, want one problem naming it as a FIFO", dir, ps)
		}
	case <-time.After(10 * time.Second):
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatalf("%s: still reading after 10s", dir)
	}
}

// TestCostLimit: a condition too costly to evaluate is refused at load;
// one whose facts turn out far larger than any real fact stops at the
// runtime limit and fails closed. Every fact a session builds from a
// query or a candidate is checked for size before any rule runs
// (TestOversizedFactsDeny, TestOversizedOwnerDenies,
// TestOversizedSiteFactsDeny), so the rule is run here on a site's city
// of 2 MiB directly, as the meter is the last guard should a fact come
// that no check bounds: it stops the scan at a cost linear in its length
// (CEL counts a tenth of a unit a byte scanned).
func TestCostLimit(t *testing.T) {
	nested := strings.Replace(goodRule, "condition: site.country == 'SG'",
		"condition: org.licences.all(a, org.licences.all(b, org.licences.all(c, a + b != c)))", 1)
	_, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(nested)}}})
	if err == nil || !strings.Contains(err.Error(), `n.yaml:5: rule "r1": condition: too costly`) {
		t.Fatalf("a nested comprehension over facts: %v", err)
	}
	scan := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: site.city.contains('never')", 1)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "s.yaml", Data: []byte(scan)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	s, err := e.Session(w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	near := *site
	near.Spec.City = "Singapore"
	if d := s.Evaluate(&near, pool, acc); findRule(d.Denials, "r1") != nil {
		t.Fatalf("a site of a short city name: %+v", d)
	}
	var fs findings
	s.evalRule(e.rules[0], s.activation(map[string]any{"site": facts{"city": strings.Repeat("x", 2<<20)}}), &fs)
	f := findRule(fs.deny, "r1")
	if f == nil || !strings.Contains(f.Message, "cost limit") {
		t.Fatalf("an evaluation over the cost limit must fail closed, naming the limit: %+v", fs)
	}
}

// TestOversizedOwnerDenies: the facts of a pool's owner, an organisation
// of the tenant's, were not checked for size: a user pack's rule scanning
// owner.licences met 200,000 of them under the runtime meter alone, whose
// own tracking of a list's cost grows with the square of its length (1 to
// 2 s of CPU each evaluation before it stopped it). The candidate is
// denied, naming the site and the owner's fact, and no rule runs on it;
// another owner's pools are judged as before.
func TestOversizedOwnerDenies(t *testing.T) {
	scan := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: owner.licences.exists(l, l == 'never')", 1)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "s.yaml", Data: []byte(scan)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	q := w.query(t, "2025-07-20", "us-lab", jobSpec{}, 0)
	big := &catalog.Organization{Spec: catalog.OrganizationSpec{Headquarters: "SG"}}
	big.Metadata.Name = "big"
	for i := range 200_000 {
		big.Spec.Licenses = append(big.Spec.Licenses, catalog.License{Rule: "x" + string(rune('a'+i%26))})
	}
	small := &catalog.Organization{Spec: catalog.OrganizationSpec{Headquarters: "SG", Licenses: []catalog.License{{Rule: "xa"}}}}
	small.Metadata.Name = "small"
	q.Organizations = map[string]*catalog.Organization{"big": big, "small": small}
	s, err := e.Session(q)
	if err != nil {
		t.Fatal(err)
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	owned := *pool
	owned.Owner = "organization:big"
	start := time.Now()
	for _, d := range []Decision{s.Evaluate(site, &owned, acc), s.evaluate(site, &owned, acc)} {
		f := findRule(d.Denials, EngineRule)
		if d.Allowed || f == nil || !strings.Contains(f.Message, "site sg-1: pool owner organization:big: owner.licences has 200000 items, more than the 256") {
			t.Fatalf("a pool whose owner has 200,000 licences: %+v", d)
		}
		if findRule(d.Denials, "r1") != nil {
			t.Errorf("the rule ran on the oversized owner: %+v", d)
		}
	}
	t.Logf("two evaluations of a candidate whose owner has 200,000 licences: %s", time.Since(start))
	other := owned
	other.Owner = "organization:small"
	if d := s.Evaluate(site, &other, acc); !d.Allowed {
		t.Errorf("a pool of an owner with one licence: %+v", d)
	}
}

// TestContextStopsEvaluation: once the session's context is done,
// evaluations fail closed instead of running on.
func TestContextStopsEvaluation(t *testing.T) {
	e, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	w := loadTestWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := e.SessionContext(ctx, w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0, "cn-users-50k"))
	if err != nil {
		t.Fatal(err)
	}
	site, pool, acc := w.candidate(t, "sg-1", 0)
	if d := s.Evaluate(site, pool, acc); !d.Allowed {
		t.Fatalf("allowed before cancelling: %+v", d.Denials)
	}
	cancel()
	d := s.Evaluate(w.candidate(t, "my-johor-rent", 0))
	if d.Allowed {
		t.Fatalf("a cancelled session still allows: %+v", d)
	}
	found := false
	for _, f := range d.Denials {
		if strings.Contains(f.Message, "context canceled") {
			found = true
		}
	}
	if !found {
		t.Errorf("the denials do not say the evaluation was stopped: %+v", d.Denials)
	}
	td := e.EvaluateTransferContext(ctx, w.query(t, "2025-07-20", "cn-lab", jobSpec{}, 0), w.datasets["cn-users-50k"], "SG")
	if td.Allowed {
		t.Fatalf("a cancelled transfer evaluation still allows: %+v", td)
	}
}

// TestExprCost: every built-in expression's worst case is far below the
// limit user packs are held to at every evaluation, which is why the
// built-in packs are not tracked at run time.
func TestExprCost(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	files, err := builtinFiles()
	if err != nil {
		t.Fatal(err)
	}
	var worst uint64
	var where string
	for _, f := range files {
		p, err := ParsePack(f.Name, f.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Definitions {
			x, err := compileExpr(env, d.Expr, definitionVars, false, false)
			if err != nil {
				t.Fatal(err)
			}
			if x.cost > worst {
				worst, where = x.cost, "definition "+d.Name
			}
		}
		for _, r := range p.Rules {
			x, err := compileExpr(env, r.Condition, scopeVars[r.Scope], true, false)
			if err != nil {
				t.Fatal(err)
			}
			if x.cost > worst {
				worst, where = x.cost, "rule "+r.ID
			}
		}
	}
	t.Logf("costliest built-in expression: %s, %d cost units (limit %d)", where, worst, MaxExprCost)
	if worst > MaxExprCost/10 {
		t.Errorf("%s estimates %d cost units, within a tenth of the limit %d", where, worst, MaxExprCost)
	}
}

// TestEnforcementStartsLate: an enforcement list whose first step starts
// after the rule's effectiveFrom leaves the days between with no stated
// enforcement (the first step used to be read back into them, so a rule
// written as "not enforced from June" was off, or on, from January). The
// load and lint refuse it, naming file, line, rule and field; a first step
// from effectiveFrom or earlier, or without from, loads.
func TestEnforcementStartsLate(t *testing.T) {
	late := strings.Replace(goodRule, "    enforcement: in-force\n", `    enforcement:
      - state: not-enforced
        from: 2024-06-01
      - {state: in-force, from: 2025-01-01}
`, 1)
	lateFlow := strings.Replace(strings.Replace(goodRule, "id: r1", "id: r2", 1), "    enforcement: in-force\n", `    enforcement:
      - {state: draft, from: 2024-03-01}
`, 1)
	dir := t.TempDir()
	for n, src := range map[string]string{"late.yaml": late, "flow.yaml": lateFlow} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n := range 2 {
		files := []File{{Name: "late.yaml", Data: []byte(late)}, {Name: "flow.yaml", Data: []byte(lateFlow)}}[n : n+1]
		if e, err := New(Options{NoBuiltin: true, Files: files}); e != nil || err == nil {
			t.Fatalf("%s: a rule with no enforcement stated from effectiveFrom to its first step loaded: %v", files[0].Name, err)
		}
	}
	ps := Lint(Options{NoBuiltin: true, Dirs: []string{dir}})
	want := map[string]struct {
		line int
		rule string
	}{"flow.yaml": {11, "r2"}, "late.yaml": {12, "r1"}}
	if len(ps) != len(want) {
		t.Fatalf("lint found %v, want one problem per file", ps)
	}
	for _, p := range ps {
		w := want[filepath.Base(p.File)]
		if w.line != p.Line || p.Rule != w.rule || p.Field != "enforcement[0].from" ||
			!strings.Contains(p.Message, "after effectiveFrom 2024-01-01") {
			t.Errorf("problem %+v: want the file, line %d, rule %s, field enforcement[0].from and both dates", p, w.line, w.rule)
		}
	}
	for _, ok := range []string{
		"      - {state: not-enforced, from: 2024-01-01}\n      - {state: in-force, from: 2025-01-01}\n",
		"      - {state: in-force, from: 2023-01-01}\n",
		"      - {state: in-force}\n      - {state: not-enforced, from: 2025-01-01}\n",
	} {
		src := strings.Replace(goodRule, "    enforcement: in-force\n", "    enforcement:\n"+ok, 1)
		if _, err := New(Options{NoBuiltin: true, Files: []File{{Name: "ok.yaml", Data: []byte(src)}}}); err != nil {
			t.Errorf("enforcement %q refused: %v", ok, err)
		}
	}
}

// TestEngineDigest: engines loaded from the same files have one digest;
// a changed or added file, or the built-in packs left out, give another.
func TestEngineDigest(t *testing.T) {
	pack := func(id string) File {
		return File{Name: "extra.yaml", Data: []byte(strings.Replace(goodRule, "id: r1", "id: "+id, 1))}
	}
	digest := func(opts Options) string {
		t.Helper()
		e, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return e.Digest()
	}
	a := digest(Options{Files: []File{pack("digest-one")}})
	if a == "" || a != digest(Options{Files: []File{pack("digest-one")}}) {
		t.Fatalf("one law, two digests (or none): %q", a)
	}
	if a == digest(Options{Files: []File{pack("digest-two")}}) {
		t.Error("a changed file left the digest as it was")
	}
	if a == digest(Options{}) {
		t.Error("a file left out left the digest as it was")
	}
	if a == digest(Options{NoBuiltin: true, Files: []File{pack("digest-one")}}) {
		t.Error("the built-in packs left out left the digest as it was")
	}
}

// TestRuleFileNamedMayBeAPipe: one rule file the person names may be a
// pipe (rules apply -f <(envsubst < pack.yaml)), read within the limit; it
// was refused as not a regular file. /dev/zero is bounded.
func TestRuleFileNamedMayBeAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write([]byte(goodRule))
		w.Close()
	}()
	files, err := ReadFiles("/proc/self/fd/" + strconv.Itoa(int(r.Fd())))
	if err != nil || len(files) != 1 || string(files[0].Data) != goodRule {
		t.Fatalf("a rule file from a pipe: %v, %d files", err, len(files))
	}
	if _, err := New(Options{NoBuiltin: true, Files: files}); err != nil {
		t.Fatalf("the piped pack does not load: %v", err)
	}
	if ps := Lint(Options{NoBuiltin: true, Dirs: []string{"/dev/zero"}}); len(ps) != 1 || !strings.Contains(ps[0].Message, "limit") {
		t.Errorf("/dev/zero as a rule file: %v, want one problem naming the limit", ps)
	}
}
