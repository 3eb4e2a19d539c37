package kubernetes_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
)

// On the test cluster: an attempt of 9 GPUs on the two nodes of 8 is
// three pods of 3, one to a node, so its third pod waits for a node. Its
// Job is left as submitted; someone who may update Pods relabels the
// attempt of a running pod and of the waiting one, so that neither's
// anti-affinity matches the other, and the scheduler puts the waiting pod
// on the running one's node. Status says the attempt's pods were changed
// at the site: two of them share a node the workload was told is one each.
func TestPodsRelabelledOntoOneNodeOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/pool": "conformance"}
	b := newBackend(t, s, t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("shared"), Attempt: 1, WorkDir: t.TempDir(), Accelerators: 9,
		Command: []string{"/bin/sh", "-c", "exec sleep 120"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	pods := func() []corev1.Pod {
		t.Helper()
		l, err := cs.CoreV1().Pods(labNamespace).List(testCtx(t), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
		if err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	var placed, waiting *corev1.Pod
	deadline := time.Now().Add(backendtest.Timeout)
	for placed == nil || waiting == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no pod of %s running beside one waiting for a node", h)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
		placed, waiting = nil, nil
		items := pods()
		for i := range items {
			switch p := &items[i]; {
			case p.Status.Phase == corev1.PodRunning && placed == nil:
				placed = p
			case p.Spec.NodeName == "" && waiting == nil:
				waiting = p
			}
		}
	}
	relabel := func(p *corev1.Pod, attempt string) {
		t.Helper()
		patch := []byte(`{"metadata":{"labels":{"` + kubernetes.LabelAttempt + `":"` + attempt + `"}}}`)
		if _, err := cs.CoreV1().Pods(labNamespace).Patch(testCtx(t), p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatalf("relabelling pod %s: %v", p.Name, err)
		}
	}
	relabel(placed, "x")
	relabel(waiting, "y")
	st := backendtest.Wait(t, b, h, "lost", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, "share node "+placed.Spec.NodeName) {
		t.Fatalf("Status = %+v; want Lost, two pods on node %s", st, placed.Spec.NodeName)
	}
}

// On the test cluster: someone who may update Pods takes the label by
// which the backend watches an attempt's pods off its running pod, which
// the Job controller still counts as the Job's. Status says the attempt's
// pods were changed at the site, not that it waits for its pod.
func TestPodHiddenByItsLabelsOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("hidden"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "exec sleep 120"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	l, err := cs.CoreV1().Pods(labNamespace).List(testCtx(t), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("pods of %s: %v, %v; want one", h, l, err)
	}
	patch := []byte(`{"metadata":{"labels":{"` + kubernetes.LabelManagedBy + `":null}}}`)
	if _, err := cs.CoreV1().Pods(labNamespace).Patch(testCtx(t), l.Items[0].Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("relabelling pod %s: %v", l.Items[0].Name, err)
	}
	st := backendtest.Wait(t, b, h, "lost", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, l.Items[0].Name) {
		t.Fatalf("Status = %+v; want Lost, its pod %s relabelled", st, l.Items[0].Name)
	}
}
