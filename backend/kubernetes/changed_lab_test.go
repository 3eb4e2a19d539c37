package kubernetes_test

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
)

// On the test cluster: the attempt's Job waits suspended (for Kueue);
// someone who may update Jobs raises its container's GPU request, as the
// API server lets a suspended Job's container resources change, and
// resumes it. Its pod holds 2 GPUs where the attempt was placed with 1:
// Status says the attempt's Job was changed at the site (from the Job's
// template raised, or from the pod made of it).
func TestJobGivenMoreGPUsWhileSuspendedOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.QueueName = "lab-queue"
	b := newBackend(t, s, t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("raised"), Attempt: 1, WorkDir: t.TempDir(), Accelerators: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 5"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	backendtest.Wait(t, b, h, "queued", func(s backend.Status) bool { return s.State == backend.Pending })
	res := map[string]any{kubernetes.DefaultGPUResource: "2"}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"name": kubernetes.ContainerName, "resources": map[string]any{"limits": res, "requests": res}}}}}}})
	if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("raising the suspended Job's GPU request: %v", err)
	}
	if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType,
		[]byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	st := backendtest.Wait(t, b, h, "lost", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, "2 "+kubernetes.DefaultGPUResource) {
		t.Fatalf("Status = %+v; want Lost, the Job changed at the site (2 GPUs, submitted with 1)", st)
	}
}
