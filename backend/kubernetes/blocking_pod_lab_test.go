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

// On the test cluster: an attempt of 12 GPUs (two pods of 6, a node each)
// waits suspended (for Kueue). Someone who may create Pods in the
// namespace reads its Job's UID and puts it, as the Job controller's
// controller-uid label, on a pod of their own on each of the site's two
// nodes, under a controller of theirs (a ConfigMap), so that the Job
// controller neither adopts nor counts them, and without the labels the
// backend's watch follows. Once the queue admits the Job (here: the test
// resumes it) its pods find no node: Status says the attempt's pods were
// changed at the site, naming such a pod, where it read Pending for good.
func TestPodsCarryingTheJobsUIDKeepingItsPodsOffTheNodesOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/pool": "conformance"}
	s.QueueName = "lab-queue"
	b := newBackend(t, s, t.TempDir())
	runID := uniqueRunID("uidblock")
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: runID, Attempt: 1, WorkDir: t.TempDir(), Accelerators: 12,
		Command: []string{"/bin/sh", "-c", "exec sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	backendtest.Wait(t, b, h, "queued", func(s backend.Status) bool { return s.State == backend.Pending })
	job, err := cs.BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := cs.CoreV1().ConfigMaps(labNamespace).Create(testCtx(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: runID}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.CoreV1().ConfigMaps(labNamespace).Delete(testCtx(t), owner.Name, metav1.DeleteOptions{}) })
	var blockers []string
	for _, node := range []string{nodeC, nodeD} {
		controller := true
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: runID + "-" + node,
				Labels: map[string]string{"batch.kubernetes.io/controller-uid": string(job.UID),
					kubernetes.LabelRun: runID, kubernetes.LabelAttempt: "1"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
					Controller: &controller}},
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
		blockers = append(blockers, p.Name)
	}
	for _, name := range blockers {
		for {
			p, err := cs.CoreV1().Pods(labNamespace).Get(testCtx(t), name, metav1.GetOptions{})
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
	if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType,
		[]byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	st := backendtest.Wait(t, b, h, "lost", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") ||
		!strings.Contains(st.Reason, blockers[0]) && !strings.Contains(st.Reason, blockers[1]) {
		t.Fatalf("Status = %+v; want Lost, a pod of %v keeping its pods off a node", st, blockers)
	}
}
