package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// template is a message with its {var.field} and {asOf} placeholders
// found once: lits[i] comes before phs[i], and lits has one more entry.
type template struct {
	lits []string
	phs  []placeholderRef
}

type placeholderRef struct{ v, field, raw string }

func parseTemplate(tmpl string) template {
	var t template
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(tmpl, -1) {
		t.lits = append(t.lits, tmpl[last:m[0]])
		p := placeholderRef{v: tmpl[m[2]:m[3]], raw: tmpl[m[0]:m[1]]}
		if m[4] >= 0 {
			p.field = tmpl[m[4]:m[5]]
		}
		t.phs = append(t.phs, p)
		last = m[1]
	}
	t.lits = append(t.lits, tmpl[last:])
	return t
}

// fill renders the template from the activation.
func (t template) fill(act interpreter.Activation) string {
	if len(t.phs) == 0 {
		return t.lits[0]
	}
	var b strings.Builder
	for i, p := range t.phs {
		b.WriteString(t.lits[i])
		b.WriteString(p.value(act))
	}
	b.WriteString(t.lits[len(t.phs)])
	return b.String()
}

func (p placeholderRef) value(act interpreter.Activation) string {
	v, ok := act.ResolveName(p.v)
	if !ok {
		return "<unknown " + strings.Trim(p.raw, "{}") + ">"
	}
	if p.field == "" {
		return fmt.Sprint(native(v))
	}
	mp, _ := v.(facts)
	x, ok := mp[p.field]
	if rv, isVal := x.(ref.Val); !ok || isVal && types.IsError(rv) { // failedDef
		return "<unknown " + strings.Trim(p.raw, "{}") + ">"
	}
	return formatValue(x)
}

func formatValue(x any) string {
	switch v := x.(type) {
	case types.String: // a converted fact (celFacts), without boxing its Go value
		return string(v)
	case types.Double:
		return strconv.FormatFloat(float64(v), 'g', -1, 64)
	}
	switch v := native(x).(type) {
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []string:
		if len(v) == 0 {
			return "none"
		}
		return strings.Join(v, ", ")
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return strings.Join(parts, ", ")
	default:
		return fmt.Sprint(v)
	}
}
