package policy

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
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
	// more and unchecked are set on the last problem of a list cut at
	// MaxProblems: the problems not listed, and the definitions and rules
	// not compiled.
	more, unchecked int
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

// Count is how many problems ps stands for: on a list cut at MaxProblems
// the last only counts the rest, and stands for those it counts, not for
// one more.
func (ps Problems) Count() int {
	n := len(ps)
	if n > 0 && (ps[n-1].more > 0 || ps[n-1].unchecked > 0) {
		return n - 1 + ps[n-1].more
	}
	return n
}

// Error lists the problems one per line, in file and line order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sorted orders problems by file and line, keeping the order of the
// problems found on one line, and the one saying how many more were not
// listed last.
func (ps Problems) sorted() Problems {
	out := append(Problems(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool {
		if si, sj := out[i].summary(), out[j].summary(); si || sj {
			return !si && sj
		}
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

func (p Problem) summary() bool { return p.more > 0 || p.unchecked > 0 }

// MaxProblems bounds the problems one load (or one rule file read on its
// own) reports: a rules text of 20,000 broken rules made 20,000 problems,
// each with its message, before any caller could cut the list. Past the
// first MaxProblems-1 found the rest are counted, not built, and the last
// problem says how many more there were; once the list is full the
// conditions not yet compiled are not compiled (the load fails anyway),
// and the last problem says so.
const MaxProblems = 100

// maxProblemText bounds the bytes of a problem's message and of the rule
// it names: a message quotes what it found (a kind, a name, a word, a
// CEL error and its line), and those are as long as the file lets them.
const maxProblemText = 1024

// clipText cuts s to at most max bytes, keeping its start and end and
// saying how much was cut, on rune boundaries.
func clipText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := (max - 40) / 2
	head, tail := s[:keep], s[len(s)-keep:]
	for len(head) > 0 && !utf8.RuneStart(s[len(head)]) {
		head = head[:len(head)-1]
	}
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return fmt.Sprintf("%s … (%d bytes cut) … %s", head, len(s)-len(head)-len(tail), tail)
}

// problemList collects the problems of a load up to MaxProblems.
type problemList struct {
	ps Problems
	// more counts the problems found and not kept; unchecked the
	// definitions and rules not compiled once the list was full.
	more, unchecked int
}

// full reports whether a problem found now would only be counted. A
// caller that finds one then calls skip instead of building it.
func (l *problemList) full() bool { return len(l.ps) >= MaxProblems }

// skip counts a problem not built.
func (l *problemList) skip() { l.more++ }

// add keeps p, its message and rule cut to maxProblemText, or counts it
// when the list is full. A summary problem (from a list of its own) adds
// its counts.
func (l *problemList) add(p Problem) {
	if p.more > 0 || p.unchecked > 0 {
		l.more += p.more
		l.unchecked += p.unchecked
		return
	}
	if l.full() {
		l.more++
		return
	}
	p.Message = clipText(p.Message, maxProblemText)
	p.Rule = clipText(p.Rule, maxProblemText)
	p.File = clipText(p.File, maxProblemText)
	l.ps = append(l.ps, p)
}

// addAll adds each of ps.
func (l *problemList) addAll(ps Problems) {
	for _, p := range ps {
		l.add(p)
	}
}

// list is the problems kept, at most MaxProblems: when any were counted
// and not kept, or left unchecked, the last says how many.
func (l *problemList) list() Problems {
	if l.more == 0 && l.unchecked == 0 {
		return l.ps
	}
	ps, more := l.ps, l.more
	if len(ps) >= MaxProblems {
		ps, more = ps[:MaxProblems-1], more+len(ps)-(MaxProblems-1)
	}
	msg := fmt.Sprintf("%d more problems not listed (at most %d are)", more, MaxProblems-1)
	if l.unchecked > 0 {
		msg += fmt.Sprintf("; checking stopped there: %d definitions and rules were not compiled", l.unchecked)
	}
	return append(ps[:len(ps):len(ps)], Problem{File: "rule files", Message: msg + "; fix those above first", more: more, unchecked: l.unchecked})
}
