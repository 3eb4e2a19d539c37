package tlspin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSelfSignedRefusesKeyOthersMayRead: a self-signed certificate found
// from an earlier start is used only while its private key is the
// owner's alone (a key restored from a backup, or unpacked, as 0644 could
// be copied by any local user, who could then impersonate the server to
// every client that pinned it). The check names the file and the fix.
func TestSelfSignedRefusesKeyOthersMayRead(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, created, err := SelfSigned(dir, []string{"127.0.0.1"}); err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	key := filepath.Join(dir, KeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err := SelfSigned(dir, []string{"127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("a key of mode 0644: %v, want a refusal naming it", err)
	}
	os.Chmod(key, 0o600)
	if _, _, _, created, err := SelfSigned(dir, []string{"127.0.0.1"}); err != nil || created {
		t.Fatalf("mode 0600 again: %v %v", created, err)
	}
}
