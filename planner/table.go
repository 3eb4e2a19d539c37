package planner

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the plan for people: the top placements, one histogram
// line of candidates and rejections, the cost of sovereignty, advisories
// and assumptions. top ≤ 0 prints every placement.
func WriteTable(w io.Writer, p *Plan, top int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan for %s as of %s, objective %s\n\n", p.Job, p.AsOf, p.Summary.Objective)
	if len(p.Placements) == 0 {
		b.WriteString("No lawful, feasible placement.\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		n := len(p.Placements)
		if top > 0 && top < n {
			n = top
		}
		// The LAWFUL UNTIL column shows only when a rule already loaded ends
		// a shown placement before its run would.
		horizon := false
		for _, pl := range p.Placements[:n] {
			horizon = horizon || pl.LawfulUntil != nil
		}
		head := "RANK\tSITE\tCOUNTRY\tACCELERATORS\tTIME\tCOST\tDATA MOVED\tOBLIGATIONS\t"
		if horizon {
			head += "LAWFUL UNTIL\t"
		}
		fmt.Fprintln(tw, head)
		for _, pl := range p.Placements[:n] {
			rank := strconv.Itoa(pl.Rank)
			if pl.Pareto {
				rank += "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s × %s\t%s\t%s\t%s\t%s\t", rank, pl.Site, pl.Country,
				pl.Accelerator, thousands(pl.Count), hoursRange(pl.Hours, pl.HoursLow, pl.HoursHigh),
				dollarsRange(pl.CostUSD, pl.CostLowUSD, pl.CostHighUSD), movedBytes(pl.DataMoves), obligations(pl))
			switch {
			case pl.LawfulUntil != nil:
				fmt.Fprintf(tw, "%s (%s)\t", pl.LawfulUntil, pl.LawfulUntilRule)
			case horizon:
				fmt.Fprint(tw, "-\t")
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
		if n < len(p.Placements) {
			fmt.Fprintf(&b, "… %d more placements (--top, -o json)\n", len(p.Placements)-n)
		}
		fmt.Fprintf(&b, "* on the Pareto front of cost against time (%s of %s feasible candidates are)\n",
			thousands(p.Summary.ParetoFront), thousands(p.Summary.Feasible))
		b.WriteString("Time and cost: central estimate (80 % interval)\n")
	}
	b.WriteString("\n")
	b.WriteString(Histogram(p))
	b.WriteString("\n")
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

func bytesSI(b float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// hoursRange prints hours with their interval in the central value's unit:
// "41.2 h (35.0–52.3)", "2.7 d (2.1–4.0)". When the interval is empty (an
// estimator without a spread) only the value is printed.
func hoursRange(h, lo, hi float64) string {
	if lo == hi {
		return hours(h)
	}
	if h >= 48 {
		return fmt.Sprintf("%.1f d (%.1f–%.1f)", h/24, lo/24, hi/24)
	}
	return fmt.Sprintf("%.1f h (%.1f–%.1f)", h, lo, hi)
}

// hoursInterval prints just an interval in the unit of h: "3.4–6.5 d".
func hoursInterval(h, lo, hi float64) string {
	if h >= 48 {
		return fmt.Sprintf("%.1f–%.1f d", lo/24, hi/24)
	}
	return fmt.Sprintf("%.1f–%.1f h", lo, hi)
}

// dollarsRange prints a cost with its interval: "$1,879 (1,506–2,654)".
func dollarsRange(x, lo, hi float64) string {
	if lo == hi {
		return dollars(x)
	}
	return dollars(x) + " (" + thousands(int(lo+0.5)) + "–" + thousands(int(hi+0.5)) + ")"
}

func hours(h float64) string {
	if h >= 48 {
		return fmt.Sprintf("%.1f d", h/24)
	}
	return fmt.Sprintf("%.1f h", h)
}

func signedHours(h float64) string {
	if h < 0 {
		return "-" + hours(-h)
	}
	return "+" + hours(h)
}

func dollars(x float64) string { return "$" + thousands(int(x+0.5)) }

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
