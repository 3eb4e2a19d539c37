package run

import (
	"context"
	"testing"

	"meridian.dev/meridian/store"
)

// retriedUpdates is a store that, as the Store contract allows, calls an
// update's function more than once: the first call's write is lost to a
// conflict (another writer, whose change, set, commits first), and the
// function is called again on the row as that left it.
type retriedUpdates struct {
	store.Store
	set func(r *Run)
}

func (s *retriedUpdates) UpdateRun(ctx context.Context, id string, fn func(*store.Run) (store.Change, error)) (*store.Run, error) {
	row, err := s.Store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := fn(row); err != nil {
		return nil, err
	}
	// The conflicting writer.
	if _, err := s.Store.UpdateRun(ctx, id, func(row *store.Run) (store.Change, error) {
		r, err := fromRow(row)
		if err != nil {
			return store.Change{}, err
		}
		s.set(r)
		nr, err := toRow(r)
		if err != nil {
			return store.Change{}, err
		}
		row.Data = nr.Data
		return store.Change{}, nil
	}); err != nil {
		return nil, err
	}
	return s.Store.UpdateRun(ctx, id, fn)
}

// TestUpdateRetriedReturnsNoUnwrittenRun: an update whose first try lost
// to another writer, and whose second found nothing to change, returns no
// run. It returned the run as the lost first try had changed it, a run
// never written, which its caller then took as the run's state (and the
// server told the run's watchers of it).
func TestUpdateRetriedReturnsNoUnwrittenRun(t *testing.T) {
	f, _, _ := newSweepFixture(t)
	ctx := context.Background()
	cfg := f.c.cfg
	cfg.Store = &retriedUpdates{Store: cfg.Store, set: func(r *Run) { r.Reason = "set by another writer" }}
	c := New(cfg)
	got, err := c.update(ctx, f.r.ID, func(r *Run, ch *store.Change) error {
		if r.Reason == "set by another writer" {
			return store.ErrNoChange
		}
		r.Reason = "never written"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != nil && got.Reason == "never written" {
		t.Errorf("update returned the run as its lost first try left it (reason %q)", got.Reason)
	}
	if r, err := c.Get(ctx, "t1", f.r.ID); err != nil || r.Reason != "set by another writer" {
		t.Fatalf("stored run: reason %q (%v)", r.Reason, err)
	}
}
