package textfit

import (
	"strings"
	"testing"
)

func TestFit(t *testing.T) {
	tb := Table{Rows: [][]string{
		{"RANK", "SITE", "COST", "OBLIGATIONS"},
		{"1", "bsc-marenostrum5", "$1,234", "eu-gdpr-ch5, us-ear-3a090-destination-d1-d4"},
		{"2", "a", "$5", "-"},
	}, Width: 50, Shrink: []int{-1, 1}}
	out := tb.String()
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if Width(l) > 50 {
			t.Errorf("line of %d columns: %q", Width(l), l)
		}
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing blank: %q", l)
		}
	}
	if !strings.Contains(out, "$1,234") || !strings.Contains(out, "bsc-marenostrum5") {
		t.Errorf("numbers or the site were cut before the last column:\n%s", out)
	}
	if !strings.Contains(out, Ellipsis) {
		t.Errorf("nothing marked as cut:\n%s", out)
	}
	// Unlimited: nothing cut, columns aligned.
	tb.Width = 0
	out = tb.String()
	if strings.Contains(out, Ellipsis) {
		t.Errorf("cut without a width:\n%s", out)
	}
	lines := strings.Split(out, "\n")
	if strings.Index(lines[0], "COST") != strings.Index(lines[1], "$1,234") {
		t.Errorf("columns not aligned:\n%s", out)
	}
}

func TestFitKeepsUnlistedColumns(t *testing.T) {
	tb := Table{Rows: [][]string{{"aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb"}}, Width: 10, Shrink: []int{1}}
	out := tb.String()
	if !strings.HasPrefix(out, "aaaaaaaaaaaaaaaaaaaa  bbbbbbb…") {
		t.Errorf("got %q", out)
	}
}

func TestCutWide(t *testing.T) {
	if got := Cut("北京市朝阳区", 7); Width(got) > 7 || !strings.HasSuffix(got, Ellipsis) {
		t.Errorf("Cut = %q (width %d)", got, Width(got))
	}
	if got := Cut("abc", 3); got != "abc" {
		t.Errorf("Cut = %q", got)
	}
}

// TestMinWidths: a table printed in parts (a header with its rows, then a
// row at a time, as a watch prints), each part given the widths of the
// ones before, lines up as the whole table printed at once would when no
// later cell is wider, and widens a column for one that is.
func TestMinWidths(t *testing.T) {
	rows := [][]string{
		{"ID", "ATTEMPT", "STEP", "AGE"},
		{"run-1", "1", "-", "3s"},
		{"run-1", "1", "60", "4s"},
	}
	whole := (&Table{Rows: rows}).String()
	var parts strings.Builder
	var ws []int
	for _, part := range [][][]string{rows[:2], rows[2:]} {
		tb := Table{Rows: part, MinWidths: ws}
		ws = tb.Widths()
		parts.WriteString(tb.String())
	}
	if parts.String() != whole {
		t.Errorf("in parts:\n%s\nat once:\n%s", parts.String(), whole)
	}
	tb := Table{Rows: [][]string{{"run-1", "1", "1234567", "5s"}}, MinWidths: ws}
	if got, want := tb.String(), "run-1  1        1234567  5s\n"; got != want {
		t.Errorf("a wider cell: %q, want %q", got, want)
	}
	if got := tb.Widths(); got[2] != 7 || got[1] != ws[1] {
		t.Errorf("widths %v after %v", got, ws)
	}
}

// TestPrefix: a cut never splits a character, and never passes n bytes.
func TestPrefix(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"жж", 3, "ж"},
		{"жж", 1, ""},
		{"日本", 4, "日"},
	} {
		if got := Prefix(c.s, c.n); got != c.want {
			t.Errorf("Prefix(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}
