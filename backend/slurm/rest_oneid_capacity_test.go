package slurm

import (
	"context"
	"net/http/httptest"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestRESTCapacityCountsALaterAttemptsJobOfAnEndedID: job 7 (capacitySite)
// was attempt r1-1's first, whose record was retired (ended/7), and is
// now attempt r1-2's (handle 7:r1-2). A capacity poll over slurmrestd did
// not count it as the server's (30, not 32). Once r1-2's job is retired
// too, it counts no more.
func TestRESTCapacityCountsALaterAttemptsJobOfAnEndedID(t *testing.T) {
	srv := httptest.NewServer(capacitySite(10, 16))
	defer srv.Close()
	r := capacityREST(t, srv.URL)
	if err := r.rec.retire("7", "r1-1"); err != nil {
		t.Fatal(err)
	}
	if h, err := r.rec.recordHandle("r1-2", "7"); err != nil || h != "7:r1-2" {
		t.Fatalf("handle of r1-2 = %q, %v; want 7:r1-2", h, err)
	}
	capacity := func() int {
		t.Helper()
		got, err := r.Capacity(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return got[backend.SiteAccelerator]
	}
	if got, want := capacity(), 3*10+2; got != want {
		t.Errorf("capacity %d; want %d (job 7, r1-2's, counted as the server's)", got, want)
	}
	if err := r.rec.retire("7", "r1-2"); err != nil {
		t.Fatal(err)
	}
	if got, want := capacity(), 3*10; got != want {
		t.Errorf("capacity after r1-2's job was retired %d; want %d", got, want)
	}
	if h, ok := r.rec.recorded("r1-2"); !ok || h != "7:r1-2" {
		t.Errorf("r1-2's handle after its job was retired = %q, %v; want 7:r1-2", h, ok)
	}
	if got, want := capacity(), 3*10; got != want {
		t.Errorf("capacity after r1-2's handle was read again %d; want %d (its retired record not listed again)", got, want)
	}
}
