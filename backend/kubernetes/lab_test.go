package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
	"meridian.dev/meridian/catalog"
)

// The test cluster of scripts/kube-up.sh: nodes c and d are the backend
// tests' own (labels meridian.dev/site=conformance and conformance-b, both
// meridian.dev/pool=conformance), in namespace conformance.
const (
	labNamespace = "conformance"
	nodeC        = "meridian-kube-c"
	nodeD        = "meridian-kube-d"
	// labImage is never pulled: the lab's nodes run the command on the host.
	labImage = "meridian.dev/lab-host:none"
)

// lab returns the admin kubeconfig of the test cluster, failing (not
// skipping) when MERIDIAN_TEST_KUBE=1 and the cluster is unreachable.
func lab(t testing.TB) string {
	t.Helper()
	if os.Getenv("MERIDIAN_TEST_KUBE") != "1" {
		t.Skip("MERIDIAN_TEST_KUBE is not 1; scripts/test.sh starts a cluster and sets it")
	}
	kc := os.Getenv("MERIDIAN_KUBECONFIG")
	if kc == "" {
		t.Fatal("MERIDIAN_TEST_KUBE=1 but MERIDIAN_KUBECONFIG is not set (run scripts/kube-up.sh and source its env.sh)")
	}
	cs := adminClient(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cs.CoreV1().Nodes().Get(ctx, nodeC, metav1.GetOptions{}); err != nil {
		t.Fatalf("MERIDIAN_TEST_KUBE=1 but the test cluster does not answer (run scripts/kube-up.sh): %v", err)
	}
	// Nodes c and d are failed on purpose by some tests.
	backendtest.Exclusive(t, "kube-conformance")
	// After the lock: the pods are stopped before the next test may start.
	stopPodsBeforeDirsGo(t, cs)
	return kc
}

func adminClient(t testing.TB, kubeconfig string) k8s.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// site is the settings of a site on the lab's node c.
func site(kubeconfig string) catalog.BackendSpec {
	return catalog.BackendSpec{
		Type:         catalog.BackendKubernetes,
		Kubeconfig:   kubeconfig,
		Namespace:    labNamespace,
		Image:        labImage,
		NodeSelector: map[string]string{"meridian.dev/site": "conformance"},
	}
}

func newBackend(t testing.TB, s catalog.BackendSpec, stateDir string) *kubernetes.Backend {
	t.Helper()
	b, err := kubernetes.New(s, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	b.NodeLostAfter = 2 * time.Second
	t.Cleanup(func() { b.Close() })
	return b
}

// labSite adds the simulated loss of the site's one node to a backend, so
// that the conformance suite's site-loss test runs against a real node
// going NotReady with its pods' processes killed.
type labSite struct {
	*kubernetes.Backend
	t    testing.TB
	cs   k8s.Interface
	node string
}

var _ backend.SiteFailer = labSite{}

func (l labSite) FailSite(ctx context.Context) error { return failNode(ctx, l.t, l.cs, l.node) }

func (l labSite) RestoreSite(ctx context.Context) error { return restoreNode(ctx, l.t, l.cs, l.node) }

// signalNode sends sig to a node agent of the lab.
func signalNode(node string, sig syscall.Signal) error {
	data, err := os.ReadFile(filepath.Join(os.Getenv("MERIDIAN_KUBE_DIR"), "run", node+".pid"))
	if err != nil {
		return fmt.Errorf("node agent %s: %w", node, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("node agent %s: pid file: %w", node, err)
	}
	return syscall.Kill(pid, sig)
}

// failNode kills the node's pods and waits until the API server has it not
// Ready. A test that fails a node restores it when it ends.
func failNode(ctx context.Context, t testing.TB, cs k8s.Interface, node string) error {
	if err := signalNode(node, syscall.SIGUSR1); err != nil {
		return err
	}
	return waitNode(ctx, cs, node, false)
}

func restoreNode(ctx context.Context, t testing.TB, cs k8s.Interface, node string) error {
	if err := signalNode(node, syscall.SIGUSR2); err != nil {
		return err
	}
	return waitNode(ctx, cs, node, true)
}

func waitNode(ctx context.Context, cs k8s.Interface, node string, ready bool) error {
	for {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && (c.Status == corev1.ConditionTrue) == ready {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready=%v: %w (last error %v)", node, ready, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ensureRestored brings a node back when the test ends, however it ends.
func ensureRestored(t testing.TB, cs k8s.Interface, node string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := restoreNode(ctx, t, cs, node); err != nil {
			t.Errorf("restore node %s: %v", node, err)
		}
	})
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), backendtest.Timeout)
	t.Cleanup(cancel)
	return c
}

func uniqueRunID(name string) string {
	return fmt.Sprintf("kt-%s-%d", name, time.Now().UnixNano())
}

// waitPastStartSlack waits until a Job resumed now starts (status.startTime,
// kept to the second) more than kubernetes.StartSlack after a pod made at
// made (its creationTimestamp, kept to the second), so that the pod reads
// as made before the Job started: a copy made while the Job waited in its
// queue, not one of the pass that resumed it.
func waitPastStartSlack(t testing.TB, made time.Time) {
	t.Helper()
	// Both times are cut to the second: two seconds past the slack leaves
	// a whole second between them whatever the fractions were.
	wait := time.Until(made.Add(kubernetes.StartSlack + 2*time.Second))
	if wait > 0 {
		time.Sleep(wait) // the admission's moment is the test's to choose
	}
}
