package kubernetes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/internal/textsafe"
)

// TestOldRecordsReasonIsSafe: a record written before status reasons were
// passed through siteWords keeps what the site or its workload said as it
// said it (a terminal escape, a line break that forges a log line).
// Status answered it as kept; the reason read back is now escaped as a
// new one is.
func TestOldRecordsReasonIsSafe(t *testing.T) {
	for _, w := range hostileWords {
		t.Run(strings.ToValidUTF8(w, "?"), func(t *testing.T) {
			dir := t.TempDir()
			b := newFakeAPI(t).startIn(t, dir)
			name := JobName("old-run", 1)
			data, err := json.Marshal(record{RunID: "old-run", Attempt: 1, Namespace: "ns", UID: "job-uid-old",
				Submitted: time.Now().Add(-time.Hour),
				Final:     &backend.Status{State: backend.Failed, ExitCode: 3, Reason: "exit code 3: " + w}})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "jobs"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "jobs", name+".json"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := b.Status(testContext(t), name)
			if err != nil || st.State != backend.Failed || st.ExitCode != 3 {
				t.Fatalf("Status = %+v, %v; want Failed with exit code 3, as on record", st, err)
			}
			if !textsafe.Safe(st.Reason) {
				t.Errorf("reason %q read back from the record holds what textsafe flags", st.Reason)
			}
			if want := siteWords("exit code 3: " + w); st.Reason != want {
				t.Errorf("reason %q; want %q", st.Reason, want)
			}
		})
	}
}
