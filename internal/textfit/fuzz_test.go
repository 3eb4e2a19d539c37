package textfit

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzTable: cells hold what tenants and sites name (organisations,
// datasets, sites, reasons), so any text is laid out without a panic,
// every line ends without a blank (cells hold no control characters:
// their callers escape them), and when every column may shrink to
// one that fits, no line is wider than the width.
func FuzzTable(f *testing.F) {
	f.Add("SITE", "bsc-marenostrum5", "eu-gdpr-ch5, us-ear-3a090-destination-d1-d4", "北京市朝阳区", 30, 8)
	f.Add("a", "🇸🇬🇸🇬🇸", "e\u0301\u0301\u0301x", "\u200d…", 9, 1)
	f.Fuzz(func(t *testing.T, a, b, c, d string, width, minW int) {
		for _, s := range []string{a, b, c, d} {
			if strings.ContainsFunc(s, unicode.IsControl) {
				return // the caller's to escape: a line break or tab is no cell's
			}
		}
		width, minW = width%200, minW%40
		tb := Table{Rows: [][]string{{a, b}, {c, d}, {b, a, c}}, Width: width, Min: minW, Shrink: []int{-1, 0, 1}}
		out := tb.String()
		fits := tb.Width > 0
		if fits {
			m := tb.Min
			if m <= 0 {
				m = 8
			}
			fits = 3*m+2*tb.gap() <= tb.Width
		}
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if strings.HasSuffix(l, " ") {
				t.Fatalf("trailing blank: %q", l)
			}
			if fits && Width(l) > tb.Width {
				t.Fatalf("line of %d columns, want at most %d: %q", Width(l), tb.Width, l)
			}
		}
	})
}
