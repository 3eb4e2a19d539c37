package rules

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// allocated is how many bytes f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// putLargeHistory stores n rules revisions straight into st: the first
// and the last a small pack that loads, each between them a file of size
// bytes (not loaded by anything that reads only what it needs).
func putLargeHistory(tb testing.TB, st store.Store, n, size int) {
	tb.Helper()
	ctx := context.Background()
	big := "# " + strings.Repeat("x", size-3) + "\n"
	for i := 1; i <= n; i++ {
		files := map[string]string{fmt.Sprintf("big-%d.yaml", i): big}
		if i == 1 || i == n {
			f := pack(fmt.Sprintf("small-%d.yaml", i), fmt.Sprintf("test-small-%d", i), "MY", "2030-01-01")
			files = map[string]string{f.Name: string(f.Data)}
		}
		rec, err := audit.NewRecord(KindRevision, "", map[string]any{"revision": i})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := st.PutRuleRevision(ctx, &store.RuleRevision{Hash: Hash(files), Files: files, Who: "ops", Reason: fmt.Sprintf("r%d", i)}, int64(i-1), rec); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestReadsOnlyTheRevisionsAsked: a refresh that finds no newer revision
// and the law of an old revision (a diff's, any token's) read what they
// need of the store, not every revision's files: a history of 24
// revisions of a MiB each was read whole by each (by the refresh every
// few seconds), about twice its size allocated each time.
func TestReadsOnlyTheRevisionsAsked(t *testing.T) {
	const n, size = 24, 1 << 20
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	putLargeHistory(t, st, n, size)
	s, err := Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Current().Rev != n {
		t.Fatalf("law in force: revision %d, want %d", s.Current().Rev, n)
	}
	// A refresh with nothing new reads no revision's files: under one
	// large revision's size.
	const refreshBound = size
	var refreshErr error
	got := allocated(func() { refreshErr = s.Refresh(ctx) })
	t.Logf("refresh: %d bytes allocated", got)
	if refreshErr != nil || got > refreshBound {
		t.Errorf("a refresh with nothing new allocated %d bytes (%v), want under %d", got, refreshErr, refreshBound)
	}
	// Revision 1's law is its small file and the built-in packs parsed
	// (about 5 MB allocated): well under half the history's size.
	const lawBound = n * size / 2
	var w Written
	got = allocated(func() { w, err = s.WrittenAt(ctx, 1) })
	t.Logf("revision 1's law: %d bytes allocated", got)
	if err != nil || got > lawBound {
		t.Errorf("revision 1's law allocated %d bytes (%v), want under %d", got, err, lawBound)
	}
	if err == nil {
		if _, ok := w.Rule("test-small-1"); !ok {
			t.Errorf("revision 1's law lacks its rule")
		}
	}
	if _, err := s.WrittenAt(ctx, n+1); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("no rules revision %d", n+1)) {
		t.Errorf("a revision that does not exist: %v", err)
	}
}
