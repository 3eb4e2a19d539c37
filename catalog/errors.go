package catalog

import (
	"fmt"
	"sort"
	"strings"

	"meridian.dev/meridian/internal/textsafe"
)

// FieldError is one problem with one field of one resource, located by file
// and line. Field is the path inside the document, e.g. spec.pools[0].count.
type FieldError struct {
	File     string
	Line     int
	Resource string // "Site/my-johor-1"
	Field    string
	Msg      string
	Accepted []string
	// more, when not 0, makes this the entry that stands for that many
	// problems of File not shown (MaxProblemsPerFile).
	more int
	// omitted, when not 0, makes this the entry that stands for that many
	// problems of Resource not shown (MaxErrorsPerResource).
	omitted int
}

// MaxProblemsPerFile bounds the problems reported for one file: the first
// ones (by line) are listed, the rest counted in one last entry. A file of
// 100,000 broken documents would otherwise be answered with 100,000 lines,
// each built and kept, to say the same thing again.
const MaxProblemsPerFile = 100

// moreProblems is the entry that counts n problems of file not shown.
func moreProblems(file string, n int) *FieldError {
	return &FieldError{File: file, Msg: fmt.Sprintf("%d more problems not shown (at most %d are listed per file); fix those above first", n, MaxProblemsPerFile), more: n}
}

// maxAcceptedShown bounds the accepted values printed in one error: enough
// for every accelerator id, fewer than the country codes.
const maxAcceptedShown = 40

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(clean(e.File))
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Resource != "" {
		b.WriteString(clean(e.Resource))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(clean(e.Field))
		b.WriteString(": ")
	}
	// The message quotes what it is about itself; a character of it that
	// may not be shown (textsafe.Unsafe) is a space, and a byte that is not
	// UTF-8 is U+FFFD.
	b.WriteString(strings.Map(func(r rune) rune {
		if textsafe.Unsafe(r) {
			return ' '
		}
		return r
	}, e.Msg))
	if len(e.Accepted) > 0 {
		shown := e.Accepted
		if len(shown) > maxAcceptedShown {
			shown = shown[:maxAcceptedShown]
		}
		b.WriteString(" (accepted: ")
		for i, a := range shown {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(clean(a))
		}
		if n := len(e.Accepted) - len(shown); n > 0 {
			fmt.Fprintf(&b, ", … %d more", n)
		}
		b.WriteString(")")
	}
	return b.String()
}

// clean returns s, quoted when it holds what may not be shown as itself
// (textsafe.Quote): a name read from a block scalar can hold a newline,
// and one error stays one line; a bidirectional override in a name would
// show the rest of the error in another order than it is.
func clean(s string) string {
	return textsafe.Quote(s)
}

// Errors is a list of field errors, reported together so that a user can fix
// a file in one pass.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors of the list, so that errors.As finds a
// *FieldError inside it.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortErrors orders errors by file, line and field so output is deterministic.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
		}
		if (es[i].more > 0) != (es[j].more > 0) {
			return es[j].more > 0 // the count of the rest comes last
		}
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Field < es[j].Field
	})
}

// errOrNil returns nil for an empty list, so callers can write `return errs.errOrNil()`.
func (es Errors) errOrNil() error {
	if len(es) == 0 {
		return nil
	}
	sortErrors(es)
	return capPerFile(es)
}

// capPerFile keeps the first MaxProblemsPerFile problems of each file of
// the sorted list es and counts the rest in one entry after them (adding
// the counts of such entries already in es). A resource's count of its
// problems not shown is kept where one of its problems is, and counted
// with the rest where none is.
func capPerFile(es Errors) Errors {
	out := es[:0]
	for i := 0; i < len(es); {
		j := i
		for j < len(es) && es[j].File == es[i].File {
			j++
		}
		file, group := es[i].File, es[i:j]
		shown, hidden := map[string]bool{}, 0
		n := 0
		for _, e := range group {
			if e.more == 0 && e.omitted == 0 && n < MaxProblemsPerFile {
				shown[e.Resource] = true
				n++
			}
		}
		n = 0
		for _, e := range group {
			switch {
			case e.more > 0:
				hidden += e.more
			case e.omitted > 0:
				if shown[e.Resource] {
					out = append(out, e)
				} else {
					hidden += e.omitted
				}
			case n < MaxProblemsPerFile:
				out = append(out, e)
				n++
			default:
				hidden++
			}
		}
		if hidden > 0 {
			out = append(out, moreProblems(file, hidden))
		}
		i = j
	}
	clear(es[len(out):]) // the problems not shown are not kept
	return out
}
