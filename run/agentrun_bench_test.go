package run

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// BenchmarkAgentReadAfterProgress is what an agent's requests cost the
// server on a busy run: each saved progress report writes the run (a new
// version), and the agent's next request (a heartbeat) reads it without
// its documents (agentRun). The run carries 2 MB of documents, 200
// attempts, its older checkpoints and 50 left sites. An op is the read of
// the heartbeat that follows a progress write (the write is not timed).
func BenchmarkAgentReadAfterProgress(b *testing.B) {
	ctx := context.Background()
	st, dir := testStore(b)
	c := New(Config{Store: st, StateDir: dir, CatalogDir: "testdata/sites", Workers: 1})
	r := busyRun(b, st)
	if _, err := c.agentRun(ctx, r.ID, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			r.Progress.Step = int64(i + 2)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		got, err := c.agentRun(ctx, r.ID, false)
		if err != nil {
			b.Fatal(err)
		}
		if got.Progress.Step != int64(i+2) || len(got.Documents) != 0 {
			b.Fatalf("read step %d with %d documents; want step %d without", got.Progress.Step, len(got.Documents), i+2)
		}
	}
}

// busyRun stores a running run with 2 MB of documents, 200 attempts, its
// older checkpoints and 50 left sites.
func busyRun(tb testing.TB, st store.Store) *Run {
	tb.Helper()
	ctx := context.Background()
	doc := Document{Name: "job.yaml", Content: "# " + strings.Repeat("a long comment line of the job's document\n", 50000)}
	r := &Run{ID: "run-000000000001", Tenant: "t1", Job: "tiny", State: Running, Site: "alpha", Attempt: 200,
		Data: Data{Documents: []Document{doc}, Submitted: time.Now(), Progress: &Progress{Step: 1, Steps: 1 << 20}}}
	for i := 1; i <= 200; i++ {
		r.Attempts = append(r.Attempts, Attempt{N: i, Site: "alpha", Nonce: newNonce(), Count: 8, PricePerHour: 1})
	}
	for i := 1; i <= 10; i++ {
		r.setCheckpoint(&Checkpoint{Step: int64(i * 100), Name: fmt.Sprintf("ckpt-%s-a200-%d", r.ID, i*100), Site: "alpha", SHA256: strings.Repeat("ab", 32), Bytes: 1 << 30})
	}
	for i := range 50 {
		r.Swept = append(r.Swept, Sweep{Site: fmt.Sprintf("site-%d", i)})
	}
	row, err := toRow(r)
	if err != nil {
		tb.Fatal(err)
	}
	row.CreatedAt, row.UpdatedAt = time.Now(), time.Now()
	if _, _, err := st.CreateRun(ctx, row, "", store.Change{}); err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestAgentReadAfterOwnWriteKeepsNoDocuments: the run an agent reports on
// is written by this server (its progress, its checkpoints), and the
// agent's next request read it whole, its documents with it, at each
// such write. Now the server keeps what it wrote: the next request reads
// only the version, and finds what a whole read would have given.
func TestAgentReadAfterOwnWriteKeepsNoDocuments(t *testing.T) {
	ctx := context.Background()
	st, dir := testStore(t)
	var whole atomic.Int64
	ws := wholeReads{Store: st, n: &whole}
	c := New(Config{Store: ws, StateDir: dir, CatalogDir: "testdata/sites", Workers: 1})
	r := busyRun(t, st)
	if _, err := c.agentRun(ctx, r.ID, false); err != nil {
		t.Fatal(err)
	}
	before := whole.Load()
	for i := range 5 {
		if _, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			r.Progress.Step = int64(100 + i)
			r.setCheckpoint(&Checkpoint{Step: int64(100 + i), Name: fmt.Sprintf("ck-%d", i), Site: "alpha"})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got, err := c.agentRun(ctx, r.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		row, err := st.GetRun(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fromRow(row)
		if err != nil {
			t.Fatal(err)
		}
		want.Documents = nil
		if got.version != want.version || !reflect.DeepEqual(got.Data, want.Data) || got.State != want.State || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("write %d: the agent read version %d %+v; the store has version %d %+v", i, got.version, got.Data, want.version, want.Data)
		}
	}
	if n := whole.Load() - before; n != 0 {
		t.Errorf("5 agent reads, each after this server's own write, read the run whole %d times; want none", n)
	}
}
