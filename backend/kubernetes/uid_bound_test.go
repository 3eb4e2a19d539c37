package kubernetes

import (
	"bytes"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// TestCreatedJobsHugeUIDIsNotKept: the UID in the API server's answer to
// a Job's create went into the attempt's record as sent: one of megabytes
// made the record larger than a record is read within (1 MiB), so that
// the attempt had no readable record from then on, and memory held it
// (up to maxFinals of them). A UID that is no UID the API server makes is
// now not kept; the record matches the Job as one without a UID does.
func TestCreatedJobsHugeUIDIsNotKept(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	huge := strings.Repeat("u", 2<<20)
	f.setOnCreate(func(resource string, obj map[string]any) (int, string) {
		if resource == "jobs" {
			// The watch was told the Job's own UID; the answer says this.
			meta(obj)["uid"] = huge
		}
		return 0, ""
	})
	h, err := b.Submit(testContext(t), gpuSpec(0))
	if err != nil {
		t.Fatal(err)
	}
	data, err := readRecordFile(b.recordPath(h))
	if err != nil {
		t.Fatalf("the attempt's record (%d bytes) cannot be read back: %v", len(data), err)
	}
	if bytes.Contains(data, []byte("uuuuuuuu")) {
		t.Errorf("the record keeps the answer's UID (%d bytes)", len(data))
	}
	if uid, _ := b.knownUID(h); len(uid) > maxUIDBytes {
		t.Errorf("memory keeps a UID of %d bytes", len(uid))
	}
	st, err := b.Status(testContext(t), h)
	if err != nil || st.State.Final() && st.State != backend.Succeeded {
		t.Errorf("Status = %+v, %v; want the attempt's state", st, err)
	}
}
