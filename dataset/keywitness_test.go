package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
)

func openKeyLog(t *testing.T, auditKey string) *store.SQLite { return openKeyLogB(t, auditKey) }

func openKeyLogB(t testing.TB, auditKey string) *store.SQLite {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), store.Options{AuditKey: []byte(auditKey)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeKeyFile puts key in the keyring's file for name as someone with
// write access to the state directory would: without Meridian.
func writeKeyFile(t *testing.T, k Keyring, name string, key seal.Key) {
	t.Helper()
	if err := os.MkdirAll(k.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(k.Dir, name+".key"), []byte(key.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKeyWrittenIntoKeyringOutsideMeridianIsRefused: a key file rewritten
// by hand, one no record names (a key planted for a dataset, or kept from
// before keys were recorded), and a backup's older key put back are each
// refused with an error naming the dataset and the key; the key Meridian
// made and recorded is taken.
func TestKeyWrittenIntoKeyringOutsideMeridianIsRefused(t *testing.T) {
	const auditKey = "0123456789abcdef"
	ctx := context.Background()
	db := openKeyLog(t, auditKey)
	w := &KeyWitness{Log: db, Chain: audit.NewChain([]byte(auditKey)), Remedy: "send the key again"}
	keys := TenantKeyrings{Root: t.TempDir(), Witness: w}
	kr, err := keys.For("acme")
	if err != nil {
		t.Fatal(err)
	}
	made, err := kr.GetOrCreate("chat")
	if err != nil {
		t.Fatal(err)
	}
	got, err := keys.Get("acme", "chat")
	if err != nil || got != made {
		t.Fatalf("the recorded key: %v (same: %v)", err, got == made)
	}

	other, _ := seal.NewKey()
	writeKeyFile(t, kr, "chat", other)
	_, err = keys.Get("acme", "chat")
	if !errors.Is(err, ErrKeyUnrecorded) || !strings.Contains(err.Error(), "dataset chat") ||
		!strings.Contains(err.Error(), other.Fingerprint()) || !strings.Contains(err.Error(), made.Fingerprint()) {
		t.Fatalf("a key written into the keyring by hand: %v", err)
	}
	// Not another tenant's record either: the same name under another
	// tenant is another key.
	other2, err := keys.For("other")
	if err != nil {
		t.Fatal(err)
	}
	writeKeyFile(t, other2, "chat", made)
	if _, err := keys.Get("other", "chat"); !errors.Is(err, ErrKeyUnrecorded) || !strings.Contains(err.Error(), "no sealed record") || !strings.Contains(err.Error(), "send the key again") {
		t.Fatalf("a key no record names: %v", err)
	}

	// A backup restored: the key recorded before a change.
	writeKeyFile(t, kr, "chat", made)
	newer, _ := seal.NewKey()
	if err := w.Record(ctx, "acme", "chat", newer, "tenant acme"); err != nil {
		t.Fatal(err)
	}
	if err := kr.Put("chat", newer); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Get("acme", "chat"); err != nil {
		t.Fatalf("the changed key, recorded: %v", err)
	}
	writeKeyFile(t, kr, "chat", made)
	if _, err := keys.Get("acme", "chat"); !errors.Is(err, ErrKeyUnrecorded) {
		t.Fatalf("an older recorded key put back: %v", err)
	}

	// Records sealed under another audit key (rows written into the
	// database by hand) name no key.
	forged := &KeyWitness{Log: db, Chain: audit.NewChain([]byte("another-key-0000"))}
	if _, err := (TenantKeyrings{Root: keys.Root, Witness: forged}).Get("acme", "chat"); !errors.Is(err, ErrKeyUnrecorded) {
		t.Fatalf("records not sealed under the log's key: %v", err)
	}
}

// TestKeyAdoptRecordsAnUnrecordedKeyOnce: a key kept from before keys were
// recorded is taken once its owner adopts it, and adoption never records
// over a record that names another key.
func TestKeyAdoptRecordsAnUnrecordedKeyOnce(t *testing.T) {
	const auditKey = "0123456789abcdef"
	ctx := context.Background()
	db := openKeyLog(t, auditKey)
	kr := Keyring{Dir: filepath.Join(t.TempDir(), "keyring")}
	old, err := kr.GetOrCreate("logs") // no witness: as before records
	if err != nil {
		t.Fatal(err)
	}
	kr.Witness = &KeyWitness{Log: db, Chain: audit.NewChain([]byte(auditKey))}
	if _, err := kr.Get("logs"); !errors.Is(err, ErrKeyUnrecorded) {
		t.Fatalf("an unrecorded key before adoption: %v", err)
	}
	got, err := kr.Adopt(ctx, "logs", "owner")
	if err != nil || got != old {
		t.Fatalf("adopt: %v", err)
	}
	if got, err := kr.Get("logs"); err != nil || got != old {
		t.Fatalf("the adopted key: %v", err)
	}
	other, _ := seal.NewKey()
	writeKeyFile(t, kr, "logs", other)
	if _, err := kr.Adopt(ctx, "logs", "owner"); !errors.Is(err, ErrKeyUnrecorded) {
		t.Fatalf("adopting a key that differs from its record: %v", err)
	}
}
