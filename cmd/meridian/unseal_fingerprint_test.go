package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/dataset"
)

// runCLIStderr is runCLI that also returns what the command wrote on
// standard error.
func runCLIStderr(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// TestAttackUnsealReplacedKey: whoever can write both the job's key file
// and the site's store can seal a dataset of the same name under a key of
// their own and put both in place; age proves nothing about who wrapped a
// key, and every chunk then authenticates. Unseal read the forgery as the
// dataset and said nothing. Now --key-fingerprint (as dataset key
// --fingerprint prints it, or the audit log's 16 digits) refuses any
// other key before the store is read, and without it or a manifest pin
// unseal warns on standard error.
func TestAttackUnsealReplacedKey(t *testing.T) {
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	t.Setenv("MERIDIAN_AGE_IDENTITY", "")
	dir := t.TempDir()
	add := func(home, content string) {
		t.Helper()
		t.Setenv("MERIDIAN_HOME", home)
		src := filepath.Join(home, "src")
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "a.txt"), []byte(content), 0o644)
		if _, err := runCLI(t, "dataset", "add", "logs", "--from", src, "--origin", "US", "--classification", "public"); err != nil {
			t.Fatal(err)
		}
	}
	owner, attacker := filepath.Join(dir, "owner"), filepath.Join(dir, "attacker")
	add(attacker, "forged")
	add(owner, "genuine")
	fp, err := runCLI(t, "dataset", "key", "logs", "--fingerprint")
	fp = strings.TrimSpace(fp)
	if err != nil || len(fp) != 64 {
		t.Fatalf("dataset key --fingerprint: %q %v", fp, err)
	}
	ownerKey, err := dataset.Keyring{Dir: filepath.Join(owner, "keyring")}.Get("logs")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fp, ownerKey.Fingerprint()) {
		t.Fatalf("fingerprint %s does not begin with the audit log's %s", fp, ownerKey.Fingerprint())
	}
	if _, err := runCLI(t, "dataset", "key", "logs", "--fingerprint", "--plain"); err == nil {
		t.Fatal("dataset key --fingerprint --plain accepted")
	}
	attackerKey, _ := os.ReadFile(filepath.Join(attacker, "keyring", "logs.key"))
	forgedStore := "file://" + filepath.Join(attacker, "store")
	keyFile := filepath.Join(dir, "job.key")
	unseal := func(to string, extra ...string) (string, error) {
		t.Helper()
		os.WriteFile(keyFile, attackerKey, 0o600)
		args := append([]string{"dataset", "unseal", "logs", "--store", forgedStore, "--key-file", keyFile, "--to", to}, extra...)
		_, stderr, err := runCLIStderr(t, args...)
		return stderr, err
	}

	// Documented usage still works on the forgery, but says that nothing
	// vouches for the key.
	stderr, err := unseal(filepath.Join(dir, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "--key-fingerprint") || !strings.Contains(stderr, "--key-file") {
		t.Errorf("no warning for an unvouched key:\n%s", stderr)
	}

	for _, want := range []string{fp, ownerKey.Fingerprint()} {
		to := filepath.Join(dir, "fp-"+want[:4]+"-"+string(rune('a'+len(want)%26)))
		_, err := unseal(to, "--key-fingerprint", want)
		if !errors.Is(err, errKeyFingerprint) || report(io.Discard, err) != exitError {
			t.Fatalf("--key-fingerprint %s with the attacker's key: %v", want, err)
		}
		if ents, _ := os.ReadDir(to); len(ents) > 0 {
			t.Errorf("--key-fingerprint %s: a refused key wrote %d entries", want, len(ents))
		}
	}
	for _, bad := range []string{"xyz", strings.ToUpper(fp), fp[:20]} {
		os.WriteFile(keyFile, attackerKey, 0o600)
		_, err := runCLI(t, "dataset", "unseal", "logs", "--store", forgedStore, "--key-file", keyFile, "--key-fingerprint", bad, "--to", filepath.Join(dir, "bad"))
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.Contains(err.Error(), "--key-fingerprint") {
			t.Errorf("--key-fingerprint %q: %v", bad, err)
		}
		if _, err := os.Stat(keyFile); err != nil {
			t.Errorf("--key-fingerprint %q: a malformed flag removed the key file: %v", bad, err)
		}
	}
	// verify takes it as well: the forgery verifies under its own key.
	os.WriteFile(keyFile, attackerKey, 0o600)
	if _, err := runCLI(t, "dataset", "verify", "logs", "--store", forgedStore, "--key-file", keyFile, "--key-fingerprint", fp); !errors.Is(err, errKeyFingerprint) {
		t.Errorf("verify with the attacker's key and the owner's fingerprint: %v", err)
	}

	// The owner's key, vouched for, unseals the owner's store without a
	// warning.
	ownerText, _ := os.ReadFile(filepath.Join(owner, "keyring", "logs.key"))
	os.WriteFile(keyFile, ownerText, 0o600)
	to := filepath.Join(dir, "genuine")
	_, stderr, err = runCLIStderr(t, "dataset", "unseal", "logs", "--store", "file://"+filepath.Join(owner, "store"), "--key-file", keyFile, "--key-fingerprint", fp, "--to", to)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("warning despite --key-fingerprint:\n%s", stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(to, "a.txt")); string(got) != "genuine" {
		t.Errorf("unsealed %q", got)
	}
}
