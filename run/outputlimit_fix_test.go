package run

import (
	"context"
	"sync/atomic"
	"testing"

	"meridian.dev/meridian/store"
)

// versionsStore is a store whose RunVersionsAfter may fail (fail) or
// wait (entered is closed at its first call; it then waits for release).
type versionsStore struct {
	store.Store
	calls   atomic.Int32
	fail    error
	entered chan struct{}
	release chan struct{}
}

func (s *versionsStore) RunVersionsAfter(ctx context.Context, tenant, after string, limit int) ([]store.RunVersion, error) {
	if s.calls.Add(1) == 1 && s.entered != nil {
		close(s.entered)
		<-s.release
	}
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.RunVersionsAfter(ctx, tenant, after, limit)
}

// withVersions stands f's controller over s, wrapping f's store.
func (f *outputFleet) withVersions(s *versionsStore) {
	s.Store = f.st
	f.cfg.Store = s
	f.c = New(f.cfg)
}

// TestAgentLogsCountNotUnderFileLock: a post waiting for its tenant's
// output to be counted does not hold its attempt's file lock. It did, so
// the attempt's other posts waited behind a count of the whole tenant.
func TestAgentLogsCountNotUnderFileLock(t *testing.T) {
	f := newOutputFleet(t, 1000)
	s := &versionsStore{entered: make(chan struct{}), release: make(chan struct{})}
	f.withVersions(s)
	r := f.run("t1", "run-one", Running)
	done := make(chan int, 1)
	go func() { code, _ := f.post(r, []byte("line\n")); done <- code }()
	<-s.entered
	held := lockTaken(f.c.logPath(r.ID, 1))
	close(s.release)
	<-done
	if held {
		t.Error("the attempt's output file is locked while its tenant's output is counted")
	}
}
