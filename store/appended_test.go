package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// TestAppendedIsOnlyWhatCommitted: creations committed together (one
// transaction, each in its own savepoint), half of them failing after
// their first audit entry was written (a trigger refuses the second),
// leave AuditAppended at the log's head: a savepoint rolled back never
// counts as appended. Were it counted, its seq (or its hash, the seq
// taken again by a later creation) would be one the log never held, and
// the ledger indexes would refuse every question until a restart.
func TestAppendedIsOnlyWhatCommitted(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.db"), testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB().ExecContext(ctx, `CREATE TRIGGER refuse_boom BEFORE INSERT ON audit WHEN NEW.payload = '"boom"' BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	record := func(v any) audit.Record {
		r, err := audit.NewRecord(audit.KindPlan, "", v)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("r%d", i)
			recs := []audit.Record{record(i)}
			if i%2 == 1 {
				recs = append(recs, record("boom"))
			}
			r := &store.Run{ID: id, Tenant: "acme", Job: "j", State: "planned", Data: []byte(`{"x":1}`)}
			_, _, errs[i] = st.CreateRun(ctx, r, "", store.Change{Audit: recs})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err == nil) != (i%2 == 0) {
			t.Fatalf("creation %d: %v; want only the odd ones refused", i, err)
		}
	}
	head, hash, err := st.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != n/2 {
		t.Fatalf("head %d, want %d entries", head, n/2)
	}
	seq, got, ok := st.AuditAppended()
	if !ok || seq != head || got != hash {
		t.Errorf("appended %d %.12s (%v); want the head, %d %.12s", seq, got, ok, head, hash)
	}
}
