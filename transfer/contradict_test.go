package transfer

import (
	"context"
	"errors"
	"os"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
)

// contradictoryLaw allows the transfer and denies it in one decision.
type contradictoryLaw struct{}

func (contradictoryLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	return policy.Decision{Allowed: true, Denials: []policy.Finding{{Rule: "r", Effect: policy.Deny, Message: "denied", Source: "test"}}}
}

// TestStageFailsClosedOnAContradictoryDecision: a decision that allows a
// transfer while it lists a denial is not one the law can give; the
// staging is refused, and nothing moves. It moved every chunk.
func TestStageFailsClosedOnAContradictoryDecision(t *testing.T) {
	f := newFixture(t, 1, 1000, "")
	s := f.stager()
	s.Law = contradictoryLaw{}
	_, err := s.Stage(context.Background(), f.request())
	var de *DeniedError
	if !errors.As(err, &de) || len(de.Denials) != 1 {
		t.Fatalf("Stage: %v, want the refusal with its denial", err)
	}
	if _, err := os.Stat(f.siteDir); err == nil {
		t.Fatal("site store touched after a contradictory decision")
	}
}
