package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSQLiteLimitRunFieldStoredAsBytes: someone who can write the database
// rewrites a run's tenant, site, accelerator or pool as bytes (a BLOB of
// the same bytes, which SQLite keeps as it is). The run still holds its
// accelerators, but a limit's sum compares those fields with text and
// integers, which a BLOB never equals: the run was left out of its
// tenant's quota, its pool's count and its tenant's live runs, and a
// change that takes the quota past its Max was admitted. Every change
// with limits now fails naming the run and the field.
func TestSQLiteLimitRunFieldStoredAsBytes(t *testing.T) {
	hold := Hold{Site: "Site/a", Pool: 0, Accelerator: "h100", Count: 4}
	quota := Limit{Name: "quota of tenant t for h100", Tenants: []string{"t"}, Accelerators: []string{"h100"}, Max: 6}
	pool := Limit{Name: "pool 0 of Site/a", Site: "Site/a", Pool: 0, Max: 6}
	live := Limit{Name: "runs of tenant t", Tenants: []string{"t"}, Live: true, Max: 1}
	for _, tc := range []struct {
		col   string
		limit Limit
	}{
		{"tenant", quota},
		{"tenant", live},
		{"hold_site", pool},
		{"hold_accelerator", quota},
		{"hold_pool", pool},
	} {
		t.Run(tc.col+"/"+tc.limit.Name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "t", Job: "j", State: "running", Hold: hold, Data: []byte(`{}`)}, "", Change{}); err != nil {
				t.Fatal(err)
			}
			// As written, the second run is over the limit.
			if _, _, err := s.CreateRun(ctx, &Run{ID: "r2", Tenant: "t", Job: "j", State: "running", Hold: hold, Data: []byte(`{}`)}, "", Change{Limits: []Limit{tc.limit}}); !isCapacity(err) {
				t.Fatalf("run r1 as written: the second run's admission: %v, want a CapacityError", err)
			}
			dropRunHoldTypeTriggers(t, s.DB()) // as whoever writes the database may
			if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE runs SET %s = CAST(%s AS BLOB) WHERE id = 'r1'`, tc.col, tc.col)); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.CreateRun(ctx, &Run{ID: "r2", Tenant: "t", Job: "j", State: "running", Hold: hold, Data: []byte(`{}`)}, "", Change{Limits: []Limit{tc.limit}})
			if err == nil {
				t.Fatalf("run r1's %s rewritten as bytes: a run over %q was admitted", tc.col, tc.limit.Name)
			}
			if !errors.Is(err, ErrFieldType) || !strings.Contains(err.Error(), `run "r1"`) || !strings.Contains(err.Error(), tc.col) {
				t.Errorf("the refusal is not ErrFieldType naming run r1 and its %s: %v", tc.col, err)
			} else if testing.Verbose() {
				t.Log(err)
			}
			if _, err := s.GetRun(ctx, "r2"); !errors.Is(err, ErrNotFound) {
				t.Errorf("run r2 after the refusal: %v, want ErrNotFound", err)
			}
		})
	}
}

func isCapacity(err error) bool {
	var ce *CapacityError
	return errors.As(err, &ce)
}

// TestSQLiteRunHoldTypePlan: the look for a run whose fields are stored
// as another type, made by every change with limits, reads the partial
// index runs_hold_type (empty where Meridian alone wrote the runs), not
// the runs.
func TestSQLiteRunHoldTypePlan(t *testing.T) {
	s := openTest(t)
	plan := sqlitePlan(t, s.DB(), qRunHoldType)
	if !strings.Contains(plan, "INDEX runs_hold_type") {
		t.Fatalf("plan of qRunHoldType does not read runs_hold_type:\n%s", plan)
	}
	if testing.Verbose() {
		t.Log(plan)
	}
}

// BenchmarkCreateRunHoldLimit is a run's creation beside 9,000 runs of its
// tenant that hold accelerators, with a quota of the tenant's and a pool's
// limit: what the limits' check (the sums and the look into
// runs_hold_type) adds to each admission, and the look alone.
func BenchmarkCreateRunHoldLimit(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	hold := Hold{Site: "Site/a", Pool: 0, Accelerator: "h100", Count: 1}
	for i := range 9000 {
		if _, _, err := s.CreateRun(ctx, &Run{ID: fmt.Sprintf("held%05d", i), Tenant: "t", Job: "j", State: "running", Hold: hold, Data: []byte(`{}`)}, "", Change{}); err != nil {
			b.Fatal(err)
		}
	}
	limits := []Limit{
		{Name: "quota of tenant t for h100", Tenants: []string{"t"}, Accelerators: []string{"h100"}, Max: 1 << 30},
		{Name: "pool 0 of Site/a", Site: "Site/a", Pool: 0, Max: 1 << 30},
	}
	b.Run("look=runs_hold_type", func(b *testing.B) {
		for b.Loop() {
			if err := runHoldType(s.DB().QueryRowContext(ctx, qRunHoldType)); err != nil {
				b.Fatal(err)
			}
		}
	})
	n := 0
	for _, tc := range []struct {
		name   string
		limits []Limit
	}{{"limit=none", nil}, {"limit=quota+pool", limits}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				n++
				if _, _, err := s.CreateRun(ctx, &Run{ID: fmt.Sprintf("r%08d", n), Tenant: "t", Job: "j", State: "running", Hold: hold, Data: []byte(`{}`)}, "", Change{Limits: tc.limits}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSQLiteHoldsFieldStoredAsBytes: Holds, which every plan reads, groups
// a run whose tenant, site, pool or accelerator is stored as bytes apart
// from the runs stored as text, but reads the field back as the same
// string or number: the sums its reader makes of the rows (per pool, per
// tenant and accelerator) count the run. (The change that takes
// accelerators refuses it, TestSQLiteLimitRunFieldStoredAsBytes.)
func TestSQLiteHoldsFieldStoredAsBytes(t *testing.T) {
	for _, col := range []string{"tenant", "hold_site", "hold_pool", "hold_accelerator"} {
		t.Run(col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			for _, id := range []string{"r1", "r2"} {
				if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "t", Job: "j", State: "running", Hold: Hold{Site: "Site/a", Pool: 1, Accelerator: "h100", Count: 4}, Data: []byte(`{}`)}, "", Change{}); err != nil {
					t.Fatal(err)
				}
			}
			dropRunHoldTypeTriggers(t, s.DB()) // as whoever writes the database may
			if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE runs SET %s = CAST(%s AS BLOB) WHERE id = 'r1'`, col, col)); err != nil {
				t.Fatal(err)
			}
			hs, err := s.Holds(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, h := range hs {
				if h.Tenant != "t" || h.Site != "Site/a" || h.Pool != 1 || h.Accelerator != "h100" {
					t.Errorf("hold %+v: not the runs' tenant, site, pool and accelerator", h)
				}
				n += h.Count
			}
			if n != 8 {
				t.Errorf("run r1's %s stored as bytes: Holds sums to %d (%+v), want 8", col, n, hs)
			}
		})
	}
}
