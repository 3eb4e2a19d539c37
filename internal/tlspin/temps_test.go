package tlspin

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/internal/flock"
)

// TestSelfSignedRemovesKilledWritersTemps: a server killed while writing
// the pair left its temporary files (a private key among them) in the
// certificate directory for good. The next start removes them, under the
// lock every writer of the pair holds; while another holds it, they stay.
func TestSelfSignedRemovesKilledWritersTemps(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, _, err := SelfSigned(dir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	temps := []string{filepath.Join(dir, ".key.pem.tmp-12345"), filepath.Join(dir, ".cert.pem.tmp-678")}
	other := filepath.Join(dir, ".notes.tmp-1")
	for _, p := range append(temps, other) {
		if err := os.WriteFile(p, []byte("torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Another server holds the lock, writing the pair: its temporary
	// files are left alone until it lets go.
	unlock, err := flock.Lock(context.Background(), filepath.Join(dir, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, _, _, err := SelfSigned(dir, []string{"127.0.0.1"})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	for _, p := range temps {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed while another writer held the lock: %v", filepath.Base(p), err)
		}
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range temps {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", filepath.Base(p), err)
		}
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("a file not the pair's temporary: %v, want it kept", err)
	}
}
