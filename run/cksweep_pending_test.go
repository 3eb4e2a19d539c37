package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
)

// TestLeftSiteNotJudgedStaysPending: a run left alpha when the law
// stopped its data going to SG; before the sweep of alpha, the rule is
// replaced by one that needs a fact the run's dataset lacks, so the law
// cannot say whether its checkpoints may stay there. The site was taken
// off the run's list without a word, its checkpoints kept as if lawful,
// and never judged again. Now it stays on the list, pending, the
// timeline says why, and once the rules change again the sweep judges it
// and clears what the law no longer lets be there.
func TestLeftSiteNotJudgedStaysPending(t *testing.T) {
	f, rs, names := newSweepFixture(t)
	other := names[2]
	ctx := context.Background()
	apply := func(cond string) {
		t.Helper()
		if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", cond, "")}}, "admin", "test", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	apply("transfer.to == 'SG'")
	r := f.step(t)
	if r.State != Staging || len(r.Swept) != 1 || r.Swept[0].Site != "alpha" {
		t.Fatalf("after the move: %s (%s), swept %+v; want staging at bravo with alpha to sweep", r.State, r.Reason, r.Swept)
	}
	apply("transfer.to == 'SG' && int(dataset.name) > 0")
	for i := 0; i < 2; i++ {
		r = f.step(t)
	}
	if len(r.Swept) != 1 || r.Swept[0].Site != "alpha" || r.Swept[0].Pending == "" {
		t.Fatalf("swept list %+v after a sweep the law could not decide; want alpha kept, pending", r.Swept)
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoints-pending"); len(got) != 1 || !strings.Contains(got[0], "alpha") {
		t.Errorf("timeline's checkpoints-pending: %q; want one naming alpha", got)
	}
	if got := checkpointsAt(t, f, "alpha"); len(got) != 3 {
		t.Fatalf("checkpoints at alpha while not judged: %v; want all three kept", got)
	}
	apply("transfer.to == 'SG'")
	r = f.step(t)
	if len(r.Swept) != 0 {
		t.Errorf("swept list %+v after the rules changed; want alpha judged and taken off", r.Swept)
	}
	if got := checkpointsAt(t, f, "alpha"); len(got) != 1 || got[0] != other {
		t.Errorf("checkpoints at alpha once judged: %v; want only another run's %s", got, other)
	}
}
