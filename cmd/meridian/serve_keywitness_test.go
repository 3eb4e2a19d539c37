package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
)

// TestServeKeyWrittenIntoKeyringIsRefused: a key written straight into a
// server's keyring file (by whoever may write the state directory, or a
// backup restored over it) was staged with and verified with as the
// tenant's dataset key, whatever key it was. The server now takes a
// keyring key only when the latest sealed dataset-key record of the
// tenant's dataset in its store names it: staging and verifying refuse
// it, naming the dataset and saying to send the key again; the key sent
// through the server (`dataset send-key`) is recorded and used.
// The witness reads the server's store, whichever it is: SQLite in the
// state directory, or PostgreSQL (skipped without one).
func TestServeKeyWrittenIntoKeyringIsRefused(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testServeKeyWrittenIntoKeyring(t, newTenants(t)) })
	t.Run("postgres", func(t *testing.T) { testServeKeyWrittenIntoKeyring(t, newTenants(t, "--store", pgtest.NewDatabase(t))) })
}

func testServeKeyWrittenIntoKeyring(t *testing.T, tv *tenants) {
	ctx := context.Background()
	doc, key := programData(t, tv.home, "planted", t.TempDir())
	org := strings.SplitN(jobFor("lab", "SG", nil, "true"), "---", 2)[0]
	if _, err := tv.alpha.Apply(ctx, []run.Document{{Name: "org.yaml", Content: org}, {Name: "d.yaml", Content: doc}}, false); err != nil {
		t.Fatal(err)
	}
	ring := filepath.Join(tv.p.state, "tenants", "alpha-lab", "keyring")
	plant := func(k seal.Key) {
		t.Helper()
		if err := os.MkdirAll(ring, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ring, "planted.key"), []byte(k.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plant(key)
	stage := run.StageRequest{Site: "sg-jurong-1", Organization: "lab"}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "dataset planted") || !strings.Contains(err.Error(), "send-key") {
			t.Errorf("%s with a key written into the server's keyring: %v, want a refusal naming dataset planted and send-key", what, err)
		}
	}
	_, err := tv.alpha.Stage(ctx, "planted", stage)
	refused("staging", err)
	_, err = tv.alpha.VerifyDataset(ctx, "planted", "sg-jurong-1")
	refused("verifying", err)
	if ds, err := tv.alpha.Datasets(ctx); err != nil || len(ds) != 1 || ds[0].KeyHeld {
		t.Errorf("datasets %+v %v, want planted without a key held", ds, err)
	}

	// The ordinary way: the tenant sends the key, the server records it.
	if err := tv.alpha.PutKey(ctx, "planted", key.String()); err != nil {
		t.Fatal(err)
	}
	if res, err := tv.alpha.Stage(ctx, "planted", stage); err != nil || !res.Allowed {
		t.Fatalf("staging with the key sent: %+v %v", res, err)
	}
	if rep, err := tv.alpha.VerifyDataset(ctx, "planted", "sg-jurong-1"); err != nil {
		t.Fatalf("verifying with the key sent: %+v %v", rep, err)
	}

	// Another key written over the one sent is refused again.
	other, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	plant(other)
	_, err = tv.alpha.VerifyDataset(ctx, "planted", "sg-jurong-1")
	if err == nil || !strings.Contains(err.Error(), "dataset planted") || !strings.Contains(err.Error(), key.Fingerprint()) {
		t.Errorf("verifying with another key written over the one sent: %v, want a refusal naming dataset planted and the recorded key %s", err, key.Fingerprint())
	}
}
