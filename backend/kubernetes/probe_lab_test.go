package kubernetes_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// On the test cluster (Kubernetes 1.31 or later, the feature gate on by
// default): the probe's dry-run create answers the Job with the
// matchLabelKeys of its anti-affinity term, so the site is accepted, the
// site check passes, and the dry run stores no Job.
func TestSpreadProbeAcceptsTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	ctx := testCtx(t)
	before, err := cs.BatchV1().Jobs(labNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ProbeSpreadForTest(ctx); err != nil {
		t.Fatalf("probe: %v; want the field kept", err)
	}
	if err := b.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	after, err := cs.BatchV1().Jobs(labNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Items) > len(before.Items) {
		for _, j := range after.Items {
			if j.GenerateName != "" {
				t.Errorf("the probe stored Job %s", j.Name)
			}
		}
	}
}

// BenchmarkSpreadProbe measures one probe against the test cluster: the
// dry-run create of a Job that spreadErr sends once per site per
// spreadProbeEvery.
func BenchmarkSpreadProbe(b *testing.B) {
	kc := lab(b)
	be := newBackend(b, site(kc), b.TempDir())
	ctx := testCtx(b)
	if err := be.ProbeSpreadForTest(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := be.ProbeSpreadForTest(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
