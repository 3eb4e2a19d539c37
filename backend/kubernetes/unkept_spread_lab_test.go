package kubernetes_test

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"meridian.dev/meridian/backend"
)

// On the test cluster: a Job of an attempt of two pods stored without the
// matchLabelKeys of its anti-affinity term (made directly, as an older
// Meridian made it) is found again by Find and judged by Status, and
// Submit of the attempt takes it up: Status reads it lost naming the Job
// and the field, and Submit gives the attempt up without creating another
// Job, where both used to follow it as the attempt's.
func TestUnkeptJobIsNotRunOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	ctx := testCtx(t)
	spec := backend.Spec{RunID: uniqueRunID("unkept"), Attempt: 1, Command: []string{"true"}}
	name, err := b.CreateUnkeyedJobForTest(ctx, spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Cancel(testCtx(t), name) })
	stored, err := cs.BatchV1().Jobs(labNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if keys := stored.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].MatchLabelKeys; len(keys) != 0 {
		t.Fatalf("the Job was stored with matchLabelKeys %v; want none", keys)
	}
	_, err = b.Submit(ctx, spec)
	if !errors.Is(err, backend.ErrAttemptUnknown) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "matchLabelKeys") {
		t.Fatalf("Submit: %v; want the attempt given up, naming the Job and matchLabelKeys", err)
	}
	h, found, err := b.Find(ctx, spec.RunID, spec.Attempt)
	if err != nil || !found || h != name {
		t.Fatalf("Find = %q, %v, %v; want %q", h, found, err, name)
	}
	st, err := b.Status(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != backend.Lost || !strings.Contains(st.Reason, name) || !strings.Contains(st.Reason, "matchLabelKeys") {
		t.Errorf("Status = %+v; want Lost naming the Job and matchLabelKeys", st)
	}
	jobs, err := cs.BatchV1().Jobs(labNamespace).List(ctx, metav1.ListOptions{LabelSelector: "meridian.dev/run=" + spec.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 {
		t.Errorf("%d Jobs of the run; want only the one found", len(jobs.Items))
	}
}
