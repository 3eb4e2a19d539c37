package run

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestHeldForKeyMatchesTheHoldsDataset: a key hold was matched to its
// dataset by its reason's text alone, so a hold whose wording a later
// version changed was never brought forward by its key, and a hold whose
// reason read like another dataset's was brought forward by that
// dataset's key. The hold now names its dataset (Hold.KeyDataset), and
// only a hold written before that field is read by its reason.
func TestHeldForKeyMatchesTheHoldsDataset(t *testing.T) {
	held := func(h Hold) *Run {
		h.Code = policy.CodeNotNow
		if h.Tries == 0 {
			h.Tries = 1
		}
		return &Run{State: Held, Site: "alpha", Attempt: 2, Data: Data{Hold: &h}}
	}
	textOf := func(name string) string {
		return keyHoldPrefix(2, "alpha", name) + "the server holds no key of dataset " + name
	}
	for _, c := range []struct {
		what      string
		r         *Run
		name      string
		want      bool
		wantOther bool // for corpus-c-again
	}{
		{"reworded by a later version", held(Hold{KeyDataset: "corpus-c", Reason: "dataset corpus-c: its key is needed (meridian dataset send-key corpus-c)"}), "corpus-c", true, false},
		{"reason reads like another dataset's", held(Hold{KeyDataset: "corpus-c-again", Reason: textOf("corpus-c")}), "corpus-c", false, true},
		{"field and reason agree", held(Hold{KeyDataset: "corpus-c", Reason: textOf("corpus-c")}), "corpus-c", true, false},
		// stillHeld rewrote it for another reason, clearing the field: a
		// hold of no placement now, not of the key
		// (TestStillHeldRewriteEndsOnlyAnotherReasonsKeyHold).
		{"rewritten by a later try", held(Hold{Reason: "no feasible placement as of 2026-12-06 (3 candidates rejected)", Tries: 2}), "corpus-c", false, false},
	} {
		if got := heldForKey(c.r, c.name); got != c.want {
			t.Errorf("%s: held for the key of %s = %v, want %v", c.what, c.name, got, c.want)
		}
		if got := heldForKey(c.r, "corpus-c-again"); got != c.wantOther {
			t.Errorf("%s: held for the key of corpus-c-again = %v, want %v", c.what, got, c.wantOther)
		}
	}

	// A hold written before the field: read as it was stored, matched by
	// its reason alone, for its own dataset only.
	var old Hold
	if err := json.Unmarshal([]byte(`{"reason":`+jsonText(t, textOf("corpus-c"))+`,"code":"`+policy.CodeNotNow+`","since":"2026-12-06T10:00:00Z","nextTry":"2026-12-06T11:00:00Z","tries":1}`), &old); err != nil {
		t.Fatalf("a hold stored before KeyDataset: %v", err)
	}
	r := &Run{State: Held, Site: "alpha", Attempt: 2, Data: Data{Hold: &old}}
	if !heldForKey(r, "corpus-c") {
		t.Error("a key hold stored before KeyDataset is not matched by its reason")
	}
	for _, other := range []string{"corpus-c-again", "corpus", "corpus-c2"} {
		if heldForKey(r, other) {
			t.Errorf("a key hold of corpus-c stored before KeyDataset is matched for %s", other)
		}
	}

	// Other holds store no such field, so older servers read them as
	// they did.
	b, err := json.Marshal(&Hold{Reason: "x", Code: policy.CodeNotNow})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "keyDataset") {
		t.Errorf("a hold with no key dataset stored as %s; want the field left out", b)
	}
}

