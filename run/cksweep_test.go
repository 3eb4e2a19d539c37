package run

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/seal"
)

// newSweepFixture is the checkpoint-move fixture for a job trained on
// dataset "people" from MY, with the law read from a rules state (returned)
// and, beside the checkpoint the run resumes from, an older checkpoint of
// the same attempt and another run's checkpoint in alpha's store, all
// sealed there as agents seal them (on no ledger).
func newSweepFixture(t *testing.T) (*ckMoveFixture, *rules.State, []string) {
	t.Helper()
	return newSweepFixtureWith(t, nil)
}

// newSweepFixtureWith is newSweepFixture with mod applied to the
// controller's configuration first.
func newSweepFixtureWith(t *testing.T, mod func(*Config)) (*ckMoveFixture, *rules.State, []string) {
	t.Helper()
	f, rs := newLawCkMoveFixture(t, peopleJob(t, "MY", nil), mod)
	older := "ckpt-" + f.r.ID + "-a1-30"
	other := "ckpt-run-000000000000-a1-10"
	for _, name := range []string{older, other} {
		sealAt(t, f, "alpha", name)
	}
	return f, rs, []string{older, f.ck.Name, other}
}

// sealAt seals a small checkpoint under name in site's store, as an agent
// there does.
func sealAt(t *testing.T, f *ckMoveFixture, siteName, name string) {
	t.Helper()
	ctx := context.Background()
	key, err := f.c.runKeys().GetOrCreate(f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(key, name)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "weights.bin"), []byte(strings.Repeat(name+"\n", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, site, err := f.c.worldSite(f.r, siteName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.OpenStore(ctx, f.c.SiteStore(site))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := dataset.Add(ctx, dataset.AddOptions{Name: name, Root: src, Store: b.Sub(CheckpointPrefix("t1")), Sealer: sealer}); err != nil {
		t.Fatal(err)
	}
}

// checkpointsAt lists the checkpoints (of any run) in site's store.
func checkpointsAt(t *testing.T, f *ckMoveFixture, siteName string) []string {
	t.Helper()
	ctx := context.Background()
	_, site, err := f.c.worldSite(f.r, siteName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.OpenStore(ctx, f.c.SiteStore(site))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	names, err := dataset.NamesWithPrefix(ctx, b.Sub(CheckpointPrefix("t1")), "ckpt-", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestCheckpointsRemovedFromTheSiteTheLawLeft: when the law no longer lets
// a run's data be at its site, the run moves, and once its checkpoint is
// at the new site, every checkpoint of the run that its agent sealed at
// the old site is removed there and recorded in the audit log as a
// withdrawal of kind checkpoint. Before the checkpoint the run resumes
// from has been copied, nothing is removed. Those checkpoints were on no
// ledger, so the law check never saw them: weights trained on the data
// stayed where the data no longer could.
func TestCheckpointsRemovedFromTheSiteTheLawLeft(t *testing.T) {
	f, rs, names := newSweepFixture(t)
	older, resume, other := names[0], names[1], names[2]
	ctx := context.Background()
	// No data to SG (alpha) from now on.
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", "transfer.to == 'SG'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	// bravo's store fails: the checkpoint is not copied, and none at
	// alpha is removed.
	f.s3.fail.Store(true)
	r := f.step(t)
	if r.State != Migrating || len(r.Swept) != 0 {
		t.Fatalf("while bravo's store fails: %s (%s), swept %+v; want still moving, nothing to sweep", r.State, r.Reason, r.Swept)
	}
	if got := checkpointsAt(t, f, "alpha"); len(got) != 3 {
		t.Fatalf("checkpoints at alpha before the checkpoint moved: %v; want all three kept", got)
	}
	f.s3.fail.Store(false)
	f.clk.set(r.Migration.MoveNext.Add(time.Second))
	r = f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || r.Checkpoint.Name != resume {
		t.Fatalf("after the move: %s (%s), checkpoint %+v; want staging from the checkpoint at bravo", r.State, r.Reason, r.Checkpoint)
	}
	// The left site is swept at the run's next step.
	r = f.step(t)
	if got := checkpointsAt(t, f, "alpha"); len(got) != 1 || got[0] != other {
		t.Errorf("checkpoints at alpha after the move: %v; want only another run's %s", got, other)
	}
	if got := checkpointsAt(t, f, "bravo"); len(got) != 1 || got[0] != resume {
		t.Errorf("checkpoints at bravo: %v; want the one the run resumes from", got)
	}
	if len(r.Swept) != 0 {
		t.Errorf("swept list %+v after the removal; want it empty", r.Swept)
	}
	withdrawn := map[string]bool{}
	for _, w := range withdrawalsOf(t, f, r.ID) {
		checkNoSGWithdrawal(t, w, r.ID)
		withdrawn[w.Dataset] = true
	}
	if len(withdrawn) != 2 || !withdrawn[older] || !withdrawn[resume] {
		t.Errorf("withdrawals recorded: %v; want %s and %s at alpha", withdrawn, older, resume)
	}
}

// TestCheckpointsKeptAtALeftSiteTheLawAllows: a run that leaves a site
// the law still lets its data be at (the site was lost) keeps its
// checkpoints there, as checkpoints are kept after their run ends.
func TestCheckpointsKeptAtALeftSiteTheLawAllows(t *testing.T) {
	f, _, _ := newSweepFixture(t)
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s (%s), checkpoint %+v", r.State, r.Reason, r.Checkpoint)
	}
	r = f.step(t)
	if got := checkpointsAt(t, f, "alpha"); len(got) != 3 {
		t.Errorf("checkpoints at alpha: %v; want all three kept", got)
	}
	if len(r.Swept) != 0 {
		t.Errorf("swept list %+v; want it done", r.Swept)
	}
	if w := firstWithdrawal(t, f.st); w != nil {
		t.Errorf("withdrawal recorded: %+v", w)
	}
}
