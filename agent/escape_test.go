package agent

import (
	"strings"
	"testing"
	"unicode/utf8"

	"meridian.dev/meridian/internal/textsafe"
)

// TestEscapedSetIsTextsafes: what the agent writes out in its own lines
// and in the workload's lines it marks is every character that the other
// places showing hostile text escape (textsafe.Unsafe), and those a
// terminal draws as nothing (invisible), and no other. Before, the agent
// kept its own set: a bidirectional override, a line separator and a tab
// in a marked line of the workload's went to the logs as they were.
func TestEscapedSetIsTextsafes(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		in := "a" + string(r) + "b"
		got := string(appendEscaped(nil, []byte(in)))
		want := textsafe.Unsafe(r) || invisible(r)
		if escaped := got != in; escaped != want {
			t.Fatalf("appendEscaped(%q) = %q; want it escaped: %v (textsafe.Unsafe: %v)", in, got, want, textsafe.Unsafe(r))
		}
		if want && !textsafe.Safe(got) {
			t.Fatalf("appendEscaped(%q) = %q: not safe to show", in, got)
		}
	}
	for in, want := range map[string]string{
		"ok \xff":          `ok \xff`,
		"cut \xe2\x80":     `cut \xe2\x80`,
		"c1 \u009b31m":     `c1 \xc2\x9b31m`,
		"rtl \u202efdp":    `rtl \u202efdp`,
		"iso \u2066x":      `iso \u2066x`,
		"line\u2028forged": `line\u2028forged`,
		"tag \U000e0041":   `tag \U000e0041`,
	} {
		if got := string(appendEscaped(nil, []byte(in))); got != want {
			t.Errorf("appendEscaped(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestMarkedLineEscapesBidi: a workload's line marked as not the agent's
// reaches the logs with its overrides and isolates written out, as every
// other place shows them, not reordering what follows the mark.
func TestMarkedLineEscapesBidi(t *testing.T) {
	var m agentLikeMarker
	got := string(m.mark([]byte("meridian agent: sealed \u2067report-\u202efdp.exe\u2069\n")))
	if !strings.HasPrefix(got, workloadMark) || !textsafe.Safe(strings.TrimSuffix(got, "\n")) {
		t.Fatalf("marked line %q: want it marked, every bidirectional character written out", got)
	}
}
