package planner

import (
	"fmt"
	"io"
	"meridian.dev/meridian/catalog"
	"strings"

	"meridian.dev/meridian/policy"
)

// Explanation is the whole story of one site in one plan: each pool, each
// count, each check and each rule with its source.
type Explanation struct {
	Site       string `json:"site"`
	Country    string `json:"country"`
	Operator   string `json:"operator"`
	OperatorHQ string `json:"operatorHeadquarters"`
	Source     string `json:"source"`
	// Excluded is true when the caller excluded the site (a lost site).
	Excluded bool   `json:"excluded,omitempty"`
	Steps    []Step `json:"steps"`
	// Horizons are the site's placements that a rule already loaded makes
	// unlawful before the run would end (Placement.LawfulUntil).
	Horizons []Horizon `json:"horizons,omitempty"`
}

// Horizon is the day a placement stops being lawful, and the rule.
type Horizon struct {
	Pool        int          `json:"pool"`
	Accelerator string       `json:"accelerator"`
	Count       int          `json:"count"`
	LawfulUntil catalog.Date `json:"lawfulUntil"`
	Rule        string       `json:"rule"`
}

// Step is one check on one pool (Count 0) or one count of a pool.
type Step struct {
	Pool        int              `json:"pool"`
	Accelerator string           `json:"accelerator"`
	Count       int              `json:"count,omitempty"`
	Check       string           `json:"check"`
	Passed      bool             `json:"passed"`
	Detail      string           `json:"detail,omitempty"`
	Findings    []policy.Finding `json:"findings,omitempty"`
}

func (ps *pass) tracing(c *candidate) bool {
	return ps.trace != nil && c.site.Metadata.Name == ps.explain
}

// step records one pool-level check for --explain; it does nothing for
// other sites.
func (ps *pass) step(c *candidate, count int, check string, passed bool, detail string, findings []policy.Finding) {
	if !ps.tracing(c) {
		return
	}
	ps.trace.Steps = append(ps.trace.Steps, Step{Pool: c.index, Accelerator: c.pool.Accelerator, Count: count,
		Check: check, Passed: passed, Detail: detail, Findings: findings})
}

// WriteExplanation prints e for people.
func WriteExplanation(w io.Writer, e *Explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Site %s (%s), operator %s (HQ %s), from %s\n", e.Site, e.Country, e.Operator, e.OperatorHQ, e.Source)
	if e.Excluded {
		b.WriteString("  excluded from this plan by the caller (site lost or withdrawn)\n")
	}
	lastPool := -1
	for _, s := range e.Steps {
		if s.Pool != lastPool {
			fmt.Fprintf(&b, "  pool %d: %s\n", s.Pool, s.Accelerator)
			lastPool = s.Pool
		}
		verdict := "ok"
		if !s.Passed {
			verdict = "REJECTED"
		}
		where := ""
		if s.Count > 0 {
			where = "× " + thousands(s.Count)
		}
		fmt.Fprintf(&b, "    %-8s %-10s %-8s %s\n", where, s.Check, verdict, s.Detail)
		for _, f := range s.Findings {
			eff := string(f.Effect)
			if eff == "" {
				eff = f.Kind
			}
			fmt.Fprintf(&b, "        %s [%s] %s\n", f.Rule, eff, FindingMessage(f))
			if f.Source != "" {
				fmt.Fprintf(&b, "          source: %s\n", f.Source)
			}
			if eff := f.Effective(); eff != "" {
				fmt.Fprintf(&b, "          %s\n", eff)
			}
		}
	}
	if len(e.Steps) == 0 && !e.Excluded {
		b.WriteString("  no pools\n")
	}
	for _, h := range e.Horizons {
		fmt.Fprintf(&b, "  pool %d: %s × %s lawful only until %s (rule %s), before the run would end: ranked below placements that stay lawful\n",
			h.Pool, h.Accelerator, thousands(h.Count), h.LawfulUntil, h.Rule)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FindingMessage is a finding's message without the rule id and source a
// line prints beside it (policy.Finding.Text).
func FindingMessage(f policy.Finding) string { return f.Text() }
