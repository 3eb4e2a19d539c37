package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// TestPostgresListenRuns: a replica hears of every run change another
// replica commits (a new run, an update, an event), in commit order, and
// of none that was rolled back; when its listening connection is killed it
// says so, listens again, asks its watchers to read again, and hears the
// next change; a payload's lines are each heard, "*" as a resync; a burst
// of changes is heard change for change.
func TestPostgresListenRuns(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := openPostgres(t, url)
	b := openPostgres(t, url).(*store.Postgres)
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan string, 1024) // "tenant id"
	resync := make(chan struct{}, 8)
	lost := make(chan error, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.ListenRuns(ctx, store.RunChanges{
			Changed: func(tenant, id string) { changed <- tenant + " " + id },
			Resync:  func() { resync <- struct{}{} },
			Lost:    func(err error) { lost <- err },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("ListenRuns did not return after its context ended")
		}
	})
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s within 10 s", what)
		}
	}
	next := func() string {
		t.Helper()
		select {
		case id := <-changed:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("no notification within 10 s")
			return ""
		}
	}
	// setState commits a change of run id's state on replica a.
	setState := func(id, state string) {
		t.Helper()
		if _, err := a.UpdateRun(ctx, id, func(r *store.Run) (store.Change, error) {
			r.State = state
			return store.Change{}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	wait("resync when listening began", resync)

	for _, r := range []struct{ id, tenant string }{{"r1", "a"}, {"r2", "b"}} {
		if _, _, err := a.CreateRun(ctx, &store.Run{ID: r.id, Tenant: r.tenant, Job: "j", State: "planned", Data: []byte(`{}`)}, "", store.Change{
			Events: []store.Event{{Kind: "created", To: "planned"}},
		}); err != nil {
			t.Fatal(err)
		}
		// The row and its event are one transaction: one notification.
		if got, want := next(), r.tenant+" "+r.id; got != want {
			t.Fatalf("after creating %s heard %q", want, got)
		}
	}
	// A change rolled back is not announced: the next one heard is r2's,
	// committed after it.
	boom := errors.New("boom")
	if _, err := a.UpdateRun(ctx, "r1", func(r *store.Run) (store.Change, error) {
		r.State = "running"
		return store.Change{Events: []store.Event{{Kind: "state", From: "planned", To: "running"}}}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	if _, err := a.UpdateRun(ctx, "r2", func(r *store.Run) (store.Change, error) {
		r.State = "running"
		return store.Change{Events: []store.Event{{Kind: "state", From: "planned", To: "running"}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "b r2" {
		t.Fatalf("after a rolled-back change of r1 and a committed one of r2 heard %q", got)
	}

	// Kill the listening session, as a database restart or a network
	// failure would.
	var killed int
	if err := b.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query = 'LISTEN meridian_run_changes'`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listening sessions: %v", killed, err)
	}
	select {
	case err := <-lost:
		if err == nil {
			t.Error("lost the connection with a nil error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lost connection was not reported")
	}
	wait("resync after listening again", resync)
	setState("r1", "running")
	if got := next(); got != "a r1" {
		t.Fatalf("after listening again heard %q", got)
	}
	// A notification on the channel that is not a run's is dropped.
	if _, err := b.Pool().Exec(ctx, `SELECT pg_notify('meridian_run_changes', 'nospace')`); err != nil {
		t.Fatal(err)
	}
	setState("r2", "done")
	if got := next(); got != "b r2" {
		t.Fatalf("after a stray notification and a change of r2 heard %q", got)
	}
	// One payload holds several changes, and "*" for those not announced.
	if _, err := b.Pool().Exec(ctx, `SELECT pg_notify('meridian_run_changes', E'a r1\n*\nb r2')`); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "a r1" {
		t.Fatalf("first line: heard %q", got)
	}
	wait("resync for a payload's *", resync)
	if got := next(); got != "b r2" {
		t.Fatalf("third line: heard %q", got)
	}
	// A burst from several goroutines: every change is heard once, however
	// the announcer batches them.
	const workers, each = 3, 100
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			id := []string{"r1", "r2"}[w%2]
			for range each {
				if _, err := a.UpdateRun(ctx, id, func(r *store.Run) (store.Change, error) {
					return store.Change{Events: []store.Event{{Kind: "progress"}}}, nil
				}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	heard := map[string]int{}
	for range workers * each {
		heard[next()]++
	}
	if want := map[string]int{"a r1": 2 * each, "b r2": each}; heard["a r1"] != want["a r1"] || heard["b r2"] != want["b r2"] {
		t.Errorf("after the burst heard %v, want %v", heard, want)
	}
	select {
	case extra := <-changed:
		t.Errorf("heard %q more than the burst's changes", extra)
	case <-time.After(300 * time.Millisecond):
	}
}
