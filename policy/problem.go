package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a rule file, found when it is loaded:
// the file, the line, the rule (or definition or threshold) and the field.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	// Rule names what the problem is in: a rule id, "definition NAME" or
	// "threshold NAME"; empty for the file as a whole.
	Rule string `json:"rule,omitempty"`
	// Field is the field within the rule (or the file), e.g. condition,
	// liftedBy.bases[1], metadata.name.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String writes the problem as FILE:LINE: rule "ID": FIELD: MESSAGE.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	switch {
	case strings.HasPrefix(p.Rule, "definition ") || strings.HasPrefix(p.Rule, "threshold "):
		b.WriteString(p.Rule + ": ")
	case p.Rule != "":
		fmt.Fprintf(&b, "rule %q: ", p.Rule)
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in one load. A load that finds any
// fails as a whole: no engine is built and nothing changes.
type Problems []Problem

// Error lists the problems one per line, in file and line order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sorted orders problems by file and line, keeping the order of the
// problems found on one line.
func (ps Problems) sorted() Problems {
	out := append(Problems(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}

// errOrNil returns the problems as an error, or nil when there are none.
func (ps Problems) errOrNil() error {
	if len(ps) == 0 {
		return nil
	}
	return ps.sorted()
}
