package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestSweepRecordsBoundedWhateverTheWorkloadWrote: the sweep of a site a
// run left removes every object its workload wrote under the run's
// checkpoint names there, however many; the audit entries it writes for
// them are bounded (sweepNamed, each its own, and one for the rest of the
// pass) rather than one per object the workload chose to write. The one
// for the rest says how many checkpoints it covers, their objects and
// bytes, names the first of them and carries the digest of all their
// names.
func TestSweepRecordsBoundedWhateverTheWorkloadWrote(t *testing.T) {
	sweepMany(t, false)
}

// TestSweepRecordsEachCheckpointThatCrossed: a checkpoint of the run at the
// left site that the ledger lists there (a move copied it: it crossed a
// border) has its own withdrawal entry, however many the sweep removes
// beside it, and is off the ledger after it.
func TestSweepRecordsEachCheckpointThatCrossed(t *testing.T) {
	sweepMany(t, true)
}

// sweepMany seals many checkpoints of a run at alpha, the last of them on
// the ledger there when crossed, and checks the entries of their sweep.
func sweepMany(t *testing.T, crossed bool) {
	f, rs, names := newSweepFixture(t)
	older, resume, other := names[0], names[1], names[2]
	ctx := context.Background()
	const extra = 3 * sweepNamed
	removed := []string{older, resume}
	for i := range extra {
		name := fmt.Sprintf("ckpt-%s-a1-%d", f.r.ID, 1000+i)
		sealAt(t, f, "alpha", name)
		removed = append(removed, name)
	}
	copied := removed[len(removed)-1] // past the first sweepNamed
	slices.Sort(removed)
	if crossed {
		rec, err := audit.NewRecord(transfer.KindTransfer, f.r.ID, transfer.Entry{Kind: transfer.KindCheckpoint, Dataset: copied, Site: "alpha",
			From: "MY", To: "SG", AsOf: "2026-01-01", RunID: f.r.ID, Chunks: 1, ChunksSent: 1, Bytes: 10, BytesSent: 10, Complete: true})
		if err != nil {
			t.Fatal(err)
		}
		rec.Tenant = "t1"
		if err := f.st.AppendAudit(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if !onLedger(t, f, copied) {
			t.Fatalf("%s is not on the ledger at alpha", copied)
		}
	}
	// What the store holds of each, by an independent listing.
	_, alpha, err := f.c.worldSite(f.r, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.OpenStore(ctx, f.c.SiteStore(alpha))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	held := map[string]int64{}
	for obj, err := range b.Sub(CheckpointPrefix("t1")).List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		if parts := strings.Split(obj.Key, "/"); len(parts) > 2 {
			held[parts[1]] += obj.Size
		}
	}
	if _, _, err := rs.Apply(ctx, rules.Change{Files: []policy.File{transferPack("test-no-sg", "No data to SG", "transfer.to == 'SG'", "")}}, "admin", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Site != "bravo" {
		t.Fatalf("after the move: %s (%s), checkpoint %+v; want staging from bravo", r.State, r.Reason, r.Checkpoint)
	}
	r = f.step(t)
	checkAlphaSwept(t, f, r, other, "")

	var own []string
	var rest []transfer.Withdrawn
	for _, w := range withdrawalsOf(t, f, r.ID) {
		checkNoSGWithdrawal(t, w, r.ID)
		if w.Checkpoints == 0 {
			own = append(own, w.Dataset)
		} else {
			rest = append(rest, w)
		}
	}
	wantOwn := sweepNamed
	if crossed {
		wantOwn++
		if !slices.Contains(own, copied) {
			t.Errorf("%s, on the ledger, has no entry of its own: %v", copied, own)
		}
		if onLedger(t, f, copied) {
			t.Errorf("%s is still on the ledger at alpha after its withdrawal", copied)
		}
	}
	if len(own) != wantOwn || len(rest) != 1 {
		t.Fatalf("%d entries of one checkpoint each and %d of several; want %d and 1 (%d checkpoints removed)", len(own), len(rest), wantOwn, len(removed))
	}
	w := rest[0]
	var left []string
	var bytes int64
	for _, name := range removed {
		if !slices.Contains(own, name) {
			left = append(left, name)
			bytes += held[name]
		}
	}
	h := sha256.New()
	for _, name := range left {
		h.Write([]byte(name + "\n"))
	}
	if w.Checkpoints != len(left) || w.Dataset != "ckpt-"+r.ID+"-*" || w.Bytes != bytes || w.Objects < len(left) {
		t.Errorf("the entry for the rest: %d checkpoints as %q, %d objects, %d bytes; want %d as ckpt-%s-*, %d bytes",
			w.Checkpoints, w.Dataset, w.Objects, w.Bytes, len(left), r.ID, bytes)
	}
	if !slices.Equal(w.Names, left[:sweepNamed]) {
		t.Errorf("the entry names %v; want the first %d of those it covers, %v", w.Names, sweepNamed, left[:sweepNamed])
	}
	if got := hex.EncodeToString(h.Sum(nil)); w.NamesSHA256 != got {
		t.Errorf("the entry's digest of the names %s; want %s", w.NamesSHA256, got)
	}
}

// onLedger says whether the ledger lists the run's checkpoint name at alpha.
func onLedger(t *testing.T, f *ckMoveFixture, name string) bool {
	t.Helper()
	listed, err := f.c.ledgerCopies(context.Background(), store.AuditQuery{RunID: f.r.ID, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(listed, func(l stagedCopy) bool {
		return l.checkpoint() && l.dataset == name && l.site == "alpha" && l.run == f.r.ID
	})
}
