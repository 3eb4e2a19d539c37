package run

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

// TestPutKeyWaitsForTheKeyringLock: a key sent to the server (PUT
// /v1/datasets/{name}/key) was recorded and stored without the keyring's
// lock, which `meridian dataset add` on the same state directory holds
// over its own record and store: the two at once could leave stored a
// key the latest record does not name, refused from then on. The
// server's key change now holds the lock over both, and records nothing
// while another holds it.
func TestPutKeyWaitsForTheKeyringLock(t *testing.T) {
	ctx := context.Background()
	f := newLawCheckFixture(t, func(st store.Store) store.Store { return st })
	c := f.stagingController(nil)
	ds := "apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: corpus}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5}\n"
	if _, err := c.Apply(ctx, "t1", []Document{{Name: "ds.yaml", Content: ds}}, false); err != nil {
		t.Fatal(err)
	}
	kr, err := c.keyrings().For("t1")
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := kr.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.PutKey(ctx, "t1", "corpus", k.String()) }()
	select {
	case err := <-done:
		unlock()
		t.Fatalf("PutKey returned (%v) while another held the keyring's lock", err)
	case <-time.After(300 * time.Millisecond):
	}
	recs, err := f.st.AuditSelect(ctx, store.AuditQuery{Kinds: []string{dataset.KeyRecordKind}, Tenant: "t1"})
	if err != nil {
		unlock()
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("PutKey recorded %d key changes while another held the keyring's lock", len(recs))
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("PutKey after the lock was released: %v", err)
	}
	got, err := c.keyrings().Get("t1", "corpus")
	if err != nil || got != k {
		t.Fatalf("the key held after PutKey: %v (%v), want the key sent", got, err)
	}
}
