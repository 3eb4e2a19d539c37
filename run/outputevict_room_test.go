package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/store"
)

// updateStore stands in front of a store: while fail is set its
// UpdateRun fails, and while block is set it waits for its context to
// end (or release to be closed).
type updateStore struct {
	store.Store
	fail    atomic.Bool
	block   atomic.Bool
	release chan struct{}
}

func (s *updateStore) UpdateRun(ctx context.Context, id string, fn func(*store.Run) (store.Change, error)) (*store.Run, error) {
	if s.fail.Load() {
		return nil, errors.New("store down")
	}
	if s.block.Load() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.release:
		}
	}
	return s.Store.UpdateRun(ctx, id, fn)
}

// withUpdates stands f's controller over s, wrapping f's store.
func (f *outputFleet) withUpdates(s *updateStore) {
	s.Store = f.st
	f.cfg.Store = s
	f.c = New(f.cfg)
}

// cutMark says whether run r's first attempt's output is marked cut.
func (f *outputFleet) cutMark(r *Run) bool {
	f.t.Helper()
	marked, err := cutMarked(f.c.logPath(r.ID, 1))
	if err != nil {
		f.t.Fatal(err)
	}
	return marked
}

// TestTenantOutputManyRemovalsNotCut: a post that needs more removals
// than one post makes (maxRemovalsPerPost) while removable ended runs
// remain is answered 503, nothing kept or marked, and the agent's post
// again is kept whole, as are those after. It was cut and marked, and the
// attempt kept nothing more though the tenant's old output remained.
func TestTenantOutputManyRemovalsNotCut(t *testing.T) {
	f := newOutputFleet(t, 1000)
	for i := range 50 {
		f.ended("t1", fmt.Sprintf("run-old-%02d", i), 20)
	}
	r := f.run("t1", "run-new", Running)
	data := bytes.Repeat([]byte("n"), 800)
	if code, kept := f.post(r, data); code != 503 || kept != 0 {
		t.Fatalf("post needing 40 removals: %d, kept %d; want 503, none kept", code, kept)
	}
	if f.cutMark(r) || f.cuts(r) != 0 {
		t.Fatalf("a post answered 503 marked the attempt cut (mark %v, events %d)", f.cutMark(r), f.cuts(r))
	}
	if code, kept := f.post(r, data); code != 200 || kept != 800 {
		t.Fatalf("the same post again: %d, kept %d; want 200, 800 kept", code, kept)
	}
	if code, kept := f.post(r, bytes.Repeat([]byte("m"), 100)); code != 200 || kept != 100 {
		t.Fatalf("a later post: %d, kept %d; want 200, 100 kept", code, kept)
	}
	if f.cutMark(r) || f.cuts(r) != 0 {
		t.Fatal("the attempt was marked cut while removable runs remained")
	}
}

// TestTenantOutputRemovalErrorNotCut: a removal whose store write fails
// answers the post 503, nothing kept or marked; once the store is back
// the post is kept. It was cut and marked, and the attempt kept nothing
// after a blip of the store.
func TestTenantOutputRemovalErrorNotCut(t *testing.T) {
	f := newOutputFleet(t, 1000)
	for i := range 5 {
		f.ended("t1", fmt.Sprintf("run-old-%02d", i), 200)
	}
	r := f.run("t1", "run-new", Running)
	s := &updateStore{}
	f.withUpdates(s)
	s.fail.Store(true)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 100)); code != 503 || kept != 0 {
		t.Fatalf("post while the store fails: %d, kept %d; want 503, none kept", code, kept)
	}
	if f.cutMark(r) {
		t.Fatal("a failed removal marked the attempt cut")
	}
	s.fail.Store(false)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 100)); code != 200 || kept != 100 {
		t.Fatalf("post once the store is back: %d, kept %d; want 200, 100 kept", code, kept)
	}
	if f.cutMark(r) || f.cuts(r) != 0 {
		t.Fatal("the attempt was marked cut")
	}
}

// TestTenantOutputRemovalWriteBounded: a removal's store write that hangs
// is given up after removalWriteTimeout and the post answered 503, nothing
// marked. It waited as long as the store did, holding the attempt's file
// lock and its agent.
func TestTenantOutputRemovalWriteBounded(t *testing.T) {
	defer func(d time.Duration) { removalWriteTimeout = d }(removalWriteTimeout)
	removalWriteTimeout = 20 * time.Millisecond
	f := newOutputFleet(t, 1000)
	f.ended("t1", "run-old", 1000)
	r := f.run("t1", "run-new", Running)
	s := &updateStore{release: make(chan struct{})}
	defer close(s.release)
	f.withUpdates(s)
	s.block.Store(true)
	done := make(chan int, 1)
	go func() { code, _ := f.post(r, []byte("line\n")); done <- code }()
	select {
	case code := <-done:
		if code != 503 {
			t.Fatalf("post whose removal's write hung: %d, want 503", code)
		}
	case <-time.After(time.Minute):
		// A guard against hanging the suite, not a measure: the bound
		// is removalWriteTimeout.
		t.Fatal("the post waited on a hung store write")
	}
	if f.cutMark(r) {
		t.Fatal("a hung removal marked the attempt cut")
	}
}

