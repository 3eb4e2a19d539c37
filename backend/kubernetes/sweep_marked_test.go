package kubernetes

import (
	"fmt"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// Anyone who may update Jobs in the namespace can mark a running attempt's
// Job lost or cancelled, or (who may delete them) have it deleted while a
// finalizer holds it. None of that ends the attempt: its pods not started
// yet, or started again, still read their variables from its Secret, so
// the sweep leaves the Secret. A mark that is not the backend's is no
// verdict of its own either (Status reads the attempt as its Job runs);
// once the backend's own verdict (Status, which reads a Job being deleted
// lost) is on record, the attempt is over and the sweep deletes it.
func TestSweepKeepsTheSecretOfAJobMarkedAtTheSite(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta map[string]any
		lost bool // what Status reads
	}{
		{"marked lost", map[string]any{"annotations": map[string]any{AnnotationLost: "says someone"}}, false},
		{"marked cancelled", map[string]any{"annotations": map[string]any{AnnotationCancelled: "2026-01-01T00:00:00Z"}}, false},
		{"being deleted", map[string]any{"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": []any{"example.com/hold"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			b := f.start(t)
			ctx := testContext(t)
			name, err := b.Submit(ctx, secretSpec())
			if err != nil {
				t.Fatal(err)
			}
			f.changeJob(name, map[string]any{"metadata": tc.meta})
			eventually(t, "the change to the Job is not in the cache", func() bool {
				j, ok := b.watch.job(name)
				return ok && (j.Annotations[AnnotationLost] != "" || j.Annotations[AnnotationCancelled] != "" || j.DeletionTimestamp != nil)
			})
			res, err := b.SweepSecrets(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := f.get("secrets", name); !ok || res.Finished != 0 {
				t.Fatalf("sweep %+v, Secret kept %v: a Job %s at the site lost the attempt's Secret", res, ok, tc.name)
			}
			st, err := b.Status(ctx, name)
			if err != nil || (st.State == backend.Lost) != tc.lost || st.State.Final() != tc.lost {
				t.Fatalf("Status = %+v, %v; want lost %v", st, err, tc.lost)
			}
			res, err = b.SweepSecrets(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.lost {
				if _, ok := f.get("secrets", name); !ok || res.Finished != 0 {
					t.Fatalf("sweep %+v, Secret kept %v: the sweep took the Secret of an attempt that runs on", res, ok)
				}
				return
			}
			if _, ok := f.get("secrets", name); ok || res.Finished != 1 {
				t.Fatalf("sweep %+v, Secret kept %v: the attempt lost on record kept its Secret", res, ok)
			}
		})
	}
}

// Whoever may update a Secret in the namespace, without leave to delete it,
// can label another application's Secret as Meridian's (with an attempt
// label and a run annotation copied from one of Meridian's). The sweep
// takes only Secrets named as Submit names the attempt they say they are
// of: such a Secret stays, ownerless and unchanged past the grace, while
// an attempt's orphaned one goes.
func TestSweepLeavesAnotherApplicationsSecretLabelledAsMeridians(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	cutOff := secretSpec()
	if err := b.WriteSecretForTest(ctx, cutOff); err != nil {
		t.Fatal(err)
	}
	f.put("secrets", map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "db-password", "namespace": "ns",
			"labels":      map[string]any{LabelManagedBy: managedBy, LabelAttempt: "2"},
			"annotations": map[string]any{AnnotationRunID: cutOff.RunID}},
		"data": map[string]any{"PASSWORD": "c2VjcmV0"}})
	for range 2 {
		if _, err := b.SweepSecrets(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.get("secrets", "db-password"); !ok {
		t.Error("the sweep deleted another application's Secret that was labelled as Meridian's")
	}
	if _, ok := f.get("secrets", JobName(cutOff.RunID, cutOff.Attempt)); ok {
		t.Error("the sweep left the Secret of a Submit cut off before its Job")
	}
}

// Whoever may create Secrets in the namespace can make more labelled as
// Meridian's than the sweep remembers (maxOrphansSeen) and rewrite them
// before each grace ends, so that they are never deleted and the bound
// stays full. An attempt's Secret left without its Job, with the
// attempt's record here, is still remembered and deleted once unchanged
// for the grace; it no longer waits, with the attempt's credential, for
// room that never comes.
func TestSweepDeletesAnAttemptsOrphanPastAFullBound(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	junk := func() {
		for i := range maxOrphansSeen {
			runID := fmt.Sprintf("junk-%d", i)
			f.put("secrets", map[string]any{"apiVersion": "v1", "kind": "Secret",
				"metadata": map[string]any{"name": JobName(runID, 1), "namespace": "ns",
					"labels":      map[string]any{LabelManagedBy: managedBy, LabelAttempt: "1"},
					"annotations": map[string]any{AnnotationRunID: runID}}})
		}
	}
	sweep := func(grace time.Duration) {
		t.Helper()
		if _, err := b.SweepSecrets(ctx, grace); err != nil {
			t.Fatal(err)
		}
	}
	junk()
	sweep(time.Hour)
	// The attempt's Submit was cut off after its Job was created, before
	// the Job got its Secret; the Job was then deleted.
	name, err := b.Submit(ctx, secretSpec())
	if err != nil {
		t.Fatal(err)
	}
	f.drop("jobs", name)
	eventually(t, "the Job's deletion is not in the cache", func() bool {
		_, ok := b.watch.job(name)
		return !ok
	})
	sec, _ := f.get("secrets", name)
	delete(meta(sec), "ownerReferences")
	f.put("secrets", sec)
	sweep(time.Hour)
	junk() // rewritten: their grace starts again
	sweep(0)
	if _, ok := f.get("secrets", name); ok {
		t.Error("the attempt's orphaned Secret stayed while others' Secrets filled what the sweep remembers")
	}
	if _, ok := f.get("secrets", JobName("junk-0", 1)); !ok {
		t.Error("a Secret rewritten since the last sweep was deleted")
	}
}
