package transfer

import (
	"context"
	"slices"
	"sync"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// revisedLaw is a law in force that an admin revises while a staging is
// judged: the revision after the first decision lists another rule. Pin
// gives the revision in force, which does not change.
type revisedLaw struct {
	mu  sync.Mutex
	rev int
}

// lawRev is one revision of revisedLaw: it allows every transfer, citing
// its own rule, and lists that rule as in force.
type lawRev int

func (r lawRev) rule() string { return []string{"rule-of-revision-1", "rule-of-revision-2"}[int(r)-1] }

func (r lawRev) EvaluateTransfer(policy.Query, *catalog.Dataset, string) policy.Decision {
	return policy.Decision{Allowed: true, Advisories: []policy.Finding{{Rule: r.rule()}}}
}

func (r lawRev) Rules(catalog.Date) []policy.RuleStatus {
	return []policy.RuleStatus{{ID: r.rule(), Active: true, Scope: policy.ScopeTransfer}}
}

func (l *revisedLaw) current() lawRev {
	l.mu.Lock()
	defer l.mu.Unlock()
	return lawRev(l.rev)
}

// EvaluateTransfer decides under the revision in force, and a revision
// applied just after replaces it.
func (l *revisedLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	dec := l.current().EvaluateTransfer(q, ds, to)
	l.mu.Lock()
	l.rev = 2
	l.mu.Unlock()
	return dec
}

func (l *revisedLaw) Rules(asOf catalog.Date) []policy.RuleStatus { return l.current().Rules(asOf) }

func (l *revisedLaw) Pin() Law { return l.current() }

// TestLedgerListsTheRulesOfItsDecision: a revision applied between a
// staging's decision and the ledger's list of the rules evaluated made the
// entry list the new revision's rules beside the old revision's decision,
// rules the move was never judged by. The entry's rules are now those of
// the law that decided.
func TestLedgerListsTheRulesOfItsDecision(t *testing.T) {
	f := newFixture(t, 2, 64<<10, "")
	st := f.stager()
	st.Law = &revisedLaw{rev: 1}
	res, err := st.Stage(context.Background(), f.request())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Rules, "rule-of-revision-1") {
		t.Fatalf("decision's rules %v; want revision 1's", res.Rules)
	}
	if !slices.Equal(res.Evaluated, []string{"rule-of-revision-1"}) {
		t.Fatalf("ledger lists %v as evaluated beside a decision of revision 1 (rules %v); want revision 1's rules only", res.Evaluated, res.Rules)
	}
}
