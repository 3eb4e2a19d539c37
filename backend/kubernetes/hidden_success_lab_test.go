package kubernetes_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
)

// On the test cluster: an attempt queued (created suspended, as for
// Kueue). Someone who may create Pods in the namespace makes one with the
// marks by which the Job controller selects and counts the Job's pods
// (controller reference, controller-uid labels, its tracking finalizer)
// but without the label app.kubernetes.io/managed-by, which the backend's
// watch cache follows, bound to a node, exiting 0 at once. The Job
// controller counts its success; the queue admits the Job (here: the
// test resumes it), which completes with no pod of the attempt's run.
// The backend never saw the pod: Status read the attempt Succeeded; it
// now reads it lost, the Job counting a success it did not see, and names
// the pod.
func TestUnlabelledPodEndingAQueuedJobOnTheCluster(t *testing.T) {
	testUnlabelledPodEndingAQueuedJobOnTheCluster(t, 0)
}

// The same with a pod that fails at once: the Job (no retries) failed
// once admitted, and the attempt read Failed, with the pod's exit code.
func TestUnlabelledPodFailingAQueuedJobOnTheCluster(t *testing.T) {
	testUnlabelledPodEndingAQueuedJobOnTheCluster(t, 3)
}

func testUnlabelledPodEndingAQueuedJobOnTheCluster(t *testing.T, exit int) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.QueueName = "lab-queue"
	b := newBackend(t, s, t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("queuedhidden"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	backendtest.Wait(t, b, h, "queued", func(s backend.Status) bool { return s.State == backend.Pending })
	getJob := func() *batchv1.Job {
		j, err := cs.BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	ended := func(j *batchv1.Job) bool {
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}
	job := getJob()
	lbl := maps.Clone(job.Spec.Template.Labels)
	delete(lbl, kubernetes.LabelManagedBy)
	counted := ""
	for try := 1; counted == ""; try++ {
		if try > 5 {
			t.Fatalf("five unlabelled pods went uncounted by the queued Job %s", h)
		}
		hidden := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s-hidden-%d", h, try),
			Labels:      lbl,
			Annotations: job.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: h, UID: job.UID,
				Controller: new(bool), BlockOwnerDeletion: new(bool)}},
			Finalizers: []string{"batch.kubernetes.io/job-tracking"},
		}, Spec: *job.Spec.Template.Spec.DeepCopy()}
		*hidden.OwnerReferences[0].Controller = true
		*hidden.OwnerReferences[0].BlockOwnerDeletion = true
		hidden.Spec.Containers[0].Command = []string{"/bin/sh", "-c", fmt.Sprintf("exit %d", exit)}
		hidden.Spec.Containers[0].Args = nil
		hidden.Spec.NodeName = nodeC // bound already: no wait for the scheduler
		if _, err := cs.CoreV1().Pods(labNamespace).Create(testCtx(t), hidden, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %s: %v", hidden.Name, err)
		}
		t.Cleanup(func() {
			cs.CoreV1().Pods(labNamespace).Delete(testCtx(t), hidden.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		})
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if j := getJob(); j.Status.Succeeded+j.Status.Failed >= 1 {
				counted = hidden.Name
				break
			}
			if _, err := cs.CoreV1().Pods(labNamespace).Get(testCtx(t), hidden.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				break
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}
	if j := getJob(); !ended(j) {
		if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for j := getJob(); !ended(j); j = getJob() {
		if testCtx(t).Err() != nil {
			t.Fatalf("Job %s never ended once admitted: %v", h, j.Status)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	j := getJob()
	t.Logf("Job %s: conditions %v, failed %d, succeeded %d, started %v", h, j.Status.Conditions, j.Status.Failed, j.Status.Succeeded, j.Status.StartTime)
	st := backendtest.Wait(t, b, h, "final", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, h) {
		t.Fatalf("Status = %+v; want Lost, the Job %s ended by pod %s, which the backend never saw", st, h, counted)
	}
	t.Logf("Status = %+v", st)
}
