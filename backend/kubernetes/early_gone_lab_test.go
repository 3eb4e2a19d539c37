package kubernetes_test

import (
	"fmt"
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
)

// On the test cluster: an attempt queued (created suspended, as for
// Kueue). Someone who may create Pods in the namespace makes one with
// every mark a pod of the Job would have, bound to a node, that exits 0
// at once; once the Job controller has counted its success they delete
// it, and the queue admits the Job (here: the test resumes it), which
// completes with no pod of the attempt's run. No pod is left made before
// the Job was started: Status reads the attempt lost all the same, by
// what the backend recorded of the copy, not Succeeded. (A copy the Job
// controller deletes before it ends does nothing; another is made, up to
// five times.)
func TestCopiedPodDeletedOnceCountedEndingAQueuedJobOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	s := site(kc)
	s.QueueName = "lab-queue"
	b := newBackend(t, s, t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("queuedgone"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	backendtest.Wait(t, b, h, "queued", func(s backend.Status) bool { return s.State == backend.Pending })
	job, err := cs.BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
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
	counted, countedMade := "", time.Time{}
	for try := 1; counted == ""; try++ {
		if try > 5 {
			t.Fatalf("five copies went uncounted by the queued Job %s", h)
		}
		copied := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s-copy-%d", h, try),
			Labels:      job.Spec.Template.Labels,
			Annotations: job.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: h, UID: job.UID,
				Controller: new(bool), BlockOwnerDeletion: new(bool)}},
			Finalizers: []string{"batch.kubernetes.io/job-tracking"},
		}, Spec: *job.Spec.Template.Spec.DeepCopy()}
		*copied.OwnerReferences[0].Controller = true
		*copied.OwnerReferences[0].BlockOwnerDeletion = true
		copied.Spec.Containers[0].Command = []string{"/bin/sh", "-c", "exit 0"}
		copied.Spec.Containers[0].Args = nil
		copied.Spec.NodeName = nodeC // bound already: no wait for the scheduler
		made, err := cs.CoreV1().Pods(labNamespace).Create(testCtx(t), copied, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating pod %s: %v", copied.Name, err)
		}
		countedMade = made.CreationTimestamp.Time
		t.Cleanup(func() {
			cs.CoreV1().Pods(labNamespace).Delete(testCtx(t), copied.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		})
		// Until the Job has counted the copy's success, or the copy has gone.
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if j := getJob(); j.Status.Succeeded >= 1 {
				if ended(j) {
					t.Skipf("Job %s ended while suspended (%v): the case of TestCopiedPodEndingAQueuedJobOnTheCluster", h, j.Status.Conditions)
				}
				counted = copied.Name
				break
			}
			if _, err := cs.CoreV1().Pods(labNamespace).Get(testCtx(t), copied.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				break
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}
	// The copy, counted, goes; only then is the Job admitted.
	if err := cs.CoreV1().Pods(labNamespace).Delete(testCtx(t), counted, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for {
		_, err := cs.CoreV1().Pods(labNamespace).Get(testCtx(t), counted, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if testCtx(t).Err() != nil {
			t.Fatalf("pod %s never went: %v", counted, err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	waitPastStartSlack(t, countedMade)
	if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	for j := getJob(); !ended(j); j = getJob() {
		if testCtx(t).Err() != nil {
			t.Fatalf("Job %s never ended once admitted: %v", h, j.Status)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if j := getJob(); true {
		t.Logf("Job %s: conditions %v, failed %d, succeeded %d, started %v", h, j.Status.Conditions, j.Status.Failed, j.Status.Succeeded, j.Status.StartTime)
	}
	st := backendtest.Wait(t, b, h, "final", func(s backend.Status) bool { return s.State.Final() })
	if st.State != backend.Lost || !strings.Contains(st.Reason, "made before the Job was started") || !strings.Contains(st.Reason, counted) {
		t.Fatalf("Status = %+v; want Lost, the Job ended by pod %s, made before it started", st, counted)
	}
}
