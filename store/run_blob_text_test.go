package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestSQLiteRunTextStoredAsBlob: someone who can write the database
// rewrites one text field of a live run's row as a BLOB of the same bytes
// (SQLite keeps a BLOB as it is, in a TEXT column too). The row reads back
// as the same strings, but no query comparing the field with text matches
// it. A pass over the live runs, a page at a time as the controller reads
// them, must not lose a run silently: it fails naming the run and the
// field. With the id so rewritten, the pass ended at that run (the next
// page starts after it, looked up by id), and the runs after it went
// unchecked; with the tenant, the run left its tenant's lists and live
// count while the controller went on with it as if nothing were amiss.
func TestSQLiteRunTextStoredAsBlob(t *testing.T) {
	for _, col := range []string{"id", "tenant", "state", "job", "site", "created_at", "hold_site"} {
		t.Run(col, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			for _, id := range []string{"r1", "r2", "r3"} {
				if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "t", Job: "j", State: "running", Data: []byte(`{}`)}, "", Change{}); err != nil {
					t.Fatal(err)
				}
			}
			dropRunHoldTypeTriggers(t, s.DB())
			if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(`UPDATE runs SET %s = CAST(%s AS BLOB) WHERE id = 'r2'`, col, col)); err != nil {
				t.Fatal(err)
			}
			var listed []string
			var err error
			for after := ""; ; {
				var page []*Run
				page, err = s.ListRuns(ctx, ListOptions{Active: true, Final: []string{"succeeded", "failed", "cancelled"}, AllTenants: true, After: after, Limit: 1})
				if err != nil || len(page) == 0 {
					break
				}
				listed = append(listed, page[0].ID)
				after = page[0].ID
			}
			if err == nil {
				t.Fatalf("run r2's %s rewritten as a BLOB: the pass over the live runs listed %v without an error", col, listed)
			}
			if !strings.Contains(err.Error(), `run "r2"`) || !strings.Contains(err.Error(), col) {
				t.Errorf("the failure does not name run r2 and its %s: %v", col, err)
			}
			if _, err := s.GetRun(ctx, "r1"); err != nil {
				t.Errorf("run r1, as written: %v", err)
			}
		})
	}
}
