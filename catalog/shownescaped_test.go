package catalog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackShownEscaped: a text field holding a character that every
// display writes escaped, but that is not a control, a bidirectional
// control or a separator (a zero-width joiner between two Latin letters,
// "ad\u200dmin" looking like "admin"; a direction mark beside no
// right-to-left letter; a second variation selector in a row), loaded, so
// that the catalog held a name other than the one its tables and errors
// show. The loader refuses what textsafe would write escaped but a tab and
// a newline, naming the file, the field and the character as U+XXXX, and
// keeps the joiners, marks and selectors where textsafe shows them as
// themselves (a Persian or a Devanagari word, an emoji sequence, a mark
// beside Hebrew, a heart's colour form).
func TestAttackShownEscaped(t *testing.T) {
	org := func(legal string) string {
		return "apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec:\n  headquarters: CN\n  legalName: \"" + legal + "\"\n"
	}
	for _, c := range []struct {
		what, doc, field string
		line             int
		r                rune
	}{
		{"a joiner between Latin letters", org("Red Star Ad\u200dmin"), "spec.legalName", 6, 0x200d},
		{"a non-joiner between Latin letters", siteNamed("Johor\u200cBahru", "op"), "spec.city", 11, 0x200c},
		{"a joiner starting the text", org("\u200dRed Star"), "spec.legalName", 6, 0x200d},
		{"a joiner after a newline", org("Red Star\\n\u200d"), "spec.legalName", 6, 0x200d},
		{"a direction mark beside no right-to-left letter", siteNamed("Johor Bahru", "op\u200e-1"), "spec.operator.name", 7, 0x200e},
		{"an Arabic letter mark between digits", siteNamed("Johor Bahru", "op-1\u061c2"), "spec.operator.name", 7, 0x061c},
		{"a second variation selector in a row", siteNamed("Johor Bahru\ufe0f\ufe0f", "op"), "spec.city", 11, 0xfe0f},
		{"a variation selector after a space", org("Red Star \ufe00"), "spec.legalName", 6, 0xfe00},
		{"a zero-width space", org("Red\u200bStar"), "spec.legalName", 6, 0x200b},
		{"a tag character", org("Red Star\U000e0041"), "spec.legalName", 6, 0xe0041},
	} {
		t.Run(c.what, func(t *testing.T) {
			wantFieldRefused(t, c.doc, c.field, c.line, fmt.Sprintf("%U", c.r))
		})
	}
	// A key is text too.
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(siteDoc("s-1", "  \"ci\u200dty\": x\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(testKeys, path); err == nil || !strings.Contains(err.Error(), "U+200D") || !strings.Contains(err.Error(), path) {
		t.Errorf("a key with a joiner between Latin letters: %v, want it refused naming %s and U+200D", err, path)
	}

	for _, legal := range []string{
		"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 Labs",              // Persian: a non-joiner within a word
		"\u0915\u094d\u200d\u0937 Labs",                                      // Devanagari: a joiner after a virama
		"Labs \U0001f469\u200d\U0001f4bb",                                    // an emoji sequence
		"\u05e9\u05dc\u05d5\u05dd\u200f (Shalom) Labs",                       // a mark after Hebrew
		"I \u2764\ufe0f Labs",                                                // a heart's colour form
		"\u0645\u0631\u06a9\u0632\u200e-\u061c\u0645\u0631\u06a9\u0632 Labs", // marks beside Arabic letters
	} {
		path := filepath.Join(t.TempDir(), "org.yaml")
		if err := os.WriteFile(path, []byte(org(legal)), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := Load(testKeys, path)
		if err != nil {
			t.Errorf("legal name %q: %v, want it kept", legal, err)
			continue
		}
		if o := w.Organizations["lab"]; o == nil || o.Spec.LegalName != legal {
			t.Errorf("legal name %q not kept: %+v", legal, o)
		}
	}
}