func jsonText(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPutKeyBringsForwardOnlyTheDatasetsRuns: two runs of one tenant held
// for the keys of two datasets, corpus-c and corpus-c-again (a stored
// dataset's name is a DNS label, catalog names DNS subdomains: no name
// holds the space or parenthesis that would make keyHoldPrefix's text read
// as another's; the text match fails once the wording changes instead). The hold of corpus-c is
// reworded, as a later version would word it, and the hold of
// corpus-c-again begins as corpus-c's once did. The key of corpus-c
// brings forward the run held for it, and not the other.
func TestPutKeyBringsForwardOnlyTheDatasetsRuns(t *testing.T) {
	ctx := context.Background()
	c, clk, file, r := keyHoldFixture(t)
	c.cfg.HoldRetry = time.Hour
	key, err := file.Get("corpus-c")
	if err != nil {
		t.Fatal(err)
	}
	res := addDataset(t, c.cfg.StateDir, file, testData{name: "corpus-c-again", origin: "SG", class: catalog.ClassPublic, stored: true})
	other, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{dataJobDoc(10, 5, []string{"corpus-c-again"}, true, res)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"corpus-c", "corpus-c-again"} {
		if err := file.Remove(n); err != nil {
			t.Fatal(err)
		}
	}
	r = stepUntil(t, c, r.ID, 6, Planned, Staging)
	other = stepUntil(t, c, other.ID, 6, Planned, Staging)
	for _, x := range []struct {
		r    *Run
		name string
	}{{r, "corpus-c"}, {other, "corpus-c-again"}} {
		if x.r.State != Held || x.r.Hold == nil || x.r.Hold.KeyDataset != x.name {
			t.Fatalf("run over %s with its key missing: %s (%+v); want held for its key", x.name, x.r.State, x.r.Hold)
		}
	}
	reword := func(id, reason string) {
		t.Helper()
		if _, err := c.update(ctx, id, func(r *Run, ch *store.Change) error {
			r.Hold.Reason = reason
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	reword(r.ID, "waiting for the key of dataset corpus-c (meridian dataset send-key corpus-c)")
	reword(other.ID, keyHoldPrefix(other.Attempt, other.Site, "corpus-c")+"the server holds no key of dataset corpus-c")
	nextOther := other.Hold.NextTry

	if err := c.PutKey(ctx, "t1", "corpus-c", key.String()); err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	if got, _ := c.Get(ctx, "t1", r.ID); got.Hold == nil || got.Hold.NextTry.After(now) {
		t.Errorf("run held for the key of corpus-c after the key was sent: %s next try %v; want now (%s)", got.State, got.Hold, now)
	}
	if got, _ := c.Get(ctx, "t1", other.ID); got.Hold == nil || !got.Hold.NextTry.Equal(nextOther) {
		t.Errorf("run held for the key of corpus-c-again after corpus-c's was sent: %s next try %v; want still %s", got.State, got.Hold, nextOther)
	}
}

// TestStillHeldRewriteEndsOnlyAnotherReasonsKeyHold: a key hold that a
// later try (stillHeld) rewrites for another reason no longer waits for
// the key, and the key brings it forward no more, whether the hold named
// its dataset or was stored before it did; one retried with the same
// reason still waits for the key, with a try count past one, and the key
// brings it forward (heldForKey refused it for that count alone).
func TestStillHeldRewriteEndsOnlyAnotherReasonsKeyHold(t *testing.T) {
	ctx := context.Background()
	c, _, file, r := keyHoldFixture(t)
	c.cfg.HoldRetry = time.Hour
	if err := file.Remove("corpus-c"); err != nil {
		t.Fatal(err)
	}
	r = stepUntil(t, c, r.ID, 6, Planned, Staging)
	if r.State != Held || r.Hold == nil || r.Hold.KeyDataset != "corpus-c" {
		t.Fatalf("run with its dataset key missing: %s (%+v); want held for the key of corpus-c", r.State, r.Hold)
	}
	keyReason := r.Hold.Reason
	get := func() *Run {
		t.Helper()
		got, err := c.Get(ctx, "t1", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Retried with the same reason: still the key's hold.
	if err := c.stillHeld(ctx, r.ID, keyReason, policy.CodeNotNow, "", 0, "", nil); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.Hold.Tries != 2 || !heldForKey(got, "corpus-c") {
		t.Errorf("a key hold retried with its reason (tries %d): held for the key %v, want true", got.Hold.Tries, heldForKey(got, "corpus-c"))
	}
	if n, err := c.retryKeyHolds(ctx, "t1", "corpus-c"); err != nil || n != 1 {
		t.Errorf("the key brought %d runs forward (err %v), want the one retried with its reason", n, err)
	}
	for _, legacy := range []bool{false, true} {
		// Held for the key again, as stored before the field when legacy.
		if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			r.Hold.Reason, r.Hold.KeyDataset, r.Hold.NextTry = keyReason, "corpus-c", c.cfg.Now().Add(time.Hour)
			if legacy {
				r.Hold.KeyDataset = ""
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !heldForKey(get(), "corpus-c") {
			t.Fatalf("legacy %v: the hold is not the key's", legacy)
		}
		if err := c.stillHeld(ctx, r.ID, "no feasible placement as of 2026-12-06 (3 candidates rejected)", policy.CodeNotNow, "", 0, "", nil); err != nil {
			t.Fatal(err)
		}
		if got := get(); heldForKey(got, "corpus-c") {
			t.Errorf("legacy %v: a key hold rewritten for another reason (%q, dataset %q) is still the key's", legacy, got.Hold.Reason, got.Hold.KeyDataset)
		}
		if n, err := c.retryKeyHolds(ctx, "t1", "corpus-c"); err != nil || n != 0 {
			t.Errorf("legacy %v: the key brought %d runs forward (err %v), want none", legacy, n, err)
		}
	}
}
