package kubernetes_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
)

// On the test cluster: someone who may update Jobs in the namespace puts
// a lost mark, with a made-up signature, on a running attempt's Job. The
// attempt stays running, the mark reported as another's; Cancel (whose
// own mark the API server keeps as the backend wrote it) still ends it
// Cancelled.
func TestForgedLostMarkOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("forged"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "exec sleep 120"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	patch := []byte(`{"metadata":{"annotations":{"` + kubernetes.AnnotationLost + `":"says someone","` +
		kubernetes.AnnotationLostSig + `":"bm90IG1lcmlkaWFu"}}}`)
	if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	st := backendtest.Wait(t, b, h, "the mark reported", func(s backend.Status) bool {
		return s.State.Final() || strings.Contains(s.Reason, "did not put there")
	})
	if st.State != backend.Running {
		t.Fatalf("Status = %+v; want Running, the mark reported as another's", st)
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Cancelled {
		t.Fatalf("Status after Cancel = %+v; want Cancelled", st)
	}
}
