package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/textsafe"
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
	if a, isCand := act.(*candAct); isCand && a.others != "" {
		if shown, hide := a.hidden(p, x); hide {
			return shown
		}
	}
	return formatValue(x)
}

// hidden is what a message shows in place of a placeholder's value x
// when the pool is another tenant's organisation's (candAct.others), and
// whether it shows that: the owner's name, the pool's owner, and a
// definition that reads them (its value may hold the name, changed as
// the expression likes) unless it is a number or true or false. The
// rules read the real values; only what the tenant is shown changes.
func (a *candAct) hidden(p placeholderRef, x any) (string, bool) {
	switch p.v + "." + p.field {
	case "owner.name":
		return catalog.OtherTenantsOrg, true
	case "pool.owner":
		return catalog.OwnerOrgPrefix + catalog.OtherTenantsOrg, true
	}
	if p.v != "def" {
		return "", false
	}
	for _, d := range a.s.e.defs {
		if d.Name != p.field || d.dims&dimOwner == 0 {
			continue
		}
		switch native(x).(type) {
		case bool, float64, int64, uint64:
			return "", false
		}
		return catalog.OtherTenantsOrg, true
	}
	return "", false
}

func formatValue(x any) string {
	switch v := x.(type) {
	case types.String: // a converted fact (celFacts), without boxing its Go value
		return shownText(string(v))
	case types.Double:
		return strconv.FormatFloat(float64(v), 'g', -1, 64)
	}
	switch v := native(x).(type) {
	case string:
		return shownText(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []string:
		if len(v) == 0 {
			return "none"
		}
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = shownText(e)
		}
		return strings.Join(parts, ", ")
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return strings.Join(parts, ", ")
	default:
		return shownText(fmt.Sprint(v))
	}
}

// shownText is a fact's text as a message shows it: as it is, or quoted
// (Go's syntax) when it holds a control, bidirectional-formatting or
// line-separator character or is not UTF-8. Messages are printed to
// terminals and kept in logs and the audit trail, and the facts they show
// are a tenant's or a site's to write: an escape sequence or a line break
// in a job's or a site's name went into them as it was, to rewrite what
// the person reading saw or forge a line. The catalog refuses such text;
// the engine does not rely on its facts having come through it.
func shownText(s string) string { return textsafe.Quote(s) }
