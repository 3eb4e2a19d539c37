package policy

import (
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

// TestSizeEstimate: an engine's SizeEstimate, which bounds the caches of
// engines, is at least what it takes on the heap, and not far more, for
// the built-in packs and for packs of the shapes that take the most per
// byte of file.
func TestSizeEstimate(t *testing.T) {
	for _, c := range []struct {
		name string
		opts func() Options
	}{
		{"built-in", func() Options { return Options{} }},
		{"small rules", func() Options {
			return Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: manyRules(64<<10, "site.country == 'SG'")}}}
		}},
		{"comparisons", func() Options {
			return Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: manyRules(64<<10, strings.Repeat("1<2&&", 31)+"1<2")}}}
		}},
		{"comprehensions", func() Options {
			return Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: manyRules(64<<10, strings.Repeat("[0].all(x,x<1)&&", 23)+"[0].all(x,x<1)")}}}
		}},
		{"fact scans", func() Options {
			return Options{NoBuiltin: true, Files: []File{{Name: "p.yaml", Data: manyRules(64<<10, "org.licences.exists(l, l == 'a') || org.attributes.exists(l, l == 'b') || job.markets.exists(l, l == 'd')")}}}
		}},
	} {
		opts := c.opts()
		before := liveHeap()
		e, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		took := int64(liveHeap()) - int64(before)
		est := e.SizeEstimate()
		t.Logf("%s: %d rules, %d bytes of files: %.1f MiB on the heap, estimated %.1f MiB", c.name, len(e.rules), e.srcBytes, float64(took)/(1<<20), float64(est)/(1<<20))
		if est < took || est > 4*took {
			t.Errorf("%s: estimated %d bytes, took %d: want at least what it took and at most four times", c.name, est, took)
		}
		runtime.KeepAlive(e)
	}
}
