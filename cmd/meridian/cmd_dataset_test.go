package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// TestDatasetCommands drives add → stage (denied, then allowed) → ledger →
// verify → unseal through the CLI on real files.
func TestDatasetCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte(strings.Repeat("record\n", 100000)), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "b.txt"), []byte("hello"), 0o644)
	siteStore := filepath.Join(dir, "sitestore")
	siteFile := testSiteFile(t, dir, "file://"+siteStore)
	// The exporter: staging personal data out of CN needs to know who
	// exports it (CIIO status, yearly volumes).
	orgFile := filepath.Join(dir, "org.yaml")
	os.WriteFile(orgFile, []byte("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: lab}\nspec: {headquarters: CN}\n"), 0o644)

	// Bad input: unknown classification, exit 2, nothing registered.
	_, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "CN", "--classification", "secret")
	var ce *codeError
	if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.Contains(err.Error(), "spec.classification") {
		t.Fatalf("bad classification: %v", err)
	}
	if _, err := os.Stat(filepath.Join(home, "datasets", "logs.yaml")); err == nil {
		t.Fatal("dataset registered despite bad input")
	}
	_, err = runCLI(t, "dataset", "add", "logs", "--from", filepath.Join(dir, "missing"), "--origin", "CN", "--classification", "public")
	if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.Contains(err.Error(), "--from") {
		t.Fatalf("missing --from dir: %v", err)
	}
	os.Symlink("/etc/passwd", filepath.Join(src, "escape"))
	_, err = runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "CN", "--classification", "public")
	if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.Contains(err.Error(), "escapes the dataset root") {
		t.Fatalf("symlink out of --from: %v", err)
	}
	os.Remove(filepath.Join(src, "escape"))

	if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "CN", "--classification", "personal", "--subjects", "200000"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(home, "keyring", "logs.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}

	// A transfer happens today: a date given without --dry-run is refused,
	// so that nobody can stage under the law of another day.
	_, err = runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "--as-of", "2015-01-01")
	if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.Contains(err.Error(), "--as-of") {
		t.Fatalf("backdated stage: %v", err)
	}
	// Personal data without a basis may not leave CN, today or, asked with
	// --dry-run, on another date; nothing moves either way.
	out, err := runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "-f", orgFile, "--org", "lab", "--dry-run", "--as-of", "2026-01-15")
	if !errors.As(err, &ce) || ce.code != exitNoPlacement || !strings.Contains(out, "would be refused") || !strings.Contains(out, "cn-cbdf-2024-contract") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	_, err = runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "-f", orgFile, "--org", "lab")
	if !errors.As(err, &ce) || ce.code != exitNoPlacement || !strings.Contains(err.Error(), "rule cn-cbdf-2024-contract") || !strings.Contains(err.Error(), "source:") {
		t.Fatalf("stage without basis: %v", err)
	}
	if _, err := os.Stat(siteStore); err == nil {
		t.Fatal("site store written after a denial")
	}

	if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "CN", "--classification", "personal", "--subjects", "200000", "--basis", "cn-standard-contract"); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "dataset", "stage", "logs", "--to", "test-site", "-f", siteFile, "-f", orgFile, "--org", "lab", "--run", "run-7", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ent struct {
		ChunksSent, Chunks int
		Basis, From, To    string
		RunID              string `json:"runId"`
		Manifest           string `json:"manifestSha256"`
	}
	if err := json.Unmarshal([]byte(out), &ent); err != nil {
		t.Fatal(err)
	}
	if ent.ChunksSent == 0 || ent.ChunksSent != ent.Chunks || ent.Basis != "cn-standard-contract" || ent.From != "CN" || ent.To != "MY" || ent.RunID != "run-7" || !validPin(ent.Manifest) {
		t.Fatalf("stage result %+v", ent)
	}

	out, err = runCLI(t, "dataset", "ledger", "logs")
	if err != nil || !strings.Contains(out, "CN→MY") || !strings.Contains(out, "run-7") {
		t.Fatalf("ledger: %v\n%s", err, out)
	}
	// The ledger is the audit log's transfer entries, and the chain verifies.
	key, _ := audit.LoadKey(home)
	db, err := store.OpenSQLite(context.Background(), filepath.Join(home, "meridian.db"), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.VerifyAudit(context.Background())
	es, _ := db.AuditEntries(context.Background(), "run-7")
	db.Close()
	// Each batch: an intent before it was sent, a confirmation after.
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	if err != nil || !res.OK || len(es) < 2 || kinds[0] != transfer.KindIntent || kinds[len(kinds)-1] != audit.KindTransfer {
		t.Fatalf("audit chain: %+v %v, run-7 entries %v", res, err, kinds)
	}

	if out, err := runCLI(t, "dataset", "verify", "logs", "--at", "test-site", "-f", siteFile); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	// The key goes to the job as a 0600 file that unseal removes.
	keyData, _ := os.ReadFile(filepath.Join(home, "keyring", "logs.key"))
	keyFile := filepath.Join(dir, "job.key")
	os.WriteFile(keyFile, keyData, 0o600)
	outDir := filepath.Join(dir, "scratch")
	// Pinned to another version (the digest of another manifest): refused
	// before anything is written, the key file kept for the next try.
	other := strings.Repeat("0", 64)
	if _, err := runCLI(t, "dataset", "unseal", "logs", "--store", "file://"+siteStore+"/t/default/data", "--key-file", keyFile, "--keep-key-file", "--manifest-sha256", other, "--to", outDir); err == nil || !strings.Contains(err.Error(), "not the version recorded") {
		t.Fatalf("unseal pinned to another version: %v", err)
	}
	if ents, _ := os.ReadDir(outDir); len(ents) > 0 {
		t.Fatalf("a refused version wrote %d entries", len(ents))
	}
	if _, err := runCLI(t, "dataset", "unseal", "logs", "--store", "file://"+siteStore+"/t/default/data", "--key-file", keyFile, "--keep-key-file", "--manifest-sha256", "ABC", "--to", outDir); err == nil || !strings.Contains(err.Error(), "--manifest-sha256") {
		t.Fatalf("unseal with a malformed pin: %v", err)
	}
	if _, err := runCLI(t, "dataset", "unseal", "logs", "--store", "file://"+siteStore+"/t/default/data", "--key-file", keyFile, "--manifest-sha256", ent.Manifest, "--to", outDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Fatal("key file left after unseal")
	}
	got, _ := os.ReadFile(filepath.Join(outDir, "sub", "b.txt"))
	if string(got) != "hello" {
		t.Fatalf("unsealed b.txt = %q", got)
	}

	// With MERIDIAN_AGE_IDENTITY the owner's keyring holds only wrapped keys.
	ownerID, _ := age.GenerateX25519Identity()
	ownerIDFile := filepath.Join(dir, "owner-identity.txt")
	os.WriteFile(ownerIDFile, []byte(ownerID.String()+"\n"), 0o600)
	t.Setenv("MERIDIAN_AGE_IDENTITY", ownerIDFile)
	if _, err := runCLI(t, "dataset", "add", "wrapped", "--from", src, "--origin", "US", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "keyring", "wrapped.key")); err == nil {
		t.Fatal("plain key written despite MERIDIAN_AGE_IDENTITY")
	}
	if _, err := runCLI(t, "dataset", "verify", "wrapped", "--store", "file://"+filepath.Join(home, "store")); err != nil {
		t.Fatalf("verify with an age-wrapped keyring key: %v", err)
	}
	t.Setenv("MERIDIAN_AGE_IDENTITY", "")

	// Age-wrapped delivery: the owner wraps the key for the job's identity.
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(dir, "job-identity.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	wrapped, err := runCLI(t, "dataset", "key", "logs", "--age-recipient", id.Recipient().String())
	if err != nil || !strings.HasPrefix(wrapped, "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("dataset key: %v\n%s", err, wrapped)
	}
	wrappedFile := filepath.Join(dir, "job.key.age")
	os.WriteFile(wrappedFile, []byte(wrapped), 0o600)
	out2 := filepath.Join(dir, "scratch2")
	if _, err := runCLI(t, "dataset", "unseal", "logs", "--store", "file://"+siteStore+"/t/default/data", "--key-file", wrappedFile, "--to", out2); err == nil || !strings.Contains(err.Error(), "--age-identity") {
		t.Fatalf("unseal of a wrapped key without identity: %v", err)
	}
	os.WriteFile(wrappedFile, []byte(wrapped), 0o600)
	if _, err := runCLI(t, "dataset", "unseal", "logs", "--store", "file://"+siteStore+"/t/default/data", "--key-file", wrappedFile, "--age-identity", idFile, "--to", out2); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out2, "sub", "b.txt")); string(got) != "hello" {
		t.Fatalf("unsealed with age-delivered key: %q", got)
	}
}

