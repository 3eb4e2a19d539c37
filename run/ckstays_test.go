package run

import (
	"context"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/testplan"
	"meridian.dev/meridian/store"
)

// TestCheckpointAtTargetIsNoMove: a run that moves to the site its
// checkpoint is already at (released from a hold back to its site, or to
// a lost site come back) resumes from it there, and nothing crosses a
// border: the audit log gets no checkpoint-move entry, and the timeline
// says the checkpoint stayed. It recorded a move from the site to itself,
// "lawful by" a transfer law that was never asked.
func TestCheckpointAtTargetIsNoMove(t *testing.T) {
	st, dir := testStore(t)
	// A controller without its loop, stepped by hand.
	c := handStepped(t, sitesConfig(st, dir))
	ctx := context.Background()
	r, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	ck := &Checkpoint{Step: 40, Name: "ckpt-" + r.ID + "-a1-40", Path: "step-40", Site: r.Site,
		SHA256: strings.Repeat("ab", 32), Bytes: 1234}
	// The run as a release from a hold leaves it: moving, its target the
	// site its checkpoint is at.
	if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		r.Attempt = 1
		r.Attempts = []Attempt{{N: 1, Site: r.Site, Nonce: newNonce(), OwnCheckpointNames: true}}
		r.Checkpoint = ck
		pl := r.Placement
		r.Migration = &Migration{From: r.Site, Reason: "released from hold", LostAt: c.cfg.Now(), Target: &pl, AsOf: c.today().String()}
		return transition(ch, r, Migrating, "test: released from hold")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	r, err = c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Staging || r.Attempt != 2 || r.Checkpoint == nil || *r.Checkpoint != *ck {
		t.Fatalf("after the move: %s attempt %d checkpoint %+v, want staging attempt 2 resuming from %+v", r.State, r.Attempt, r.Checkpoint, ck)
	}
	es, err := st.AuditEntries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range es {
		if a.Kind == audit.KindCheckpoint {
			t.Errorf("audit entry of a checkpoint move that did not happen: %s", a.Payload)
		}
	}
	evs, err := c.Events(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		if ev.Kind == "checkpoint-moved" {
			found = true
			if !strings.Contains(ev.Reason, "already in") || strings.Contains(ev.Reason, "copied") {
				t.Errorf("timeline says %q, want the checkpoint kept where it is", ev.Reason)
			}
		}
	}
	if !found {
		t.Errorf("timeline %v says nothing of the checkpoint", kinds(evs))
	}
}

// sitesConfig is the config of a controller on st and dir over the test
// catalog's sites, each run by its own backend.
func sitesConfig(st *store.SQLite, dir string) Config {
	return Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Plan: testplan.Cheapest,
		Backends: func(site *catalog.Site, root string) (backend.Backend, error) {
			return backend.For(site.Spec.Backend, root)
		}}
}

// handStepped is a controller of cfg, with its agent API, without its
// loop: the test steps it by hand.
func handStepped(t *testing.T, cfg Config) *Controller {
	t.Helper()
	var c *Controller
	agentConfig(t, &cfg, func() *Controller { return c })
	c = New(cfg)
	return c
}
