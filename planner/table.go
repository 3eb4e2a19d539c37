package planner

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"

	"meridian.dev/meridian/internal/textfit"
)

// WriteTable prints the plan for people: the top placements, one histogram
// line of candidates and rejections, the cost of sovereignty, advisories
// and assumptions. top ≤ 0 prints every placement.
func WriteTable(w io.Writer, p *Plan, top int) error {
	return WriteTableWith(w, p, TableOptions{Top: top})
}

// TableOptions shape WriteTableWith's output.
type TableOptions struct {
	// Top is how many placements to print; 0 or less prints all.
	Top int
	// Width, when above 0, is the terminal's: the placements' text
	// columns (obligations, then site and accelerator) are cut to fit it.
	Width int
	// Wide adds columns: the price per accelerator-hour, the transfer
	// time and whether the site can run jobs (-o wide).
	Wide bool
	// Style dresses a padded cell of the placements table (colour): row 0
	// is the header.
	Style func(row, col int, padded string) string
}

// WriteTableWith is WriteTable with options.
func WriteTableWith(w io.Writer, p *Plan, o TableOptions) error {
	top := o.Top
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for %s as of %s, objective %s\n\n", p.Job, p.AsOf, p.Summary.Objective)
	if len(p.Placements) == 0 {
		b.WriteString("No lawful, feasible placement.\n")
	} else {
		// The LAWFUL UNTIL column shows only when a rule already loaded ends
		// a shown placement before its run would.
		n := len(p.Placements)
		if top > 0 && top < n {
			n = top
		}
		horizon := false
		for _, pl := range p.Placements[:n] {
			horizon = horizon || pl.LawfulUntil != nil
		}
		header := []string{"RANK", "SITE", "COUNTRY", "ACCELERATORS", "TIME", "COST", "DATA MOVED", "OBLIGATIONS"}
		if o.Wide {
			header = []string{"RANK", "SITE", "COUNTRY", "ACCELERATORS", "USD/H", "TIME", "TRANSFER", "COST", "DATA MOVED", "RUNS", "OBLIGATIONS"}
		}
		obligationsCol := len(header) - 1
		if horizon {
			header = append(header, "LAWFUL UNTIL")
		}
		rows := [][]string{header}
		shown := p.Placements[:n]
		front, notional, planning := 0, 0, 0
		for _, pl := range shown {
			rank := strconv.Itoa(pl.Rank)
			if pl.Pareto {
				rank += "*"
				front++
			}
			cost := dollarsRange(pl.CostUSD, pl.CostLowUSD, pl.CostHighUSD)
			price := strconv.FormatFloat(pl.PricePerHour, 'f', -1, 64)
			if pl.NotionalPrice {
				cost, price = "~"+cost, "~"+price
				notional++
			}
			runs := "yes"
			if !pl.Runnable {
				planning++
				runs = "no"
			}
			accs := pl.Accelerator + " × " + thousands(pl.Count)
			if o.Wide {
				rows = append(rows, []string{rank, pl.Site, pl.Country, accs, price, hoursRange(pl.Hours, pl.HoursLow, pl.HoursHigh),
					hours(pl.TransferHours), cost, movedBytes(pl.DataMoves), runs, obligations(pl)})
			} else {
				rows = append(rows, []string{rank, pl.Site, pl.Country, accs, hoursRange(pl.Hours, pl.HoursLow, pl.HoursHigh),
					cost, movedBytes(pl.DataMoves), obligations(pl)})
			}
			if horizon {
				until := "-"
				if pl.LawfulUntil != nil {
					until = fmt.Sprintf("%s (%s)", pl.LawfulUntil, pl.LawfulUntilRule)
				}
				rows[len(rows)-1] = append(rows[len(rows)-1], until)
			}
		}
		tb := textfit.Table{Rows: rows, Width: o.Width, Shrink: []int{obligationsCol, 1, 3}, Min: 12, Style: o.Style}
		b.WriteString(tb.String())
		if n < len(p.Placements) {
			fmt.Fprintf(&b, "… %s more placements (--top, -o json)\n", thousands(len(p.Placements)-n))
		}
		fmt.Fprintf(&b, "* on the Pareto front of cost against time: %s of the %s shown; %s of all %s feasible (site, pool, count) candidates\n",
			thousands(front), thousands(len(shown)), thousands(p.Summary.ParetoFront), thousands(p.Summary.Feasible))
		b.WriteString("Time and cost: central estimate (80 % interval)\n")
		if notional > 0 {
			b.WriteString("~ notional price: an allocation site is not rented; its price is an estimate of what the time is worth\n")
		}
		switch {
		case planning == len(shown):
			b.WriteString("None of these sites has a configured backend: they are for planning, and `meridian run` starts jobs only at sites a server's catalog configures\n")
		case planning > 0:
			fmt.Fprintf(&b, "%s of these sites have no configured backend (planning only); `meridian run` takes the best runnable placement\n", thousands(planning))
		}
	}
	b.WriteString("\n")
	b.WriteString(Histogram(p))
	b.WriteString("\n")
	if len(p.Placements) == 0 {
		if c := p.Summary.CheapestOverBudget; c != nil {
			fmt.Fprintf(&b, "Cheapest over the budget: %s at %s (%s), %s × %s, %s (at the job's confidence quantile)\n",
				dollars(c.CostUSD), c.Site, c.Country, c.Accelerator, thousands(c.Count), hours(c.Hours))
		}
		if c := p.Summary.FastestPastDeadline; c != nil {
			fmt.Fprintf(&b, "Fastest past the deadline: %s at %s (%s), %s × %s, %s (at the job's confidence quantile)\n",
				hours(c.Hours), c.Site, c.Country, c.Accelerator, thousands(c.Count), dollars(c.CostUSD))
		}
	}
	if s := p.Summary.CostOfSovereignty; s != nil {
		b.WriteString(sovereigntyLine(s))
	}
	if adv := advisories(p, top); len(adv) > 0 {
		b.WriteString("\nAdvisories:\n")
		for _, a := range adv {
			fmt.Fprintf(&b, "  %s\n", a)
		}
	}
	if len(p.Assumptions) > 0 {
		b.WriteString("\nAssumptions:\n")
		est := 0
		for _, a := range p.Assumptions {
			if strings.HasPrefix(a, estimatePrefix) {
				est++
				continue
			}
			fmt.Fprintf(&b, "  %s\n", a)
		}
		if est > 0 {
			fmt.Fprintf(&b, "  the estimate of rank 1 rests on %d stated assumptions (-o json lists them)\n", est)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Histogram is one line in the manner of the Kubernetes scheduler: how many
// candidates are feasible, and how many each kind rejected, law broken down
// by rule.
func Histogram(p *Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s of %s candidates feasible", thousands(p.Summary.Feasible), thousands(p.Summary.Candidates))
	sep := "; rejected for "
	for _, k := range Kinds {
		n := p.Summary.RejectedByKind[string(k)]
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s%s: %s", sep, k, thousands(n))
		sep = "; "
		if k == KindLaw && len(p.Summary.RejectedByRule) > 0 {
			type rc struct {
				rule string
				n    int
			}
			var rules []rc
			for r, n := range p.Summary.RejectedByRule {
				rules = append(rules, rc{r, n})
			}
			sort.Slice(rules, func(i, j int) bool {
				if rules[i].n != rules[j].n {
					return rules[i].n > rules[j].n
				}
				return rules[i].rule < rules[j].rule
			})
			parts := make([]string, len(rules))
			for i, r := range rules {
				parts[i] = thousands(r.n) + " " + r.rule
			}
			fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
		}
	}
	return b.String()
}

func sovereigntyLine(s *Sovereignty) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Cost of sovereignty (%s): ", strings.Join(s.Constraints, ", "))
	choice := func(c *Choice) string {
		return fmt.Sprintf("%s (%s) %s × %s, %s, %s", c.Site, c.Country, c.Accelerator, thousands(c.Count), hours(c.Hours), dollars(c.CostUSD))
	}
	switch {
	case s.With == nil && s.Without == nil:
		b.WriteString("no lawful placement with or without them\n")
	case s.With == nil:
		fmt.Fprintf(&b, "no placement with them; best without them %s\n", choice(s.Without))
	case s.Without == nil:
		b.WriteString("no lawful placement without them to compare\n")
	default:
		fmt.Fprintf(&b, "%s and %s against the best without them, %s\n",
			signedDollars(*s.ExtraCostUSD), signedHours(*s.ExtraHours), choice(s.Without))
	}
	return b.String()
}

// advisories lists each advisory rule of the shown placements once, with
// how many of them it concerns and its first message (messages differ
// only in the site and chip they name).
func advisories(p *Plan, top int) []string {
	shown := p.Placements
	if top > 0 && top < len(shown) {
		shown = shown[:top]
	}
	type entry struct {
		n    int
		line string
	}
	byRule := map[string]*entry{}
	for _, pl := range shown {
		seen := map[string]bool{}
		for _, a := range pl.Advisories {
			if seen[a.Rule] {
				continue
			}
			seen[a.Rule] = true
			e := byRule[a.Rule]
			if e == nil {
				msg := strings.TrimPrefix(a.Message, a.Rule+": ")
				if a.Source != "" && !strings.Contains(msg, "(source:") {
					msg += " (source: " + a.Source + ")"
				}
				e = &entry{line: msg}
				byRule[a.Rule] = e
			}
			e.n++
		}
	}
	rules := make([]string, 0, len(byRule))
	for r := range byRule {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	out := make([]string, len(rules))
	for i, r := range rules {
		e := byRule[r]
		if e.n == 1 {
			out[i] = fmt.Sprintf("%s: %s", r, e.line)
		} else {
			out[i] = fmt.Sprintf("%s (%d of the placements above), e.g.: %s", r, e.n, e.line)
		}
	}
	return out
}

func obligations(pl Placement) string {
	if len(pl.Obligations) == 0 {
		return "-"
	}
	ids := make([]string, len(pl.Obligations))
	for i, o := range pl.Obligations {
		ids[i] = o.Rule
	}
	return strings.Join(ids, ", ")
}

func movedBytes(ms []DataMove) string {
	var total float64
	for _, m := range ms {
		total += m.Bytes
	}
	return bytesSI(total)
}

// bytesSI prints a size in SI units, the one way sizes are written across
// Meridian's output (go-humanize): "200 MB", "2.5 TB".
func bytesSI(b float64) string {
	if b < 0 || b > math.MaxUint64/2 {
		return fmt.Sprintf("%g B", b)
	}
	return humanize.Bytes(uint64(b + 0.5))
}

// hoursRange prints hours with their interval in the central value's unit:
// "41.2 h (35.0–52.3)", "2.7 d (2.1–4.0)". When the interval is empty (an
// estimator without a spread) only the value is printed.
func hoursRange(h, lo, hi float64) string {
	if lo == hi {
		return hours(h)
	}
	if h >= 48 {
		return fixed(h/24, 1) + " d (" + fixed(lo/24, 1) + "–" + fixed(hi/24, 1) + ")"
	}
	return fixed(h, 1) + " h (" + fixed(lo, 1) + "–" + fixed(hi, 1) + ")"
}

// hoursInterval prints just an interval in the unit of h: "3.4–6.5 d".
func hoursInterval(h, lo, hi float64) string {
	if h >= 48 {
		return fixed(lo/24, 1) + "–" + fixed(hi/24, 1) + " d"
	}
	return fixed(lo, 1) + "–" + fixed(hi, 1) + " h"
}

// fixed is x with prec decimals, or in e-notation from 1e12 on: a time
// near the largest float (a job's assumptions allow one) printed with
// every digit took over 300 characters a cell.
func fixed(x float64, prec int) string {
	if math.Abs(x) < 1e12 {
		return strconv.FormatFloat(x, 'f', prec, 64)
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

// dollarsRange prints a cost with its interval: "$1,879 (1,506–2,654)".
func dollarsRange(x, lo, hi float64) string {
	if lo == hi {
		return dollars(x)
	}
	return dollars(x) + " (" + wholeDollars(lo) + "–" + wholeDollars(hi) + ")"
}

func hours(h float64) string { return hoursPrec(h, 1) }

// hoursPrec prints hours in days from 48 h, in minutes below 0.1 h (a
// value that rounds to "0.0 h" says nothing), with prec decimals.
func hoursPrec(h float64, prec int) string {
	switch {
	case h >= 48:
		return fixed(h/24, prec) + " d"
	case h > 0 && h*60 < 0.5 && prec <= 1:
		return "<1 min"
	case h > 0 && h < 0.1:
		return fmt.Sprintf("%.*f min", max(prec-1, 0), h*60)
	}
	return fixed(h, prec) + " h"
}

// hoursPair prints two durations that are compared (an estimate and a
// deadline) with as many decimals as it takes for unequal values to read
// unequal: not "0.2 h, past the deadline of 0.2 h".
func hoursPair(a, b float64) (string, string) {
	for prec := 1; ; prec++ {
		sa, sb := hoursPrec(a, prec), hoursPrec(b, prec)
		if sa != sb || a == b || prec >= 4 {
			return sa, sb
		}
	}
}

// dollarPair is hoursPair for money: cents when whole dollars read equal.
func dollarPair(a, b float64) (string, string) {
	sa, sb := dollars(a), dollars(b)
	if sa == sb && a != b {
		sa, sb = fmt.Sprintf("$%.2f", a), fmt.Sprintf("$%.2f", b)
	}
	return sa, sb
}

func signedHours(h float64) string {
	if h < 0 {
		return "-" + hours(-h)
	}
	return "+" + hours(h)
}

func dollars(x float64) string { return "$" + wholeDollars(x) }

// wholeDollars is x rounded to whole dollars with comma separators, or in
// e-notation where that would not fit an int (converting such a float to
// int gives a wrapped, negative number on common platforms).
func wholeDollars(x float64) string {
	if math.Abs(x) < 1e15 {
		return thousands(int(x + 0.5))
	}
	return strconv.FormatFloat(x, 'g', 4, 64)
}

func signedDollars(x float64) string {
	if x < 0 {
		return "-" + dollars(-x)
	}
	return "+" + dollars(x)
}

// thousands writes n with comma separators: 8214 → "8,214".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
