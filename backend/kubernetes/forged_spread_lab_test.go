package kubernetes_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
)

// On the test cluster: before a run's attempt of 12 GPUs (two pods of 6,
// a node each) is submitted, someone who may create Pods in the namespace
// puts a pod of their own on each of the site's two nodes, labelled with
// the run and the attempt (what the attempt's pods will carry, known from
// the run's id). The attempt's pods keep apart from the pods of their own
// Job only: both run, one on each node, beside those pods. Before, the
// anti-affinity to pods of the run's and attempt's labels kept them off
// both nodes, and the attempt waited for good.
func TestPodsWithTheAttemptsLabelsKeepNoneOfItsPodsOffANodeOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/pool": "conformance"}
	b := newBackend(t, s, t.TempDir())
	runID := uniqueRunID("blocked")
	for _, node := range []string{nodeC, nodeD} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:   runID + "-" + node,
				Labels: map[string]string{kubernetes.LabelRun: runID, kubernetes.LabelAttempt: "1"},
			},
			Spec: corev1.PodSpec{
				NodeName:                     node,
				RestartPolicy:                corev1.RestartPolicyNever,
				AutomountServiceAccountToken: new(bool),
				Containers:                   []corev1.Container{{Name: "blocker", Image: labImage, Command: []string{"/bin/sh", "-c", "exec sleep 120"}}},
			},
		}
		if _, err := cs.CoreV1().Pods(labNamespace).Create(testCtx(t), p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", p.Name, err)
		}
		t.Cleanup(func() {
			cs.CoreV1().Pods(labNamespace).Delete(testCtx(t), p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		})
	}
	for _, node := range []string{nodeC, nodeD} {
		for {
			p, err := cs.CoreV1().Pods(labNamespace).Get(testCtx(t), runID+"-"+node, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Status.Phase == corev1.PodRunning {
				break
			}
			if p.Status.Phase != corev1.PodPending || testCtx(t).Err() != nil {
				t.Fatalf("pod %s: %s %s; want it running", p.Name, p.Status.Phase, p.Status.Message)
			}
			time.Sleep(50 * time.Millisecond) // polling interval
		}
	}
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: runID, Attempt: 1, WorkDir: t.TempDir(), Accelerators: 12,
		Command: []string{"/bin/sh", "-c", "exec sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	on := map[string]bool{}
	backendtest.Wait(t, b, h, "both pods running", func(st backend.Status) bool {
		if st.State.Final() {
			t.Fatalf("Status = %+v; want its pods running", st)
		}
		l, err := cs.CoreV1().Pods(labNamespace).List(testCtx(t), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
		if err != nil {
			t.Fatal(err)
		}
		clear(on)
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning {
				on[p.Spec.NodeName] = true
			}
		}
		return st.State == backend.Running && on[nodeC] && on[nodeD]
	})
}
