package run

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
)

// TestEndedRunWholeSweptListEmptiedStillSwept: the loop found the ended
// runs to sweep by a scan of those whose rows list a site, so an ended run
// whose whole list was emptied outside Meridian was passed by, and its
// checkpoints at the sites its moves left stayed there, unjudged. The
// loop now also reads the sealed records of the sites moves left and of
// their sweeps, and hands each run still owed one to the sweep, which puts
// the site back on its list and sweeps it.
func TestEndedRunWholeSweptListEmptiedStillSwept(t *testing.T) {
	x := newChangedRunFixture(t)
	ctx, r := x.ctx, x.r
	if _, err := x.live.Cancel(ctx, "t1", r.ID); err != nil {
		t.Fatal(err)
	}
	x.stepToEnd(x.live, 4)
	// A sealed move left bravo, and no sealed record says it was swept;
	// the run's row lists nothing to sweep.
	x.sealMove("bravo")
	x.setSwept()
	x.live.mu.Lock()
	_, retrying := x.live.sweepWait[r.ID]
	x.live.mu.Unlock()
	if retrying {
		t.Fatal("the server was already retrying the run's sweep; the test wants one it was not")
	}
	for range 3 {
		x.live.sweepEnded(ctx)
	}
	restored := eventsOf(t, x.live, r.ID, "sweep-restored")
	if len(restored) != 1 || !strings.Contains(restored[0], "bravo") {
		t.Errorf("the ended run's timeline: %q; want bravo's sweep put back, once", restored)
	}
	got := x.get(r.ID)
	onList := slices.ContainsFunc(got.Swept, func(sw Sweep) bool { return sw.Site == "bravo" })
	if swept := x.sweptRecords(); onList == slices.Contains(swept, "bravo") {
		t.Errorf("after the loop's sweeps: listed to sweep %+v, sealed as swept %q; want bravo either on its list or swept", got.Swept, swept)
	}
	// Handed over once: the loop's next ticks put nothing back again.
	for range 2 {
		x.live.sweepEnded(ctx)
	}
	if again := eventsOf(t, x.live, r.ID, "sweep-restored"); len(again) != len(restored) {
		t.Errorf("the run's timeline after more ticks: %q; want nothing put back again", again)
	}
}

// TestSweepOwedBound: past maxOwedRuns runs owed a sweep, those kept are
// handed to the sweep and forgotten, not dropped: each is still swept.
func TestSweepOwedBound(t *testing.T) {
	defer func(n int) { maxOwedRuns = n }(maxOwedRuns)
	maxOwedRuns = 2
	c := &Controller{}
	var s owedScan
	for i := range 5 {
		s.note(c, owedMoveEntry(t, fmt.Sprintf("run-%d", i), "bravo"))
	}
	s.handOver(c)
	for i := range 5 {
		if _, ok := c.sweepWait[fmt.Sprintf("run-%d", i)]; !ok {
			t.Errorf("run-%d, owed a sweep, was never handed to the sweep (%d kept)", i, len(s.owed))
		}
	}
	if len(s.owed) > maxOwedRuns {
		t.Errorf("%d runs kept; want at most %d", len(s.owed), maxOwedRuns)
	}
}

// owedMoveEntry is a decision record of run id's move from site from.
func owedMoveEntry(tb testing.TB, id, from string) audit.Entry {
	tb.Helper()
	p, err := json.Marshal(map[string]any{"decision": "move", "placement": placeOf{Site: "alpha", Accelerator: "h100", Count: 1}, "from": from})
	if err != nil {
		tb.Fatal(err)
	}
	return audit.Entry{Kind: audit.KindDecision, RunID: id, Payload: p}
}
