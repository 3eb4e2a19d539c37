package run

import (
	"context"
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
)

// planningSite is a site cheaper than every test site but with no
// configured backend: a built-in site, as a plan ranks it.
func planningSite(t *testing.T, name string) *catalog.Site {
	t.Helper()
	set, err := catalog.Decode("extra.yaml", []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: `+name+`}
spec:
  country: US
  location: {lat: 31.8, lon: -99.9}
  operator: {name: big-cloud, headquarters: US}
  pools:
    - {accelerator: nvidia-gb200, count: 4096, available: 2048, pricePerHour: 0.001, priceSource: "test value"}
  network: {egressPerGB: 0, gbps: 400}
`))
	if err != nil {
		t.Fatal(err)
	}
	return set.Sites[0]
}

// TestSubmitSkipsPlanningSites: `serve` ran a run shown as 2,048 × GB200
// at a site in Texas as a local process. A run takes the best runnable
// placement and its timeline says which it skipped and why.
func TestSubmitSkipsPlanningSites(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ExtraSites = []*catalog.Site{planningSite(t, "texas-1"), planningSite(t, "texas-2")}
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(5, 5)}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "alpha" || r.Rank != 3 {
		t.Fatalf("run at %s rank %d, want alpha, rank 3 (the first runnable)", r.Site, r.Rank)
	}
	evs, err := e.c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "skipped ranks 1–2 (texas-1, texas-2): no configured backend"
	if !strings.Contains(evs[0].Reason, want) {
		t.Errorf("created event %q lacks %q", evs[0].Reason, want)
	}
	// Asking for a planning-only placement by rank is refused; the best
	// runnable one is now bravo's, as the first run holds alpha's 8.
	r2, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(5, 5)}, Placement: 1})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "placement" || !strings.Contains(err.Error(), "planning only") || !strings.Contains(err.Error(), "rank 3 (bravo)") {
		t.Errorf("--placement 1 at a planning site: %v (%+v)", err, r2)
	}
	e.waitFor("end", 20e9, func(r *Run) bool { return r.State.Final() }, r.ID)
}

// TestSubmitNothingRunnable: when every lawful placement is for planning
// only, the submission says so rather than starting anywhere.
func TestSubmitNothingRunnable(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ExtraSites = []*catalog.Site{planningSite(t, "texas-1")}
	})
	doc := jobDoc(5, 5)
	doc.Content = strings.Replace(doc.Content, "  tokens: 1.0e6\n", "  tokens: 1.0e6\n  constraints: {sites: {allow: [texas-1]}}\n", 1)
	_, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{doc}})
	if !errors.Is(err, ErrNoPlacement) || !strings.Contains(err.Error(), "no configured backend") {
		t.Errorf("got %v", err)
	}
}

func TestSkippedLine(t *testing.T) {
	plan := &planner.Plan{}
	for i, s := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		plan.Placements = append(plan.Placements, planner.Placement{Rank: i + 1, Site: s, Runnable: s == "g"})
	}
	pl, rank, skipped, ok := bestRunnable(plan.Placements)
	if !ok || pl.Site != "g" || rank != 7 || len(skipped) != 6 {
		t.Fatalf("got %s rank %d, %d skipped, ok %v", pl.Site, rank, len(skipped), ok)
	}
	if got, want := skippedLine(skipped), "skipped ranks 1–6 (a, b, c, d, e, 1 more): no configured backend: a site for planning only"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
