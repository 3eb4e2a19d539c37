package policy

import (
	"context"
	"slices"
	"time"

	celast "github.com/google/cel-go/common/ast"

	"meridian.dev/meridian/catalog"
)

// ledgerWindow is a ledger total a rule reads over a window that moves
// with asOf: its since is asOf, monthsBefore(asOf, N) or yearStart(asOf,
// N). The total changes on the days an export leaves the window, which
// no rule's text shows (QueryDates lists them).
type ledgerWindow struct {
	group, given bool
	// origin is the origin a literal names; with anyOrigin, the origin
	// is not a literal (originOfDataset: it is dataset.origin).
	origin                     string
	anyOrigin, originOfDataset bool
	// year: since is yearStart(asOf, N), which moves on 1 January only;
	// otherwise since is monthsBefore(asOf, months) (asOf itself: 0).
	year   bool
	months int
}

// ledgerWindows lists the ledger totals of a whose since moves with asOf.
// A since that does not read asOf is a fixed day: exports enter its
// window, none leaves. asOfDays refuses any other read of asOf.
func ledgerWindows(a *celast.AST) []ledgerWindow {
	var out []ledgerWindow
	isAsOf := func(x celast.Expr) bool { return x.Kind() == celast.IdentKind && x.AsIdent() == "asOf" }
	for _, n := range celast.MatchDescendants(celast.NavigateAST(a), func(n celast.NavigableExpr) bool {
		if n.Kind() != celast.CallKind {
			return false
		}
		c := n.AsCall()
		return c.IsMemberFunction() && isLedgerCount(c.FunctionName()) && len(c.Args()) >= 2
	}) {
		c := n.AsCall()
		w := ledgerWindow{group: c.FunctionName() == "groupSubjectsExported", given: c.FunctionName() == "subjectsGiven"}
		since := c.Args()[1]
		switch {
		case isAsOf(since):
		case since.Kind() == celast.CallKind && !since.AsCall().IsMemberFunction() && len(since.AsCall().Args()) == 2 && isAsOf(since.AsCall().Args()[0]):
			fn := since.AsCall().FunctionName()
			k, ok := int64(0), false
			if arg := since.AsCall().Args()[1]; arg.Kind() == celast.LiteralKind {
				k, ok = arg.AsLiteral().Value().(int64)
			}
			switch {
			case !ok:
				continue // refused by asOfDays
			case fn == "yearStart":
				w.year = true
			case fn == "monthsBefore" && k >= 0 && k <= 1200:
				w.months = int(k)
			default:
				continue
			}
		default:
			continue
		}
		switch o := c.Args()[0]; {
		case o.Kind() == celast.LiteralKind:
			s, ok := o.AsLiteral().Value().(string)
			w.origin, w.anyOrigin = s, !ok
		case o.Kind() == celast.SelectKind && o.AsSelect().FieldName() == "origin" &&
			o.AsSelect().Operand().Kind() == celast.IdentKind && o.AsSelect().Operand().AsIdent() == "dataset":
			w.anyOrigin, w.originOfDataset = true, true
		default:
			w.anyOrigin = true
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// LedgerDaysAhead is how far after a query's as-of date QueryDates lists
// the days on which an export leaves a ledger total's window: as far as
// the planner's and the controller's horizons look.
const LedgerDaysAhead = 3 * 366 * 24 * time.Hour

// maxLedgerReads bounds the reads of the query's ledger (Exports) that
// QueryDates makes to find the days on which its exports leave the
// rules' windows: it halves a window's days until each read that finds
// exports is one day, so k days with exports cost about 2k·log2(1,100/k)
// reads.
const maxLedgerReads = 128

// ledgerDays lists the days after q.AsOf, up to LedgerDaysAhead, on which
// a ledger total a rule reads can change as exports leave its window: 1
// January of each year for a window since yearStart(asOf, N); the day
// after each export leaves it for one since monthsBefore(asOf, N) or
// asOf, from the exports q.Exports reports. Where those cannot be read
// (the ledger errs, or more reads than maxLedgerReads would be needed) it
// fails closed: every day from the first it could not list.
func (e *Engine) ledgerDays(q Query) []catalog.Date {
	if len(e.ledgerWins) == 0 || q.AsOf.IsZero() {
		return nil
	}
	limit := catalog.Date{Time: q.AsOf.Add(LedgerDaysAhead)}
	var out []catalog.Date
	r := ledgerReader{q: q, left: maxLedgerReads}
	for _, w := range e.ledgerWins {
		if w.year {
			for y := q.AsOf.Year() + 1; ; y++ {
				d := catalog.Date{Time: time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)}
				if d.After(limit) {
					break
				}
				out = append(out, d)
			}
			continue
		}
		if q.Exports == nil || q.Org == nil {
			// Only the query's datasets count (without a ledger), or the
			// total fails closed (without an organisation).
			continue
		}
		orgs := []string{q.Org.Metadata.Name}
		if w.group {
			orgs = OrgGroup(q.Org, q.Organizations)
		}
		// An export of day t is in the window on day D while t is not
		// before monthsBefore(D, N): those that can leave by the limit
		// are of the days from today's window start to the limit's.
		from, err1 := catalog.ParseDate(monthsBefore(q.AsOf, w.months))
		end, err2 := catalog.ParseDate(monthsBefore(limit, w.months))
		if err1 != nil || err2 != nil {
			return append(out, everyDay(q.AsOf, limit)...)
		}
		to := catalog.Date{Time: end.AddDate(0, 0, -1)}
		for _, o := range ledgerOrigins(w, q) {
			unknown, ok := r.find(orgs, o, from, to)
			for _, t := range r.found {
				out = append(out, leaveDay(t, w.months))
			}
			r.found = r.found[:0]
			if !ok {
				first := leaveDay(unknown, w.months)
				if !first.After(q.AsOf) {
					first = catalog.Date{Time: q.AsOf.AddDate(0, 0, 1)}
				}
				return append(out, everyDay(catalog.Date{Time: first.AddDate(0, 0, -1)}, limit)...)
			}
		}
	}
	return out
}

// ledgerOrigins are the origins whose exports window w can count: the
// one it names, the query's datasets' for dataset.origin, or else every
// country of the query's table.
func ledgerOrigins(w ledgerWindow, q Query) []string {
	if !w.anyOrigin {
		return []string{w.origin}
	}
	var out []string
	for _, ds := range q.Datasets {
		if ds != nil && !slices.Contains(out, ds.Spec.Origin) {
			out = append(out, ds.Spec.Origin)
		}
	}
	if !w.originOfDataset {
		for c := range q.Countries {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// leaveDay is the first day on which an export of day t is out of a
// window since monthsBefore(asOf, months).
func leaveDay(t catalog.Date, months int) catalog.Date {
	if months == 0 {
		return catalog.Date{Time: t.AddDate(0, 0, 1)}
	}
	return firstDayOf(func(d time.Time) string { return monthsBefore(catalog.Date{Time: d}, months) }, t.String(), true)
}

// everyDay is every day after from up to limit.
func everyDay(from, limit catalog.Date) []catalog.Date {
	var out []catalog.Date
	for d := from.AddDate(0, 0, 1); !d.After(limit.Time); d = d.AddDate(0, 0, 1) {
		out = append(out, catalog.Date{Time: d})
	}
	return out
}

// ledgerReader finds the days with exports in the query's ledger, within
// a budget of reads.
type ledgerReader struct {
	q     Query
	left  int
	found []catalog.Date
}

// find adds to found, in order, the days from a to b on which the ledger
// holds an export from origin of one of orgs. It halves the days until a
// read that finds exports is one day. With false, it stopped (the budget
// spent, or a read failed) at unknown: the days before it are found.
func (r *ledgerReader) find(orgs []string, origin string, a, b catalog.Date) (unknown catalog.Date, ok bool) {
	if b.Before(a) {
		return catalog.Date{}, true
	}
	if r.left == 0 {
		return a, false
	}
	r.left--
	xs, err := r.q.Exports.Exported(context.Background(), r.q.Tenant, orgs, origin, a, b)
	if err != nil {
		return a, false
	}
	if len(xs) == 0 {
		return catalog.Date{}, true
	}
	if !b.After(a) {
		r.found = append(r.found, a)
		return catalog.Date{}, true
	}
	mid := catalog.Date{Time: a.AddDate(0, 0, int(b.Sub(a.Time).Hours()/24)/2)}
	if u, ok := r.find(orgs, origin, a, mid); !ok {
		return u, false
	}
	return r.find(orgs, origin, catalog.Date{Time: mid.AddDate(0, 0, 1)}, b)
}
