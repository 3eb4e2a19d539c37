package policy

import "fmt"

// deliveries evaluates the delivery-scope rules (where the trained weights
// may go) for each country of the job's weightsDelivery, once per session.
func (s *Session) deliveries() findings {
	var f findings
	if s.q.Job == nil {
		return f
	}
	for _, to := range s.q.Job.Spec.WeightsDelivery {
		c, ok := s.q.Countries[to]
		if !ok {
			f.deny = append(f.deny, engineFinding(fmt.Sprintf("weights delivery country %q is not in the country table, so the rules on where weights may go cannot be determined", to)))
			continue
		}
		d := facts{"to": to, "toEEA": c.EEA, "toEU": c.EU, "toGroups": groups(c), "toAdequacy": adequacyAt(c, s.q.AsOf)}
		act := s.activation(map[string]any{"delivery": d})
		for _, r := range s.e.rules {
			if r.Scope == ScopeDelivery {
				s.evalRule(r, act, &f)
			}
		}
	}
	return f
}