// TestTenantOutputOrderAfterRestart: after a restart the runs are removed
// in the order they ended (their attempts' ends), not that of their rows'
// last writes: an old ended run written to since (an event) goes first.
// It was taken as the newest, and a newer run's output went before it.
func TestTenantOutputOrderAfterRestart(t *testing.T) {
	f := newOutputFleet(t, 1000)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.cfg.Now = func() time.Time { return now }
	f.restart()
	// The older's id sorts after the newer's: a tie of write times
	// would not order them right by chance.
	older, newer := f.run("t1", "run-z", Running), f.run("t1", "run-b", Running)
	f.write(older, 500)
	f.write(newer, 500)
	f.end(older)
	now = now.Add(time.Minute)
	f.end(newer)
	now = now.Add(time.Minute)
	if _, err := f.c.update(context.Background(), older.ID, func(r *Run, ch *store.Change) error {
		ch.Events = append(ch.Events, store.Event{Kind: "site-swept", Reason: "a later write to an ended run"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.restart()
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 100)); code != 200 || kept != 100 {
		t.Fatalf("post: %d, kept %d", code, kept)
	}
	if f.kept(older) != 0 || f.kept(newer) != 500 {
		t.Fatalf("kept: run that ended first %d, run that ended last %d; want 0 and 500", f.kept(older), f.kept(newer))
	}
}

// TestTenantOutputReplicaFindsOthersEnded: a server that saw none of the
// tenant's runs end (they ended on another replica) lists them from the
// store when it needs room and removes them, rather than cutting the
// post while their output remains.
func TestTenantOutputReplicaFindsOthersEnded(t *testing.T) {
	f := newOutputFleet(t, 1000)
	old := f.run("t1", "run-old", Running)
	if code, kept := f.post(old, bytes.Repeat([]byte("o"), 900)); code != 200 || kept != 900 {
		t.Fatalf("post: %d, kept %d", code, kept)
	}
	other := New(f.cfg)
	if _, err := other.update(context.Background(), old.ID, func(r *Run, ch *store.Change) error {
		r.State = Cancelled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := f.run("t1", "run-new", Running)
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 200)); code != 200 || kept != 200 {
		t.Fatalf("post needing room: %d, kept %d; want 200, 200 kept", code, kept)
	}
	if f.kept(old) != 0 || f.cutMark(r) {
		t.Fatalf("the other replica's ended run kept %d, cut marked %v", f.kept(old), f.cutMark(r))
	}
}

// TestTenantOutputRunWhoseFilesFailIsPassedBy: a run whose output files
// cannot be read for their removal (here its directory made a file) is
// passed by for removalHoldOff and the next oldest removed in its place;
// once only such runs are left a post is cut as when none is left. Held
// first in line, it failed every post of the tenant's with a 503, for as
// long as it stayed so.
func TestTenantOutputRunWhoseFilesFailIsPassedBy(t *testing.T) {
	f := newOutputFleet(t, 1000)
	var old []*Run
	for i := range 3 {
		old = append(old, f.ended("t1", fmt.Sprintf("run-old-%02d", i), 400))
	}
	r := f.run("t1", "run-new", Running)
	if got := f.counted("t1"); got != 1200 {
		t.Fatalf("counted %d, want 1200", got)
	}
	for _, o := range old[:2] {
		dir := filepath.Dir(f.c.logPath(o.ID, 1))
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if code, kept := f.post(r, bytes.Repeat([]byte("n"), 100)); code != 200 || kept != 100 {
		t.Fatalf("post with two runs' files failing: %d, kept %d; want 200 and 100 kept, the third run removed", code, kept)
	}
	if f.kept(old[2]) != 0 || f.removals(old[2]) != 1 {
		t.Errorf("run %s: %d bytes kept, %d removal events; want its output removed, told once", old[2].ID, f.kept(old[2]), f.removals(old[2]))
	}
	// Only runs passed by are left: the post is cut, not refused.
	code, _ := f.post(r, bytes.Repeat([]byte("m"), 300))
	if code != 200 || !f.cutMark(r) {
		t.Errorf("post past the bound with only failing runs left: %d, cut %v; want 200 and the attempt cut", code, f.cutMark(r))
	}
}
