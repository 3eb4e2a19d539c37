package store

import (
	"context"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/internal/pgtest"
)

// TestPostgresListAfterSeesLateCommit: a run whose creation waited on the
// capacity lock commits after a run that began later and was listed
// meanwhile. A reader paging on from that listed run must still see the
// one committed after it: its place in the list is where it committed, not
// where its transaction began.
func TestPostgresListAfterSeesLateCommit(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, pgtest.NewDatabase(t), Options{AuditKey: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := func(id string) []audit.Record {
		r, err := audit.NewRecord(audit.KindState, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		return []audit.Record{r}
	}
	// Another transaction holds the capacity lock: the creation with a
	// limit waits for it after its transaction began.
	holder, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, capacityLockKey); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, _, err := s.CreateRun(ctx, &Run{ID: "a-waited", Tenant: "t", State: "Held", Data: []byte(`{}`)}, "",
			Change{Audit: rec("a-waited"), Limits: []Limit{{Name: "pool", Max: 10}}})
		waiting <- err
	}()
	// Until the creation waits on the lock (a state polled, not a time).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the creation with a limit never waited on the capacity lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, _, err := s.CreateRun(ctx, &Run{ID: "b-quick", Tenant: "t", State: "Pending", Data: []byte(`{}`)}, "", Change{Audit: rec("b-quick")}); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListRuns(ctx, ListOptions{Tenant: "t", NoDocuments: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].ID != "b-quick" {
		t.Fatalf("first page: %v, want b-quick alone", runIDs(page))
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
	for _, o := range []ListOptions{{Tenant: "t", After: "b-quick"}, {AllTenants: true, After: "b-quick"}} {
		next, err := s.ListRuns(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(next) != 1 || next[0].ID != "a-waited" {
			t.Errorf("after b-quick (%+v): %v, want a-waited: the run committed after the page was read is skipped", o, runIDs(next))
		}
	}
	all, err := s.ListRuns(ctx, ListOptions{Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := runIDs(all); len(got) != 2 || got[0] != "b-quick" || got[1] != "a-waited" {
		t.Errorf("whole list: %v, want the commit order b-quick, a-waited", got)
	}
	got, err := s.GetRun(ctx, "a-waited")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.After(all[0].CreatedAt) || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("a-waited created %s (updated %s), b-quick %s", got.CreatedAt, got.UpdatedAt, all[0].CreatedAt)
	}
}

func runIDs(rs []*Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
