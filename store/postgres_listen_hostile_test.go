package store_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meridian.dev/meridian/internal/pgtest"
	"meridian.dev/meridian/store"
)

// TestPostgresListenHostilePayload: any session of the database may notify
// the run channel. A payload of thousands of "*" lines asks the listener's
// watchers to read everything again once, not once a line; lines no
// replica writes (a tenant that is not a tenant name, a line longer than
// any replica announces) are dropped; and a run whose line would be too
// long for listeners is announced as "*", not lost.
func TestPostgresListenHostilePayload(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := openPostgres(t, url)
	b := openPostgres(t, url).(*store.Postgres)
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan string, 4096)
	var resyncs atomic.Int64
	resynced := make(chan struct{}, 8192)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.ListenRuns(ctx, store.RunChanges{
			Changed: func(tenant, id string) { changed <- tenant + " " + id },
			Resync: func() {
				resyncs.Add(1)
				resynced <- struct{}{}
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	next := func() string {
		t.Helper()
		select {
		case line := <-changed:
			return line
		case <-time.After(10 * time.Second):
			t.Fatal("no notification within 10 s")
			return ""
		}
	}
	select {
	case <-resynced:
	case <-time.After(10 * time.Second):
		t.Fatal("no resync when listening began")
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := b.Pool().Exec(ctx, `SELECT pg_notify('meridian_run_changes', $1)`, payload); err != nil {
			t.Fatal(err)
		}
	}

	before := resyncs.Load()
	hostile := strings.Repeat("*\n", 3000) + "Not_A_Tenant r1\n" + "a " + strings.Repeat("x", 400) + "\n" + "a r1"
	notify(hostile)
	// Notifications arrive in order, each payload's lines passed on before
	// the next payload's: once the next one is heard, the hostile one is
	// done with.
	notify("b r2")
	if got := next(); got != "a r1" {
		t.Fatalf("first change heard of the hostile payload: %q, want %q", got, "a r1")
	}
	if got := next(); got != "b r2" {
		t.Fatalf("heard %q after the hostile payload, want %q", got, "b r2")
	}
	if n := resyncs.Load() - before; n != 1 {
		t.Errorf("a payload of 3,000 \"*\" lines asked for %d resyncs, want 1", n)
	}

	// A run whose line is longer than listeners take: announced as "*".
	before = resyncs.Load()
	long := "r-" + strings.Repeat("y", 300)
	if _, _, err := a.CreateRun(ctx, &store.Run{ID: long, Tenant: "a", Job: "j", State: "planned", Data: []byte(`{}`)}, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.CreateRun(ctx, &store.Run{ID: "r3", Tenant: "a", Job: "j", State: "planned", Data: []byte(`{}`)}, "", store.Change{}); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "a r3" {
		t.Fatalf("heard %q after creating %s… and r3, want %q", got, long[:10], "a r3")
	}
	if n := resyncs.Load() - before; n != 1 {
		t.Errorf("a run whose line is too long was announced with %d resyncs, want 1", n)
	}
}
