package kubernetes_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/kubernetes"
)

// TestSweepOrphanedSecrets: a Secret left by a Submit cut off before its
// Job is deleted once it has stayed unchanged, with no Job, for the grace;
// one rewritten meanwhile (a Submit taking it over) waits a grace again;
// one whose Submit is under way is never touched; one whose Job exists is
// given to the Job; a Secret Meridian did not make is left alone.
func TestSweepOrphanedSecrets(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	ctx := testCtx(t)
	spec := func(name string) backend.Spec {
		return backend.Spec{RunID: uniqueRunID(name), Attempt: 1, WorkDir: t.TempDir(),
			Command: []string{"/bin/sh", "-c", "sleep 600"}, Secret: map[string]string{"TOKEN": "credential-" + name}}
	}
	cutOff, rewritten, underWay, withJob := spec("cut-off"), spec("rewritten"), spec("under-way"), spec("with-job")
	for _, s := range []backend.Spec{cutOff, rewritten, underWay} {
		if err := b.WriteSecretForTest(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	done := b.SubmitUnderWayForTest(underWay)
	// A Job whose Secret lost its owner: its Submit was cut off between
	// creating the Job and giving it the Secret.
	h, err := b.Submit(ctx, withJob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(testCtx(t), h) })
	if _, err := cs.CoreV1().Secrets(labNamespace).Patch(ctx, h, types.MergePatchType,
		[]byte(`{"metadata":{"ownerReferences":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "not-meridians-" + uniqueRunID("s")},
		StringData: map[string]string{"K": "v"}}
	if _, err := cs.CoreV1().Secrets(labNamespace).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.CoreV1().Secrets(labNamespace).Delete(testCtx(t), foreign.Name, metav1.DeleteOptions{}) })

	name := func(s backend.Spec) string { return kubernetes.JobName(s.RunID, s.Attempt) }
	exists := func(n string) bool {
		t.Helper()
		_, err := cs.CoreV1().Secrets(labNamespace).Get(ctx, n, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	sweep := func(grace time.Duration) kubernetes.SweepResult {
		t.Helper()
		res, err := b.SweepSecrets(ctx, grace)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// First sweep: everything is new to it, nothing is deleted, even at a
	// grace of zero; the Job gets its Secret back.
	// (Other tests' Secrets may be in the namespace: only this test's are
	// checked by name.)
	if res := sweep(0); res.Owned != 1 || !exists(name(cutOff)) || !exists(name(rewritten)) || !exists(name(underWay)) {
		t.Fatalf("first sweep %+v: none of this test's should be deleted and one owned", res)
	}
	job, err := cs.BatchV1().Jobs(labNamespace).Get(ctx, h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := cs.CoreV1().Secrets(labNamespace).Get(ctx, h, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != job.UID {
		t.Fatalf("the Job's Secret owners %+v, want the Job (uid %s)", sec.OwnerReferences, job.UID)
	}

	// Within the grace nothing goes.
	if sweep(time.Hour); !exists(name(cutOff)) || !exists(name(rewritten)) {
		t.Fatal("a sweep within the grace deleted a Secret")
	}
	// A Submit takes one over (it rewrites it): its grace starts again.
	if err := b.WriteSecretForTest(ctx, rewritten); err != nil {
		t.Fatal(err)
	}
	sweep(0)
	if exists(name(cutOff)) || !exists(name(rewritten)) || !exists(name(underWay)) || !exists(h) || !exists(foreign.Name) {
		t.Fatalf("after the second sweep: cut-off %v (want gone), rewritten %v, under way %v, with Job %v, foreign %v (want kept)",
			exists(name(cutOff)), exists(name(rewritten)), exists(name(underWay)), exists(h), exists(foreign.Name))
	}
	if sweep(0); exists(name(rewritten)) {
		t.Fatal("third sweep: the rewritten Secret, unchanged since the second, should be gone")
	}
	if !exists(name(underWay)) {
		t.Fatal("a Secret whose Submit is under way was deleted")
	}
	// Once its Submit is over (and it never got a Job), it goes too.
	done()
	sweep(0)
	if sweep(0); exists(name(underWay)) {
		t.Fatal("after its Submit ended, two sweeps left the Secret")
	}
	if !exists(h) || !exists(foreign.Name) {
		t.Fatal("the sweep deleted the Job's Secret or one Meridian did not make")
	}
}

// BenchmarkSweepSecrets measures one sweep of a namespace holding 1,000
// Secrets the backend made and no Job owns (the sweep's worst case short
// of deleting: each is listed, looked up in the Job cache and remembered),
// on the test cluster: what the backend spends every DefaultSweepEvery.
func BenchmarkSweepSecrets(b *testing.B) {
	kc := lab(b)
	be := newBackend(b, site(kc), b.TempDir())
	ctx := context.Background()
	const n = 1000
	prefix := uniqueRunID("sweep-bench")
	for i := 0; i < n; i++ {
		s := backend.Spec{RunID: fmt.Sprintf("%s-%d", prefix, i), Attempt: 1, Secret: map[string]string{"TOKEN": "x"}}
		if err := be.WriteSecretForTest(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		// Two sweeps with no grace delete them (and any other orphan of
		// the test namespace).
		for range 2 {
			if _, err := be.SweepSecrets(context.Background(), 0); err != nil {
				b.Error(err)
			}
		}
	})
	for b.Loop() {
		res, err := be.SweepSecrets(ctx, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if res.Listed < n || res.Deleted != 0 {
			b.Fatalf("sweep %+v: want at least %d listed and none deleted", res, n)
		}
	}
}
