package run

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// restLostStore is a store whose ledger, once armed, fails the first write
// of a withdrawal entry that lose picks (by default, a sweep's entry for
// the rest of a pass, of several checkpoints), writing nothing: the server
// dying as it records them.
type restLostStore struct {
	store.Store
	armed atomic.Bool
	lose  func(transfer.Withdrawn) bool
}

func (s *restLostStore) AppendAudit(ctx context.Context, recs ...audit.Record) error {
	lose := s.lose
	if lose == nil {
		lose = func(w transfer.Withdrawn) bool { return w.Checkpoints > 0 }
	}
	for _, rec := range recs {
		var w transfer.Withdrawn
		if rec.Kind == transfer.KindWithdrawn && json.Unmarshal(rec.Payload, &w) == nil && lose(w) && s.armed.CompareAndSwap(true, false) {
			return errors.New("test: the server died as it recorded a withdrawal")
		}
	}
	return s.Store.AppendAudit(ctx, recs...)
}

// TestSweptRestRecordedBeforeItGoes: a left site's sweep whose entry for
// the checkpoints past its first sweepNamed is lost removes none of them;
// the next pass removes them, and every checkpoint removed is covered by
// an entry. The rest were removed first and their entry written after:
// lost, the next pass found them gone and recorded nothing.
func TestSweptRestRecordedBeforeItGoes(t *testing.T) {
	ls := &restLostStore{}
	f, rs, names := newSweepFixtureWith(t, func(cfg *Config) {
		ls.Store = cfg.Store
		cfg.Store = ls
	})
	older, resume, other := names[0], names[1], names[2]
	ctx := context.Background()
	const extra = 3 * sweepNamed
	removed := map[string]bool{older: true, resume: true}
	for i := range extra {
		name := fmt.Sprintf("ckpt-%s-a1-%d", f.r.ID, 1000+i)
		sealAt(t, f, "alpha", name)
		removed[name] = true
	}
	r := sweepLosingAnEntry(t, f, rs, ls, "the rest")
	gone := 0
	at := map[string]bool{}
	for _, name := range checkpointsAt(t, f, "alpha") {
		at[name] = true
	}
	for name := range removed {
		if !at[name] {
			gone++
		}
	}
	covered := 0
	for _, w := range withdrawalsOf(t, f, r.ID) {
		covered += max(w.Checkpoints, 1)
	}
	if covered != gone {
		t.Errorf("after the pass whose entry was lost: %d checkpoints gone from alpha, %d covered by entries", gone, covered)
	}
	if _, _, err := f.c.sweep(ctx, r.ID); err != nil {
		t.Fatalf("the next pass: %v", err)
	}
	r, err := f.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAlphaSwept(t, f, r, other, " after the next pass")
	covered = 0
	for _, w := range withdrawalsOf(t, f, r.ID) {
		checkNoSGWithdrawal(t, w, r.ID)
		covered += max(w.Checkpoints, 1)
	}
	if covered != len(removed) {
		t.Errorf("%d checkpoints removed from alpha, %d covered by entries", len(removed), covered)
	}
}

// TestSweptCheckpointRecordedBeforeItGoes: a left site's sweep whose
// entry for one checkpoint (on no ledger) is lost does not remove it; the
// next pass removes and records it. It was removed first and its entry
// written after: lost, the next pass found it gone and recorded nothing.
func TestSweptCheckpointRecordedBeforeItGoes(t *testing.T) {
	ls := &restLostStore{}
	f, rs, names := newSweepFixtureWith(t, func(cfg *Config) {
		ls.Store = cfg.Store
		cfg.Store = ls
	})
	older, resume, other := names[0], names[1], names[2]
	ls.lose = func(w transfer.Withdrawn) bool { return w.Dataset == older }
	ctx := context.Background()
	r := sweepLosingAnEntry(t, f, rs, ls, older)
	if _, _, err := f.c.sweep(ctx, r.ID); err != nil {
		t.Fatalf("the next pass: %v", err)
	}
	r, err := f.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAlphaSwept(t, f, r, other, " after the next pass")
	recorded := map[string]int{}
	for _, w := range withdrawalsOf(t, f, r.ID) {
		checkNoSGWithdrawal(t, w, r.ID)
		recorded[w.Dataset]++
	}
	if recorded[older] != 1 || recorded[resume] != 1 {
		t.Errorf("withdrawal entries %v; want one for each of %s and %s", recorded, older, resume)
	}
}

