package run

import (
	"fmt"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// BenchmarkMergeDuties is what a decision lawful on every day it now is
// pays for the other days' duties (mergeDuties), beside the law's own
// judgement of each day, which it does not add to: three days (10:00 to
// 12:00 UTC), each with the same 4 obligations and 3 advisories (the
// common case: nothing new, nothing allocated), and with one obligation
// more on the next day (a rule's eve).
func BenchmarkMergeDuties(b *testing.B) {
	findings := func(kind string, n int) []policy.Finding {
		out := make([]policy.Finding, n)
		for i := range out {
			out[i] = policy.Finding{Rule: fmt.Sprintf("rule-%s-%d", kind, i), Message: "a duty of some length, as the engine words it", Source: "a source"}
		}
		return out
	}
	day := func(s string) catalog.Date { return catalog.MustDate(s) }
	same := policy.Decision{Allowed: true, Obligations: findings("o", 4), Advisories: findings("a", 3)}
	more := same
	more.Obligations = append(findings("o", 4), policy.Finding{Rule: "rule-new", Message: "from tomorrow"})
	for _, c := range []struct {
		name string
		next policy.Decision
	}{{"same", same}, {"eve", more}} {
		b.Run(c.name, func(b *testing.B) {
			others := []dayDecision{{day: day("2026-06-09"), dec: same}, {day: day("2026-06-11"), dec: c.next}}
			b.ReportAllocs()
			for b.Loop() {
				mergeDuties(same, others, day("2026-06-10"))
			}
		})
	}
}
