package catalog

import "fmt"

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
