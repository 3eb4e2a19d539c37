package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"meridian.dev/meridian/audit"
)

func openTest(t testing.TB) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), Options{AuditKey: []byte("test key 0123456")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rec(t testing.TB, kind, run string, v any) audit.Record {
	r, err := audit.NewRecord(kind, run, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCreateGetUpdate(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	r := &Run{ID: "r1", Tenant: "a", Job: "j", State: "planned", Data: []byte(`{"x":1}`)}
	got, created, err := s.CreateRun(ctx, r, "k1", Change{
		Events: []Event{{Kind: "created", To: "planned", Reason: "submitted"}},
		Audit:  []audit.Record{rec(t, audit.KindPlan, "r1", map[string]int{"n": 1})},
	})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if got.Version != 1 {
		t.Errorf("version %d", got.Version)
	}
	// The same idempotency key returns the first run and writes nothing.
	again, created, err := s.CreateRun(ctx, &Run{ID: "r2", Tenant: "a", Job: "j", State: "planned", Data: []byte(`{}`)}, "k1", Change{})
	if err != nil || created || again.ID != "r1" {
		t.Fatalf("retry: %v %v %v", again, created, err)
	}
	if _, err := s.GetRun(ctx, "r2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("retry inserted a second run: %v", err)
	}
	// Another tenant may use the same key.
	if _, created, err := s.CreateRun(ctx, &Run{ID: "r3", Tenant: "b", Job: "j", State: "planned", Data: []byte(`{}`)}, "k1", Change{}); err != nil || !created {
		t.Fatalf("other tenant: %v %v", created, err)
	}
	up, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) {
		r.State, r.Site, r.Attempt, r.Handle = "queued", "s1", 1, "h1"
		return Change{Events: []Event{{Kind: "state", From: "planned", To: "queued", Reason: "submitted"}}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	read, err := s.GetRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(up, read); diff != "" {
		t.Errorf("read back (-update +read):\n%s", diff)
	}
	if read.Version != 2 || read.State != "queued" || read.Handle != "h1" {
		t.Errorf("row %+v", read)
	}
	evs, err := s.Events(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{RunID: "r1", Seq: 1, Kind: "created", To: "planned", Reason: "submitted"},
		{RunID: "r1", Seq: 2, Kind: "state", From: "planned", To: "queued", Reason: "submitted"},
	}
	if diff := cmp.Diff(want, evs, cmpopts.IgnoreFields(Event{}, "Time")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// A failing update changes nothing.
	boom := errors.New("boom")
	if _, err := s.UpdateRun(ctx, "r1", func(r *Run) (Change, error) {
		r.State = "failed"
		return Change{}, boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if r, _ := s.GetRun(ctx, "r1"); r.State != "queued" || r.Version != 2 {
		t.Errorf("failed update leaked: %+v", r)
	}
	if _, err := s.UpdateRun(ctx, "nope", func(*Run) (Change, error) { return Change{}, nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	list, err := s.ListRuns(ctx, ListOptions{Tenant: "a"})
	if err != nil || len(list) != 1 || list[0].ID != "r1" {
		t.Errorf("tenant list: %v %v", list, err)
	}
	active, err := s.ListRuns(ctx, ListOptions{Active: true, Final: []string{"queued"}, AllTenants: true})
	if err != nil || len(active) != 1 || active[0].ID != "r3" {
		t.Errorf("active list: %v %v", active, err)
	}
}

func TestReopenMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateRun(ctx, &Run{ID: "r1", Tenant: "a", Job: "j", State: "planned", Data: []byte(`{}`)}, "", Change{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenSQLite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetRun(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	var mode string
	s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
}

// TestAuditTamper edits the SQLite table directly, as an attacker with
// database access but without the key would, and checks that verification
// names the first entry touched.
func TestAuditTamper(t *testing.T) {
	tests := []struct {
		name    string
		sql     []string
		seq     int64
		problem string
	}{
		{"modified payload", []string{`UPDATE audit SET payload = '{"n":100}' WHERE seq = 4`}, 4, audit.Modified},
		{"modified run id", []string{`UPDATE audit SET run_id = 'other' WHERE seq = 2`}, 2, audit.Modified},
		{"deleted", []string{`DELETE FROM audit WHERE seq = 5`}, 5, audit.Deleted},
		{"deleted and renumbered", []string{`DELETE FROM audit WHERE seq = 3`, `UPDATE audit SET seq = seq - 1 WHERE seq > 3`}, 3, audit.Deleted},
		{"reordered", []string{
			`UPDATE audit SET seq = -1 WHERE seq = 6`,
			`UPDATE audit SET seq = 6 WHERE seq = 7`,
			`UPDATE audit SET seq = 7 WHERE seq = -1`,
		}, 6, audit.Reordered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			for i := 1; i <= 10; i++ {
				if err := s.AppendAudit(ctx, rec(t, audit.KindState, fmt.Sprintf("r%d", i%3), map[string]int{"n": i})); err != nil {
					t.Fatal(err)
				}
			}
			if res, err := s.VerifyAudit(ctx); err != nil || !res.OK || res.Entries != 10 {
				t.Fatalf("before tampering: %+v %v", res, err)
			}
			for _, q := range tc.sql {
				if _, err := s.DB().Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.Problem == nil {
				t.Fatalf("tampering not detected: %+v", res)
			}
			if res.Problem.Seq != tc.seq || res.Problem.Kind != tc.problem {
				t.Errorf("got %+v, want seq %d %s", res.Problem, tc.seq, tc.problem)
			}
		})
	}
}

func TestAuditConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if err := s.AppendAudit(ctx, rec(t, audit.KindDecision, "", map[string]int{"g": g, "i": i})); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	res, err := s.VerifyAudit(ctx)
	if err != nil || !res.OK || res.Entries != 200 {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestVerifyAuditTakesNoWriterTurn: verifying the chain reads the whole
// log, which takes a while once the log is large; the store's one
// connection, which every write and token check waits for, is not held
// for it. Here that connection is busy in a transaction for the whole
// verification, which still ends.
func TestVerifyAuditTakesNoWriterTurn(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for i := 0; i < 10; i++ {
		if err := s.AppendAudit(ctx, rec(t, audit.KindDecision, "", map[string]int{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// A verification that waits for the busy connection waits until the
	// test ends, so only this context ends it: 30 s, not the 3 s a
	// loaded machine may spend on ten entries.
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := s.VerifyAudit(vctx)
	if err != nil || !res.OK || res.Entries != 10 {
		t.Fatalf("verify while the connection is busy: %+v %v", res, err)
	}
}

// BenchmarkCreateRun measures run submissions accepted into durable state
// (one transaction each: row, idempotency key, event and audit entry).
func BenchmarkCreateRun(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	payload := rec(b, audit.KindPlan, "", map[string]string{"site": "s1"})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("r%08d", i)
		p := payload
		p.RunID = id
		if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "t", Job: "j", State: "planned", Data: []byte(`{}`)}, id,
			Change{Events: []Event{{Kind: "created", To: "planned"}}, Audit: []audit.Record{p}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

// TestCreateRunBatchIsolation submits many runs at once, some of them
// failing (a duplicate id), and checks that each failure is undone alone.
func TestCreateRunBatchIsolation(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, _, err := s.CreateRun(ctx, &Run{ID: "dup", Tenant: "a", Job: "j", State: "planned", Data: []byte(`{}`)}, "", Change{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprintf("r%02d", i)
			if i%10 == 0 {
				id = "dup"
			}
			_, _, errs[i] = s.CreateRun(ctx, &Run{ID: id, Tenant: "a", Job: "j", State: "planned", Data: []byte(`{}`)}, fmt.Sprintf("k%d", i),
				Change{Events: []Event{{Kind: "created"}}, Audit: []audit.Record{rec(t, audit.KindPlan, id, i)}})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Errorf("request %d: err %v", i, err)
		}
	}
	runs, _ := s.ListRuns(ctx, ListOptions{AllTenants: true})
	if len(runs) != 1+54 {
		t.Errorf("%d runs, want 55", len(runs))
	}
	var keys int
	s.DB().QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&keys)
	if keys != 54 {
		t.Errorf("%d idempotency keys, want 54 (failed requests must leave none)", keys)
	}
	res, err := s.VerifyAudit(ctx)
	if err != nil || !res.OK || res.Entries != 54 {
		t.Errorf("audit %+v %v", res, err)
	}
}

// BenchmarkCreateRunParallel is BenchmarkCreateRun with concurrent
// submitters, whose transactions the store commits together.
func BenchmarkCreateRunParallel(b *testing.B) {
	ctx := context.Background()
	s := openTest(b)
	payload := rec(b, audit.KindPlan, "", map[string]string{"site": "s1"})
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("r%08d", n.Add(1))
			p := payload
			p.RunID = id
			if _, _, err := s.CreateRun(ctx, &Run{ID: id, Tenant: "t", Job: "j", State: "planned", Data: []byte(`{}`)}, id,
				Change{Events: []Event{{Kind: "created", To: "planned"}}, Audit: []audit.Record{p}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}

func TestDatabaseFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meridian.db")
	// A database created earlier with a readable mode is narrowed on open.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.CreateRun(context.Background(), &Run{ID: "r1", Tenant: "a", Job: "j", State: "planned", Data: []byte(`{}`)}, "", Change{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

// TestSQLiteAuditReadsBesideTheWriter: reads of the audit log (a page of a
// tenant's entries, the ledger's records) do not wait for the one
// connection that every write and token check waits for, nor hold it
// while they read: a page reads up to 16 MiB, and any tenant may ask.
func TestSQLiteAuditReadsBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	r := rec(t, audit.KindState, "r1", 1)
	r.Tenant = "a"
	if err := s.AppendAudit(ctx, r); err != nil {
		t.Fatal(err)
	}
	// A write under way holds the writer's connection.
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// A read that waits for the writer's connection waits until the test
	// ends; the bound is for a loaded machine, not for the read.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if got, err := s.AuditSelect(rctx, AuditQuery{AllTenants: true}); err != nil || len(got) != 1 {
		t.Errorf("select while a write is under way: %d entries, %v", len(got), err)
	}
	if got, _, err := s.AuditSelectPage(rctx, AuditQuery{Tenant: "a", Untenanted: UntenantedOfRuns, Limit: 10}); err != nil || len(got) != 1 {
		t.Errorf("a tenant's page while a write is under way: %d entries, %v", len(got), err)
	}
}
