package kubernetes

import (
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// BenchmarkStatusPoll is one Status of a running attempt whose Job is in
// the watch cache: what the run controller asks of every attempt at every
// poll.
func BenchmarkStatusPoll(b *testing.B) {
	f := newFakeAPI(b)
	be := f.start(b)
	spec := secretSpec()
	spec.Secret = nil
	ctx := testContext(b)
	name, err := be.Submit(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	eventually(b, "the attempt's Job is not in the cache", func() bool {
		_, ok := be.watch.job(name)
		return ok
	})
	if st, err := be.Status(ctx, name); err != nil || st.State.Final() {
		b.Fatalf("Status = %+v, %v; want unfinished", st, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if st, err := be.Status(ctx, name); err != nil || st.State != backend.Pending {
			b.Fatalf("Status = %+v, %v", st, err)
		}
	}
}

// A poll of an attempt whose Job's UID is on record reads no file: the UID
// is kept in memory once known. A backend started again on the same state
// directory (a restarted server) reads the record once and still tells a
// Job made again under the attempt's name from the attempt's.
func TestStatusPollReadsNoRecordFile(t *testing.T) {
	f := newFakeAPI(t)
	be := f.start(t)
	spec := secretSpec()
	spec.Secret = nil
	ctx := testContext(t)
	name, err := be.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the attempt's Job is not in the cache", func() bool {
		_, ok := be.watch.job(name)
		return ok
	})
	var reads atomic.Int64
	read := readRecordFile
	readRecordFile = func(path string) ([]byte, error) {
		reads.Add(1)
		return read(path)
	}
	t.Cleanup(func() { readRecordFile = read })
	for range 10 {
		if st, err := be.Status(ctx, name); err != nil || st.State != backend.Pending {
			t.Fatalf("Status = %+v, %v; want Pending", st, err)
		}
	}
	if n := reads.Load(); n != 0 {
		t.Errorf("10 polls read the record file %d times; want none", n)
	}

	again := restarted(t, f, be)
	replaceJob(t, f, again, name)
	if st, err := again.Status(ctx, name); err != nil || st.State != backend.Lost || st.Reason != replacedReason {
		t.Errorf("after a restart, a Job made again under the name: Status = %+v, %v; want Lost: %s", st, err, replacedReason)
	}
}

// restarted is a backend started again on b's state directory and API
// server f, as after a restart of the controller: it knows only what the
// state directory has. It returns once the new backend watches Jobs and
// Pods (the fake does not replay what a watch missed).
func restarted(t testing.TB, f *fakeAPI, b *Backend) *Backend {
	t.Helper()
	watching := func() (int, int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.watchers["jobs"]), len(f.watchers["pods"])
	}
	jobs, pods := watching()
	again, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: b.ns, Image: b.image},
		b.stateDir, b.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	eventually(t, "the backend started again does not watch Jobs and Pods", func() bool {
		j, p := watching()
		return j > jobs && p > pods
	})
	return again
}
