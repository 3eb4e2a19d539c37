package kubernetes_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
)

// holdFinalizer keeps a Job deleted in the test in the API server, being
// deleted, until the test takes it away.
const holdFinalizer = "meridian.dev/test-hold"

// On the test cluster: someone who may delete Jobs in the namespace
// deletes the attempt's running Job with orphan propagation; the garbage
// collector takes the Job's owner reference off its pod, which runs on.
// Cancel, which found the Job being deleted (held by another finalizer)
// or gone and returned, now deletes the attempt's pod all the same.
func TestCancelStopsThePodsOfAJobDeletedWithOrphansOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	for _, held := range []bool{true, false} {
		name := "gone"
		if held {
			name = "held"
		}
		t.Run(name, func(t *testing.T) {
			h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("orphan-" + name), Attempt: 1, WorkDir: t.TempDir(),
				Command: []string{"/bin/sh", "-c", "exec sleep 300"}})
			if err != nil {
				t.Fatal(err)
			}
			zero := int64(0)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				cs.BatchV1().Jobs(labNamespace).Patch(ctx, h, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
				cs.CoreV1().Pods(labNamespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
					metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
			})
			if st := backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running || s.State.Final() }); st.State != backend.Running {
				t.Fatalf("Status = %+v; want Running", st)
			}
			if held {
				if _, err := cs.BatchV1().Jobs(labNamespace).Patch(testCtx(t), h, types.MergePatchType,
					[]byte(`{"metadata":{"finalizers":["`+holdFinalizer+`"]}}`), metav1.PatchOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			orphan := metav1.DeletePropagationOrphan
			if err := cs.BatchV1().Jobs(labNamespace).Delete(testCtx(t), h, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
				t.Fatal(err)
			}
			// The collector has orphaned the pod (and, unheld, let the Job go).
			var pod string
			for {
				l, err := cs.CoreV1().Pods(labNamespace).List(testCtx(t), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + h})
				_, jerr := cs.BatchV1().Jobs(labNamespace).Get(testCtx(t), h, metav1.GetOptions{})
				if err == nil && len(l.Items) == 1 && len(l.Items[0].OwnerReferences) == 0 && (held || apierrors.IsNotFound(jerr)) {
					pod = l.Items[0].Name
					break
				}
				if testCtx(t).Err() != nil {
					t.Fatalf("the Job's pod not orphaned: %v, %v (job: %v)", l, err, jerr)
				}
				time.Sleep(100 * time.Millisecond) // polling interval
			}
			if err := b.Cancel(testCtx(t), h); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				p, err := cs.CoreV1().Pods(labNamespace).Get(testCtx(t), pod, metav1.GetOptions{})
				if apierrors.IsNotFound(err) || err == nil && p.DeletionTimestamp != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("pod %s of the cancelled attempt, orphaned by its Job's deletion, still runs 30 s after Cancel (%v, phase %s)", pod, err, p.Status.Phase)
				}
				time.Sleep(100 * time.Millisecond) // polling interval
			}
		})
	}
}
