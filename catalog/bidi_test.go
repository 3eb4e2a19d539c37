package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackBidiControls: an operator's, a city's or an organisation's
// legal name holding a right-to-left override or an isolate displays, in a
// table or an audit record, as other text than it is ("Trojan Source").
// The loader refuses the explicit bidirectional controls in every text
// field, naming the field; the marks, which right-to-left names need, are
// still accepted.
func TestAttackBidiControls(t *testing.T) {
	org := func(legal string) string {
		return "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: CN\n  legalName: \"" + legal + "\"\n"
	}
	site := siteNamed
	controls := []rune{0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069}
	for _, r := range controls {
		esc := fmt.Sprintf(`\u%04X`, r)
		for _, c := range []struct {
			what, doc, field string
			line             int
		}{
			{"city", site("Johor "+esc+"urahB", "op"), "spec.city", 11},
			{"operator", site("Johor Bahru", "test"+esc+"cd-"), "spec.operator.name", 7},
			{"legal name", org("Red Star Avi" + esc + "no\u202cics"), "spec.legalName", 6},
		} {
			t.Run(fmt.Sprintf("%s %U", c.what, r), func(t *testing.T) {
				wantFieldRefused(t, c.doc, c.field, c.line, fmt.Sprintf("bidirectional control %U", r))
			})
		}
	}
	// A key is text too.
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(siteDoc("s-1", "  \"ci\u202ety\": x\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, path); err == nil || !strings.Contains(err.Error(), "bidirectional control U+202E") {
		t.Errorf("a key with an override: %v", err)
	}
	// The marks are allowed next to the right-to-left letters they place
	// (TestAttackShownEscaped refuses one elsewhere): an Arabic city name
	// with a right-to-left mark before its Latin gloss, an operator with a
	// left-to-right mark and an Arabic letter mark beside Persian words.
	const operator = "op \u0645\u0631\u06a9\u0632\u200e-\u061c\u0645\u0631\u06a9\u0632 1"
	path = filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(site("دبي\u200f (Dubai)", operator)), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Load(testKeys, path)
	if err != nil {
		t.Fatalf("marks in names: %v", err)
	}
	if s := w.Site("s-1"); s == nil || s.Spec.City != "دبي\u200f (Dubai)" || s.Spec.Operator.Name != operator {
		t.Errorf("marks not kept: %+v", s)
	}
}

// TestAttackLineSeparators: a site's city or operator holding U+2028 or
// U+2029 breaks the line it is shown on as a newline does, forging a line
// of a table, a log or an audit record. The loader refuses both in every
// text field, as it refuses the other controls, naming the field.
func TestAttackLineSeparators(t *testing.T) {
	site := siteNamed
	for _, r := range []rune{0x2028, 0x2029} {
		esc := fmt.Sprintf(`\u%04X`, r)
		for _, c := range []struct {
			what, doc, field string
			line             int
		}{
			{"city", site("Johor"+esc+"Bahru", "op"), "spec.city", 11},
			{"operator", site("Johor Bahru", "op"+esc+"status: approved"), "spec.operator.name", 7},
		} {
			t.Run(fmt.Sprintf("%s %U", c.what, r), func(t *testing.T) {
				wantFieldRefused(t, c.doc, c.field, c.line, fmt.Sprintf("separator %U", r))
			})
		}
	}
}

// wantFieldRefused fails t unless loading doc refuses field at line with a
// message holding want.
func wantFieldRefused(t *testing.T, doc, field string, line int, want string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doc.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(testKeys, path)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != field || fe.Line != line || !strings.Contains(fe.Msg, want) {
		t.Errorf("want %s refused at line %d for its %s, got %v", field, line, want, err)
	}
}

// siteNamed is a site's document with its city and its operator's name.
func siteNamed(city, operator string) string {
	return strings.Replace(siteDoc("s-1", "  city: \""+city+"\"\n"), "operator: {name: op,", "operator: {name: \""+operator+"\",", 1)
}
