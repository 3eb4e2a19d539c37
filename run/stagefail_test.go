package run

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// newStageFailFixture is a run that moved from alpha to bravo (whose
// store is the fake S3) with its checkpoint, and now stages its stored
// dataset "people" to bravo.
func newStageFailFixture(t *testing.T, mod func(*Config)) (*ckMoveFixture, *Run) {
	t.Helper()
	f := newCkMoveFixtureFor(t, mod, func(c *Config) Document {
		keys, err := dataset.TenantKeyrings{Root: c.StateDir}.For("t1")
		if err != nil {
			t.Fatal(err)
		}
		return dataJobDoc(100, 10, []string{"people"}, false,
			addDataset(t, c.StateDir, keys, testData{name: "people", origin: "SG", class: catalog.ClassPublic, stored: true}))
	})
	r := f.step(t)
	if r.State != Staging || r.Attempt != 2 || r.Site != "bravo" || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s attempt %d at %s, checkpoint %+v (%s); want staging attempt 2 at bravo with the checkpoint", r.State, r.Attempt, r.Site, r.Checkpoint, r.Reason)
	}
	return f, r
}

// TestStagingTriedAgainWhileTheSiteStoreFails: a site's store answering
// 500 while a dataset is staged there does not fail the run. The staging
// is tried again after a wait (and not before), the timeline names the
// error and the try, and once the store answers the data is staged and the
// run goes on, with the checkpoint its move brought along. One such error
// failed the run, and with it the checkpoint it would resume from.
func TestStagingTriedAgainWhileTheSiteStoreFails(t *testing.T) {
	f, r := newStageFailFixture(t, nil)
	f.s3.fail.Store(true)
	r = f.step(t)
	if r.State != Staging || r.StageTries != 1 || !r.StageNext.After(f.clk.Now()) {
		t.Fatalf("after a 500 from bravo's store: %s (%s), tries %d, next %s; want still staging, one try counted and the next later", r.State, r.Reason, r.StageTries, r.StageNext)
	}
	if got := eventsOf(t, f.c, r.ID, "staging-failed"); len(got) != 1 || !strings.Contains(got[0], "try 1 of") || !strings.Contains(got[0], "at dataset people") || !strings.Contains(got[0], "HTTP 500") || strings.Contains(got[0], "test store") {
		t.Errorf("timeline's staging-failed: %q; want one naming the store's answer (its status, not its words, which are the server's log's) and the try", got)
	}
	// Before its time the staging is not tried again.
	before := f.s3.reqs.Load()
	if r = f.step(t); f.s3.reqs.Load() != before || r.StageTries != 1 {
		t.Fatalf("a step before the retry's time sent the store %d requests (tries %d)", f.s3.reqs.Load()-before, r.StageTries)
	}
	// The store answers again, and the time has come.
	f.s3.fail.Store(false)
	f.clk.set(r.StageNext.Add(time.Second))
	r = f.step(t)
	if r.State != Staging || r.Staged != r.Attempt || r.StageTries != 0 || !r.StageNext.IsZero() {
		t.Fatalf("once bravo's store answers: %s (%s), staged %d of attempt %d, tries %d; want the data staged and the tries cleared", r.State, r.Reason, r.Staged, r.Attempt, r.StageTries)
	}
	if r.Checkpoint == nil || r.Checkpoint.Site != "bravo" || r.Checkpoint.SHA256 != f.ck.SHA256 {
		t.Errorf("checkpoint after the staging: %+v; want the moved one", r.Checkpoint)
	}
	f.s3.mu.Lock()
	_, ok := f.s3.objs[DataPrefix("t1")+dataset.ManifestKey("people")]
	f.s3.mu.Unlock()
	if !ok {
		t.Error("the dataset's manifest is not in bravo's store")
	}
}

