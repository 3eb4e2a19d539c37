package local_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/backend/local"
)

// TestACancelsMarkReadsWhileItIsPlaced: a mark made once (cancel.at,
// late.at) was linked to its name from a temporary file and the temporary
// then removed: between the two it had two links, and a Cancel reading
// it meanwhile refused it as not the server's record. A late holder got
// no grace, and the job's grace read as run out (SIGKILL at once where
// the first of two racing Cancels meant a grace), as it would have for
// the cancelled mark, made once alike. A mark is now put in place by a
// rename that replaces nothing, never seen with two links.
func TestACancelsMarkReadsWhileItIsPlaced(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		b := newLocal(t, t.TempDir())
		b.CancelGrace = time.Hour
		h, dir := runningJob(t, b, "placed-cancelled")
		var killAt time.Time
		var seen bool
		t.Cleanup(local.SetTestHookMarkPlaced(func(path string) {
			if filepath.Base(path) == "cancelled" && !seen {
				seen = true
				killAt = local.CancelKillAt(b, h, dir)
			}
		}))
		if err := asTheServersUser(t, func() error { return b.Cancel(context.Background(), h) }); err != nil {
			t.Fatal(err)
		}
		if !seen {
			t.Fatal("Cancel made no cancelled mark")
		}
		if time.Until(killAt) < 30*time.Minute {
			t.Fatalf("a Cancel racing the mark's making sends SIGKILL at %v, within the hour's grace", killAt)
		}
	})
	t.Run("late.at", func(t *testing.T) {
		b := newLocal(t, t.TempDir())
		_, dir := runningJob(t, b, "placed-late")
		first := time.Now().Add(-time.Minute)
		var second time.Time
		var err2 error
		var seen bool
		t.Cleanup(local.SetTestHookMarkPlaced(func(path string) {
			if filepath.Base(path) == "late.at" && !seen {
				seen = true
				second, err2 = local.LateAsked(dir, time.Now())
			}
		}))
		at, err := local.LateAsked(dir, first)
		if err != nil {
			t.Fatal(err)
		}
		if !seen {
			t.Fatal("no late sighting was made")
		}
		if err2 != nil {
			t.Fatalf("a Cancel racing the late sighting's making: %v; want the first kept", err2)
		}
		if !second.Equal(at) {
			t.Fatalf("a Cancel racing the late sighting's making read %v; want the first, %v", second, at)
		}
	})
}
