package run

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// TestSweepPassRemovesABoundedNumber: a workload can write as many names
// under its run's checkpoints as a listing lets it, and the sweep of a site
// the run left removes each under the store's staging lock. One pass
// removes at most sweepPassMax of them; the rest stay listed for the next
// pass, at the run's next step, which is not counted as a failure of the
// store, and the passes together remove them all.
func TestSweepPassRemovesABoundedNumber(t *testing.T) {
	old := sweepPassMax
	sweepPassMax = 20
	defer func() { sweepPassMax = old }()
	f, rs, names := newSweepFixture(t)
	other := names[2]
	ctx := context.Background()
	for i := range 48 {
		sealAt(t, f, "alpha", fmt.Sprintf("ckpt-%s-a1-%d", f.r.ID, 1000+i))
	}
	own := func() int {
		n := 0
		for _, name := range checkpointsAt(t, f, "alpha") {
			if strings.HasPrefix(name, "ckpt-"+f.r.ID+"-") {
				n++
			}
		}
		return n
	}
	if n := own(); n != 50 {
		t.Fatalf("%d of the run's checkpoints at alpha before; want 50", n)
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", "transfer.to == 'SG'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s (%s), checkpoint %+v; want staging from bravo", r.State, r.Reason, r.Checkpoint)
	}
	for _, want := range []int{30, 10} {
		r = f.step(t)
		if n := own(); n != want {
			t.Fatalf("%d of the run's checkpoints at alpha after a pass; want %d (at most %d removed a pass)", n, want, sweepPassMax)
		}
		if len(r.Swept) != 1 || r.Swept[0].Site != "alpha" || r.Swept[0].Fails != 0 {
			t.Fatalf("swept list %+v; want alpha still to sweep, with no failure counted", r.Swept)
		}
	}
	r = f.step(t)
	checkAlphaSwept(t, f, r, other, " after the last pass")
	if n := len(withdrawalsOf(t, f, r.ID)); n > 3*(sweepNamed+1) {
		t.Errorf("%d withdrawal entries for 50 checkpoints in three passes; want at most %d", n, 3*(sweepNamed+1))
	}
}
