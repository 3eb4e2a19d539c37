package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// Cancel records the attempt's cancellation before it marks the Job
// cancelled, and signs its mark (marks.go). Anyone who may update Jobs in
// the namespace can put the same mark on a running attempt's Job: that is
// no cancellation by the attempt's user (a cancelled run is not run
// again), nor a verdict of the backend's (a lost attempt is run again at
// once): the attempt keeps the state its Job gives, and Status reports the
// mark as another's. Deleted after the mark, the Job is one deleted at the
// site. Cancel itself still ends the attempt Cancelled.
func TestJobMarkedCancelledAtTheSite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		deleted bool
	}{{"kept", false}, {"deleted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			b := f.start(t)
			name := submitWithoutSecret(t, b)
			f.changeJob(name, map[string]any{"metadata": map[string]any{"annotations": map[string]any{AnnotationCancelled: "2026-01-01T00:00:00Z"}}})
			eventually(t, "the mark is not in the cache", func() bool {
				j, ok := b.watch.job(name)
				return ok && j.Annotations[AnnotationCancelled] != ""
			})
			if tc.deleted {
				f.drop("jobs", name)
				eventually(t, "the Job's deletion is not in the cache", func() bool {
					_, ok := b.watch.job(name)
					return !ok
				})
			}
			st, err := b.Status(testContext(t), name)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.deleted && (st.State != backend.Lost || !strings.Contains(st.Reason, "deleted at the site")):
				t.Fatalf("Status = %+v; want Lost, deleted at the site", st)
			case !tc.deleted && (st.State.Final() || !strings.Contains(st.Reason, "that Meridian did not put there")):
				t.Fatalf("Status = %+v; want the Job's own state, the mark reported as another's", st)
			}
		})
	}
	t.Run("by Cancel", func(t *testing.T) {
		f := newFakeAPI(t)
		b := f.start(t)
		name := submitWithoutSecret(t, b)
		if err := b.Cancel(testContext(t), name); err != nil {
			t.Fatal(err)
		}
		// A cancellation on record is the end only once the watch cache
		// has the Job deleted, or being deleted, and no pod of it runs
		// (cancelledStatus): with the Job marked but not yet deleted, a
		// Cancel whose delete was refused looks the same, its pods free
		// to start again. Cancel's mark and its delete reach the cache as
		// two events; waiting for the mark alone, Status came between
		// them on a loaded machine and read Running, cancelling.
		eventually(t, "Cancel's deletion of the Job is not in the cache", func() bool {
			j, ok := b.watch.job(name)
			return !ok || j.DeletionTimestamp != nil
		})
		b.recMu.Lock()
		clear(b.finals) // as when more than maxFinals ends are held
		b.recMu.Unlock()
		st, err := b.Status(testContext(t), name)
		if err != nil || st.State != backend.Cancelled {
			t.Fatalf("Status after Cancel = %+v, %v; want Cancelled", st, err)
		}
	})
}
