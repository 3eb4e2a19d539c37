package run

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"meridian.dev/meridian/store"
)

// TestSubmitRefusedPastMaxRuns: a tenant could submit runs without end;
// each one that waits is read and weighed by every admission pass, and
// the store grows. With Config.MaxRuns a submission past the tenant's runs
// not yet ended is refused with ErrTooManyRuns, writing nothing, whether
// it would run at once or wait; another tenant is not held back by it,
// and a run that ends makes room again.
func TestSubmitRefusedPastMaxRuns(t *testing.T) {
	e := newBatchEnv(t)
	e.c.cfg.MaxRuns = 3
	ctx := context.Background()
	first := e.submit("t1", batchJob("j0", 1e9, "ca"), 0, Planned)
	e.submit("t1", batchJob("j1", 1e9, "ca"), 0, Held)
	e.submit("t1", batchJob("j2", 1e9, "ca"), 0, Held)
	count := func(tenant string) int {
		rows, err := e.st.ListRuns(ctx, store.ListOptions{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	// cb is free: the first would run at once, the others wait.
	for i, sites := range [][]string{{"cb"}, {"ca"}, nil} {
		_, _, err := e.c.Submit(ctx, "t1", SubmitRequest{Documents: []Document{batchJob(fmt.Sprintf("over-%d", i), 1e9, sites...)}})
		if !errors.Is(err, ErrTooManyRuns) {
			t.Fatalf("a fourth run of t1 (sites %v): %v, want ErrTooManyRuns", sites, err)
		}
	}
	if n := count("t1"); n != 3 {
		t.Fatalf("t1 has %d runs after the refusals; want 3", n)
	}
	e.submit("t2", batchJob("other", 1e9, "ca"), 0, Held)
	e.end(first.ID)
	e.submit("t1", batchJob("after-an-end", 1e9, "ca"), 0, Planned)
}
