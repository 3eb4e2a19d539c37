package run

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// TestAbandonedCopyRemoved: the run's latest checkpoint has a corrupt
// chunk in its store, so its copy to the move's target stops part-way and
// the move falls back to an older checkpoint. What the abandoned copy had
// sent stayed at the target and on the ledger, and nothing ever removed
// it: the sweep of a run's sites removes what the run's agents sealed, not
// a move's copies. It is now withdrawn, and the withdrawal recorded, when
// the copy is given up.
func TestAbandonedCopyRemoved(t *testing.T) {
	f := newCkMoveFixture(t)
	ctx := context.Background()
	name := "ckpt-" + f.r.ID + "-a1-60"
	key, err := f.c.runKeys().GetOrCreate(f.r.ID)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(key, name)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for i := range 8 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("shard-%d.bin", i)), []byte(strings.Repeat(fmt.Sprintf("shard %d at step 60\n", i), 3000)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	alpha, err := f.c.Site("alpha")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.OpenStore(ctx, f.c.SiteStore(alpha))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dataset.Add(ctx, dataset.AddOptions{Name: name, Root: src, Store: b.Sub(CheckpointPrefix("t1")), Sealer: sealer})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	// One of its chunks, the last the store lists, is damaged at alpha.
	var chunks []string
	root := strings.TrimPrefix(f.c.SiteStore(alpha), "file://")
	if err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.ToSlash(p), "/"+name+"/chunks/") {
			chunks = append(chunks, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 {
		t.Fatalf("checkpoint %s has %d chunks at alpha; the test wants several", name, len(chunks))
	}
	raw, err := os.ReadFile(chunks[len(chunks)-1])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(chunks[len(chunks)-1], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		latest := *f.ck
		latest.Step, latest.Name, latest.SHA256, latest.Bytes = 60, name, res.ManifestSHA256, res.Bytes
		r.setCheckpoint(&latest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.step(t)
	if r.State != Staging || r.Checkpoint == nil || r.Checkpoint.Step != 40 || r.Checkpoint.Site != "bravo" {
		t.Fatalf("step 60 corrupt, step 40 intact: %s, checkpoint %+v (%s); want staging from step 40 at bravo", r.State, r.Checkpoint, r.Reason)
	}
	f.s3.mu.Lock()
	var left []string
	for k := range f.s3.objs {
		if strings.Contains(k, "/"+name+"/") {
			left = append(left, k)
		}
	}
	f.s3.mu.Unlock()
	if len(left) > 0 {
		t.Errorf("the abandoned copy of step 60 left %d objects at bravo: %q", len(left), left)
	}
	copies, err := f.c.stagedCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range copies {
		if cp.dataset == name {
			t.Errorf("the ledger still lists the abandoned copy %+v", cp)
		}
	}
	if got := eventsOf(t, f.c, r.ID, "checkpoint-fallback"); len(got) != 1 || !strings.Contains(got[0], "step 60") {
		t.Errorf("timeline's checkpoint-fallback: %q; want one naming step 60 passed over", got)
	}
}
