package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// behindPlanner is a controller on a server that cannot load the rules
// revision in force: its plans fail as the planner's do then. Its applies
// lose a race to another request.
type behindPlanner struct{ Controller }

const behindCause = "rule test-clash is defined twice: /etc/meridian/rules/clash.yaml and revision 7"

func (behindPlanner) Plan(context.Context, string, run.PlanRequest) (*planner.Plan, error) {
	return nil, fmt.Errorf("planner: open law session: %w", &rules.BehindError{Rev: 7, Applies: 6, Err: fmt.Errorf("rules revision 7 no longer loads: %s", behindCause)})
}

func (behindPlanner) Submit(context.Context, string, run.SubmitRequest) (*run.Run, bool, error) {
	return nil, false, fmt.Errorf("the rules changed during each of 3 plans (revision 4 to 7); try again: %w", run.ErrRulesChanging)
}

func (behindPlanner) Apply(context.Context, string, []run.Document, bool) ([]run.Resource, error) {
	return nil, fmt.Errorf("resource Organization/lab: registered version is 3, not 2: %w", store.ErrConflict)
}

// TestFaultsTheTenantCanActOn: two errors that are not faults of the
// server's, and that a tenant can act on, are answered for what they are,
// with none of their inner text: a server behind the law in force (another
// server applied a rules revision that does not load here) answers 503
// law_unavailable naming the revisions, as docs/rules.md says, and a lost
// race 409 conflict. Both were bare 500s.
func TestFaultsTheTenantCanActOn(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { return behindPlanner{c} }})
	b, _ := json.Marshal(run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: "kind: TrainingJob"}}})
	code, e := f.raw(t, "POST", "/v1/plans", tokA, string(b))
	if code != http.StatusServiceUnavailable || e.Code != "law_unavailable" || !strings.Contains(e.Message, "rules revision 7") {
		t.Errorf("a plan on a server behind the law: %d %+v, want 503 law_unavailable naming revision 7", code, e)
	}
	if strings.Contains(e.Message, "/etc/meridian") {
		t.Errorf("the answer names the server's rules files: %s", e.Message)
	}
	sb, _ := json.Marshal(run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: "kind: TrainingJob"}}})
	code, e = f.raw(t, "POST", "/v1/runs", tokA, string(sb))
	if code != http.StatusServiceUnavailable || e.Code != "rules_changing" {
		t.Errorf("a submission planned while revisions kept landing: %d %+v, want 503 rules_changing", code, e)
	}
	ab, _ := json.Marshal(ApplyRequest{Documents: []run.Document{orgDoc("lab", "SG")}})
	code, e = f.raw(t, "POST", "/v1/resources", tokA, string(ab))
	if code != http.StatusConflict || e.Code != "conflict" {
		t.Errorf("an apply that lost a race: %d %+v, want 409 conflict", code, e)
	}
}

// unreadLedgerPlanner is a controller whose transfer ledger cannot be
// read: its plans and submissions fail as the planner's do then.
type unreadLedgerPlanner struct{ Controller }

const ledgerCause = "read audit: dial tcp 10.0.0.7:5432: connection refused"

func (unreadLedgerPlanner) Plan(context.Context, string, run.PlanRequest) (*planner.Plan, error) {
	return nil, fmt.Errorf("planner: plan of TrainingJob/tiny: %w, so the rules that count earlier exports judged no placement: %s", planner.ErrLedgerUnread, ledgerCause)
}

func (unreadLedgerPlanner) Submit(context.Context, string, run.SubmitRequest) (*run.Run, bool, error) {
	return nil, false, fmt.Errorf("submit: %w: %s", planner.ErrLedgerUnread, ledgerCause)
}

// TestLedgerUnreadIsAPassingFault: a plan or a submission the planner
// could not judge because the transfer ledger could not be read was
// answered 500 internal, as a fault the tenant can only report; nothing
// was decided, and asking again once the store is back succeeds. It is
// answered 503 ledger_unavailable with a Retry-After, without the store's
// text (its host), which goes to the log.
func TestLedgerUnreadIsAPassingFault(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { return unreadLedgerPlanner{c} }})
	b, _ := json.Marshal(run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: "kind: TrainingJob"}}})
	sb, _ := json.Marshal(run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: "kind: TrainingJob"}}})
	for _, c := range []struct{ path, body string }{{"/v1/plans", string(b)}, {"/v1/runs", string(sb)}} {
		code, e := f.raw(t, "POST", c.path, tokA, c.body)
		if code != http.StatusServiceUnavailable || e.Code != "ledger_unavailable" {
			t.Errorf("POST %s with the ledger unread: %d %+v, want 503 ledger_unavailable", c.path, code, e)
		}
		if strings.Contains(e.Message, "10.0.0.7") {
			t.Errorf("POST %s: the answer names the store's host: %s", c.path, e.Message)
		}
	}
}

// noLawPlanner is a controller on a server that started on a stored
// rules revision its loader refuses: it applies no law.
type noLawPlanner struct{ Controller }

func (noLawPlanner) Plan(context.Context, string, run.PlanRequest) (*planner.Plan, error) {
	return nil, fmt.Errorf("planner: open law session: %w", &rules.BehindError{Rev: 7, NoLaw: true, Err: fmt.Errorf("rules revision 7 no longer loads: %s", behindCause)})
}

// TestNoLawAnswerSaysWhatMendsIt: a server that applies no law (it
// started on a revision its loader refuses) answered as one merely behind
// another server: "it applies 0 … try again later or on another server",
// where no server of its version will plan until an admin applies the
// corrected rules. The answer now says so and names the command, still
// without the server's rules files.
func TestNoLawAnswerSaysWhatMendsIt(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { return noLawPlanner{c} }})
	b, _ := json.Marshal(run.PlanRequest{Documents: []run.Document{{Name: "job.yaml", Content: "kind: TrainingJob"}}})
	code, e := f.raw(t, "POST", "/v1/plans", tokA, string(b))
	if code != http.StatusServiceUnavailable || e.Code != "law_unavailable" || !strings.Contains(e.Message, "rules revision 7") ||
		!strings.Contains(e.Message, "applies no law") || !strings.Contains(e.Message, "meridian rules apply") || strings.Contains(e.Message, "applies 0") {
		t.Errorf("a plan on a server that applies no law: %d %+v, want 503 law_unavailable saying an admin's corrected rules mend it", code, e)
	}
	if strings.Contains(e.Message, "/etc/meridian") {
		t.Errorf("the answer names the server's rules files: %s", e.Message)
	}
}
