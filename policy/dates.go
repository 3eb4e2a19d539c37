package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/parser"

	"meridian.dev/meridian/catalog"
)

// Dates returns, sorted and once each, every day on which the law the engine
// holds changes: a rule takes effect (effectiveFrom) or ends
// (effectiveUntil), an enforcement state begins, or a suspension lapses. A
// placement lawful today can only become unlawful on one of these days or
// one of its query's (QueryDates), so a controller that keeps runs lawful
// re-checks them on these days (and ahead of them), not every day. A
// condition or definition that compares asOf (or a date computed from it)
// with a date changes its answer on that day or the next: both are listed
// (asOfDays), and one that reads asOf in a way whose days cannot be listed
// does not load.
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
//
// A rule that reads a ledger total over a window moving with asOf (since
// asOf, monthsBefore(asOf, N) or yearStart(asOf, N)) changes its answer
// as exports leave the window: those days are listed too (ledgerDays),
// from the ledger q.Exports reports, up to LedgerDaysAhead; where they
// cannot be read, every day from the first not known.
func (e *Engine) QueryDates(q Query) []catalog.Date {
	return MergeDates(e.licenceDates(q), e.ledgerDays(q))
}

// licenceDates is QueryDates without the ledger's days.
func (e *Engine) licenceDates(q Query) []catalog.Date {
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

// asOfDays lists the days on which an expression's answer can change
// because asOf does, or refuses the expression where it cannot list them.
// A rule that compared asOf with a date changed the law on a day Dates did
// not list, so a plan's horizon and a controller's re-checks passed over
// it, and a run that crossed the day stayed where the law no longer let
// it. Every read of asOf must be one of:
//
//   - a comparison with a string literal (asOf >= '2026-03-01', asOf <
//     '2027', asOf in ['2026-03-01']): the first day whose date is not
//     below the literal and the first above it (for a date, the date and
//     the day after);
//   - asOf.startsWith('2026-03'): the first day with the prefix and the
//     first after the days that have it (the month's first day and the
//     next month's);
//   - monthsBefore(asOf, N) or yearStart(asOf, N), N an integer literal in
//     the function's range, compared so with a string literal: the first
//     days on which the computed date reaches and passes the literal (both
//     only grow with asOf);
//   - the since of a ledger total (ledger.subjectsExported('CN',
//     yearStart(asOf, 0)), also monthsBefore(asOf, N) or asOf itself): the
//     total changes as exports leave the window, on days the ledger
//     holds, not the law: QueryDates lists them (ledgerDays).
//
// Anything else (asOf in arithmetic or concatenation, compared with a fact
// or a computed value, passed to another function, given a definition's
// value, chosen by a conditional, put in a list) changes its answer on
// days no rule's text shows, and is refused with the step that reads it.
func asOfDays(a *celast.AST) ([]catalog.Date, error) {
	var out []catalog.Date
	info := a.SourceInfo()
	text := func(e celast.Expr) string {
		if s, err := parser.Unparse(e, info); err == nil {
			return s
		}
		return "an expression"
	}
	where := func(e celast.Expr) string {
		if loc := info.GetStartLocation(e.ID()); loc.Line() > 0 {
			return fmt.Sprintf(" at line %d, column %d of the expression", loc.Line(), loc.Column()+1)
		}
		return ""
	}
	refuse := func(e celast.Expr, why string) error {
		return fmt.Errorf("reads asOf in %q%s, %s: the answer would change on days the law's dates do not list, so re-checks of placed runs would pass over them; compare asOf, monthsBefore(asOf, N) or yearStart(asOf, N) with a date literal, or use asOf.startsWith('literal')", text(e), where(e), why)
	}
	// compared lists the days on which f(asOf), which only grows with
	// asOf, compared by parent with a string literal, can change; f(asOf)
	// is the expression e.
	compared := func(e, parent celast.NavigableExpr, f func(time.Time) string) error {
		if parent == nil || parent.Kind() != celast.CallKind {
			return refuse(e, "which is neither compared with a string literal nor the since of a ledger total")
		}
		call := parent.AsCall()
		args := call.Args()
		lit := func(x celast.Expr) (string, bool) {
			if x.Kind() != celast.LiteralKind {
				return "", false
			}
			s, ok := x.AsLiteral().Value().(string)
			return s, ok
		}
		switch {
		case !call.IsMemberFunction() && len(args) == 2 && comparisons[call.FunctionName()]:
			other := args[0]
			if other.ID() == e.ID() {
				other = args[1]
			}
			s, ok := lit(other)
			if !ok {
				return refuse(parent, "which compares it with something other than a string literal")
			}
			out = append(out, firstDayOf(f, s, false), firstDayOf(f, s, true))
			return nil
		case !call.IsMemberFunction() && len(args) == 2 && call.FunctionName() == operators.In && args[0].ID() == e.ID():
			if args[1].Kind() != celast.ListKind {
				return refuse(parent, "which looks it up in something other than a list of string literals")
			}
			for _, el := range args[1].AsList().Elements() {
				s, ok := lit(el)
				if !ok {
					return refuse(parent, "which looks it up in a list with something other than a string literal")
				}
				out = append(out, firstDayOf(f, s, false), firstDayOf(f, s, true))
			}
			return nil
		case call.IsMemberFunction() && isLedgerCount(call.FunctionName()) && len(args) >= 2 && args[1].ID() == e.ID():
			return nil
		}
		return refuse(parent, "which is neither compared with a string literal nor the since of a ledger total")
	}
	day := func(t time.Time) string { return t.Format(catalog.DateLayout) }
	for _, n := range celast.MatchDescendants(celast.NavigateAST(a), func(n celast.NavigableExpr) bool {
		return n.Kind() == celast.IdentKind && n.AsIdent() == "asOf"
	}) {
		parent, ok := n.Parent()
		if !ok {
			return nil, refuse(n, "as the expression's whole value")
		}
		var err error
		call := parent.AsCall()
		switch {
		case parent.Kind() != celast.CallKind:
			err = refuse(parent, "which is not a comparison")
		case call.IsMemberFunction() && call.Target().ID() == n.ID():
			if call.FunctionName() != overloads.StartsWith || len(call.Args()) != 1 || call.Args()[0].Kind() != celast.LiteralKind {
				err = refuse(parent, "which calls "+call.FunctionName()+" on it; only startsWith with a string literal is read")
				break
			}
			p, ok := call.Args()[0].AsLiteral().Value().(string)
			if !ok {
				err = refuse(parent, "which calls startsWith with something other than a string literal")
				break
			}
			out = append(out, prefixDays(p)...)
		case !call.IsMemberFunction() && (call.FunctionName() == "monthsBefore" || call.FunctionName() == "yearStart") && len(call.Args()) == 2 && call.Args()[0].ID() == n.ID():
			fn := call.FunctionName()
			arg := call.Args()[1]
			k, ok := int64(0), false
			if arg.Kind() == celast.LiteralKind {
				k, ok = arg.AsLiteral().Value().(int64)
			}
			lo, hi := int64(0), int64(1200)
			if fn == "yearStart" {
				lo, hi = -100, 100
			}
			if !ok || k < lo || k > hi {
				err = refuse(parent, fmt.Sprintf("whose second argument is not an integer literal from %d to %d", lo, hi))
				break
			}
			f := func(t time.Time) string { return monthsBefore(catalog.Date{Time: t}, int(k)) }
			if fn == "yearStart" {
				f = func(t time.Time) string { return fmt.Sprintf("%04d-01-01", t.Year()+int(k)) }
			}
			grand, _ := parent.Parent()
			err = compared(parent, grand, f)
		default:
			err = compared(n, parent, day)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prefixDays lists the days on which asOf.startsWith(p) can change: the
// first day whose date has the prefix (dates with a prefix are one run of
// days, as they sort as strings as they do in time) and the first after
// them.
func prefixDays(p string) []catalog.Date {
	first := firstDayOf(func(t time.Time) string { return t.Format(catalog.DateLayout) }, p, false)
	after := searchDays(func(t time.Time) bool {
		s := t.Format(catalog.DateLayout)
		return s >= p && !strings.HasPrefix(s, p)
	})
	return []catalog.Date{first, after}
}

// firstDayOf is the first day from catalog.MinDateYear to MaxDateYear on
// which f, which only grows with the day, gives a string not below lit
// (above it, with above), or the zero Date (which MergeDates drops) when
// there is none.
func firstDayOf(f func(time.Time) string, lit string, above bool) catalog.Date {
	return searchDays(func(t time.Time) bool {
		s := f(t)
		return s > lit || (!above && s == lit)
	})
}

// searchDays is the first day from catalog.MinDateYear to MaxDateYear for
// which ok, false up to some day and true from it on, holds; the zero
// Date when there is none.
func searchDays(ok func(time.Time) bool) catalog.Date {
	first := time.Date(catalog.MinDateYear, 1, 1, 0, 0, 0, 0, time.UTC)
	n := int(time.Date(catalog.MaxDateYear+1, 1, 1, 0, 0, 0, 0, time.UTC).Sub(first).Hours() / 24)
	i := sort.Search(n, func(i int) bool { return ok(first.AddDate(0, 0, i)) })
	if i == n {
		return catalog.Date{}
	}
	return catalog.Date{Time: first.AddDate(0, 0, i)}
}
