package kubernetes

import (
	"fmt"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// A retry limit set at the site lets the Job controller delete the
// attempt's own pod (as surplus beside a copy of it that someone made, or
// for any other reason) and count it failed, and then complete by another
// pod, which the backend's watch may never have seen live. The Job's
// success is then not the attempt's pods': the attempt is lost, not
// Succeeded, though no pod in the cache failed.
func TestCompleteWithAFailureCountedIsLost(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.objs["jobs"][name]["status"] = map[string]any{"failed": 1,
		"conditions": []any{map[string]any{"type": jobComplete, "status": "True"}}}
	f.rv++
	meta(f.objs["jobs"][name])["resourceVersion"] = fmt.Sprint(f.rv)
	f.notify("jobs", "MODIFIED", f.objs["jobs"][name])
	f.mu.Unlock()
	eventually(t, "the cache did not take the Job's end", func() bool {
		j, ok := b.watch.job(name)
		return ok && b.jobFinished(j)
	})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || !strings.Contains(st.Reason, "1 failed") {
		t.Fatalf("Status = %+v, %v; want Lost, the Job having counted 1 failed pod", st, err)
	}
}
