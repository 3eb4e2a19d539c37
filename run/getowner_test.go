package run

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/store"
)

// askedKey marks the context of the reads a test makes itself, so that
// the controller's own reads beside them are not counted.
type askedKey struct{}

// wholeRunReads counts the whole rows of runs (GetRun) read for a
// context marked askedKey.
type wholeRunReads struct {
	store.Store
	n *atomic.Int64
}

func (w wholeRunReads) GetRun(ctx context.Context, id string) (*store.Run, error) {
	if ctx.Value(askedKey{}) != nil {
		w.n.Add(1)
	}
	return w.Store.GetRun(ctx, id)
}

// TestGetOtherTenantsRunReadsNoRow: a tenant's GET of another tenant's
// run is answered not found without reading the run's row, whose request
// documents may be megabytes: before, the whole row was read and decoded
// and then its tenant compared, so that the time of the answer told a
// run that exists (milliseconds) from one that does not (microseconds).
// The owner's GET reads the row and gets the run.
func TestGetOtherTenantsRunReadsNoRow(t *testing.T) {
	var reads atomic.Int64
	e := newEnv(t, func(c *Config) { c.Store = wholeRunReads{Store: c.Store, n: &reads} })
	r, _, err := e.c.Submit(context.Background(), "t1", SubmitRequest{Documents: []Document{jobDoc(2, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), askedKey{}, true)
	if _, err := e.c.Get(ctx, "t2", r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant's GET: %v, want not found", err)
	}
	if n := reads.Load(); n != 0 {
		t.Errorf("another tenant's GET read the run's whole row %d times, want none", n)
	}
	if _, err := e.c.Get(ctx, "t2", "run-none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a GET of no run: %v, want not found", err)
	}
	got, err := e.c.Get(ctx, "t1", r.ID)
	if err != nil || got.ID != r.ID || len(got.Documents) == 0 {
		t.Fatalf("the owner's GET: %+v, %v; want the run with its documents", got, err)
	}
}
