package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/local"
)

// pidlessJob makes the ended job h one whose wrapper ended recording neither its pid nor an
// exit code, its record's launch set back by age.
func pidlessJob(t *testing.T, b *local.Local, h string, age time.Duration) string {
	t.Helper()
	dir := filepath.Join(b.StateDir(), "jobs", h)
	for _, f := range []string{"pid", "exitcode"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "job.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	rec["submitted"] = time.Now().Add(-age).UTC().Format(time.RFC3339Nano)
	if data, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusAnswersWhateverAWorkloadPutsForTheJobsLock: Status probes the
// job's lock file to tell a job a Submit is launching from one lost
// without a pid. A FIFO, a link, a hard link or a file made mode 0 there
// (a workload of the server's user may chmod any job's files) made every
// Status of the job fail. Status now reads the lock file as the server's
// own (its mode set back), and where it cannot, answers starting while a
// Submit may be launching the job (its record's launch is recent) and
// lost after: never a failure on a workload's word.
func TestStatusAnswersWhateverAWorkloadPutsForTheJobsLock(t *testing.T) {
	for _, kind := range []string{"mode 0", "mode 0 held", "fifo", "link", "hard link", "fifo recent"} {
		t.Run(kind, func(t *testing.T) {
			b := newLocal(t, t.TempDir())
			ctx := context.Background()
			h := endedJob(t, b, backend.Spec{RunID: "joblock", Attempt: 1, Command: []string{"true"}})
			age := time.Hour
			if kind == "fifo recent" {
				age = 0
			}
			dir := pidlessJob(t, b, h, age)
			lock := filepath.Join(dir, "lock")
			want := backend.Lost
			switch kind {
			case "mode 0 held":
				// A Submit holds it, then a workload makes it mode 0.
				f, err := os.OpenFile(lock, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
					t.Fatal(err)
				}
				replaceRecord(t, lock, "mode 0", nil, 0)
				want = backend.Pending
			case "hard link":
				other := filepath.Join(dir, "other")
				if err := os.WriteFile(other, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(lock); err != nil {
					t.Fatal(err)
				}
				if err := os.Link(other, lock); err != nil {
					t.Fatal(err)
				}
			case "fifo recent":
				replaceRecord(t, lock, "fifo", nil, 0)
				want = backend.Pending
			default:
				replaceRecord(t, lock, kind, nil, 0)
			}
			var st backend.Status
			err := inTime(t, "Status", func() (err error) {
				st, err = b.Status(ctx, h)
				return err
			})
			if err != nil || st.State != want {
				t.Fatalf("Status with %s for the job's lock: %+v, %v; want %s", kind, st, err, want)
			}
		})
	}
}
