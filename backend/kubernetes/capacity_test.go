package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
)

// labGPUs is what the lab's node c advertises (scripts/kube-up.sh starts
// every node agent with -gpus 8 of nvidia.com/gpu).
const labGPUs = 8

func capacityOf(t *testing.T, b *kubernetes.Backend, what string) int {
	t.Helper()
	return backendtest.Capacity(t, testCtx(t), b, what)
}

// nodeQuiet waits until no unfinished pod is bound to node (pods of earlier
// tests may still be ending).
func nodeQuiet(t *testing.T, cs k8s.Interface, node string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pods, err := cs.CoreV1().Pods("").List(testCtx(t), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node + ",status.phase!=Succeeded,status.phase!=Failed"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s still has %d pods after 60 s (first %s/%s)", node, len(pods.Items), pods.Items[0].Namespace, pods.Items[0].Name)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// foreignPod starts a pod that is not Meridian's on node c holding n GPUs,
// in namespace ns, and waits until it runs. It is deleted when the test
// ends.
func foreignPod(t *testing.T, cs k8s.Interface, ns string, n int64) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "not-meridian-", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			// The lab's nodes mount emptyDir volumes only.
			AutomountServiceAccountToken: new(false),
			NodeSelector:                 map[string]string{"meridian.dev/site": "conformance"},
			Containers: []corev1.Container{{Name: "main", Image: labImage, Command: []string{"/bin/sh", "-c", "exec sleep 600"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{kubernetes.DefaultGPUResource: *resource.NewQuantity(n, resource.DecimalSI)}}}},
		},
	}
	p, err := cs.CoreV1().Pods(ns).Create(testCtx(t), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		cs.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := cs.CoreV1().Pods(ns).Get(testCtx(t), p.Name, metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodRunning {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("foreign pod %s not running after 60 s: %v %+v", p.Name, err, got.Status)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// deletePod deletes a pod and waits until it is gone.
func deletePod(t *testing.T, cs k8s.Interface, p *corev1.Pod) {
	t.Helper()
	zero := int64(0)
	if err := cs.CoreV1().Pods(p.Namespace).Delete(testCtx(t), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := cs.CoreV1().Pods(p.Namespace).Get(testCtx(t), p.Name, metav1.GetOptions{}); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s not gone 60 s after its deletion", p.Name)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// cordon cordons the node or uncordons it; uncordoned, it waits until the
// node lifecycle controller has taken the unschedulable taint off again
// (until then the scheduler still keeps new pods away).
func cordon(t testing.TB, cs k8s.Interface, node string, on bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	patch := `{"spec":{"unschedulable":false}}`
	if on {
		patch = `{"spec":{"unschedulable":true}}`
	}
	if _, err := cs.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	for !on {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("node %s: %v", node, err)
		}
		tainted := false
		for _, tn := range n.Spec.Taints {
			tainted = tainted || tn.Key == corev1.TaintNodeUnschedulable
		}
		if !tainted {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %s still tainted %s 60 s after it was uncordoned", node, corev1.TaintNodeUnschedulable)
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

// TestCapacity: a Kubernetes site reports its nodes' allocatable GPUs,
// less what a foreign pod requests, not less what Meridian's own pod
// requests, none of a cordoned node but the own pod's, and none of a node
// that is not Ready.
func TestCapacity(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	nodeQuiet(t, cs, nodeC)
	// Last: leave node c as the next test expects it, schedulable and
	// without this test's pods.
	t.Cleanup(func() {
		cordon(t, cs, nodeC, false)
		nodeQuiet(t, cs, nodeC)
	})
	b := newBackend(t, site(kc), t.TempDir())
	if n := capacityOf(t, b, "idle"); n != labGPUs {
		t.Fatalf("idle node: capacity %d, want its %d GPUs", n, labGPUs)
	}

	// A foreign pod in another namespace counts as much as one in the
	// site's own.
	foreign := foreignPod(t, cs, "default", 3)
	if n := capacityOf(t, b, "a foreign pod holds 3"); n != labGPUs-3 {
		t.Fatalf("with a foreign pod holding 3: capacity %d, want %d", n, labGPUs-3)
	}
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("capacity"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "exec sleep 600"}, Accelerators: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(context.Background(), h) })
	backendtest.Wait(t, b, h, "running", func(s backend.Status) bool { return s.State == backend.Running })
	if n := capacityOf(t, b, "own pod holds 2"); n != labGPUs-3 {
		t.Fatalf("with Meridian's own pod holding 2: capacity %d, want %d (its GPUs are its to give)", n, labGPUs-3)
	}

	cordon(t, cs, nodeC, true)
	if n := capacityOf(t, b, "node cordoned"); n != 2 {
		t.Fatalf("node cordoned: capacity %d, want the own pod's 2", n)
	}
	cordon(t, cs, nodeC, false)
	if n := capacityOf(t, b, "node uncordoned"); n != labGPUs-3 {
		t.Fatalf("node uncordoned: capacity %d, want %d", n, labGPUs-3)
	}

	deletePod(t, cs, foreign)
	if n := capacityOf(t, b, "foreign pod gone"); n != labGPUs {
		t.Fatalf("foreign pod gone: capacity %d, want %d", n, labGPUs)
	}

	ensureRestored(t, cs, nodeC)
	if err := failNode(testCtx(t), t, cs, nodeC); err != nil {
		t.Fatal(err)
	}
	if n := capacityOf(t, b, "node not Ready"); n != 0 {
		t.Fatalf("node not Ready: capacity %d, want 0", n)
	}
}

// TestCapacityForbidden: a user who may list the nodes but not the pods of
// every namespace gets an error naming the setting and the permission, not
// a figure that misses other namespaces' pods.
func TestCapacityForbidden(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	tok := os.Getenv("MERIDIAN_KUBE_TENANT_TOKEN")
	if tok == "" {
		t.Fatal("MERIDIAN_TEST_KUBE=1 but MERIDIAN_KUBE_TENANT_TOKEN is not set (source scripts/kube-up.sh's env.sh)")
	}
	name := fmt.Sprintf("meridian-capacity-test-%d", time.Now().UnixNano())
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := cs.RbacV1().ClusterRoles().Create(testCtx(t), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	bind := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "meridian-tenant"}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(testCtx(t), bind, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	raw, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range raw.AuthInfos {
		u.Token, u.ClientCertificateData, u.ClientKeyData, u.ClientCertificate, u.ClientKey = tok, nil, nil, "", ""
	}
	tenant := filepath.Join(t.TempDir(), "tenant.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, tenant); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, site(tenant), t.TempDir())
	deadline := time.Now().Add(10 * time.Second) // RBAC changes reach the authorizer through its cache
	for {
		_, err = b.Capacity(testCtx(t))
		if err != nil && strings.Contains(err.Error(), "may not list pods in every namespace") && strings.Contains(err.Error(), "backend.kubeconfig") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Capacity as a user who may not list pods: %v; want an error naming backend.kubeconfig and the pod list", err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// BenchmarkCapacity measures one capacity poll of the lab's node c (the
// nodes from the watch cache, one pod list).
func BenchmarkCapacity(b *testing.B) {
	kc := lab(b)
	be := newBackend(b, site(kc), b.TempDir())
	for b.Loop() {
		if _, err := be.Capacity(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
