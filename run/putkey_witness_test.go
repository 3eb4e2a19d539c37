package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// TestPutKeyOfDatasetWrittenOutsideMeridian: whoever can write the
// database but has no audit key rewrote a tenant's registered Dataset's
// row (its document and hash together), added one by hand with no
// register record, or deleted one outright; the tenant's key was then set
// on it all the same, while every registry read refused it. PutKey now
// confirms the row as the registry read does: a conflict naming the
// dataset and saying it was changed outside Meridian, and no key kept. A
// dataset of the same tenant as Meridian wrote it still takes its key.
func TestPutKeyOfDatasetWrittenOutsideMeridian(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	witnessed := func() *Controller {
		return f.stagingController(func(cfg *Config) { cfg.AuditChain = audit.NewChain(testAuditKey) })
	}
	dsDoc := func(name string) Document {
		return Document{Name: name + ".yaml", Content: "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: " + name + "}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5}\n"}
	}
	if _, err := witnessed().Apply(ctx, "t1", []Document{dsDoc("corpus"), dsDoc("gone"), dsDoc("plain")}, false); err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}

	var doc string
	if err := f.st.DB().QueryRowContext(ctx, `SELECT doc FROM resources WHERE tenant = 't1' AND kind = 'Dataset' AND name = 'corpus'`).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(doc, `"SG"`, `"US"`, 1)
	if moved == doc {
		t.Fatalf("registered dataset %s does not hold its origin as expected", doc)
	}
	hashOf := func(doc string) string {
		sum := sha256.Sum256([]byte(doc))
		return hex.EncodeToString(sum[:])
	}
	if _, err := f.st.DB().ExecContext(ctx, `UPDATE resources SET doc = ?, hash = ? WHERE tenant = 't1' AND kind = 'Dataset' AND name = 'corpus'`, moved, hashOf(moved)); err != nil {
		t.Fatal(err)
	}
	hand := strings.Replace(doc, `"corpus"`, `"hand"`, 1)
	if _, err := f.st.DB().ExecContext(ctx, `INSERT INTO resources (tenant, kind, name, doc, hash, store_key, version, created_at, updated_at)
		VALUES ('t1', 'Dataset', 'hand', ?, ?, '', 1, '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')`, hand, hashOf(hand)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB().ExecContext(ctx, `DELETE FROM resources WHERE tenant = 't1' AND kind = 'Dataset' AND name = 'gone'`); err != nil {
		t.Fatal(err)
	}

	keys := dataset.TenantKeyrings{Root: f.dir}
	for name, want := range map[string]string{"corpus": "its latest sealed register record names", "hand": "no sealed register record", "gone": "row is gone"} {
		err := witnessed().PutKey(ctx, "t1", name, k.String())
		var ie *InputError
		if err == nil || !errors.Is(err, ErrConflict) || !errors.As(err, &ie) || !strings.Contains(err.Error(), "Dataset "+name+" of tenant t1") ||
			!strings.Contains(err.Error(), "outside Meridian") || !strings.Contains(err.Error(), want) {
			t.Errorf("the key of dataset %s changed outside Meridian: %v, want a conflict naming it, outside Meridian and %q", name, err, want)
		}
		if _, err := keys.Get("t1", name); !errors.Is(err, dataset.ErrNoKey) {
			t.Errorf("dataset %s changed outside Meridian: key held after the refusal (%v)", name, err)
		}
	}
	// A dataset as Meridian wrote it takes its key, others refused or not.
	if err := witnessed().PutKey(ctx, "t1", "plain", k.String()); err != nil {
		t.Errorf("the key of a dataset as registered, beside rows changed outside Meridian: %v", err)
	}
	if _, err := keys.Get("t1", "plain"); err != nil {
		t.Errorf("the key of dataset plain: %v, want it held", err)
	}
	// A name not registered is still not found.
	if err := witnessed().PutKey(ctx, "t1", "nothing", k.String()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the key of a dataset not registered: %v, want not found", err)
	}
}
