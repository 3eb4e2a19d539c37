package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// TestFinalsBounded: the records of finished Jobs a server reads are kept
// in memory up to maxFinals, and each is still read right past that
// bound (from disk): a long-lived server does not keep every Job it ever
// saw end.
func TestFinalsBounded(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	b := &Backend{stateDir: dir, ns: "lab", finals: map[string]record{}}
	n := maxFinals + 10
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("job-%d", i)
		data, err := json.Marshal(record{RunID: name, Attempt: 1, Namespace: "lab", Submitted: time.Unix(1, 0), Final: &backend.Status{State: backend.Failed, ExitCode: i % 200}})
		if err != nil {
			t.Fatal(err)
		}
		// Written as saveFinal writes them, less its fsync (4,000 of them).
		if err := os.WriteFile(b.recordPath(name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("job-%d", i)
			r, ok := b.record(name)
			if !ok || r.RunID != name || r.Final == nil || r.Final.ExitCode != i%200 {
				t.Fatalf("record of %s: %+v, %v", name, r, ok)
			}
		}
	}
	if len(b.finals) > maxFinals {
		t.Errorf("%d finished Jobs held in memory, want at most %d", len(b.finals), maxFinals)
	}
}

// TestRecordsReadableOnlyByTheServer: an attempt's record holds its
// submission's nonce, the value that makes a Job the attempt's, and the
// Job's UID; another user of the controller's machine who read it could
// copy the nonce onto a Job of their own. The records' directory is the
// server's user's alone, a directory left 0755 by an older version
// included, and each record is 0600.
func TestRecordsReadableOnlyByTheServer(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	b.Close()
	jobs := filepath.Join(b.stateDir, "jobs")
	if err := os.Chmod(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	b = restarted(t, f, b)
	st, err := os.Stat(jobs)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("the records' directory is %v, want 0700", st.Mode().Perm())
	}
	spec := secretSpec()
	if _, err := b.Submit(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	st, err = os.Stat(b.recordPath(JobName(spec.RunID, spec.Attempt)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("the attempt's record is %v, want 0600", st.Mode().Perm())
	}
	// The directories made above the records' are not narrowed with it:
	// the server's state directory holds local sites' scratch, which
	// sandboxed workloads traverse (made 0700, they could not).
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		filepath.Join(root, "sites", "kube-a"), b.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	for _, d := range []string{filepath.Join(root, "sites"), filepath.Join(root, "sites", "kube-a")} {
		if st, err := os.Stat(d); err != nil || st.Mode().Perm()&0o011 != 0o011 {
			t.Errorf("%s made by the backend: %v, %v; want others to traverse it", d, st.Mode().Perm(), err)
		}
	}
}
