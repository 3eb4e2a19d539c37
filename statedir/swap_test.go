package statedir

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSecretModeIsTheFileRead: Secret read the key, then checked the mode
// of whatever the name held by then. A key others could read (one a local
// user with write access to the directory put there, and so knew), with a
// 0600 file renamed over it between the read and the check, was taken as
// the server's secret. The mode checked is now the file read's.
func TestSecretModeIsTheFileRead(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	path := d.Join(AuditKey)
	known := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	if err := os.WriteFile(path, []byte(known), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(d.Path, "private")
	if err := os.WriteFile(private, []byte("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testHookSecretRead = func() {
		if err := os.Rename(private, path); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookSecretRead = nil }()
	if key, err := d.Secret(AuditKey); err == nil {
		t.Errorf("a key of mode 0644, swapped for a 0600 file after it was read: accepted (%x)", key)
	}
}
