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

// On the test cluster: an attempt of 12 GPUs (two pods of 6, one to a
// node) waits suspended (for Kueue). What a queue's admission adds to its
// template (a node selector, tolerations, a label) leaves it waiting.
// The API server refuses a change to the pods' anti-affinity, but lets a
// suspended Job's template labels change: someone who may update Jobs
// relabels the pods' attempt, so that the anti-affinity (to pods labelled
// with the attempt's) keeps none of them apart, and Status says the
// attempt's Job was changed at the site: its pods could share a node.
func TestJobLosingItsSpreadWhileSuspendedOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/pool": "conformance"}
	s.QueueName = "lab-queue"
	b := newBackend(t, s, t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("spread"), Attempt: 1, WorkDir: t.TempDir(), Accelerators: 12,
		Command: []string{"/bin/sh", "-c", "exec sleep 5"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	backendtest.Wait(t, b, h, "queued", func(s backend.Status) bool { return s.State == backend.Pending })
	admitted, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"kueue.x-k8s.io/podset": "main"}},
		"spec": map[string]any{
			"nodeSelector": map[string]any{"meridian.dev/lab": "true"},
			"tolerations":  []any{map[string]any{"key": "example.com/gpu", "operator": "Exists", "effect": "NoSchedule"}},
		}}}})
	if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.StrategicMergePatchType, admitted, metav1.PatchOptions{}); err != nil {
		t.Fatalf("adding a queue's scheduling directives to the suspended Job: %v", err)
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State != backend.Pending {
		t.Fatalf("Status after a queue's additions = %+v, %v; want Pending", st, err)
	}
	if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType,
		[]byte(`{"spec":{"template":{"metadata":{"labels":{"`+kubernetes.LabelAttempt+`":"7"}}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("relabelling the suspended Job's pods: %v", err)
	}
	st := backendtest.Wait(t, b, h, "lost", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, kubernetes.LabelAttempt+`="7"`) {
		t.Fatalf("Status = %+v; want Lost, the Job changed at the site (its pods relabelled)", st)
	}
}
