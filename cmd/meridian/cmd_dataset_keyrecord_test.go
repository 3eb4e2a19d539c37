package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
)

// TestDatasetKeyWrittenIntoKeyringIsRefused: a key written straight into
// the owner's keyring file (by whoever may write the state directory, or a
// backup restored over it) is refused by stage, unseal and key export,
// naming the dataset and the key; the key dataset add made and recorded
// stages as before.
func TestDatasetKeyWrittenIntoKeyringIsRefused(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte(strings.Repeat("line\n", 1000)), 0o644)
	siteStore := filepath.Join(dir, "sitestore")
	siteFile := testSiteFile(t, dir, "file://"+siteStore)

	if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile); err != nil {
		t.Fatalf("stage with the recorded key: %v\n%s", err, out)
	}
	keyPath := filepath.Join(home, "keyring", "logs.key")
	recorded, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	planted, _ := seal.NewKey()
	if err := os.WriteFile(keyPath, []byte(planted.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, dataset.ErrKeyUnrecorded) || !strings.Contains(err.Error(), "dataset logs") || !strings.Contains(err.Error(), planted.Fingerprint()) {
			t.Fatalf("%s with a key written into the keyring: %v", what, err)
		}
	}
	// Handed out (before, it was printed as the dataset's), staged,
	// unsealed: each refused.
	_, err = runCLI(t, "dataset", "key", "logs", "--plain")
	refused("key --plain", err)
	_, err = runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile)
	refused("stage", err)
	_, err = runCLI(t, "dataset", "unseal", "logs", "--at", "test-site", "-f", siteFile, "--to", filepath.Join(dir, "out"))
	refused("unseal", err)
	// --record does not take over a key that differs from its record.
	_, err = runCLI(t, "dataset", "key", "logs", "--record")
	refused("key --record", err)

	// The recorded key put back is taken again.
	if err := os.WriteFile(keyPath, recorded, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "dataset", "unseal", "logs", "--at", "test-site", "-f", siteFile, "--to", filepath.Join(dir, "out")); err != nil {
		t.Fatalf("unseal with the recorded key: %v\n%s", err, out)
	}
}

// TestDatasetKeyFromBeforeRecordsIsRecordedOnce: a key in the keyring that
// no record names (kept from before keys were recorded) is refused, with
// the way to record it; once its owner records it, it is used.
func TestDatasetKeyFromBeforeRecordsIsRecordedOnce(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	old, _ := seal.NewKey()
	os.MkdirAll(filepath.Join(home, "keyring"), 0o700)
	if err := os.WriteFile(filepath.Join(home, "keyring", "old.key"), []byte(old.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "dataset", "key", "old", "--fingerprint")
	if !errors.Is(err, dataset.ErrKeyUnrecorded) || !strings.Contains(err.Error(), "no sealed record") || !strings.Contains(err.Error(), "dataset key NAME --record") {
		t.Fatalf("an unrecorded key: %v", err)
	}
	out, err := runCLI(t, "dataset", "key", "old", "--record")
	if err != nil || !strings.Contains(out, old.Fingerprint()) {
		t.Fatalf("record: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "dataset", "key", "old", "--fingerprint"); err != nil || strings.TrimSpace(out) != keyDigest(old) {
		t.Fatalf("the recorded key: %v\n%s", err, out)
	}
}
