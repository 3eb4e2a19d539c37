package tlspin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/plainfile"
)

// TestSelfSignedLockNotThroughLink: the certificate directory's lock file
// replaced by a link had the server create (and lock) a file wherever
// the link pointed. It is refused, and nothing is made there.
func TestSelfSignedLockNotThroughLink(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "planted")
	if err := os.Symlink(target, filepath.Join(dir, "lock")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := SelfSigned(dir, []string{"127.0.0.1"}); err == nil {
		t.Errorf("a lock file that is a link: accepted")
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link's target: %v, want it never created", err)
	}
}

// TestFileFingerprintBounded: a certificate file is read to a bound (a
// link to /dev/zero read until memory ran out), and only when it is a
// regular file.
func TestFileFingerprintBounded(t *testing.T) {
	dir := t.TempDir()
	cert, _, fp, _, err := SelfSigned(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := FileFingerprint(cert); err != nil || got != fp {
		t.Fatalf("FileFingerprint of the certificate made: %q, %v; want %q", got, err, fp)
	}
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(big, append(pem, bytes.Repeat([]byte("\n"), MaxCertFile)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := FileFingerprint(big); !errors.Is(err, plainfile.ErrTooLarge) {
		t.Errorf("a certificate file over %d bytes: %q, %v; want ErrTooLarge", MaxCertFile, got, err)
	}
	if _, err := FileFingerprint(t.TempDir()); !errors.Is(err, plainfile.ErrNotRegular) {
		t.Errorf("a directory: %v, want ErrNotRegular", err)
	}
}

// TestSelfSignedKeepsCertificateItCannotRead: a certificate that is there
// but cannot be looked at (here a link to itself; on shared storage, a
// read error) is not replaced by a new pair, which would break every
// client that pinned the old one: the start fails instead.
func TestSelfSignedKeepsCertificateItCannotRead(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, CertFile)
	if err := os.Symlink(CertFile, cert); err != nil {
		t.Fatal(err)
	}
	if _, _, _, created, err := SelfSigned(dir, []string{"127.0.0.1"}); err == nil {
		t.Errorf("a certificate that cannot be looked at: no error (created %v)", created)
	}
	if fi, err := os.Lstat(cert); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the certificate's name afterwards: %v, %v; want it as it was", fi, err)
	}
}

// TestCertificateDirectorySyncedIntoItsParent: the directory of the
// server's pair was made with os.MkdirAll and never synced into its
// parent: a power loss after the pair was handed out could take it, and
// the next start made a new certificate, which every client that pinned
// the old one refuses. It is now synced into its parent.
func TestCertificateDirectorySyncedIntoItsParent(t *testing.T) {
	var synced []string
	atomicfile.SyncHook = func(dir string) { synced = append(synced, dir) }
	t.Cleanup(func() { atomicfile.SyncHook = nil })
	root := t.TempDir()
	if _, _, _, _, err := SelfSigned(filepath.Join(root, "tls"), []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(synced, root) {
		t.Errorf("%s not synced after tls/ was made in it (synced %q)", root, synced)
	}
}