// TestStagingHeldWhenTheSiteStoreKeepsFailing: a store that keeps failing
// does not keep the run staging for ever, nor fail it: after maxStageTries
// tries the run waits held, with its checkpoint, and the hold and the
// timeline say why. A release counts its tries afresh: one more passing
// failure does not hold the run again at once (the tries were carried
// through the hold, so that each release tried once, an hour apart).
func TestStagingHeldWhenTheSiteStoreKeepsFailing(t *testing.T) {
	f, r := newStageFailFixture(t, nil)
	f.s3.fail.Store(true)
	for i := 0; i < maxStageTries; i++ {
		r = f.step(t)
		if r.State != Staging {
			break
		}
		if r.StageTries != i+1 {
			t.Fatalf("try %d: the run records %d tries", i+1, r.StageTries)
		}
		f.clk.set(r.StageNext.Add(time.Second))
	}
	if r.State != Held || r.Hold == nil || r.Checkpoint == nil || r.Checkpoint.SHA256 != f.ck.SHA256 {
		t.Fatalf("after %d failed stagings: %s (%s), hold %+v, checkpoint %+v; want held with the checkpoint", maxStageTries, r.State, r.Reason, r.Hold, r.Checkpoint)
	}
	if r.Hold.StageTries != maxStageTries || !strings.Contains(r.Hold.Reason, "staging attempt 2 to bravo") || !strings.Contains(r.Hold.Reason, "held rather than fail") {
		t.Errorf("hold %+v: want the tries counted and the reason naming the staging", r.Hold)
	}
	if wait := r.Hold.NextTry.Sub(f.clk.Now()); wait <= 0 || wait > moveHoldMax {
		t.Errorf("held run's next try in %s, want within (0, %s]", wait, moveHoldMax)
	}
	if got := eventsOf(t, f.c, r.ID, "staging-failed"); len(got) != maxStageTries {
		t.Errorf("%d staging-failed events, want %d", len(got), maxStageTries)
	}
	// Released while the store still fails (alpha is out of the run's
	// plans, as a lost site is): the new attempt's staging fails once
	// more, and is tried again, not held.
	if _, err := f.c.update(context.Background(), r.ID, func(r *Run, ch *store.Change) error {
		r.Excluded = []string{"alpha"}
		r.Losses = map[string]SiteLoss{"alpha": {Count: 1, Until: f.clk.Now().Add(24 * time.Hour)}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.clk.set(r.Hold.NextTry.Add(time.Second))
	for i := 0; i < 4 && r.State != Staging; i++ {
		r = f.step(t)
	}
	if r.State != Staging || r.StageTries != 0 {
		t.Fatalf("after the release: %s (%s), tries %d; want staging with its tries afresh", r.State, r.Reason, r.StageTries)
	}
	r = f.step(t)
	if r.State != Staging || r.StageTries != 1 || !r.StageNext.After(f.clk.Now()) {
		t.Fatalf("the released run's staging failing again: %s (%s), tries %d; want still staging, one try counted", r.State, r.Reason, r.StageTries)
	}
}

// TestStagingRefusedByTheStoreFailsTheRun: a store that refuses the
// server (403) would refuse every later try: the run fails at once, as
// before.
func TestStagingRefusedByTheStoreFailsTheRun(t *testing.T) {
	f, r := newStageFailFixture(t, nil)
	f.s3.refuse.Store(true)
	r = f.step(t)
	if r.State != Failed || !strings.Contains(r.Reason, "staging attempt 2 to bravo failed at dataset people") || !strings.Contains(r.Reason, "HTTP 403") || strings.Contains(r.Reason, "test store") {
		t.Fatalf("after a 403 from bravo's store: %s (%s); want failed by the staging error, the dataset and its status named and not the store's words", r.State, r.Reason)
	}
	if got := eventsOf(t, f.c, r.ID, "staging-failed"); len(got) != 0 {
		t.Errorf("timeline's staging-failed: %q; want none for a refusal", got)
	}
}

// TestStagingTriedAgainWhileTheLedgerFails: the server's own audit store
// failing to record a staging's intent stops the staging before any byte
// of the dataset moves, and the staging is tried again rather than the
// run failed.
func TestStagingTriedAgainWhileTheLedgerFails(t *testing.T) {
	var led *downLedger
	f, r := newStageFailFixture(t, func(c *Config) {
		led = &downLedger{Ledger: c.Stager.Ledger, kind: transfer.KindIntent}
		c.Stager.Ledger = led
	})
	led.down.Store(true)
	r = f.step(t)
	if r.State != Staging || r.StageTries != 1 {
		t.Fatalf("while the ledger fails: %s (%s), tries %d; want still staging, one try counted", r.State, r.Reason, r.StageTries)
	}
	if got := eventsOf(t, f.c, r.ID, "staging-failed"); len(got) != 1 || !strings.Contains(got[0], "ledger") {
		t.Errorf("timeline's staging-failed: %q; want one naming the ledger", got)
	}
	f.s3.mu.Lock()
	for k := range f.s3.objs {
		if strings.HasPrefix(k, DataPrefix("t1")) {
			t.Errorf("%s is at bravo with no intent on the ledger", k)
		}
	}
	f.s3.mu.Unlock()
	led.down.Store(false)
	f.clk.set(r.StageNext.Add(time.Second))
	if r = f.step(t); r.Staged != r.Attempt {
		t.Fatalf("once the ledger works: %s (%s), staged %d of attempt %d", r.State, r.Reason, r.Staged, r.Attempt)
	}
}

// TestStagingFailureNamesItsObject: a staging that a store's answer to
// one object's write stops names, in the run's reason, the dataset and
// that object (the tenant's own names), and the store's words still not.
// It named the dataset alone: which of its objects the store refused was
// the server's log's.
func TestStagingFailureNamesItsObject(t *testing.T) {
	f, r := newStageFailFixture(t, nil)
	base := "/bkt/" + DataPrefix("t1")
	var mu sync.Mutex
	refused := map[string]bool{}
	hook := func(req *http.Request) {
		key, ok := strings.CutPrefix(req.URL.Path, base)
		if req.Method != http.MethodPut || !ok || !strings.HasPrefix(key, dataset.ChunkPrefix("people")) {
			return
		}
		mu.Lock()
		refused[key] = true
		mu.Unlock()
		f.s3.refuse.Store(true)
	}
	f.s3.onReq.Store(&hook)
	r = f.step(t)
	if r.State != Failed || !strings.Contains(r.Reason, "HTTP 403") || strings.Contains(r.Reason, "test store") {
		t.Fatalf("after a 403 to a chunk's write: %s (%s); want failed with the status and not the store's words", r.State, r.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	named := false
	for key := range refused {
		named = named || strings.Contains(r.Reason, "failed at dataset people object "+key+" (site bravo: ")
	}
	if !named {
		t.Errorf("reason %q names none of the refused objects %v", r.Reason, refused)
	}
}

// failingAtObject is a ledger whose intents fail, while down, with a
// store's failure at the object key (dataset.ObjectError) in the server's
// words: a staging's error that names an object of a store's choosing.
type failingAtObject struct {
	transfer.Ledger
	key  string
	down atomic.Bool
}

func (l *failingAtObject) Append(ctx context.Context, tenant, kind, runID string, payload any) error {
	if l.down.Load() && kind == transfer.KindIntent {
		return &dataset.ObjectError{Key: l.key, Err: errors.New("write under /srv/meridian/state: " + errAuditStoreDown.Error())}
	}
	return l.Ledger.Append(ctx, tenant, kind, runID, payload)
}

// TestStagingFailureEscapesAHostileObjectKey: an object's key in a
// staging's failure may be of a store's choosing (one it listed): in the
// timeline and the hold's reason its line breaks, terminal escapes and
// bidirectional overrides are escaped, and a key of 10 KiB is cut to a
// few hundred bytes, with the length it had. The server's words stay out.
func TestStagingFailureEscapesAHostileObjectKey(t *testing.T) {
	key := dataset.ChunkPrefix("people") + "ab\nstaging attempt 9 to alpha passed\x1b[2J\u202eevil\xff" + strings.Repeat("x", 10<<10)
	var led *failingAtObject
	f, r := newStageFailFixture(t, func(c *Config) {
		led = &failingAtObject{Ledger: c.Stager.Ledger, key: key}
		c.Stager.Ledger = led
	})
	led.down.Store(true)
	want := " at dataset people object " + dataset.ChunkPrefix("people") + `ab\nstaging attempt 9 to alpha passed\x1b[2J\u202eevil\xff` + "xxx"
	check := func(what, text string) {
		t.Helper()
		if !strings.Contains(text, want) || !strings.Contains(text, fmt.Sprintf("… (%d bytes in all)", len(key))) {
			t.Errorf("%s %q: want the dataset and the object named, escaped and cut", what, text)
		}
		if strings.ContainsAny(text, "\n\x1b\u202e") || !utf8.ValidString(text) || len(text) > 2<<10 {
			t.Errorf("%s holds the key's characters as they are, or is %d bytes: %q", what, len(text), text)
		}
		if strings.Contains(text, "/srv/meridian") || strings.Contains(text, "database") {
			t.Errorf("%s %q: the server's words reached the tenant", what, text)
		}
	}
	for i := 0; i < maxStageTries && r.State == Staging; i++ {
		r = f.step(t)
		f.clk.set(r.StageNext.Add(time.Second))
	}
	if r.State != Held || r.Hold == nil {
		t.Fatalf("after %d failed stagings: %s (%s); want held", maxStageTries, r.State, r.Reason)
	}
	check("the run's reason", r.Reason)
	check("the hold's reason", r.Hold.Reason)
	evs := eventsOf(t, f.c, r.ID, "staging-failed")
	if len(evs) == 0 {
		t.Fatal("no staging-failed event")
	}
	for _, ev := range evs {
		check("the timeline's staging-failed", ev)
	}
}
