package run

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestLostSitesComeBack: a run that lost every site it may use waits held,
// and runs again, from its checkpoint, once the sites are back and its
// backoff has passed. Lost sites stayed out of its plans for good, so it
// waited held for ever.
func TestLostSitesComeBack(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.HoldRetry = 50 * time.Millisecond
		c.LostSiteBackoff = 2 * time.Second
	})
	ctx := context.Background()
	r, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(400, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("a checkpoint at alpha", 20*time.Second, func(r *Run) bool { return r.Site == "alpha" && r.Checkpoint != nil }, r.ID)
	e.failSite("alpha")
	e.waitFor("a checkpoint at bravo", 20*time.Second, func(r *Run) bool {
		return r.Site == "bravo" && r.Attempt == 2 && r.Checkpoint != nil && r.Checkpoint.Site == "bravo"
	}, r.ID)
	e.failSite("bravo")
	held := e.waitFor("held, every site lost", 20*time.Second, func(r *Run) bool { return r.State == Held }, r.ID)
	if l := held.Losses["bravo"]; l.Count != 1 || !l.Until.After(time.Now().Add(-time.Second)) {
		t.Errorf("bravo's loss: %+v", l)
	}
	for _, s := range []string{"alpha", "bravo"} {
		b, err := local.New(catalog.BackendSpec{}, filepath.Join(e.dir, "sites", s))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.RestoreSite(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r = e.waitFor("the end", 60*time.Second, func(r *Run) bool { return r.State.Final() }, r.ID)
	if r.State != Succeeded || r.Attempt != 3 {
		t.Fatalf("ended %s at attempt %d: %s", r.State, r.Attempt, r.Reason)
	}
}