// TestDatasetLedgerGolden pins the ledger's table and JSON forms.
func TestDatasetLedgerGolden(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	ctx := context.Background()
	key, err := audit.LoadKey(home)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenSQLite(ctx, filepath.Join(home, "meridian.db"), store.Options{AuditKey: key,
		Now: func() time.Time { return time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	l := audit.NewLog(db)
	entries := []transfer.Entry{
		{Dataset: "chat-logs", Site: "my-johor-1", From: "CN", To: "MY", Basis: "cn-standard-contract",
			Rules: []string{"cn-cbdf-2024-contract", "cn-pipl-39-consent"}, AsOf: "2026-01-15", RunID: "run-1",
			Chunks: 40, ChunksSent: 40, Bytes: 62914560, BytesSent: 62915720},
		{Dataset: "web-crawl", Site: "sg-1", From: "US", To: "SG", Basis: "none-required", Rules: []string{},
			AsOf: "2026-01-15", Chunks: 10, ChunksSent: 1, Bytes: 15728640, BytesSent: 1572893},
		{Dataset: "chat-logs", Site: "my-johor-1", From: "CN", To: "MY", Basis: "cn-standard-contract",
			Rules: []string{"cn-cbdf-2024-contract", "cn-pipl-39-consent"}, AsOf: "2026-01-16", RunID: "run-2",
			Chunks: 40, Bytes: 62914560},
	}
	for _, e := range entries {
		if err := l.Append(ctx, transfer.KindTransfer, e.RunID, e); err != nil {
			t.Fatal(err)
		}
	}
	// Another kind in the same chain is not a transfer.
	if err := l.Append(ctx, audit.KindState, "run-1", map[string]string{"state": "queued"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"dataset-ledger.txt", []string{"dataset", "ledger"}},
		{"dataset-ledger-chat-logs.json", []string{"dataset", "ledger", "chat-logs", "-o", "json"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, err := runCLI(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out)
		})
	}
}
