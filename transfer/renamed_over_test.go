package transfer

import (
	"context"
	"os"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestAttackSiteRenamesANewWriteOverACountedOne: a reconcile counted the
// temporary file a killed write of a chunk left at the site, and was
// killed before it removed it. A later copy's write of the same chunk was
// cut too, and the site renamed that write's file over the counted one's
// name: the next reconcile took it for the counted write, grown, and
// counted only the bytes beyond the first's, though both writes crossed.
// A write counted before now counts only beyond that for an intent of
// the staging it was counted for (which wrote nothing after); a later
// copy's intent has it counted in full.
func TestAttackSiteRenamesANewWriteOverACountedOne(t *testing.T) {
	f := newFixture(t, 6, 200<<10, "")
	ctx := context.Background()
	lacking, obj, cut := cutStagingLacking(t, f)
	eighth := int(obj.Bytes / 8)
	first := plantTemp(t, f, obj.Key, "0123456789abcdef", 3*eighth)
	site, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	key, _ := f.keys.Get("chat-logs")
	sealer, _ := seal.New(key, "chat-logs")
	cr := CopyRequest{Name: "chat-logs", Sealer: sealer, Dst: site, Entry: Entry{Kind: KindDataset, Site: f.site.Metadata.Name}}
	// Killed once the part is counted, before it is removed.
	s := f.stager()
	s.Ledger = failKind{f.ledger, KindAbandoned}
	if _, err := s.Reconcile(ctx, cr); err == nil {
		t.Fatal("reconcile with the ledger refusing abandonments returned no error")
	}
	if _, err := os.Stat(first); err != nil {
		t.Fatalf("the counted part is gone after the kill: %v", err)
	}
	// A later copy (another staging) writes the chunk again, cut after
	// 5/8 of it; the site renames that write's file over the counted one.
	e := lacking.Entry
	e.Staging = "a-later-copy"
	if err := f.ledger.Append(ctx, "", KindIntent, "", Intent{ID: "later-write", Entry: e, Objects: []Object{obj}}); err != nil {
		t.Fatal(err)
	}
	second := plantTemp(t, f, obj.Key, "fedcba9876543210", 5*eighth)
	if err := os.Rename(second, first); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stager().Reconcile(ctx, cr); err != nil {
		t.Fatal(err)
	}
	_, ents, err := ReadFileLedger(f.ledger.Path, "chat-logs")
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	for _, e := range ents[len(cut):] {
		for _, p := range e.Partial {
			if p.Key == obj.Key {
				got += p.Bytes
			}
		}
	}
	if want := int64(8 * eighth); got < want {
		t.Fatalf("the ledger counts %d bytes of parts of %s; %d crossed (3/8 and then 5/8)", got, obj.Key, want)
	}
}
