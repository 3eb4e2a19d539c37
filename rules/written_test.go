package rules

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/policy"
)

// genPack is a generated rule file: n rules, definitions and thresholds
// whose every field a diff compares is drawn from r, so that two packs of
// different seeds differ in some fields of some rules, and share others.
func genPack(r *rand.Rand, n int) []byte {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: generated}\ndefinitions:\n")
	for i := range 3 {
		fmt.Fprintf(&b, "  - {name: d%d, expr: %q, source: %q}\n", i, pick("site.country in ['SG', 'MY']", "site.country == 'VN'", "acc.tpp >= 4800.0"), pick("s1", "s2"))
	}
	b.WriteString("thresholds:\n")
	for i := range 3 {
		switch r.IntN(3) {
		case 0:
			fmt.Fprintf(&b, "  - {name: t%d, unit: FLOP, confidence: confirmed, readings: [{value: %d, source: %s}]}\n", i, 1+r.IntN(3), pick("a", "b"))
		default:
			fmt.Fprintf(&b, "  - {name: t%d, unit: %s, confidence: %s, readings: [{value: 1e%d, source: a}, {value: 2.5e%d, source: %s}]}\n",
				i, pick("FLOP", "people"), pick("reported", "unconfirmed"), 20+r.IntN(3), 20+r.IntN(3), pick("b", "c"))
		}
	}
	b.WriteString("rules:\n")
	for i := range n {
		effect := pick("deny", "obligation", "advisory")
		fmt.Fprintf(&b, "  - id: gen-%d\n    jurisdiction: %s\n    kind: %s\n    effect: %s\n", i, pick("SG", "ORG", "EU"), pick("org-policy", "host-country"), effect)
		fmt.Fprintf(&b, "    effectiveFrom: 2024-0%d-01\n", 1+r.IntN(3))
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "    effectiveUntil: 2030-0%d-01\n", 1+r.IntN(3))
		}
		switch r.IntN(3) {
		case 0:
			fmt.Fprintf(&b, "    enforcement: %s\n", pick("in-force", "draft", "not-enforced", "suspended-until 2027-01-01"))
		default:
			fmt.Fprintf(&b, "    enforcement:\n      - {state: in-force, from: 2023-12-01}\n      - {state: %s, from: 2026-0%d-01}\n", pick("not-enforced", "draft"), 1+r.IntN(3))
		}
		fmt.Fprintf(&b, "    confidence: %s\n    sources: [%s]\n", pick("confirmed", "reported", "unconfirmed"), pick("x", "x, y", "z"))
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, "    scope: job\n    message: %q\n    condition: %q\n", pick("job {job.name} is held", "{job.name}"), pick("job.flops > threshold.t0", "job.openWeights"))
		} else {
			fmt.Fprintf(&b, "    message: %q\n", pick("site {site.country} is held", "  pool of {site.name}  ", "owner {owner.name}"))
			fmt.Fprintf(&b, "    condition: %q\n", pick("site.country == 'SG'", " def.d0 && job.flops > threshold.t1 ", "def.d1 || def.d2", "job.flops > threshold.t0"))
		}
		if effect == "deny" && r.IntN(2) == 0 {
			fmt.Fprintf(&b, "    liftedBy: {licence: true, obligation: %q}\n", pick("", "keep the licence"))
		}
	}
	return []byte(b.String())
}

// TestWrittenDiffsAsCompiled: a diff reads the laws it compares as their
// files write them, without compiling them (State.WrittenAt), and says
// byte for byte what it said when it compiled them: on the built-in packs
// (each set of them in load order against the next) and on generated
// packs that differ in every field a diff compares.
func TestWrittenDiffsAsCompiled(t *testing.T) {
	dir := filepath.Join("..", "policy", "packs")
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("built-in packs: %v %v", names, err)
	}
	var builtin []policy.File
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		builtin = append(builtin, policy.File{Name: filepath.Base(n), Data: data})
	}
	laws := [][]policy.File{nil}
	for i := range builtin {
		laws = append(laws, builtin[:i+1])
	}
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed%3, 7)) // seeds 0-2 twice: some pairs are equal
		laws = append(laws, append(builtin[:len(builtin):len(builtin)], policy.File{Name: "gen.yaml", Data: genPack(r, 60)}))
	}
	type pair struct{ compiled, written Written }
	var loaded []pair
	for i, files := range laws {
		opts := policy.Options{NoBuiltin: true, Files: files}
		e, err := policy.New(opts)
		if err != nil {
			t.Fatalf("law %d: %v", i, err)
		}
		w, err := policy.Parse(t.Context(), opts)
		if err != nil {
			t.Fatalf("law %d: %v", i, err)
		}
		loaded = append(loaded, pair{e, w})
	}
	changed, fields := 0, map[string]bool{}
	for i, a := range loaded {
		for j, b := range loaded {
			was, err := json.Marshal(Compare(a.compiled, b.compiled))
			if err != nil {
				t.Fatal(err)
			}
			now, err := json.Marshal(Compare(a.written, b.written))
			if err != nil {
				t.Fatal(err)
			}
			if string(was) != string(now) {
				t.Fatalf("law %d → %d: compiled %s\nwritten %s", i, j, was, now)
			}
			d := Compare(a.written, b.written)
			if len(d.Changed) > 0 && len(d.Definitions) > 0 && len(d.Thresholds) > 0 {
				changed++
			}
			for _, c := range d.Changed {
				for _, f := range c.Fields {
					fields[f.Field] = true
				}
			}
		}
	}
	if changed == 0 || len(fields) < 12 {
		t.Errorf("%d pairs of laws differ in rules, definitions and thresholds at once, and rules differ in %d fields (%v): the test compares too little", changed, len(fields), fields)
	}
}
