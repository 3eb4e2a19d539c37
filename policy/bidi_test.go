package policy

import (
	"errors"
	"strings"
	"testing"
)

// bidiPack is a valid rule file with cond as its rule's condition (as
// YAML, quoted), msg as its message and comment after its effect.
func bidiPack(cond, msg, comment string) []byte {
	return []byte(`apiVersion: meridian.dev/v1alpha1
kind: RulePack
metadata: {name: bidi}
rules:
  - id: bidi-1
    title: No training in SG
    jurisdiction: ORG
    kind: org-policy
    effect: deny ` + comment + `
    effectiveFrom: 2020-01-01
    enforcement: in-force
    confidence: confirmed
    sources: ["test pack"]
    message: ` + msg + `
    condition: ` + cond + `
`)
}

// TestAttackBidiInRuleFile: a rule's condition is code a person reviews
// and its message text every plan shows; a right-to-left override or an
// isolate in either, or in a comment next to them, makes the file read
// as other than it acts (Trojan Source). Rule files did not pass the
// loader's text checks; one holding such a control is now refused, at its
// line, naming the field when it is in a value (written as itself or as a
// YAML escape). The marks right-to-left text needs are accepted.
func TestAttackBidiInRuleFile(t *testing.T) {
	for _, c := range []struct {
		name, cond, msg, comment string
		line                     int
		field                    string
	}{
		// Shown, the comment's tail moves into the line as if it were code.
		{"comment", `"site.country == 'SG'"`, `site {site.name}`, "# \u202e ||'GS' == yrtnuoc.etis\u202c", 9, ""},
		{"condition, escaped", `"site.country == 'SG' \u2067|| true\u2069"`, `site {site.name}`, "", 15, "rules[0].condition"},
		{"message, as itself", `"site.country == 'SG'"`, "site {site.name} \u202eyllufwal\u202c", "", 14, ""},
		{"message, escaped", `"site.country == 'SG'"`, `"site {site.name} \u202Dx"`, "", 14, "rules[0].message"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePack("bidi.yaml", bidiPack(c.cond, c.msg, c.comment))
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Line != c.line || ps[0].Field != c.field || !strings.Contains(ps[0].Message, "bidirectional control U+20") {
				t.Fatalf("want one problem at line %d, field %q, naming the control; got %v", c.line, c.field, err)
			}
		})
	}
	// Marks beside the right-to-left letters they are for are kept.
	if _, err := ParsePack("marks.yaml", bidiPack(`"site.country == 'SG'"`, "\"\u05d0\u200f {site.name} \u05d1\u061c\"", "# \u200f")); err != nil {
		t.Errorf("marks: %v", err)
	}
}

// TestAttackShownEscapedInRuleFile: a rule's message, title and sources
// are shown in every plan and audit record; a zero-width joiner inside a
// word, a direction mark beside no right-to-left letter or a control
// character (written as YAML escapes) drew as other text than it held,
// and only bidirectional controls were refused. Each is now refused at
// its field, naming the character.
func TestAttackShownEscapedInRuleFile(t *testing.T) {
	for _, c := range []struct{ name, msg, char string }{
		{"joiner in a word", `"site {site.name} ad\u200dmin"`, "U+200D"},
		{"mark beside no right-to-left letter", `"site {site.name} \u200e"`, "U+200E"},
		{"control character", `"site {site.name} \x1b[2J"`, "U+001B"},
		{"invisible character", `"site {site.name} a\u2060b"`, "U+2060"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePack("shown.yaml", bidiPack(`"site.country == 'SG'"`, c.msg, ""))
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Field != "rules[0].message" || !strings.Contains(ps[0].Message, c.char) {
				t.Fatalf("want one problem at rules[0].message naming %s; got %v", c.char, err)
			}
		})
	}
	// A tab and a newline in a message are text.
	if _, err := ParsePack("plain.yaml", bidiPack(`"site.country == 'SG'"`, `"site {site.name}\tis\nout"`, "")); err != nil {
		t.Errorf("tab and newline: %v", err)
	}
}
