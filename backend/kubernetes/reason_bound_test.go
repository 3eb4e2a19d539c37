package kubernetes

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestHugeStatusReasonKeepsTheRecordReadable: a Job the watch cache lacks
// is read from the API server whole, its strings uncut (up to the 4 MiB of
// an answer), and its failure's message became the attempt's reason as
// sent: the record of its end, written with it, was past the 1 MiB a
// record is read within, so the attempt's record was unreadable from then
// on (the attempt unknown to the next Status of a restarted controller),
// and megabytes went on into the run's reason. A reason is now cut at
// maxReasonBytes.
func TestHugeStatusReasonKeepsTheRecordReadable(t *testing.T) {
	name := JobName("hidden-run", 1)
	huge := "backoff " + strings.Repeat("y", 2<<20)
	h, b := newHostile(t, nil)
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/jobs/"+name) {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "batch/v1", "kind": "Job",
			"metadata": map[string]any{"name": name, "namespace": "ns", "uid": "hidden-uid", "resourceVersion": "1",
				"labels":      map[string]any{LabelManagedBy: managedBy},
				"annotations": map[string]any{AnnotationRunID: "hidden-run"}},
			"spec": hostileJobSpec(),
			"status": map[string]any{"conditions": []any{map[string]any{"type": jobFailed, "status": conditionTrue,
				"reason": "BackoffLimitExceeded", "message": huge}}}})
		return true
	})
	if err := b.writeRecord(name, record{RunID: "hidden-run", Attempt: 1, Namespace: "ns", UID: "hidden-uid", Submitted: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != backend.Failed {
		t.Fatalf("Status = %.200v; want Failed", st)
	}
	if len(st.Reason) > maxReasonBytes+64 {
		t.Errorf("the reason is %d bytes; want at most about %d", len(st.Reason), maxReasonBytes)
	}
	if !strings.HasPrefix(st.Reason, "BackoffLimitExceeded: backoff yyy") || !strings.Contains(st.Reason, "bytes in all") {
		t.Errorf("the reason %.120q... does not begin as the site's and say it was cut", st.Reason)
	}
	rec, ok := b.record(name)
	if !ok || rec.Final == nil || rec.Final.State != backend.Failed {
		t.Fatalf("the attempt's record after its end: %v, %.200v; want it readable, ending Failed", ok, rec.Final)
	}
	// As a restarted controller reads it.
	if data, err := readRecordFile(b.recordPath(name)); err != nil {
		t.Errorf("the attempt's record file (%d bytes) cannot be read back: %v", len(data), err)
	}
}
