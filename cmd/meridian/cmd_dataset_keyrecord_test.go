package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
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

// keyRecords counts the dataset-key records of the state directory's
// audit log.
func keyRecords(t *testing.T, home string) int {
	t.Helper()
	r, err := store.OpenAuditReader(context.Background(), filepath.Join(home, "meridian.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	es, err := r.AuditSelect(context.Background(), store.AuditQuery{Kinds: []string{dataset.KeyRecordKind}, AllTenants: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestDatasetKeyRecordAll: after an upgrade every key dataset add made
// before is refused until recorded, which took one command per dataset.
// dataset key --record --all records each key no record names (one
// audit record each), lists every key with its fingerprint and outcome,
// leaves a recorded key's record alone, never records over a record that
// names another key (that key is listed refused and the command fails),
// and lists no link put in the keyring.
func TestDatasetKeyRecordAll(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("line\n"), 0o644)
	if _, err := runCLI(t, "dataset", "add", "added", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(home, "keyring")
	old1, _ := seal.NewKey()
	old2, _ := seal.NewKey()
	for name, k := range map[string]seal.Key{"old1": old1, "old2": old2} {
		if err := os.WriteFile(filepath.Join(keyring, name+".key"), []byte(k.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := filepath.Join(t.TempDir(), "x.key")
	os.WriteFile(elsewhere, []byte(old1.String()+"\n"), 0o600)
	if err := os.Symlink(elsewhere, filepath.Join(keyring, "linked.key")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--all"}, {"added", "--record", "--all"}, {"--plain", "--all"}} {
		if _, err := runCLI(t, append([]string{"dataset", "key"}, args...)...); err == nil || !strings.Contains(err.Error(), "--all") {
			t.Fatalf("dataset key %v: %v, want a refusal naming --all", args, err)
		}
	}
	before := keyRecords(t, home)

	out, err := runCLI(t, "dataset", "key", "--record", "--all")
	if err != nil {
		t.Fatalf("record --all: %v\n%s", err, out)
	}
	for _, want := range []string{"old1 ", old1.Fingerprint() + " recorded now", old2.Fingerprint() + " recorded now", "added ", "recorded already", "3 keys: 2 recorded now, 1 recorded already, 0 refused"} {
		if !strings.Contains(out, want) {
			t.Fatalf("listing lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "linked") {
		t.Fatalf("a link in the keyring was listed:\n%s", out)
	}
	if n := keyRecords(t, home); n != before+2 {
		t.Fatalf("key records: %d, want %d (one per key recorded)", n, before+2)
	}
	for name, k := range map[string]seal.Key{"old1": old1, "old2": old2} {
		if out, err := runCLI(t, "dataset", "key", name, "--fingerprint"); err != nil || strings.TrimSpace(out) != keyDigest(k) {
			t.Fatalf("%s after record --all: %v\n%s", name, err, out)
		}
	}

	// Again: nothing more is recorded.
	if out, err := runCLI(t, "dataset", "key", "--record", "--all"); err != nil || !strings.Contains(out, "0 recorded now, 3 recorded already") {
		t.Fatalf("record --all again: %v\n%s", err, out)
	}
	// A key written over a recorded one is refused, not recorded over.
	planted, _ := seal.NewKey()
	os.WriteFile(filepath.Join(keyring, "old2.key"), []byte(planted.String()+"\n"), 0o600)
	out, err = runCLI(t, "dataset", "key", "--record", "--all")
	if err == nil || !strings.Contains(out, "old2 ") || !strings.Contains(out, "refused") || !strings.Contains(out, planted.Fingerprint()) || !strings.Contains(out, "1 refused") {
		t.Fatalf("record --all with a key written over its record: %v\n%s", err, out)
	}
	if n := keyRecords(t, home); n != before+2 {
		t.Fatalf("key records after a refusal: %d, want %d", n, before+2)
	}
	if _, err := runCLI(t, "dataset", "key", "old2", "--fingerprint"); !errors.Is(err, dataset.ErrKeyUnrecorded) {
		t.Fatalf("the planted key after record --all: %v", err)
	}
}

// TestDatasetKeyRecordedBesidePostgresSaysSendIt: on a state directory
// whose servers keep their audit log in PostgreSQL, dataset add and
// dataset key --record (one key, or --all) record the key in the
// directory's own log, which those servers never read: they refuse the key
// until it is sent. Each now says so, naming the send-key command; on a
// directory without such servers nothing is said.
func TestDatasetKeyRecordedBesidePostgresSaysSendIt(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("line\n"), 0o644)
	add := []string{"dataset", "add", "logs", "--from", src, "--origin", "SG", "--classification", "public"}

	_, stderr, err := runCLIStderr(t, add...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "send-key") {
		t.Fatalf("dataset add without servers on PostgreSQL: %s", stderr)
	}

	if err := os.WriteFile(filepath.Join(home, "store.shared"), []byte("postgres\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	says := func(what, stderr string, names ...string) {
		t.Helper()
		for _, want := range append([]string{"PostgreSQL", "store.shared", "do not read", "refuse"}, names...) {
			if !strings.Contains(stderr, want) {
				t.Fatalf("%s beside servers on PostgreSQL: stderr lacks %q:\n%s", what, want, stderr)
			}
		}
	}
	_, stderr, err = runCLIStderr(t, add...)
	if err != nil {
		t.Fatal(err)
	}
	says("dataset add", stderr, "meridian dataset send-key logs --server URL")

	old, _ := seal.NewKey()
	if err := os.WriteFile(filepath.Join(home, "keyring", "old.key"), []byte(old.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = runCLIStderr(t, "dataset", "key", "old", "--record")
	if err != nil {
		t.Fatal(err)
	}
	says("dataset key --record", stderr, "meridian dataset send-key old --server URL")
	_, stderr, err = runCLIStderr(t, "dataset", "key", "--record", "--all")
	if err != nil {
		t.Fatal(err)
	}
	says("dataset key --record --all", stderr, "send-key NAME --server URL, for each")
}
