package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"meridian.dev/meridian/internal/textfit"
)

// table collects tab-separated rows, as text/tabwriter reads them, and
// writes them aligned, without trailing blanks and, on a terminal, fitted
// to its width: the shrink columns (default the last) are cut, the others
// kept whole.
type table struct {
	buf    bytes.Buffer
	out    io.Writer
	shrink []int
	style  func(row, col int, padded string) string
	// cols, when set, carries the column widths from one flush to the
	// next: a table printed in parts keeps its columns.
	cols *[]int
}

func newTab(w io.Writer) *table { return &table{out: w} }

func (t *table) Write(p []byte) (int, error) { return t.buf.Write(p) }

// Flush aligns the rows written so far and writes them out.
func (t *table) Flush() error {
	rows := textfit.Parse(t.buf.String())
	t.buf.Reset()
	// Cells are mostly the server's words (names, ids, reasons): none may
	// carry a control character to the terminal. Colour is added after,
	// by style.
	for _, r := range rows {
		for i, c := range r {
			r[i] = shown(c)
		}
	}
	shrink := t.shrink
	if shrink == nil {
		shrink = []int{-1}
	}
	tb := textfit.Table{Rows: rows, Width: outputWidth(t.out), Shrink: shrink, Style: t.style}
	if t.cols != nil {
		tb.MinWidths = *t.cols
		*t.cols = tb.Widths()
	}
	_, err := io.WriteString(t.out, tb.String())
	return err
}

// outputWidth is the width tables fit: $COLUMNS when set, else the
// terminal's when w is one; 0 (no limit) when output goes to a file or a
// pipe, so that scripts see whole cells.
func outputWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c
	}
	if wd, _, err := term.GetSize(int(f.Fd())); err == nil && wd > 0 {
		return wd
	}
	return 0
}

// colorMode is --color: auto (a terminal without NO_COLOR), always, never.
var colorMode = "auto"

// colorOn says whether to colour what goes to w: on a terminal, unless
// NO_COLOR is set (https://no-color.org) or TERM is dumb; --color always
// or never overrides.
func colorOn(w io.Writer) bool {
	switch colorMode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ANSI styles.
const (
	sgrBold   = "1"
	sgrDim    = "2"
	sgrRed    = "31"
	sgrGreen  = "32"
	sgrYellow = "33"
	sgrBlue   = "34"
)

// paint wraps s in an ANSI style, keeping its trailing blanks outside so
// that a padded cell keeps its width.
func paint(s, sgr string) string {
	t := strings.TrimRight(s, " ")
	if t == "" {
		return s
	}
	return "\x1b[" + sgr + "m" + t + "\x1b[0m" + s[len(t):]
}

// stateColor is the colour of a run state: green done, red failed or
// held, yellow on the way.
func stateColor(state string) string {
	switch state {
	case "succeeded":
		return sgrGreen
	case "failed", "held", "cancelled":
		return sgrRed
	case "running":
		return sgrBlue
	}
	return sgrYellow
}
