package backendtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/internal/flock"
)

// Exclusive holds a machine-wide lock called name until the test ends, so
// tests in different packages (go test runs packages in parallel) that share
// one scheduler partition and fail it on purpose do not run at once.
func Exclusive(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*Timeout)
	defer cancel()
	unlock, err := flock.Lock(ctx, filepath.Join(os.TempDir(), "meridian-backendtest-"+name+".lock"))
	if err != nil {
		t.Fatalf("take test lock %s: %v", name, err)
	}
	t.Cleanup(unlock)
}
