package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump prints a node tree with kinds, styles and lines, for comparing the
// two parsers.
func dump(n *node) string {
	var b strings.Builder
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		b.WriteString(strings.Repeat("  ", depth))
		if n == nil {
			b.WriteString("<nil>\n")
			return
		}
		switch n.kind {
		case scalarNode:
			fmt.Fprintf(&b, "scalar@%d quoted=%v tag=%q %q\n", n.line, n.quoted, n.tag, n.value)
		case aliasNode:
			fmt.Fprintf(&b, "alias@%d *%s\n", n.line, n.value)
		case mappingNode:
			fmt.Fprintf(&b, "mapping@%d tag=%q\n", n.line, n.tag)
		case sequenceNode:
			fmt.Fprintf(&b, "sequence@%d tag=%q\n", n.line, n.tag)
		}
		for _, c := range n.items {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

// fastParserCases are documents in the fast parser's subset, and some just
// outside it; each must parse as yaml/v3 parses it.
var fastParserCases = []string{
	"a: 1\nb: two\n",
	"---\na: 1\n",
	"--- # comment\na: 1\n",
	"a:\n  b:\n    c: d\n",
	"a:\n- x\n- y\nb: 1\n",
	"a:\n  - x\n  -  y # c\n",
	"- a: 1\n  b: 2\n- c: 3\n",
	"a: [x, y, 'z', \"w\"]\n",
	"a: {x: 1, y: [2, 3], z: {q: r}}\n",
	"a: 'it''s'\n",
	"a: \"x # y\"\n",
	"a: x # y\n",
	"a: x#y\n",
	"a: http://example.com/x\n",
	"a: b:c\n",
	"\"quoted key\": 1\n'single': 2\n",
	"a:\n",
	"a: ~\n",
	"a: -1\nb: -x\nc: :x\n",
	"a:\n-\n- b\n",
	"a: [ ]\nb: {}\n",
	"  a: 1\n  b: 2\n",
	"a: Zürich\n",
	"a: x\n  continued\n",
	"a: &x 1\nb: *x\n",
	"a: !!str 1\n",
	"a: |\n  text\n",
	"a: \"esc\\n\"\n",
	"a: b: c\n",
	"a:\n  - - x\n",
	"a: [x,]\n",
	"a: {x}\n",
	"a: [x\n  , y]\n",
	"? a\n: b\n",
	"a:\tb\n",
	"a: 1\r\nb: 2\r\n",
	"a: [a: b]\n",
	"- x\n- y\n",
	"x\n",
	"a: 1\n b: 2\n",
	"a:\n  b: 1\n c: 2\n",
	"a: 1\n- b\n",
	"a: {b: [c, {d: e}]}\n",
	"a: [\"x\", 'y''z']\n",
	"a: x y  z\n",
	"a: 1 #c\n#d\nb: 2\n",
	"a: '#'\n",
	"a: ]\n",
	"a: -\n",
	"a: @x\n",
	"a: `x\n",
	"a: %x\n",
	"a: {x: }\n",
	"a: [x] y\n",
	"a: 'x' y\n",
	"...\n",
	"a: ...x\n",
	"a: ---x\n",
}

func TestFastParserAgreesWithYAML3(t *testing.T) {
	seeds := append([]string(nil), fastParserCases...)
	for _, p := range []string{"testdata/valid.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		chunks, _ := splitDocuments(p, data)
		for _, c := range chunks {
			seeds = append(seeds, string(c.data))
		}
	}
	fast := 0
	for _, s := range seeds {
		if checkFastParser(t, []byte(s)) {
			fast++
		}
	}
	// Most cases must take the fast path, or the test proves little.
	if fast < len(seeds)/2 {
		t.Errorf("only %d of %d cases took the fast path", fast, len(seeds))
	}
}

// checkFastParser parses data both ways and fails when the fast parser
// answers differently from yaml/v3. It reports whether the fast path
// answered.
func checkFastParser(t *testing.T, data []byte) bool {
	t.Helper()
	const first = 7
	fn, ferr := parseFast(data, first)
	if ferr == errFallback {
		return false
	}
	yn, yerr := parseYAML3(data, first)
	if ferr != nil {
		// The fast parser only refuses documents past a limit, which
		// yaml/v3's tree would break too (or which it parses to a tree
		// the converter then refuses).
		if _, ok := ferr.(*parseError); !ok || (!strings.Contains(ferr.Error(), "nested deeper") && !strings.Contains(ferr.Error(), "nodes in one")) {
			t.Errorf("fast parser error %v on %q", ferr, data)
		}
		return true
	}
	if yerr != nil {
		t.Errorf("fast parser accepted what yaml/v3 refuses (%v):\n%q\nfast:\n%s", yerr, data, dump(fn))
		return true
	}
	if f, y := dump(fn), dump(yn); f != y {
		t.Errorf("parsers differ on %q\nfast:\n%s\nyaml/v3:\n%s", data, f, y)
	}
	return true
}

// FuzzFastParser checks the fast parser against yaml/v3 on arbitrary
// documents: wherever the fast one answers, the trees must be equal.
func FuzzFastParser(f *testing.F) {
	for _, s := range fastParserCases {
		f.Add([]byte(s))
	}
	sites, _ := filepath.Glob(filepath.Join("data", "sites", "*.yaml"))
	for _, p := range append(sites, filepath.Join("testdata", "valid.yaml")) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		chunks, _ := splitDocuments(p, data)
		for i, c := range chunks {
			if i < 3 {
				f.Add(c.data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		// One document, as the splitter hands it over.
		chunks, err := splitDocuments("fuzz.yaml", data)
		if err != nil || len(chunks) != 1 {
			return
		}
		checkFastParser(t, chunks[0].data)
	})
}
