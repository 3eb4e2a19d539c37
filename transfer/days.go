package transfer

import (
	"time"

	"meridian.dev/meridian/catalog"
)

// Time zones run from UTC-12 (the furthest west) to UTC+14 (the furthest
// east): at any instant the calendar dates in use somewhere on Earth are
// the UTC dates of the instant moved back 12 hours through moved on 14.
const (
	westmost = -12 * time.Hour
	eastmost = 14 * time.Hour
)

// Days is every calendar date the instant t falls on somewhere on Earth,
// oldest first: two dates, or three between 10:00 and 12:00 UTC. A rule
// whose day is among them is in force in some time zone at t. A decision
// taken at t (a transfer, a checkpoint's copy, an attempt's start) must be
// lawful on each: judged by the UTC date alone, a rule in force from D was
// not yet applied from 10:00 UTC on D-1, when D has begun east of UTC, and
// a rule that ends on D was lifted while D-1 still ran west of it.
func Days(t time.Time) []catalog.Date {
	first, last := dateOf(t.Add(westmost)), dateOf(t.Add(eastmost))
	out := []catalog.Date{first}
	for d := first.Time.AddDate(0, 0, 1); !d.After(last.Time); d = d.AddDate(0, 0, 1) {
		out = append(out, catalog.Date{Time: d})
	}
	return out
}

// Latest is the last date of Days(t): the newest day begun somewhere on
// Earth at t. A rule in force from a day after it is in force nowhere yet.
func Latest(t time.Time) catalog.Date { return dateOf(t.Add(eastmost)) }

// Today is the UTC date of t: the date a record of what happened at t
// (a ledger entry, an audit record) carries. It decides nothing: a
// decision is lawful on each of Days(t).
func Today(t time.Time) catalog.Date { return dateOf(t) }

// dateOf is the UTC date of t.
func dateOf(t time.Time) catalog.Date {
	d, _ := catalog.ParseDate(t.UTC().Format(catalog.DateLayout))
	return d
}
