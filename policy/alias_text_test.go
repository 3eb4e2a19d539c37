package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// aliasTextPack is a valid rule file whose one rule's title is a string of
// strLen bytes, anchored, and whose sources are that many aliases of it.
func aliasTextPack(strLen, aliases int) []byte {
	return []byte(fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: long-aliases}
rules:
  - id: long-aliases-1
    title: &t %s
    jurisdiction: ORG
    kind: org-policy
    effect: deny
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: [%s]
    message: site {site.name}
    condition: "false"
`, strings.Repeat("x", strLen), strings.TrimSuffix(strings.Repeat("*t, ", aliases), ", ")))
}

// TestAttackAliasedLongStrings: the alias limit counted nodes only, so a
// rule file of one long anchored string and a few thousand aliases of it
// passed: each alias is one node, yet every reader that copies or prints
// the values pays the string's length again. A 1.0 MB pack of a 1 MB
// title and 1,000 aliases of it in sources parsed in a fifth of a second,
// and its rules came to 954 MB as JSON (34 s to encode); the document
// limit allows ten times the aliases. Aliases may now add at most
// catalog.MaxAliasExpansionBytes of text, and a pack past it is refused at
// the line of the alias that crosses it; one within it costs, as JSON, no
// more than its own size and that limit.
func TestAttackAliasedLongStrings(t *testing.T) {
	data := aliasTextPack(64<<10, 100) // 66 KB; 6.5 MB through its aliases
	p, err := ParsePack("long.yaml", data)
	if err == nil {
		b, _ := json.Marshal(p.Rules)
		t.Fatalf("a %d-byte pack was accepted, and its rules are %d bytes as JSON", len(data), len(b))
	}
	if !strings.Contains(err.Error(), "long.yaml: line 13: aliases add more than 1048576 bytes of text") {
		t.Errorf("want the pack refused at the sources' line, got %v", err)
	}

	data = aliasTextPack(64<<10, 15) // within the limit: 15 × 64 KiB
	p, err = ParsePack("ok.yaml", data)
	if err != nil {
		t.Fatalf("a pack whose aliases add %d bytes: %v", 15*64<<10, err)
	}
	b, err := json.Marshal(p.Rules)
	if err != nil {
		t.Fatal(err)
	}
	if limit := len(data) + catalog.MaxAliasExpansionBytes + 4096; len(b) > limit {
		t.Errorf("a %d-byte pack's rules are %d bytes as JSON, over %d", len(data), len(b), limit)
	}
}
