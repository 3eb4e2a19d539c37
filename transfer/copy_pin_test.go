package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestCopyPinned: a pinned copy (a checkpoint moving to the run's next
// site) takes only the manifest version the pin names. A source store
// that holds another version under the same name, which authenticates
// under the same key, is refused before anything is sent or recorded.
func TestCopyPinned(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 2, 64<<10, "")
	home := filepath.Join(filepath.Dir(f.siteDir), "home")
	pinOf := func() string {
		raw, err := os.ReadFile(filepath.Join(home, filepath.FromSlash(dataset.ManifestKey(f.ds.Metadata.Name))))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		return hex.EncodeToString(sum[:])
	}
	recorded := pinOf()
	writeRandom(t, filepath.Join(f.src, "shard-000"), 64<<10, 99)
	f.add(t)
	if pinOf() == recorded {
		t.Fatal("two versions have one digest")
	}
	key, err := f.keys.Get(f.ds.Metadata.Name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := seal.New(key, f.ds.Metadata.Name)
	src, err := dataset.OpenStore(ctx, f.home)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := dataset.OpenStore(ctx, f.site.Spec.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	cr := CopyRequest{Name: f.ds.Metadata.Name, Sealer: s, Src: src, Dst: dst, Tenant: "t1",
		Entry: Entry{Kind: KindCheckpoint, Dataset: f.ds.Metadata.Name, Site: f.site.Metadata.Name}, Pin: recorded}
	if _, err := f.stager().Copy(ctx, cr); !errors.Is(err, dataset.ErrManifestPin) {
		t.Fatalf("copy of another version: %v, want ErrManifestPin", err)
	}
	n := 0
	filepath.WalkDir(f.siteDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != 0 {
		t.Fatalf("a refused copy wrote %d files at the destination", n)
	}
	if recs, err := f.ledger.Records(ctx, "t1"); err != nil || len(recs) != 0 {
		t.Fatalf("a refused copy left %d ledger records (%v)", len(recs), err)
	}
	cr.Pin = pinOf()
	if _, err := f.stager().Copy(ctx, cr); err != nil {
		t.Fatalf("copy of the pinned version: %v", err)
	}
}
