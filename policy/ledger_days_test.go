package policy

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// ledgerPack is a user pack of one transfer rule with condition cond.
func ledgerPack(t *testing.T, cond string) *Engine {
	t.Helper()
	pack := strings.Replace(goodRule, "condition: site.country == 'SG'", "condition: \""+cond+"\"", 1)
	pack = strings.Replace(pack, "effect: deny", "scope: transfer\n    effect: deny", 1)
	pack = strings.Replace(pack, `message: "site {site.country}"`, "message: volume of {dataset.name}", 1)
	e, err := New(Options{NoBuiltin: true, Files: []File{{Name: "n.yaml", Data: []byte(pack)}}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAttackLedgerWindowDays: a rule reading a ledger total over a window
// that moves with asOf (since monthsBefore(asOf, 12), yearStart(asOf, 0)
// or asOf) changed its answer on the days an export left the window, and
// neither Dates nor QueryDates listed them: a controller re-checking a
// placed run on those days only passed over the day its 12-month total
// fell below the threshold. QueryDates now lists, from the ledger the
// query carries, the day each export leaves each such window, and the
// first day of each year for yearStart.
func TestAttackLedgerWindowDays(t *testing.T) {
	w := loadTestWorld(t)
	row := func(date string) ledgerRow {
		return ledgerRow{Org: "cn-lab", Dataset: "us-health-9999-a", Origin: "US", Class: "sensitive-personal", Subjects: 9999, Date: date, Within: true}
	}
	for _, c := range []struct {
		name, cond string
		ledger     ledgerRows
		from       string
		days       int
	}{
		{"12 months", "ledger.subjectsGiven('US', monthsBefore(asOf, 12), 'sensitive-personal') >= 15000", ledgerRows{row("2025-08-20")}, "2026-08-01", 40},
		{"12 months, a month's last day", "ledger.subjectsGiven('US', monthsBefore(asOf, 12), 'sensitive-personal') >= 15000", ledgerRows{row("2025-02-28")}, "2026-02-15", 40},
		{"12 months, negated", "!(ledger.subjectsGiven('US', monthsBefore(asOf, 12), 'sensitive-personal') < 15000)", ledgerRows{row("2025-09-03")}, "2026-08-25", 30},
		{"the day itself", "ledger.subjectsGiven('US', asOf, 'sensitive-personal') >= 15000", ledgerRows{row("2026-07-21")}, "2026-07-21", 5},
		{"the year", "ledger.subjectsGiven('US', yearStart(asOf, 0), 'sensitive-personal') >= 15000", ledgerRows{row("2026-03-01")}, "2026-12-20", 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := ledgerPack(t, c.cond)
			start := catalog.MustDate(c.from)
			query := func(day catalog.Date) Query {
				q := w.query(t, day.String(), "cn-lab", jobSpec{}, 0)
				q.Exports = c.ledger
				return q
			}
			listed := map[string]bool{}
			qd := e.QueryDates(query(start))
			for _, d := range MergeDates(e.Dates(), qd) {
				listed[d.String()] = true
			}
			if ld := e.ledgerDays(query(start)); len(ld) > 3 {
				t.Errorf("one export: %d days listed, want the day it leaves (or three 1 Januaries): %v", len(ld), ld)
			}
			day, prev, changes := start, false, 0
			for i := range c.days {
				d := e.EvaluateTransfer(query(day), w.datasets["us-health-9999-b"], "SG")
				denied := findRule(d.Denials, "r1") != nil
				if i > 0 && denied != prev {
					changes++
					if !listed[day.String()] {
						t.Errorf("the answer changes on %s, which neither Dates nor QueryDates lists", day)
					}
				}
				prev = denied
				day = catalog.Date{Time: day.AddDate(0, 0, 1)}
			}
			if changes == 0 {
				t.Errorf("the answer never changes from %s on; the case tests nothing", c.from)
			}
		})
	}
}

// TestLedgerWindowDaysFailClosed: where the days on which exports leave a
// window cannot be read (the ledger errs, or it holds more days of
// exports than maxLedgerReads can find), QueryDates lists every day from
// the first it could not list, up to LedgerDaysAhead.
func TestLedgerWindowDaysFailClosed(t *testing.T) {
	w := loadTestWorld(t)
	e := ledgerPack(t, "ledger.subjectsGiven('US', monthsBefore(asOf, 12), 'sensitive-personal') >= 15000")
	asOf := catalog.MustDate("2026-07-20")
	limit := catalog.Date{Time: asOf.Add(LedgerDaysAhead)}
	all := len(everyDay(asOf, limit))
	q := w.query(t, asOf.String(), "cn-lab", jobSpec{}, 0)
	q.Exports = failingExports{}
	if got := e.ledgerDays(q); len(got) != all || !got[0].After(asOf) || got[len(got)-1].After(limit) {
		t.Errorf("an unreadable ledger: %d days listed from %v, want every day to %s (%d)", len(got), got[:min(len(got), 3)], limit, all)
	}
	// An export every day of a year: more days than the reads can find.
	var rows ledgerRows
	for d := catalog.MustDate("2025-07-20"); d.Before(catalog.MustDate("2026-07-20")); d = (catalog.Date{Time: d.AddDate(0, 0, 1)}) {
		rows = append(rows, ledgerRow{Org: "cn-lab", Dataset: "us-health-9999-a", Origin: "US", Class: "sensitive-personal", Subjects: 9999, Date: d.String(), Within: true})
	}
	q.Exports = rows
	listed := map[string]bool{}
	got := e.ledgerDays(q)
	t.Logf("an export every day of a year: %d days listed", len(got))
	for _, d := range got {
		listed[d.String()] = true
	}
	for _, r := range rows {
		if d := leaveDay(catalog.MustDate(r.Date), 12); d.After(asOf) && !listed[d.String()] {
			t.Fatalf("the export of %s leaves the window on %s, not listed", r.Date, d)
		}
	}
	if len(got) > all {
		t.Errorf("%d days listed, more than every day to %s", len(got), limit)
	}
}
