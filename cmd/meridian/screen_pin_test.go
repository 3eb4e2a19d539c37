package main

import (
	"context"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestScreenedTransferLawPins: the server stages through the screened law
// in force (screenTransferLaw over the rules state). What a staging pins
// through it must be a revision's own engine, screened, not the changing
// state again: otherwise a staging's decision and the rules its ledger
// entry lists could still come from two revisions.
func TestScreenedTransferLawPins(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "m.db"), store.Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := rules.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	scr := &screen.Screener{Store: &screen.Store{Dir: filepath.Join(dir, "screening")}}
	law := screenTransferLaw{rs, scr}
	var lw transfer.Law = law
	p, ok := lw.(transfer.Pinner)
	if !ok {
		t.Fatal("the server's transfer law cannot be pinned")
	}
	pinned, ok := p.Pin().(screenTransferLaw)
	if !ok {
		t.Fatalf("pinned %T; want the law screened", p.Pin())
	}
	if _, ok := pinned.law.(*policy.Engine); !ok {
		t.Fatalf("pinned over %T; want one revision's engine", pinned.law)
	}
	if pinned.law != rs.Current().Engine {
		t.Fatal("pinned over another engine than the revision in force")
	}
}
