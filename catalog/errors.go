package catalog

import (
	"fmt"
	"sort"
	"strings"
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
}

// maxAcceptedShown bounds the accepted values printed in one error: enough
// for every accelerator id, fewer than the country codes.
const maxAcceptedShown = 40

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Resource != "" {
		b.WriteString(e.Resource)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if len(e.Accepted) > 0 {
		b.WriteString(" (accepted: ")
		if len(e.Accepted) > maxAcceptedShown {
			b.WriteString(strings.Join(e.Accepted[:maxAcceptedShown], ", "))
			fmt.Fprintf(&b, ", … %d more", len(e.Accepted)-maxAcceptedShown)
		} else {
			b.WriteString(strings.Join(e.Accepted, ", "))
		}
		b.WriteString(")")
	}
	return b.String()
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

// sortErrors orders errors by file, line and field so output is deterministic.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
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
	return es
}
