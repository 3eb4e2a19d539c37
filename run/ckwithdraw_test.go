package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestCheckpointCopyWithdrawnWithItsData: a checkpoint a move copied to a
// site is judged as the data it was trained on. Once the law no longer
// lets that data be at the site, the copy is withdrawn there and the audit
// log records it, in the run's own entries, as a dataset's withdrawal is;
// but not while the run still resumes from it (the run is moved first).
// The law check skipped checkpoint copies, so weights trained on data the
// law had taken off a site stayed there, while the data's own copies went.
func TestCheckpointCopyWithdrawnWithItsData(t *testing.T) {
	f, rs := newLawCkMoveFixture(t, peopleJob(t, "SG", nil), nil)
	ctx := context.Background()
	// The move copies the checkpoint to bravo (MY), lawfully then.
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s, checkpoint %+v (%s)", r.State, r.Checkpoint, r.Reason)
	}
	manifest := CheckpointPrefix("t1") + dataset.ManifestKey(f.ck.Name)
	atBravo := func() bool {
		f.s3.mu.Lock()
		defer f.s3.mu.Unlock()
		_, ok := f.s3.objs[manifest]
		return ok
	}
	if !atBravo() {
		t.Fatal("the moved checkpoint is not in bravo's store")
	}
	// No data to MY from now on.
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-my", "No data to MY", "transfer.to == 'MY'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	// The run resumes from that copy: it stays until the run has moved it.
	removed, unjudged, err := f.c.recheckCopies(ctx, f.c.lawNow())
	if err != nil || len(removed) != 0 || !atBravo() {
		t.Fatalf("the checkpoint the run resumes from: removed %v (unjudged %v, %v), still at bravo %v; want it kept", removed, unjudged, err, atBravo())
	}
	if w := firstWithdrawal(t, f.st); w != nil {
		t.Fatalf("withdrawal recorded of the checkpoint the run resumes from: %+v", w)
	}
	// The run ends (cancelled): nothing resumes from the copy, which goes
	// at the next try of the withdrawals deferred, not at the next change
	// of the law.
	if _, err := f.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		return transition(ch, r, Cancelled, "test: cancelled")
	}); err != nil {
		t.Fatal(err)
	}
	f.c.retryWithdrawals(ctx, f.c.lawNow())
	if atBravo() {
		t.Fatal("the checkpoint's manifest is still in bravo's store after its run ended")
	}
	f.s3.mu.Lock()
	for k := range f.s3.objs {
		if strings.HasPrefix(k, CheckpointPrefix("t1")) {
			t.Errorf("object %s of the checkpoint left at bravo", k)
		}
	}
	f.s3.mu.Unlock()
	es, err := f.st.AuditEntries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var w *transfer.Withdrawn
	for _, a := range es {
		if a.Kind == transfer.KindWithdrawn {
			w = firstWithdrawal(t, f.st)
		}
	}
	if w == nil || w.Kind != transfer.KindCheckpoint || w.Run != r.ID || w.Dataset != f.ck.Name || w.Site != "bravo" || w.To != "MY" ||
		len(w.Rules) != 1 || w.Rules[0] != "test-no-my" || w.Objects == 0 || !strings.Contains(w.Reason, "people") {
		t.Errorf("the run's withdrawal record: %+v; want the checkpoint at bravo under test-no-my, naming dataset people", w)
	}
	// Withdrawn, it is no longer on the ledger's list of copies.
	if removed, _, err := f.c.recheckCopies(ctx, f.c.lawNow()); err != nil || len(removed) != 0 {
		t.Errorf("a second check: removed %v, %v; want nothing", removed, err)
	}
}

