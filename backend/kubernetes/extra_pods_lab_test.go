package kubernetes_test

import (
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// On the test cluster: someone who may create Pods in the namespace makes
// a pod beside the attempt's running one, copying its labels, annotations
// and controller reference, but with the Job controller's own uid label
// (batch.kubernetes.io/controller-uid) not the Job's, so that the Job
// controller neither counts nor deletes it; only the older controller-uid
// label names the Job. Its output is not the attempt's: Status says the
// attempt's pods were changed at the site, naming the pod, and Logs never
// hands on what it printed.
func TestPodClaimingTheJobWithOtherUIDLabelsOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("claim"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "echo attempt-output; exec sleep 20"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	running := backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running || s.State.Final() })
	if running.State != backend.Running {
		t.Fatalf("Status = %+v; want Running", running)
	}
	l, err := cs.CoreV1().Pods(labNamespace).List(testCtx(t), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("pods of %s: %v, %v; want one", h, l, err)
	}
	real := l.Items[0]
	forged := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name:            h + "-forged",
		Labels:          map[string]string{},
		Annotations:     real.Annotations,
		OwnerReferences: real.OwnerReferences,
	}, Spec: *real.Spec.DeepCopy()}
	for k, v := range real.Labels {
		forged.Labels[k] = v
	}
	forged.Labels["batch.kubernetes.io/controller-uid"] = "not-the-job"
	forged.Spec.Containers[0].Command = []string{"/bin/sh", "-c", "echo forged-output; exec sleep 20"}
	forged.Spec.Containers[0].Args = nil
	if _, err := cs.CoreV1().Pods(labNamespace).Create(testCtx(t), forged, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod %s: %v", forged.Name, err)
	}
	t.Cleanup(func() {
		cs.CoreV1().Pods(labNamespace).Delete(testCtx(t), forged.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	})
	st := backendtest.Wait(t, b, h, "lost", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, forged.Name) {
		t.Fatalf("Status = %+v; want Lost, pod %s claiming the Job", st, forged.Name)
	}
	// Once the pod has printed, the attempt's output still has none of it.
	for {
		out, err := cs.CoreV1().Pods(labNamespace).GetLogs(forged.Name, &corev1.PodLogOptions{}).Do(testCtx(t)).Raw()
		if err == nil && strings.Contains(string(out), "forged-output") {
			break
		}
		if testCtx(t).Err() != nil {
			t.Fatalf("pod %s printed nothing: %v", forged.Name, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	rc, err := b.Logs(testCtx(t), h)
	if err == nil {
		out, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(out), "forged-output") {
			t.Fatalf("Logs = %q; want none of pod %s's output", out, forged.Name)
		}
	}
}
