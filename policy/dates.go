package policy

import (
	"sort"
	"time"

	celast "github.com/google/cel-go/common/ast"

	"meridian.dev/meridian/catalog"
)

// Dates returns, sorted and once each, every day on which the law the engine
// holds changes: a rule takes effect (effectiveFrom) or ends
// (effectiveUntil), an enforcement state begins, or a suspension lapses. A
// placement lawful today can only become unlawful on one of these days or
// one of its query's (QueryDates), so a controller that keeps runs lawful
// re-checks them on these days (and ahead of them), not every day. A
// condition or definition that compares asOf with a date changes its
// answer on that day or the next: both are listed (asOfDays).
func (e *Engine) Dates() []catalog.Date {
	all := append([]catalog.Date{}, e.asOfDays...)
	for _, c := range e.rules {
		all = append(all, c.EffectiveFrom, c.EffectiveUntil)
		for _, s := range c.Enforcement {
			all = append(all, s.From, s.Until)
		}
	}
	return MergeDates(all)
}

// QueryDates returns, sorted and once each, the days on which the law's
// answer to q can change though no rule's dates do: the day after each of
// the organisation's licences expires (a licence lifts a denial through its
// expiry day, and the denial returns the day after), and the day each
// adequacy decision of the country table lapses. A horizon looks at these
// days as well as the engine's Dates.
func QueryDates(q Query) []catalog.Date {
	return queryDates(q, nil)
}

// QueryDates is the package's QueryDates with only the licence days that
// can change this engine's answers. When no rule or definition reads the
// organisation's licences (org.licences, or owner.licences for a pool it
// owns), a licence changes an answer only by lifting a rule's denial, and
// only on the day after the last licence of that rule ends (none while
// one of them has no expiry): one day for each rule a licence lifts, not
// one for each licence. A horizon opens a session and judges every
// placement again for each day, and an organisation lists as many
// licences as the catalog holds, each naming any rule id and expiring on
// its own day: days that changed nothing cost that much.
func (e *Engine) QueryDates(q Query) []catalog.Date {
	reads := func(r map[string]bool) bool {
		return r["org.licences"] || r["org.*"] || r["owner.licences"] || r["owner.*"]
	}
	lifted := map[string]bool{}
	for _, c := range e.rules {
		if reads(c.reads) {
			return queryDates(q, nil)
		}
		if c.LiftedBy != nil && c.LiftedBy.Licence {
			lifted[c.ID] = true
		}
	}
	for _, d := range e.defs {
		if reads(d.reads) {
			return queryDates(q, nil)
		}
	}
	return queryDates(q, lifted)
}

// queryDates is QueryDates with, when lifted is not nil, the licences of
// those rules only, one day for each rule.
func queryDates(q Query, lifted map[string]bool) []catalog.Date {
	var out []catalog.Date
	if q.Org != nil {
		last, open := map[string]catalog.Date{}, map[string]bool{}
		for _, l := range q.Org.Spec.Licenses {
			switch {
			case lifted == nil:
				if !l.Expires.IsZero() {
					out = append(out, catalog.Date{Time: l.Expires.AddDate(0, 0, 1)})
				}
			case !lifted[l.Rule]:
			case l.Expires.IsZero():
				open[l.Rule] = true
			default:
				if d, ok := last[l.Rule]; !ok || d.Before(l.Expires) {
					last[l.Rule] = l.Expires
				}
			}
		}
		for rule, d := range last {
			if !open[rule] {
				out = append(out, catalog.Date{Time: d.AddDate(0, 0, 1)})
			}
		}
	}
	for _, c := range q.Countries {
		for _, a := range c.Adequacy {
			if !a.Until.IsZero() {
				out = append(out, a.Until)
			}
		}
	}
	return MergeDates(out)
}

// MergeDates returns the days of every list, sorted and once each.
func MergeDates(lists ...[]catalog.Date) []catalog.Date {
	seen := map[string]catalog.Date{}
	for _, l := range lists {
		for _, d := range l {
			if !d.IsZero() {
				seen[d.String()] = d
			}
		}
	}
	out := make([]catalog.Date, 0, len(seen))
	for _, d := range seen {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// asOfDays lists the days on which an expression's comparisons of asOf
// with a string literal (asOf >= '2026-03-01', asOf in ['2026-03-01'],
// asOf < '2027') can change their answer: the first day whose date is
// not below the literal and the first above it (for a date, the date and
// the day after). A rule that compared asOf with a date changed the law
// on a day Dates did not list, so a plan's horizon and a controller's
// re-checks passed over it, and a run that crossed the day stayed where
// the law no longer let it.
func asOfDays(root celast.Expr) []catalog.Date {
	var out []catalog.Date
	add := func(lit celast.Expr) {
		if lit.Kind() != celast.LiteralKind {
			return
		}
		if str, ok := lit.AsLiteral().Value().(string); ok {
			out = append(out, firstDay(str, false), firstDay(str, true))
		}
	}
	isAsOf := func(x celast.Expr) bool { return x.Kind() == celast.IdentKind && x.AsIdent() == "asOf" }
	celast.PostOrderVisit(root, celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() != celast.CallKind {
			return
		}
		call := x.AsCall()
		args := call.Args()
		if len(args) != 2 || call.IsMemberFunction() {
			return
		}
		switch {
		case comparisons[call.FunctionName()]:
			for i, a := range args {
				if isAsOf(a) {
					add(args[1-i])
				}
			}
		case call.FunctionName() == "@in" && isAsOf(args[0]) && args[1].Kind() == celast.ListKind:
			for _, el := range args[1].AsList().Elements() {
				add(el)
			}
		}
	}))
	return out
}

// firstDay is the first day from catalog.MinDateYear to MaxDateYear whose
// date, as asOf writes it, is not below lit (above it, with above), or
// the zero Date (which MergeDates drops) when there is none. Dates written
// YYYY-MM-DD sort as strings as they do in time, so the days compare with
// lit as their strings do in a condition.
func firstDay(lit string, above bool) catalog.Date {
	first := time.Date(catalog.MinDateYear, 1, 1, 0, 0, 0, 0, time.UTC)
	n := int(time.Date(catalog.MaxDateYear+1, 1, 1, 0, 0, 0, 0, time.UTC).Sub(first).Hours() / 24)
	i := sort.Search(n, func(i int) bool {
		s := first.AddDate(0, 0, i).Format(catalog.DateLayout)
		return s > lit || (!above && s == lit)
	})
	if i == n {
		return catalog.Date{}
	}
	return catalog.Date{Time: first.AddDate(0, 0, i)}
}
