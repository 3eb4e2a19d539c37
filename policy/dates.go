package policy

import (
	"sort"

	"meridian.dev/meridian/catalog"
)

// Dates returns, sorted and once each, every day on which the law the engine
// holds changes: a rule takes effect (effectiveFrom) or ends
// (effectiveUntil), an enforcement state begins, or a suspension lapses. A
// placement lawful today can only become unlawful on one of these days, so
// a controller that keeps runs lawful re-checks them on these days (and
// ahead of them), not every day.
func (e *Engine) Dates() []catalog.Date {
	seen := map[string]catalog.Date{}
	add := func(d catalog.Date) {
		if !d.IsZero() {
			seen[d.String()] = d
		}
	}
	for _, c := range e.rules {
		add(c.EffectiveFrom)
		add(c.EffectiveUntil)
		for _, s := range c.Enforcement {
			add(s.From)
			add(s.Until)
		}
	}
	out := make([]catalog.Date, 0, len(seen))
	for _, d := range seen {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
