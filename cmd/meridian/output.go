package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"meridian.dev/meridian/internal/textsafe"
)

// Output formats accepted by -o: wide is the table with more columns,
// where a verb has more to show (kubectl's -o wide).
var outputFormats = []string{"table", "wide", "json", "yaml"}

// addOutputFlag adds -o/--output to a read command.
func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", "table", "output format: table, wide, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return outputFormats, cobra.ShellCompDirectiveNoFileComp
	})
}

// render writes v as JSON or YAML, or calls table for people. JSON is
// indented and ends with a newline; YAML is converted from the same JSON so
// both carry the same field names. A struct is written a field and a list
// element at a time (stream.go), never whole in memory.
func render(w io.Writer, format string, v any, table func(io.Writer) error) error {
	switch format {
	case "json":
		return writeJSONStream(w, v)
	case "yaml":
		return writeYAMLStream(w, v)
	case "table", "wide", "":
		return table(w)
	default:
		return badFormat(format)
	}
}

// badFormat is the error of an -o that no command writes.
func badFormat(format string) error {
	return badInput(fmt.Errorf("-o %q: want one of table, wide, json, yaml", format))
}

// renderTable is render for a verb whose table has a wide form (-o wide).
func renderTable(w io.Writer, format string, v any, table func(w io.Writer, wide bool) error) error {
	return render(w, format, v, func(w io.Writer) error { return table(w, format == "wide") })
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// shown is text a site or a workload wrote (a run's reason, an event's) as
// a terminal may be given it: each control character (an escape sequence
// could rewrite the screen, set a window's title or the clipboard, or hide
// the lines before it), a newline and a tab among them, written as \xNN,
// and bytes that are not UTF-8 (a lone 0x9b is an escape to some
// terminals) as U+FFFD. A bidirectional control (an override, an
// embedding or an isolate) is written as \uNNNN: a terminal or a log
// viewer that applies it would show the rest of the line in another order
// than it was written; so is a line or paragraph separator (U+2028,
// U+2029), which some viewers break a line at, a character drawn as
// nothing (a zero-width space, a soft hyphen, a byte order mark), which
// makes a name look like another, and a joiner, a direction mark or a
// variation selector out of the place a word needs it ("ad\u200dmin").
// What is written out is textsafe's set (textsafe.At), the one every
// package's shown text keeps to.
func shown(s string) string {
	if textsafe.Safe(s) {
		return s
	}
	var b strings.Builder
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, n, esc := textsafe.At(s, i, prev)
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteRune(utf8.RuneError)
		case esc && isControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		case esc && r > 0xffff:
			fmt.Fprintf(&b, "\\U%08x", r)
		case esc:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteString(s[i : i+n])
		}
		if esc {
			prev = -1
		} else {
			prev = r
		}
		i += n
	}
	return b.String()
}

// escaped is a character shown writes out wherever it is.
func escaped(r rune) bool { return textsafe.Unsafe(r) }

func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// shownLines is shown for text of several lines (an error message): its
// newlines and tabs are kept, every other control character written out.
func shownLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		cells := strings.Split(l, "\t")
		for j, c := range cells {
			cells[j] = shown(c)
		}
		lines[i] = strings.Join(cells, "\t")
	}
	return strings.Join(lines, "\n")
}

// shortHash is the first 12 digits of a hash the server returned, as
// text; a shorter one (a server answering in another form) whole.
func shortHash(h string) string { return shown(short12(h)) }
