package catalog

import (
	"fmt"
	"strings"
)

// At returns "file:line" of a field of the resource at p (a path such as
// spec.constraints.sites or spec.pools[2].available), so that a message
// about the field can point at it rather than at the document's first
// line. A field the document does not hold, or a resource without its
// source text, gives the document's line. It parses the document again:
// callers that ask often should keep the answer.
func (p Position) At(field string) string {
	if p.File == "" {
		return p.String()
	}
	return fmt.Sprintf("%s:%d", p.File, p.lineFor(field))
}

// AtAll is At for several fields, parsing the document once.
func (p Position) AtAll(fields []string) map[string]string {
	out := make(map[string]string, len(fields))
	if p.File == "" {
		for _, f := range fields {
			out[f] = p.String()
		}
		return out
	}
	if lines, ok := p.noted(fields); ok {
		for i, f := range fields {
			out[f] = fmt.Sprintf("%s:%d", p.File, lines[i])
		}
		return out
	}
	root := p.root()
	for _, f := range fields {
		out[f] = fmt.Sprintf("%s:%d", p.File, p.lineIn(root, f))
	}
	return out
}

// noted answers lineFor from the paths noted at decoding, when there are
// some and every field is a plain key path: the deepest noted prefix of a
// field is its line, as lineIn finds it walking the tree.
func (p Position) noted(fields []string) ([]int, bool) {
	if p.src == nil || p.src.lines == nil {
		return nil, false
	}
	out := make([]int, len(fields))
	for i, f := range fields {
		if strings.ContainsAny(f, "[]") {
			return nil, false
		}
		out[i] = p.Line
		for path := f; path != ""; {
			if l, ok := p.src.lines[path]; ok {
				if l != 0 {
					out[i] = l
				}
				break
			}
			dot := strings.LastIndexByte(path, '.')
			if dot < 0 {
				break
			}
			path = path[:dot]
		}
	}
	return out, true
}