// TestSweepRecordsNothingWhileAStagingHoldsTheStore: a pass of a left
// site's sweep that finds a staging holding the store records no
// withdrawal (nothing is removed); once the store is free, the next pass
// records each checkpoint once.
func TestSweepRecordsNothingWhileAStagingHoldsTheStore(t *testing.T) {
	f, rs, names := newSweepFixture(t)
	older, resume, other := names[0], names[1], names[2]
	ctx := context.Background()
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", "transfer.to == 'SG'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s (%s), checkpoint %+v; want staging from bravo", r.State, r.Reason, r.Checkpoint)
	}
	alpha, err := f.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, unlock, err := f.c.lockStaging(ctx, f.c.SiteStore(alpha)+"|t1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.c.sweep(ctx, r.ID); err == nil {
		t.Error("the pass while a staging holds alpha's store reports no failure")
	}
	if w := withdrawalsOf(t, f, r.ID); len(w) != 0 {
		t.Errorf("withdrawals recorded while nothing could be removed: %+v", w)
	}
	unlock()
	if _, _, err := f.c.sweep(ctx, r.ID); err != nil {
		t.Fatalf("the next pass: %v", err)
	}
	r, err = f.c.Get(ctx, "t1", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkAlphaSwept(t, f, r, other, " after the next pass")
	recorded := map[string]int{}
	for _, w := range withdrawalsOf(t, f, r.ID) {
		recorded[w.Dataset]++
	}
	if len(recorded) != 2 || recorded[older] != 1 || recorded[resume] != 1 {
		t.Errorf("withdrawal entries %v; want one for each of %s and %s", recorded, older, resume)
	}
}

// sweepLosingAnEntry closes SG, so that the run moves off alpha, and runs
// one sweep of alpha whose entry for what (one that ls.lose picks) is
// lost; it returns the run as the move left it.
func sweepLosingAnEntry(t *testing.T, f *ckMoveFixture, rs *rules.State, ls *restLostStore, what string) *Run {
	t.Helper()
	ctx := context.Background()
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", "transfer.to == 'SG'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s (%s), checkpoint %+v; want staging from bravo", r.State, r.Reason, r.Checkpoint)
	}
	ls.armed.Store(true)
	if _, _, err := f.c.sweep(ctx, r.ID); err == nil {
		t.Fatal("the pass whose entry was lost reports no failure")
	}
	if ls.armed.Load() {
		t.Fatalf("the pass wrote no entry for %s", what)
	}
	return r
}

// TestSweptRestSumSaturates: the bytes a sweep records as withdrawn are
// the sum of what the site's listing claims for each name, each claim at
// most the largest int64 (dataset.ListedWithPrefix saturates it): two
// such names wrapped the sum to a negative withdrawal. It now stops at
// the largest int64, and a negative claim adds nothing.
func TestSweptRestSumSaturates(t *testing.T) {
	rest := sweptRest{digest: sha256.New()}
	rest.add("ckpt-r-1", 3, math.MaxInt64)
	rest.add("ckpt-r-2", 3, math.MaxInt64)
	rest.add("ckpt-r-3", -5, -7)
	if rest.bytes != math.MaxInt64 || rest.objects != 6 || rest.count != 3 {
		t.Errorf("swept rest: %d objects, %d bytes of %d names; want 6, %d, 3", rest.objects, rest.bytes, rest.count, int64(math.MaxInt64))
	}
}
