package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"meridian.dev/meridian/store"
)

// poolLimit is the limit of pool 0 of site s with max accelerators.
func poolLimit(site string, max int) store.Limit {
	return store.Limit{Name: "pool 0 of Site/" + site, Site: site, Pool: 0, Max: max}
}

func heldRun(id, tenant, site, acc string, count int) *store.Run {
	r := newRun(id, tenant)
	r.Site = site
	r.Hold = store.Hold{Site: site, Pool: 0, Accelerator: acc, Count: count}
	return r
}

// sumHeld adds up what the store's runs hold at site's pool 0.
func sumHeld(t *testing.T, s store.Store, site string) int {
	t.Helper()
	rows, err := s.ListRuns(context.Background(), store.ListOptions{AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Hold.Site == site && r.Hold.Pool == 0 {
			n += r.Hold.Count
		}
	}
	return n
}

// limits: a change that would take a limit past its max writes nothing
// and says which limit; holds read back as written; a hold given up frees
// its accelerators; tenant and accelerator filters count only theirs.
func limits(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, _, err := s.CreateRun(ctx, heldRun("a", "t1", "x", "h100", 48), "", store.Change{Limits: []store.Limit{poolLimit("x", 64)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Hold != (store.Hold{Site: "x", Pool: 0, Accelerator: "h100", Count: 48}) {
		t.Errorf("hold read back as %+v", got.Hold)
	}
	_, _, err = s.CreateRun(ctx, heldRun("b", "t2", "x", "h100", 32), "", store.Change{Limits: []store.Limit{poolLimit("x", 64)}})
	var ce *store.CapacityError
	if !errors.As(err, &ce) || ce.Used != 80 || ce.Limit.Max != 64 {
		t.Fatalf("over-commit: %v", err)
	}
	if _, err := s.GetRun(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused run was written: %v", err)
	}
	// Another pool is another limit.
	if _, _, err := s.CreateRun(ctx, heldRun("c", "t2", "y", "h100", 32), "", store.Change{Limits: []store.Limit{poolLimit("y", 64)}}); err != nil {
		t.Fatal(err)
	}
	// A quota: t2's h100 across sites is at most 40.
	quota := store.Limit{Name: "quota", Tenants: []string{"t2"}, Accelerators: []string{"h100"}, Max: 40}
	_, err = s.UpdateRun(ctx, "a", func(r *store.Run) (store.Change, error) {
		return store.Change{Limits: []store.Limit{quota, poolLimit("x", 64)}}, nil
	})
	if err != nil {
		t.Fatalf("t1's change counted against t2's quota: %v", err)
	}
	if _, _, err := s.CreateRun(ctx, heldRun("d", "t2", "x", "h100", 16), "", store.Change{Limits: []store.Limit{poolLimit("x", 64), quota}}); !errors.As(err, &ce) || ce.Limit.Name != "quota" || ce.Used != 48 {
		t.Fatalf("quota: %v", err)
	}
	if _, _, err := s.CreateRun(ctx, heldRun("e", "t2", "x", "a100", 16), "", store.Change{Limits: []store.Limit{poolLimit("x", 64), quota}}); err != nil {
		t.Fatalf("an a100 counted against an h100 quota: %v", err)
	}
	// Giving the hold up frees it for the next.
	if _, err := s.UpdateRun(ctx, "a", func(r *store.Run) (store.Change, error) {
		r.State, r.Hold = "succeeded", store.Hold{}
		return store.Change{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateRun(ctx, heldRun("b", "t1", "x", "h100", 48), "", store.Change{Limits: []store.Limit{poolLimit("x", 64)}}); err != nil {
		t.Fatalf("freed capacity: %v", err)
	}
	if n := sumHeld(t, s, "x"); n != 64 {
		t.Errorf("pool x holds %d, want 64", n)
	}
	hs, err := s.Holds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.TenantHold{
		{Tenant: "t1", Hold: store.Hold{Site: "x", Accelerator: "h100", Count: 48}},
		{Tenant: "t2", Hold: store.Hold{Site: "x", Accelerator: "a100", Count: 16}},
		{Tenant: "t2", Hold: store.Hold{Site: "y", Accelerator: "h100", Count: 32}},
	}
	if fmt.Sprint(hs) != fmt.Sprint(want) {
		t.Errorf("holds %v, want %v", hs, want)
	}
}

// racingLimits: many changes, from one or two handles at once, race for a
// pool of 64 in blocks of 8: exactly 8 win, and the store never holds
// more than 64.
func racingLimits(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 40 {
		s := either(a, b, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("r%02d", i)
			var err error
			if i%3 == 0 {
				// Some take their hold in an update of an existing run.
				if _, _, err = s.CreateRun(ctx, newRun(id, "t"), "", store.Change{}); err == nil {
					_, err = s.UpdateRun(ctx, id, func(r *store.Run) (store.Change, error) {
						r.Hold = store.Hold{Site: "x", Accelerator: "h100", Count: 8}
						return store.Change{Limits: []store.Limit{poolLimit("x", 64)}}, nil
					})
				}
			} else {
				_, _, err = s.CreateRun(ctx, heldRun(id, "t", "x", "h100", 8), "", store.Change{Limits: []store.Limit{poolLimit("x", 64)}})
			}
			var ce *store.CapacityError
			switch {
			case err == nil:
				mu.Lock()
				won++
				mu.Unlock()
			case errors.As(err, &ce):
			default:
				t.Errorf("%s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	if won != 8 {
		t.Errorf("%d of 40 won a block of 8 of 64", won)
	}
	if n := sumHeld(t, a, "x"); n != 64 {
		t.Errorf("pool holds %d, want 64", n)
	}
}

// liveLimit: a Live limit counts the tenant's runs that have not ended,
// the new one among them, whatever they hold: a tenant at the limit gets
// no new run (nothing of it written), another tenant does, and a run that
// ends makes room for one more.
func liveLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	live := func(tenant string) store.Change {
		return store.Change{Limits: []store.Limit{{Name: "runs of tenant " + tenant, Tenants: []string{tenant}, Live: true, Max: 2}}}
	}
	for _, id := range []string{"a", "b"} {
		r := newRun(id, "t1")
		r.State = "held"
		if _, _, err := s.CreateRun(ctx, r, "", live("t1")); err != nil {
			t.Fatalf("run %s of 2: %v", id, err)
		}
	}
	var ce *store.CapacityError
	if _, _, err := s.CreateRun(ctx, newRun("c", "t1"), "", live("t1")); !errors.As(err, &ce) || !ce.Limit.Live || ce.Used != 3 {
		t.Fatalf("a third run of t1: %v, want a refusal counting 3", err)
	}
	if _, err := s.GetRun(ctx, "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused run was written: %v", err)
	}
	if _, _, err := s.CreateRun(ctx, newRun("d", "t2"), "", live("t2")); err != nil {
		t.Fatalf("another tenant's run: %v", err)
	}
	for _, final := range store.FinalStates {
		if _, err := s.UpdateRun(ctx, "a", func(r *store.Run) (store.Change, error) {
			r.State = final
			return store.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
		id := "c-" + final
		if _, _, err := s.CreateRun(ctx, newRun(id, "t1"), "", live("t1")); err != nil {
			t.Fatalf("with run a %s: %v", final, err)
		}
		// Back to two not ended: a ends for good in the next state, and
		// this one ends here.
		if _, err := s.UpdateRun(ctx, id, func(r *store.Run) (store.Change, error) {
			r.State = "cancelled"
			return store.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
