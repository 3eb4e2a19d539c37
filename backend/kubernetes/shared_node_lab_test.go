package kubernetes_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"

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
	// The scheduler's part (putting the waiting pod on the running one's
	// node once relabelled) is the cluster's, not the backend's: where it
	// leaves the pod waiting (seen on a loaded machine: the pod kept as
	// barred by the others' anti-affinity after its labels changed), the
	// scene is set again with a new attempt, three times at most. What is
	// judged is the backend's Status once the two pods share a node.
	for try := 1; ; try++ {
		h, placed, shared := relabelOntoOneNode(t, b, cs)
		if !shared {
			if try == 3 {
				t.Fatalf("%s: the scheduler never put the relabelled waiting pod beside the running one in %d tries", h, try)
			}
			t.Logf("%s: the relabelled waiting pod was not placed within its bound; setting the scene again", h)
			if err := b.Cancel(testCtx(t), h); err != nil {
				t.Fatal(err)
			}
			// Its pods hold their GPUs until they stop.
			backendtest.Wait(t, b, h, "cancelled", func(s backend.Status) bool { return s.State.Final() })
			continue
		}
		st := backendtest.Wait(t, b, h, "lost", func(s backend.Status) bool { return s.State.Final() })
		if st.State != backend.Lost || !strings.Contains(st.Reason, "changed at the site") || !strings.Contains(st.Reason, "share node "+placed) {
			t.Fatalf("Status = %+v; want Lost, two pods on node %s", st, placed)
		}
		return
	}
}

// relabelOntoOneNode submits an attempt of three pods of 3 GPUs on the two
// nodes of 8, waits for one running beside one waiting for a node,
// relabels both, and waits up to 60 s for the waiting one to be put on
// the running one's node (shared), returning the attempt's handle and
// that node.
func relabelOntoOneNode(t *testing.T, b backend.Backend, cs k8s.Interface) (h, node string, shared bool) {
	t.Helper()
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
	// The waiting pod first: the scheduler puts a pod it found
	// unschedulable back in its queue on another pod's change that may let
	// it in (the running pod's, relabelled second), judged with the waiting
	// pod's labels as they are then.
	relabel(waiting, "y")
	relabel(placed, "x")
	// The scheduler tries an unschedulable pod again within about 30-45 s
	// (scripts/kube-up.sh): 60 s leaves it room on a loaded machine.
	deadline = time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		p, err := cs.CoreV1().Pods(labNamespace).Get(testCtx(t), waiting.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" {
			return h, placed.Spec.NodeName, p.Spec.NodeName == placed.Spec.NodeName
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	return h, placed.Spec.NodeName, false
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
