package backendtest

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// CapacityReporter is a backend that reports what its site can give.
type CapacityReporter interface {
	Capacity(ctx context.Context) (map[string]int, error)
}

// Capacity asks r once, logging how long the call took, and returns its
// one site-wide figure (backend.SiteAccelerator); any other answer fails
// the test.
func Capacity(t testing.TB, ctx context.Context, r CapacityReporter, what string) int {
	t.Helper()
	start := time.Now()
	got, err := r.Capacity(ctx)
	if err != nil {
		t.Fatalf("Capacity (%s): %v", what, err)
	}
	t.Logf("Capacity (%s) = %v in %v", what, got, time.Since(start).Round(time.Microsecond))
	n, ok := got[backend.SiteAccelerator]
	if !ok || len(got) != 1 {
		t.Fatalf("Capacity (%s) = %v, want one figure keyed %q", what, got, backend.SiteAccelerator)
	}
	return n
}
