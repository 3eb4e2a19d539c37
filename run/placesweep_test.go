package run

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestSweptSiteWrittenOutsideMeridian: the sites a run's step sweeps of
// its checkpoints (those a move left) were taken from its row as written:
// whoever could write the database listed a site the run was never placed
// at (bravo), and Meridian judged and cleared its store there as the
// run's. The sites listed are now held to those its sealed placements
// named: a row listing another is refused its step and nothing is swept.
func TestSweptSiteWrittenOutsideMeridian(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	swept := func(sites ...string) {
		x.rewrite(r.Site, func(d map[string]json.RawMessage) {
			var sw []map[string]any
			for _, s := range sites {
				sw = append(sw, map[string]any{"site": s})
			}
			d["swept"], _ = json.Marshal(sw)
		})
	}
	swept("bravo")
	for range 2 {
		if _, err := x.live.Step(ctx, r.ID); !errors.Is(err, ErrRunChanged) || !strings.Contains(err.Error(), `"bravo"`) {
			t.Errorf("a step of the run listing bravo to sweep: %v; want it refused as changed, naming bravo", err)
		}
	}
	got := x.get(r.ID)
	if len(got.Swept) != 1 || got.Swept[0].Site != "bravo" || got.Swept[0].Pending != "" || got.Swept[0].Fails != 0 {
		t.Errorf("the run's sweep list: %+v; want bravo on it, untouched", got.Swept)
	}
	if got.State != r.State || got.Handle != r.Handle {
		t.Errorf("the run: %s, handle %q; want it left %s", got.State, got.Handle, r.State)
	}
	if why := x.live.ChangedOutsideMeridian(ctx, got, false); !strings.Contains(why, "bravo") {
		t.Errorf("listed as changed %q; want it marked, naming bravo", why)
	}
	// A site it was placed at (alpha, where it runs) is its to sweep:
	// its step goes on.
	swept("alpha")
	if _, err := x.live.Step(ctx, r.ID); err != nil {
		t.Errorf("a step of the run listing alpha to sweep: %v", err)
	}
}
