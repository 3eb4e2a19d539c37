// Package textfit lays out tables for a terminal: aligned columns, no
// trailing blanks, and, when a width is given, the text columns cut down
// (never the numbers) so that every line fits, as kubectl's and sky's
// tables do. Widths are display widths: a CJK character counts two.
package textfit

import (
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Ellipsis ends a cell that was cut.
const Ellipsis = "…"

// Table is rows of cells, the first usually the header.
type Table struct {
	Rows [][]string
	// Gap is the blank between columns (default 2).
	Gap int
	// Width, when above 0, is the widest a line may be.
	Width int
	// Shrink lists the columns that may be cut to fit Width, in the order
	// they give way; -1 is the last column. Columns not listed keep their
	// width (numbers, ids).
	Shrink []int
	// Min is the narrowest a shrunk column gets (default 8).
	Min int
	// Style, when set, dresses a cell after it is padded (colour): row and
	// column indexes, the padded text. It must not change the visible width.
	Style func(row, col int, padded string) string
	// MinWidths, when set, are the narrowest its columns are laid out,
	// so that a table printed in parts (a header, then a row at a time,
	// as a watch prints) keeps its columns: pass each part's Widths on.
	MinWidths []int
}

// Width is the display width of s.
func Width(s string) int { return uniseg.StringWidth(s) }

// Prefix is the longest start of s of at most n bytes that ends at a
// character's boundary: what a message may quote of a value it must not
// carry whole.
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Cut shortens s to at most w columns, ending in Ellipsis when cut.
func Cut(s string, w int) string {
	if Width(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	var b strings.Builder
	used := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		cw := g.Width()
		if used+cw > w-1 {
			break
		}
		b.WriteString(g.Str())
		used += cw
	}
	return b.String() + Ellipsis
}

// Widths returns each column's width before fitting.
func (t *Table) widths() []int {
	ws := append([]int(nil), t.MinWidths...)
	for _, r := range t.Rows {
		for i, c := range r {
			if i >= len(ws) {
				ws = append(ws, 0)
			}
			ws[i] = max(ws[i], Width(c))
		}
	}
	return ws
}

// fit narrows the shrinkable columns until the line fits, the widest
// first, down to Min each.
func (t *Table) fit(ws []int) {
	gap := t.gap()
	total := 0
	for i, w := range ws {
		total += w
		if i > 0 {
			total += gap
		}
	}
	if t.Width <= 0 || total <= t.Width {
		return
	}
	minW := t.Min
	if minW <= 0 {
		minW = 8
	}
	var cols []int
	for _, c := range t.Shrink {
		if c < 0 {
			c = len(ws) + c
		}
		if c >= 0 && c < len(ws) {
			cols = append(cols, c)
		}
	}
	for over := total - t.Width; over > 0; over-- {
		best := -1
		for _, c := range cols {
			if ws[c] > minW && (best < 0 || ws[c] > ws[best]) {
				best = c
			}
		}
		if best < 0 {
			return // nothing left to give: the line stays too wide
		}
		ws[best]--
	}
}

func (t *Table) gap() int {
	if t.Gap <= 0 {
		return 2
	}
	return t.Gap
}

// Widths are the widths String lays the columns out at.
func (t *Table) Widths() []int {
	ws := t.widths()
	t.fit(ws)
	return ws
}

// String lays the table out, one line per row, each ending in a newline.
func (t *Table) String() string {
	ws := t.Widths()
	gap := strings.Repeat(" ", t.gap())
	var b strings.Builder
	for ri, r := range t.Rows {
		var line strings.Builder
		for i, c := range r {
			c = Cut(c, ws[i])
			cell := c
			if i < len(r)-1 {
				cell += strings.Repeat(" ", ws[i]-Width(c))
			}
			if t.Style != nil {
				cell = t.Style(ri, i, cell)
			}
			if i > 0 {
				line.WriteString(gap)
			}
			line.WriteString(cell)
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// Parse splits tab-separated lines into rows of cells, for callers that
// write tables the way text/tabwriter reads them.
func Parse(text string) [][]string {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	var rows [][]string
	for _, l := range strings.Split(text, "\n") {
		rows = append(rows, strings.Split(strings.TrimSuffix(l, "\t"), "\t"))
	}
	return rows
}
