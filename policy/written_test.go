package policy

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// liveHeap is the bytes of live heap objects, after collecting twice.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// manyRules is a pack of about size bytes of deny rules with the condition.
func manyRules(size int, cond string) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: big}\nrules:\n")
	for i := 0; b.Len() < size-len(cond)-300; i++ {
		fmt.Fprintf(&b, "  - {id: r%d, jurisdiction: ORG, kind: org-policy, effect: deny, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: \"site {site.country}\", condition: \"%s\"}\n", i, cond)
	}
	return []byte(b.String())
}

// manyNames is a pack of about size bytes of the shortest definitions and
// thresholds a pack may hold, and one rule.
func manyNames(size int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: meridian.dev/v1alpha1\nkind: RulePack\nmetadata: {name: names}\ndefinitions:\n")
	for i := 0; b.Len() < size/2; i++ {
		fmt.Fprintf(&b, "- {name: d%d, expr: '1', source: s}\n", i)
	}
	b.WriteString("thresholds:\n")
	for i := 0; b.Len() < size-300; i++ {
		fmt.Fprintf(&b, "- {name: t%d, unit: u, confidence: reported, readings: [{value: 1, source: s}, {value: 2, source: s}]}\n", i)
	}
	b.WriteString("rules:\n- {id: r, jurisdiction: O, kind: org-policy, effect: deny, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: \"{site.country}\", condition: \"true\"}\n")
	return []byte(b.String())
}

// TestWrittenSize: a law parsed without compiling (Written), which the
// server keeps for diffs by number alone, takes at most three bytes on
// the heap a byte of its files, for the built-in packs and for packs of
// the shapes that take the most per byte: the shortest rules, definitions
// and thresholds, and long conditions (compiled, comprehensions took
// about 150 bytes a byte).
func TestWrittenSize(t *testing.T) {
	for _, c := range []struct {
		name string
		opts func() Options
	}{
		{"built-in", func() Options { return Options{} }},
		{"small rules", func() Options {
			return Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: manyRules(256<<10, "1")}}}
		}},
		{"definitions and thresholds", func() Options {
			return Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: manyNames(256 << 10)}}}
		}},
		{"comprehensions", func() Options {
			return Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: manyRules(256<<10, strings.Repeat("[0].all(x,x<1)&&", 23)+"[0].all(x,x<1)")}}}
		}},
	} {
		opts := c.opts()
		files, _ := gather(opts)
		size := 0
		for _, f := range files {
			size += len(f.Data)
		}
		before := liveHeap()
		w, err := Parse(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		took := int64(liveHeap()) - int64(before)
		t.Logf("%s: %d rules, %d bytes of files: %.2f MiB on the heap, %.1f bytes a byte", c.name, len(w.rules), size, float64(took)/(1<<20), float64(took)/float64(size))
		if took > 3*int64(size) {
			t.Errorf("%s: %d bytes of files take %d bytes parsed, over three a byte", c.name, size, took)
		}
		runtime.KeepAlive(w)
	}
}

// TestParseChecksAsNew: Parse refuses what New refuses short of compiling
// a condition, with the same problems: a name used twice across packs
// (within one, ParsePack refuses it).
func TestParseChecksAsNew(t *testing.T) {
	pack := func(name, def, th, id string) File {
		return File{Name: name + ".yaml", Data: []byte(fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: %s}
definitions:
  - {name: %s, expr: "site.country == 'SG'", source: s}
thresholds:
  - {name: %s, unit: u, confidence: confirmed, readings: [{value: 1, source: s}]}
rules:
  - {id: %s, jurisdiction: ORG, kind: org-policy, effect: deny, effectiveFrom: 2024-01-01, enforcement: in-force, confidence: confirmed, sources: [t], message: "site {site.country}", condition: "job.flops > threshold.%s"}
`, name, def, th, id, th))}
	}
	for _, files := range [][]File{
		{pack("a", "d1", "t1", "r1"), pack("b", "d2", "t2", "r2")},
		{pack("a", "d1", "t1", "r1"), pack("b", "d1", "t2", "r2")},
		{pack("a", "d1", "t1", "r1"), pack("b", "d2", "t1", "r2")},
		{pack("a", "d1", "t1", "r1"), pack("b", "d2", "t2", "r1")},
		{pack("a", "d1", "t1", "r1"), {Name: "c.yaml", Data: []byte("rules: [")}},
	} {
		opts := Options{NoBuiltin: true, Files: files}
		_, errNew := New(opts)
		_, errParse := Parse(context.Background(), opts)
		if fmt.Sprint(errNew) != fmt.Sprint(errParse) {
			t.Errorf("New: %v\nParse: %v", errNew, errParse)
		}
	}
}

// TestParseStopsWithContext: a parse for a request that ended stops
// before the next file.
func TestParseStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Parse(ctx, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("a parse with its context done: %v", err)
	}
}
