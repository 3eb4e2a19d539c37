package kubernetes

import (
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
)

// markJob puts annotations on the Job name as someone else who may update
// Jobs in the namespace would, and waits for the watch cache to hold them.
func markJob(t *testing.T, f *fakeAPI, b *Backend, name string, ann map[string]any) {
	t.Helper()
	f.changeJob(name, map[string]any{"metadata": map[string]any{"annotations": ann}})
	eventually(t, "the marks are not in the cache", func() bool {
		j, ok := b.watch.job(name)
		if !ok {
			return false
		}
		for k, v := range ann {
			if j.Annotations[k] != v {
				return false
			}
		}
		return true
	})
}

// Anyone who may update Jobs in the namespace can put the backend's lost
// or cancelled mark on a running attempt's Job, with a signature too
// (made up, or copied from a Job the backend did mark). Read as the
// backend's, a lost mark made the attempt lost at once, for it to be run
// again at the forger's will. Such a mark is no verdict: the attempt keeps
// the state its Job's conditions and pods give, and Status says the Job
// carries a mark that is not Meridian's.
func TestForgedMarkIsNoVerdict(t *testing.T) {
	for _, tc := range []struct {
		name string
		ann  func(b *Backend, other string) map[string]any
	}{
		{"lost", func(*Backend, string) map[string]any {
			return map[string]any{AnnotationLost: "says someone"}
		}},
		{"lost, signed by guess", func(*Backend, string) map[string]any {
			return map[string]any{AnnotationLost: "says someone", AnnotationLostSig: "c2F5cyBzb21lb25l"}
		}},
		{"lost, signature copied from another Job", func(b *Backend, other string) map[string]any {
			j, _ := b.watch.job(other)
			return map[string]any{AnnotationLost: j.Annotations[AnnotationLost], AnnotationLostSig: j.Annotations[AnnotationLostSig]}
		}},
		{"cancelled", func(*Backend, string) map[string]any {
			return map[string]any{AnnotationCancelled: "2026-01-01T00:00:00Z"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			b := f.start(t)
			ctx := testContext(t)
			spec := secretSpec()
			spec.Secret = nil
			name, err := b.Submit(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			// Another attempt, which the backend itself finds lost.
			spec.Attempt++
			other, err := b.Submit(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			f.changeJob(other, map[string]any{"metadata": map[string]any{"deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": []any{"example.com/hold"}}})
			eventually(t, "the other attempt's Job is not marked lost", func() bool {
				if st, err := b.Status(ctx, other); err != nil || st.State != backend.Lost {
					return false
				}
				j, ok := b.watch.job(other)
				return ok && j.Annotations[AnnotationLostSig] != ""
			})

			markJob(t, f, b, name, tc.ann(b, other))
			st, err := b.Status(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if st.State.Final() || !strings.Contains(st.Reason, "that Meridian did not put there") {
				t.Fatalf("Status = %+v; want the attempt's own state (not final), reporting the mark as another's", st)
			}
			if rec, _ := b.record(name); rec.Final != nil {
				t.Fatalf("an end went on record: %+v", *rec.Final)
			}
			// The Job's own end is still the attempt's.
			setJobConditions(f, name, map[string]any{"type": jobComplete, "status": "True"})
			eventually(t, "the attempt did not succeed", func() bool {
				st, err := b.Status(ctx, name)
				return err == nil && st.State == backend.Succeeded
			})
		})
	}
}

// The backend's own marks still hold: a Job it marked lost is finished,
// reads lost, and once deleted stays lost with the mark's reason.
func TestOwnLostMarkHolds(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	name, j := markedLost(t, b, "node gone")
	if !b.jobFinished(j) {
		t.Fatal("a Job the backend marked lost is not finished")
	}
	f.drop("jobs", name)
	eventually(t, "the Job's deletion is not on record", func() bool {
		rec, _ := b.record(name)
		return rec.Final != nil
	})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || st.Reason != "node gone" {
		t.Fatalf("Status = %+v, %v; want Lost: node gone", st, err)
	}
}

// Anyone who may update Jobs in the namespace can change the reason of a
// lost mark the backend did put on the attempt's Job, keeping its
// signature. The verdict stands, but the reason is not the backend's: it
// was reported, and kept on record once the Job was deleted, as the
// attempt's. Now the reason the backend reads is one it signed, or it says
// the reason cannot be verified.
func TestChangedReasonOfOwnLostMark(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	name, _ := markedLost(t, b, "node gone")
	const forged = "the workload wiped its data; rerun at https://example.com"
	markJob(t, f, b, name, map[string]any{AnnotationLost: forged})
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || strings.Contains(st.Reason, forged) || st.Reason != unverifiedMark {
		t.Fatalf("Status = %+v, %v; want Lost: %s", st, err, unverifiedMark)
	}
	f.drop("jobs", name)
	eventually(t, "the Job's deletion is not on record", func() bool {
		rec, _ := b.record(name)
		return rec.Final != nil
	})
	if rec, _ := b.record(name); strings.Contains(rec.Final.Reason, forged) {
		t.Fatalf("record = %+v; want none of the changed reason", *rec.Final)
	}
}

// A reason longer than the watch cache keeps of a string, or not valid
// UTF-8, is written as it is read back: the backend's own reason verifies.
func TestLongOwnLostReasonVerifies(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	reason := "pod p disrupted: \xff" + strings.Repeat("é", maxKeptString)
	name, _ := markedLost(t, b, reason)
	st, err := b.Status(ctx, name)
	if err != nil || st.State != backend.Lost || !strings.HasPrefix(st.Reason, "pod p disrupted: \ufffdé") {
		t.Fatalf("Status = %+v, %v; want Lost with the reason written", st, err)
	}
}

// Capacity adds back what the attempt's pods hold while its Job lives: a
// lost mark the backend did not put on it does not end it (its pods run
// on), so they still count as Meridian's, as without the mark. Read as
// finished, the attempt's GPUs were reported held by someone else.
func TestCapacityCountsAJobWithAForgedMark(t *testing.T) {
	for _, kind := range []string{AnnotationLost, AnnotationCancelled} {
		t.Run(kind, func(t *testing.T) {
			s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
			f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
			f.put("pods", gpuPod(name+"-p", name, uid, "4"))
			markJob(t, f, b, name, map[string]any{kind: "2026-01-01T00:00:00Z"})
			got, err := b.Capacity(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got[backend.SiteAccelerator] != 8 {
				t.Fatalf("Capacity = %v; want 8: the attempt's pod still holds its 4", got)
			}
		})
	}
}

// Submit again of an attempt whose Job lives writes the attempt's Secret
// again (its pods cannot start without it). A mark that is not the
// backend's does not make the Job finished: the Secret is written.
func TestSubmitRewritesTheSecretOfAJobWithAForgedMark(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	ctx := testContext(t)
	name, err := b.Submit(ctx, secretSpec())
	if err != nil {
		t.Fatal(err)
	}
	markJob(t, f, b, name, map[string]any{AnnotationLost: "says someone"})
	f.drop("secrets", name)
	if _, err := b.Submit(ctx, secretSpec()); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.get("secrets", name); !ok {
		t.Fatal("the attempt's Secret was not written again: its pods cannot start")
	}
}

// An attempt whose end is on record (Status found it lost) adds nothing
// back to Capacity, whatever its Job looks like now: the mark Status puts
// on the Job is best effort, and anyone who may update Jobs can take it
// off. The attempt's pods still hold their GPUs; counted as Meridian's to
// place again, they were reported free while the run was placed anew.
func TestCapacityAddsNothingBackForAnAttemptEndedOnRecord(t *testing.T) {
	s := submitOnGPUNode(t, "8", gpuSpec(4), nil)
	f, b, ctx, name, uid := s.f, s.b, s.ctx, s.name, s.uid
	f.put("pods", gpuPod(name+"-p", name, uid, "4"))
	eventually(t, "the watch cache did not take the attempt's Job", func() bool {
		j, ok := b.watch.job(name)
		return ok && string(j.UID) == uid
	})
	// As when Status found the attempt lost and its mark did not get
	// through, or was taken off since.
	rec, _ := b.record(name)
	if err := b.saveFinal(name, rec, backend.Status{State: backend.Lost, Reason: "node gone"}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got[backend.SiteAccelerator] != 4 {
		t.Fatalf("Capacity = %v; want 4: the lost attempt's pod holds 4 that are not Meridian's to place again", got)
	}
}

// markedLost submits an attempt on b, waits for its Job in the cache, has
// the backend mark it lost for reason, and returns the Job's name and the
// Job as the cache holds it with the mark.
func markedLost(t *testing.T, b *Backend, reason string) (string, *apiJob) {
	t.Helper()
	ctx := testContext(t)
	spec := secretSpec()
	spec.Secret = nil
	name, err := b.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Job is not in the cache", func() bool {
		_, ok := b.watch.job(name)
		return ok
	})
	j, _ := b.watch.job(name)
	b.markLost(ctx, j, reason)
	eventually(t, "the mark is not in the cache", func() bool {
		j, _ = b.watch.job(name)
		return j.Annotations[AnnotationLostSig] != ""
	})
	return name, j
}
