package run

import (
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
)

// allowingDenyingLaw allows every transfer and denies it in one decision.
type allowingDenyingLaw struct{}

func (allowingDenyingLaw) EvaluateTransfer(q policy.Query, ds *catalog.Dataset, to string) policy.Decision {
	return policy.Decision{Allowed: true, Denials: []policy.Finding{{Rule: "test-contradiction", Effect: policy.Deny, Message: "denied", Source: "test"}}}
}

// TestCheckpointMoveFailsClosedOnAContradictoryDecision: a decision that
// allows the checkpoint's move while it lists a denial is not one the law
// can give; the move is refused and nothing reaches the target, as a
// staging refuses it. The checkpoint's check read only Allowed, and the
// checkpoint crossed.
func TestCheckpointMoveFailsClosedOnAContradictoryDecision(t *testing.T) {
	doc := jobDoc(100, 10)
	doc.Content = strings.Replace(doc.Content, "  organization: lab\n", "  organization: lab\n  datasets: [people]\n", 1) +
		addDataset(t, t.TempDir(), dataset.Keyring{}, testData{name: "people", origin: "SG", class: catalog.ClassPublic})
	f := newCkMoveFixtureWith(t, nil, doc)
	f.c.cfg.Stager.Law = allowingDenyingLaw{}
	r := f.step(t)
	if r.Checkpoint != nil && r.Checkpoint.Site == "bravo" {
		t.Fatalf("the checkpoint moved to bravo on a decision that denies it: %+v", r.Checkpoint)
	}
	f.s3.mu.Lock()
	for k := range f.s3.objs {
		if strings.HasPrefix(k, CheckpointPrefix("t1")) {
			t.Errorf("%s reached bravo on a decision that denies it", k)
		}
	}
	f.s3.mu.Unlock()
	if moved := eventsOf(t, f.c, r.ID, "checkpoint-moved"); len(moved) != 1 || !strings.Contains(moved[0], "test-contradiction") {
		t.Errorf("timeline's checkpoint-moved: %q; want the refusal with its rule", moved)
	}
}
