package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
)

// steppedClock is a host clock an operator (or NTP) can step back.
type steppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *steppedClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func createOrdered(t *testing.T, s *SQLite, id string) *Run {
	t.Helper()
	r, err := audit.NewRecord(audit.KindState, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.CreateRun(context.Background(), &Run{ID: id, Tenant: "t", State: "Pending", Data: []byte(`{}`)}, "", Change{Audit: []audit.Record{r}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkAfter: a reader that listed run `after` and pages on from it sees
// exactly `want` (a tenant's list and the all-tenant list the sweep pages).
func checkAfter(t *testing.T, s *SQLite, after string, want ...string) {
	t.Helper()
	for _, o := range []ListOptions{{Tenant: "t", After: after}, {AllTenants: true, After: after}} {
		next, err := s.ListRuns(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if got := runIDs(next); len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) || (len(want) > 1 && got[1] != want[1]) {
			t.Errorf("after %s (%+v): %v, want %v: a run committed after the page was read is skipped", after, o, got, want)
		}
	}
}

// TestSQLiteListAfterSeesRunAfterClockStep: the host's clock steps back
// between two creations. The later run must list after the earlier one, so
// that a reader who listed the earlier one and pages on from it sees it;
// also after the store is reopened with the clock still behind.
func TestSQLiteListAfterSeesRunAfterClockStep(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	clock := &steppedClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	opts := Options{AuditKey: []byte("test key 0123456"), Now: clock.now}
	s, err := OpenSQLite(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := createOrdered(t, s, "z-first")
	page, err := s.ListRuns(ctx, ListOptions{Tenant: "t", NoDocuments: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := runIDs(page); len(got) != 1 || got[0] != "z-first" {
		t.Fatalf("first page: %v", got)
	}
	clock.set(clock.now().Add(-time.Hour))
	b := createOrdered(t, s, "a-second")
	if b.CreatedAt.Before(a.CreatedAt.Add(time.Microsecond)) {
		t.Errorf("a-second created %s, not after z-first's %s", b.CreatedAt, a.CreatedAt)
	}
	checkAfter(t, s, "z-first", "a-second")
	stored, err := s.GetRun(ctx, "a-second")
	if err != nil {
		t.Fatal(err)
	}
	if !stored.CreatedAt.Equal(b.CreatedAt) || !stored.UpdatedAt.Equal(b.CreatedAt) {
		t.Errorf("a-second stored created %s updated %s, returned %s", stored.CreatedAt, stored.UpdatedAt, b.CreatedAt)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = OpenSQLite(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createOrdered(t, s, "m-third")
	checkAfter(t, s, "a-second", "m-third")
	all, err := s.ListRuns(ctx, ListOptions{Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := runIDs(all); len(got) != 3 || got[0] != "z-first" || got[1] != "a-second" || got[2] != "m-third" {
		t.Errorf("whole list: %v, want the commit order z-first, a-second, m-third", got)
	}
}

// TestSQLiteRunOrderMigrated: a database whose runs were created before the
// run order was kept, by a clock now behind the host's, lists a run
// created after it migrates after them.
func TestSQLiteRunOrderMigrated(t *testing.T) {
	ctx := context.Background()
	path, db := sqliteMigratedTo(t, 7)
	if _, err := db.ExecContext(ctx, `INSERT INTO runs (id, tenant, job, state, site, attempt, handle, data, version, created_at, updated_at, hold_site, hold_pool, hold_accelerator, hold_count)
		VALUES ('z-old', 't', '', 'Pending', '', 0, '', '{}', 1, ?, ?, '', '', '', 0)`,
		"2026-06-01T12:00:00.000000000Z", "2026-06-01T12:00:00.000000000Z"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	clock := &steppedClock{t: time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)}
	s, err := OpenSQLite(ctx, path, Options{AuditKey: []byte("test key 0123456"), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createOrdered(t, s, "a-new")
	checkAfter(t, s, "z-old", "a-new")
}