// TestCheckpointCopyJudgedWhenItsOrganisationsLicenceEnds: a checkpoint
// a move copied to a site under a licence of the run's organisation is
// judged again the day after that licence ends, though no rule changes
// then, and is withdrawn. The ledger's entry of a checkpoint's move names
// no organisation, so the days a licence ends were looked for only among
// the datasets' copies, and such a checkpoint stayed where its data no
// longer could be. The organisation is the run's, as registered.
func TestCheckpointCopyJudgedWhenItsOrganisationsLicenceEnds(t *testing.T) {
	licensed := func(content string) string {
		return strings.Replace(content, "spec: {headquarters: SG}\n", "spec:\n  headquarters: SG\n  licenses:\n    - {rule: test-licenced-my, expires: 2026-06-15}\n", 1)
	}
	f, rs := newLawCkMoveFixture(t, peopleJob(t, "SG", licensed), nil)
	ctx := context.Background()
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-licenced-my", "No data to MY without a licence", "transfer.to == 'MY'", "    liftedBy: {licence: true}\n")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	// The move copies the checkpoint to bravo (MY) under lab's licence.
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s, checkpoint %+v (%s)", r.State, r.Checkpoint, r.Reason)
	}
	// The run ends: nothing resumes from the copy.
	if _, err := f.c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		return transition(ch, r, Cancelled, "test: cancelled")
	}); err != nil {
		t.Fatal(err)
	}
	// While the licence is in force nothing changes; the day after it
	// ends is a day the copies' facts change.
	if what, err := f.c.copyFactDay(ctx, catalog.MustDate("2026-06-10"), catalog.MustDate("2026-06-15")); err != nil || what != "" {
		t.Fatalf("while the licence is in force: %q, %v; want no change", what, err)
	}
	what, err := f.c.copyFactDay(ctx, catalog.MustDate("2026-06-15"), catalog.MustDate("2026-06-16"))
	if err != nil || !strings.Contains(what, "licence of organisation lab") || !strings.Contains(what, "2026-06-16") {
		t.Fatalf("the day after the licence ended: %q, %v; want the end of lab's licence", what, err)
	}
	// The check it calls for withdraws the copy.
	f.clk.set(time.Date(2026, 6, 16, 12, 0, 0, 0, time.UTC))
	removed, _, err := f.c.recheckCopies(ctx, f.c.lawNow())
	if err != nil || len(removed) != 1 || !strings.Contains(removed[0], f.ck.Name+"@bravo") {
		t.Fatalf("the check after the licence ended: removed %v, %v; want the checkpoint at bravo", removed, err)
	}
}

// peopleJob is jobDoc naming dataset people of origin (registered beside
// it, public data), with edit applied to the document first when given.
func peopleJob(t *testing.T, origin string, edit func(string) string) Document {
	t.Helper()
	doc := jobDoc(100, 10)
	if edit != nil {
		doc.Content = edit(doc.Content)
	}
	doc.Content = strings.Replace(doc.Content, "  organization: lab\n", "  organization: lab\n  datasets: [people]\n", 1) +
		addDataset(t, t.TempDir(), dataset.Keyring{}, testData{name: "people", origin: origin, class: catalog.ClassPublic})
	return doc
}

// newLawCkMoveFixture is newCkMoveFixtureWith under the rules state in the
// controller's store, as a server's law: plans, transfers and checkpoint
// moves judged by it. mod, when set, is applied to the configuration
// first.
func newLawCkMoveFixture(t *testing.T, doc Document, mod func(*Config)) (*ckMoveFixture, *rules.State) {
	t.Helper()
	var rs *rules.State
	f := newCkMoveFixtureWith(t, func(c *Config) {
		if mod != nil {
			mod(c)
		}
		var err error
		if rs, err = rules.Open(context.Background(), c.Store, nil); err != nil {
			t.Fatal(err)
		}
		c.LawNow = func() LawNow {
			cur := rs.Current()
			return LawNow{Rev: cur.Rev, Law: planner.PolicyLaw(cur.Engine), Transfer: cur.Engine, Dates: cur.Dates}
		}
		c.Stager.Law = rs
	}, doc)
	return f, rs
}
