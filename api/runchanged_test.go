package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"meridian.dev/meridian/run"
)

// changedRuns is a controller whose runs were written outside Meridian:
// reading one meets the run package's refusal.
type changedRuns struct{ Controller }

const changedWhy = "run run-1 (job tiny of tenant a): its row places it at site \"bravo\", but its newest sealed decision record (seq 4) names site \"alpha\""

func changedErr() error {
	return fmt.Errorf("read run run-1: %w", fmt.Errorf("%s: %w", changedWhy, run.ErrRunChanged))
}

func (changedRuns) Get(context.Context, string, string) (*run.Run, error) {
	return nil, changedErr()
}

// changedWhatIf asks a what-if over a run written outside Meridian.
type changedWhatIf struct{ RulesService }

func (changedWhatIf) WhatIf(context.Context, WhatIfRequest) (any, error) { return nil, changedErr() }

// TestRunChangedOutsideMeridianIsAConflict: a run's status, or a what-if
// over it, that meets a run whose row was written outside Meridian (the
// run package's ErrRunChanged) answers 409 with the reason, which the
// tenant can act on (ask the operator to restore the row); it answered a
// bare 500 naming a fault id only.
func TestRunChangedOutsideMeridianIsAConflict(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{Hide: func(c Controller) Controller { return changedRuns{c} }})
	f.h.SetRules(changedWhatIf{})
	const tokAdmin = "dddddddddddddddddddddddddddddddddddddddd"
	if _, err := AddToken(context.Background(), f.st, "ops", tokAdmin, true, "test", "test"); err != nil {
		t.Fatal(err)
	}
	code, e := f.raw(t, "GET", "/v1/runs/run-1", tokA, "")
	if code != http.StatusConflict || e.Code != "conflict" || !strings.Contains(e.Message, changedWhy) {
		t.Errorf("status of a changed run: %d %+v, want 409 conflict with the reason", code, e)
	}
	b, _ := json.Marshal(WhatIfRequest{Remove: []string{"house.yaml"}})
	code, e = f.raw(t, "POST", "/v1/rules/what-if", tokAdmin, string(b))
	if code != http.StatusConflict || e.Code != "conflict" || !strings.Contains(e.Message, changedWhy) {
		t.Errorf("what-if over a changed run: %d %+v, want 409 conflict with the reason", code, e)
	}
}
