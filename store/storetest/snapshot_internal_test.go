package storetest

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/store"
)

// failingAppends is a store whose log stays empty: every append fails.
type failingAppends struct{ store.Store }

func (failingAppends) AppendAudit(context.Context, ...audit.Record) error {
	return errors.New("append refused")
}

func (failingAppends) AuditHeadAt(context.Context, int64) (store.AuditHeadRead, error) {
	return store.AuditHeadRead{Hash: audit.Genesis}, nil
}

// fatalTB records a Fatal instead of failing the test that runs it.
type fatalTB struct {
	testing.TB
	mu    sync.Mutex
	fatal []string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%v", args...) }

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = append(f.fatal, format)
	f.mu.Unlock()
	runtime.Goexit()
}

// TestSnapshotCheckFailsOnAFailedAppend: auditHeadAtOneSnapshot over a
// store whose appends fail stops, failed. Its reads waited for a head the
// appends would never reach, spinning until the test binary's timeout.
func TestSnapshotCheckFailsOnAFailedAppend(t *testing.T) {
	tb := &fatalTB{TB: t}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		auditHeadAtOneSnapshot(tb, failingAppends{})
	}()
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		// Not a guess at how long it takes: it returns at once when it
		// stops at all; 30 s only bounds the hang this test is about.
		t.Fatal("auditHeadAtOneSnapshot still reading 30 s after its appends failed")
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.fatal) == 0 {
		t.Fatal("auditHeadAtOneSnapshot returned without failing, its appends refused")
	}
}
