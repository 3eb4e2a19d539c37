package rules

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// countingStore counts the reads of a revision's files.
type countingStore struct {
	Store
	reads atomic.Int64
}

func (c *countingStore) GetRuleRevision(ctx context.Context, rev int64) (*store.RuleRevision, error) {
	c.reads.Add(1)
	return c.Store.GetRuleRevision(ctx, rev)
}

// TestRevisionThatDoesNotLoadRests: a revision another server applied
// that does not load here was read and parsed (and compiled) again on
// every refresh, once a second, for as long as the server stayed behind:
// megabytes of rule files kept a core busy. It is tried again only after
// a rest, failing closed meanwhile with the same error; a newer revision
// is read at once, and once the rest is over the revision is tried again
// (a rule directory fixed meanwhile lets it load).
func TestRevisionThatDoesNotLoadRests(t *testing.T) {
	ctx := context.Background()
	sqlite := openStore(t, t.TempDir())
	st := &countingStore{Store: sqlite}
	dir := t.TempDir()
	f := pack("clash.yaml", "test-clash", "MY", "2030-01-01")
	if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	here, err := Open(ctx, st, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	here.now = func() time.Time { return now }
	other, err := Open(ctx, sqlite, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Apply(ctx, Change{Files: []policy.File{pack("clash.yaml", "test-clash", "SG", "2030-01-01")}}, "admin", "other server", time.Now()); err != nil {
		t.Fatal(err)
	}
	st.reads.Store(0)
	for i := range 5 {
		err := here.Refresh(ctx)
		if err == nil || !strings.Contains(err.Error(), "revision 1 no longer loads") {
			t.Fatalf("refresh %d: %v, want revision 1's failure", i, err)
		}
		if here.Behind() == nil {
			t.Fatalf("refresh %d: not behind", i)
		}
		now = now.Add(time.Second)
	}
	if n := st.reads.Load(); n != 1 {
		t.Errorf("5 refreshes a second apart read the revision that does not load %d times, want once", n)
	}
	now = now.Add(minRetry)
	if err := here.Refresh(ctx); err == nil {
		t.Error("revision 1 loaded after the rest")
	}
	if n := st.reads.Load(); n != 2 {
		t.Errorf("after the rest: %d reads, want 2", n)
	}
	if _, _, err := other.Apply(ctx, Change{Files: []policy.File{pack("other.yaml", "test-other", "SG", "2030-01-01")}, Remove: []string{"clash.yaml"}}, "admin", "other server", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := here.Refresh(ctx); err != nil {
		t.Fatalf("revision 2, which loads, during the rest: %v", err)
	}
	if here.Behind() != nil || here.Current().Rev != 2 {
		t.Errorf("after revision 2: behind %v, revision %d", here.Behind(), here.Current().Rev)
	}
}
