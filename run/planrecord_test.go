package run

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestPlanRecordBounded: a plan whose JSON is over what an audit entry
// may be (a tiny budget against thousands of sites, each rejected with
// its findings) is recorded without its rejections, with their count and
// the sha256 of the whole plan's JSON; a plan under the bound is recorded
// whole. Recorded whole, the plan record was over the store's bound on an
// entry: the append failed, and with it the submission (an internal
// error), a release from hold (tried again every pass) and a migration.
func TestPlanRecordBounded(t *testing.T) {
	big := &planner.Plan{Job: "j", AsOf: "2026-01-01", Placements: []planner.Placement{{Site: "kept"}}}
	for i := range 20000 {
		big.Rejected = append(big.Rejected, planner.Rejection{Site: fmt.Sprintf("site-%05d", i), Kind: "budget", Resolution: planner.NotNow,
			Reasons: []policy.Finding{{Rule: "budget", Message: strings.Repeat("over the budget; ", 60)}}})
	}
	whole, err := json.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) <= store.MaxAuditPayloadBytes {
		t.Fatalf("the plan is %d bytes: not over the bound, the test tests nothing", len(whole))
	}
	small := &planner.Plan{Job: "j", AsOf: "2026-01-01", Rejected: big.Rejected[:3]}
	for _, tc := range []struct {
		name string
		plan *planner.Plan
	}{{"large", big}, {"small", small}} {
		t.Run(tc.name, func(t *testing.T) {
			var ch store.Change
			if err := addPlan(&ch, "r1", "submitted", nil, tc.plan, planner.Placement{Site: "kept"}, "why", "docs"); err != nil {
				t.Fatal(err)
			}
			for _, rec := range ch.Audit {
				if n := len(rec.Payload); n > store.MaxAuditPayloadBytes {
					t.Fatalf("%s record: %d bytes, over the store's bound %d", rec.Kind, n, store.MaxAuditPayloadBytes)
				}
			}
			var got struct {
				Plan    planner.Plan `json:"plan"`
				Omitted *int         `json:"rejectedOmitted"`
				Sum     string       `json:"planSha256"`
				Docs    string       `json:"documentsSha256"`
			}
			if err := json.Unmarshal(ch.Audit[0].Payload, &got); err != nil {
				t.Fatal(err)
			}
			if got.Docs != "docs" || got.Plan.Job != "j" || len(got.Plan.Placements) != len(tc.plan.Placements) {
				t.Errorf("recorded plan: job %q, %d placements, documents %q; want j, %d, docs", got.Plan.Job, len(got.Plan.Placements), got.Docs, len(tc.plan.Placements))
			}
			if tc.plan == small {
				if got.Omitted != nil || got.Sum != "" || len(got.Plan.Rejected) != 3 {
					t.Errorf("small plan: %d rejections, omitted %v, sum %q; want it whole", len(got.Plan.Rejected), got.Omitted, got.Sum)
				}
				return
			}
			sum := sha256.Sum256(whole)
			if got.Omitted == nil || *got.Omitted != len(big.Rejected) || len(got.Plan.Rejected) != 0 || got.Sum != hex.EncodeToString(sum[:]) {
				t.Errorf("large plan: %d rejections kept, omitted %v, sum %q; want none, %d, the whole plan's sha256", len(got.Plan.Rejected), got.Omitted, got.Sum, len(big.Rejected))
			}
			// The shortened plan's rejections are an empty list, not null:
			// a reader of the record finds a list, and rejectedOmitted.
			var raw struct {
				Plan struct {
					Rejected json.RawMessage `json:"rejected"`
				} `json:"plan"`
			}
			if err := json.Unmarshal(ch.Audit[0].Payload, &raw); err != nil {
				t.Fatal(err)
			}
			if string(raw.Plan.Rejected) != "[]" {
				t.Errorf("large plan: recorded with rejected %s beside rejectedOmitted; want []", raw.Plan.Rejected)
			}
		})
	}
}
