package kubernetes_test

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"meridian.dev/meridian/backend/kubernetes"
)

// The UID preconditions the backend writes are what a real API server
// honours: a merge patch carrying another UID than the object's is refused
// as Invalid and changes nothing, and a delete whose UID precondition is
// not the object's leaves it. (The unit tests' fake API server answers so
// too; this checks that it answers as Kubernetes does.)
func TestUIDPreconditionsOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	ctx := testCtx(t)
	name := kubernetes.JobName(uniqueRunID("uid-pre"), 1)
	job, err := cs.BatchV1().Jobs(labNamespace).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{Suspend: ptr.To(true), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: kubernetes.ContainerName, Image: labImage}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.BatchV1().Jobs(labNamespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}) //nolint:errcheck
	})
	sec, err := cs.CoreV1().Secrets(labNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name},
		StringData: map[string]string{"K": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.CoreV1().Secrets(labNamespace).Delete(ctx, name, metav1.DeleteOptions{}) //nolint:errcheck
	})

	if err := b.PatchJobForTest(ctx, name, "not-"+job.UID, kubernetes.AnnotationLost, "x"); !apierrors.IsInvalid(err) {
		t.Errorf("patch of the Job with another UID: %v; want Invalid", err)
	}
	if got, err := cs.BatchV1().Jobs(labNamespace).Get(ctx, name, metav1.GetOptions{}); err != nil || got.Annotations[kubernetes.AnnotationLost] != "" {
		t.Errorf("after the refused patch the Job has annotations %v (%v)", got.Annotations, err)
	}
	if err := b.PatchJobForTest(ctx, name, job.UID, kubernetes.AnnotationLost, "x"); err != nil {
		t.Errorf("patch of the Job with its UID: %v", err)
	}
	if got, err := cs.BatchV1().Jobs(labNamespace).Get(ctx, name, metav1.GetOptions{}); err != nil || got.Annotations[kubernetes.AnnotationLost] != "x" {
		t.Errorf("after the patch the Job has annotations %v (%v)", got.Annotations, err)
	}

	if err := b.OwnSecretForTest(ctx, name, job.UID, "not-"+sec.UID); !apierrors.IsInvalid(err) {
		t.Errorf("owner patch of the Secret with another UID: %v; want Invalid", err)
	}
	if got, err := cs.CoreV1().Secrets(labNamespace).Get(ctx, name, metav1.GetOptions{}); err != nil || len(got.OwnerReferences) != 0 {
		t.Errorf("after the refused patch the Secret has owners %v (%v)", got.OwnerReferences, err)
	}
	b.DeleteSecretForTest(ctx, name, "not-"+sec.UID)
	if _, err := cs.CoreV1().Secrets(labNamespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Errorf("a delete with another UID removed the Secret: %v", err)
	}
	b.DeleteSecretForTest(ctx, name, sec.UID)
	if _, err := cs.CoreV1().Secrets(labNamespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a delete with its UID left the Secret: %v", err)
	}
}
