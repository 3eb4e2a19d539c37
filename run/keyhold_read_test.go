package run

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestPutKeyReadsOnlyTheDatasetsHeldRuns: a key sent decoded every held
// run of its tenant (up to its bound on runs, 10,000) to find the few
// held for that key. It now decodes only those the store finds held for
// the dataset's key (ListOptions.HeldForKey), which alone the store now
// sends (it sent them all, then those naming the dataset anywhere, a
// longer name's held runs among them), and still brings forward every
// run held for its key, over several pages, a hold stored before
// Hold.KeyDataset and one whose reason words it otherwise among them;
// runs held for another dataset's key, one whose name begins with this
// one's (corpus-c0) in either form, or for the law, and another tenant's
// run held for a dataset of that name are neither brought forward, sent
// nor decoded.
func TestPutKeyReadsOnlyTheDatasetsHeldRuns(t *testing.T) {
	old := activePage
	activePage = 2
	t.Cleanup(func() { activePage = old })
	ctx := context.Background()
	st, dir := testStore(t)
	c := New(sitesConfig(st, dir))
	first, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	now := c.cfg.Now().UTC()
	next := now.Add(time.Hour)
	keyHold := func(name string) *Hold {
		return &Hold{Reason: keyHoldPrefix(1, "alpha", name) + "the server holds no key of dataset " + name,
			Code: policy.CodeNotNow, Since: now, NextTry: next, Tries: 1, KeyDataset: name}
	}
	legacy := func(name string) *Hold {
		h := keyHold(name)
		h.KeyDataset = ""
		return h
	}
	// A later version's wording: only its keyDataset names the dataset.
	reworded := keyHold("corpus-c")
	reworded.Reason = "waiting for the key of corpus-c"
	runs := []struct {
		tenant string
		hold   *Hold
		want   bool // brought forward
		read   bool // decoded
	}{
		{"t1", keyHold("corpus-c"), true, true},
		{"t1", keyHold("corpus-d"), false, false},
		{"t1", keyHold("corpus-d"), false, false},
		{"t1", legacy("corpus-c"), true, true},
		{"t1", reworded, true, true},
		{"t1", &Hold{Reason: "dataset corpus-c may not leave SG", Code: policy.CodeDenied, Rule: "r1", Since: now, NextTry: next, Tries: 1}, false, false},
		{"t1", keyHold("corpus-c0"), false, false},
		{"t1", legacy("corpus-c0"), false, false},
		{"t1", keyHold("corpus-e"), false, false},
		{"t2", keyHold("corpus-c"), false, false},
		{"t1", keyHold("corpus-c"), true, true},
	}
	for i, x := range runs {
		r := *first
		r.ID, r.Tenant, r.State, r.Attempt, r.Site = fmt.Sprintf("run-%03d", i), x.tenant, Held, 1, "alpha"
		r.Attempts = []Attempt{{N: 1, Site: "alpha"}}
		r.Hold = x.hold
		row, err := toRow(&r)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	sent := &heldRowsSent{Store: st, ids: map[string]bool{}}
	c.cfg.Store = sent
	var mu sync.Mutex
	read := map[string]bool{}
	keyHoldRead = func(id string) {
		mu.Lock()
		read[id] = true
		mu.Unlock()
	}
	t.Cleanup(func() { keyHoldRead = nil })

	n, err := c.retryKeyHolds(ctx, "t1", "corpus-c")
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i, x := range runs {
		id := fmt.Sprintf("run-%03d", i)
		got, err := c.cfg.Store.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fromRow(got)
		if err != nil {
			t.Fatal(err)
		}
		forward := r.Hold != nil && r.Hold.NextTry.Before(next)
		if forward != x.want {
			t.Errorf("%s (%s, %q): brought forward %v, want %v", id, x.tenant, r.Hold.Reason, forward, x.want)
		}
		if x.want {
			want++
		}
		if read[id] && !x.read {
			t.Errorf("%s (%s, held for the key of %s) was decoded for the key of corpus-c", id, x.tenant, x.hold.KeyDataset)
		}
		if sent.ids[id] && !x.read {
			t.Errorf("%s (%s, held for the key of %s) was read from the store for the key of corpus-c", id, x.tenant, x.hold.KeyDataset)
		}
	}
	if n != want {
		t.Errorf("%d runs brought forward, want %d", n, want)
	}
}

// heldRowsSent records the ids of the runs the store it wraps sends in
// its lists of held runs.
type heldRowsSent struct {
	store.Store
	mu  sync.Mutex
	ids map[string]bool
}

func (h *heldRowsSent) ListRuns(ctx context.Context, o store.ListOptions) ([]*store.Run, error) {
	rows, err := h.Store.ListRuns(ctx, o)
	if len(o.States) == 1 && o.States[0] == string(Held) {
		h.mu.Lock()
		for _, r := range rows {
			h.ids[r.ID] = true
		}
		h.mu.Unlock()
	}
	return rows, err
}

// TestLiteralInJSONOnlyForPlainNames: the shortcut is taken only for a
// name every JSON encoder writes as it is; another is decoded in full.
func TestLiteralInJSONOnlyForPlainNames(t *testing.T) {
	for _, name := range []string{"corpus-c", "a.b_c-9", "CORPUS"} {
		if string(literalInJSON(name)) != name {
			t.Errorf("%q: no shortcut", name)
		}
	}
	for _, name := range []string{"", `a"b`, `a\b`, "<x>", "a&b", "ü", "a b", "a\u2028b"} {
		if literalInJSON(name) != nil {
			t.Errorf("%q: shortcut taken for a name an encoder may escape", name)
		}
	}
}
