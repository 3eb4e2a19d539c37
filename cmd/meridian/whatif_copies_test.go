package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestWhatIfNamesCheckpointCopies: what-if's text says which copies it
// would delete are runs' checkpoints (kind checkpoint), naming the run,
// and gives the reason of one no rule denies (a checkpoint whose run is
// gone); a dataset's copy (no kind) reads as before. A checkpoint was
// printed as a staged copy of a dataset named like the checkpoint.
func TestWhatIfNamesCheckpointCopies(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/rules/what-if" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"asOf":"2026-12-04","runs":[],"copies":[` +
			`{"tenant":"t1","dataset":"people","site":"bravo","rule":"no-my","reason":"rule no-my: ..."},` +
			`{"tenant":"t1","kind":"checkpoint","dataset":"ckpt-run-1-a1-40","run":"run-1","site":"bravo","rule":"no-my","reason":"rule no-my: ..."},` +
			`{"tenant":"t1","kind":"checkpoint","dataset":"ckpt-run-2-a1-40","run":"run-2","site":"bravo","rule":"","reason":"checkpoint of run run-2, which is no longer on record"}` +
			`],"affected":3}`))
	}))
	defer srv.Close()
	out, code := runRoot(t, "what-if", "--rules", "../../examples/rules/org-policy.yaml", "--server", srv.URL, "--token", strings.Repeat("a", 40))
	if code != exitNoPlacement {
		t.Fatalf("exit %d, want %d\n%s", code, exitNoPlacement, out)
	}
	for _, want := range []string{
		"staged copy t1/people at bravo would be deleted: rule no-my\n",
		"checkpoint ckpt-run-1-a1-40 of run t1/run-1 at bravo would be deleted: rule no-my\n",
		"checkpoint ckpt-run-2-a1-40 of run t1/run-2 at bravo would be deleted: checkpoint of run run-2, which is no longer on record\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("what-if's text lacks %q:\n%s", want, out)
		}
	}
}
