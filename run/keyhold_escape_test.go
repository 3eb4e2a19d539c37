package run

import (
	"bytes"
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// TestPutKeyBringsForwardAHoldNamingItsDatasetWithAnEscape: a run whose
// stored data spells its hold's dataset with a JSON escape (corpus\u002dc,
// a row written outside Meridian) is listed by the store for corpus-c,
// whose column decodes the escape, but was passed by undecoded, as its
// data did not hold the name as written: the send never brought it
// forward. It is decoded and brought forward now.
func TestPutKeyBringsForwardAHoldNamingItsDatasetWithAnEscape(t *testing.T) {
	ctx := context.Background()
	st, dir := testStore(t)
	c := New(sitesConfig(st, dir))
	first, _, err := c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{jobDoc(100, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	now := c.cfg.Now().UTC()
	next := now.Add(time.Hour)
	r := *first
	r.ID, r.State, r.Attempt, r.Site = "run-escaped", Held, 1, "alpha"
	r.Attempts = []Attempt{{N: 1, Site: "alpha"}}
	r.Hold = &Hold{Reason: "waiting for a key", Code: policy.CodeNotNow, Since: now, NextTry: next, Tries: 1, KeyDataset: "corpus-c"}
	row, err := toRow(&r)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`"keyDataset":"corpus-c"`)
	if !bytes.Contains(row.Data, plain) {
		t.Fatalf("the run's data does not hold %s: %s", plain, row.Data)
	}
	row.Data = bytes.Replace(row.Data, plain, []byte(`"keyDataset":"corpus\u002dc"`), 1)
	if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	n, err := c.retryKeyHolds(ctx, "t1", "corpus-c")
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := fromRow(got)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || back.Hold == nil || !back.Hold.NextTry.Before(next) {
		t.Errorf("a hold naming corpus\\u002dc: %d brought forward, hold %+v; want it brought forward by the key of corpus-c", n, back.Hold)
	}
}
