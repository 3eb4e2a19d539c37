package kubernetes_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
)

// The lab's pods are this machine's processes, and its node agent makes a
// container's working directory and its volumes' mount paths on the host
// as the pod starts: a lab test's are its own TempDirs. A test's cleanup
// that only asked for its attempt to be cancelled (Cancel deletes the Job
// and returns) had its directories removed while the attempt's pods were
// still starting or stopping: a pod started during the removal made a
// directory again in one being emptied ("directory not empty"), one
// started after it made them again, left behind in $TMPDIR.

// settleBound bounds the wait, at a test's end, for the Jobs and pods that
// use its directories to be gone: a pod is given 1 s after SIGTERM, and
// the garbage collector deletes a Job's pods within a few seconds.
const settleBound = 60 * time.Second

// stopPodsBeforeDirsGo has the test's cleanup, after the test's own
// cleanups (its Cancels) and before its directories are removed, delete
// the Jobs and pods left that use its directories and wait, within
// settleBound, until none of them is left in the API server and none of
// those pods runs on a node; the test fails, naming them, where some are.
// It makes the test's first TempDir, so that their removal is registered
// before, and runs after, this cleanup: lab is called before the test
// makes any.
func stopPodsBeforeDirsGo(t testing.TB, cs k8s.Interface) {
	t.Helper()
	first := t.TempDir()
	root := filepath.Dir(first)
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 1 {
		t.Fatalf("lab must be called before the test's first TempDir: its cleanup stops the pods that use them before they are removed (%s holds %d entries, %v)", root, len(ents), err)
	}
	stopPodsAtEnd(t, cs)
}

// stopping holds the tests for which stopPodsAtEnd registered its cleanup.
var stopping sync.Map

// stopPodsAtEnd registers, once for t however often asked (each working
// directory and state directory of a test asks), the cleanup that stops
// the Jobs and pods that use t's TempDirs and waits for them to be gone
// (stopPodsUsing). Their directory is found by making one more TempDir of
// t, never handed in: another (a parent test's, $TMPDIR itself) had the
// cleanup delete the pods of other tests, in this process or another. The
// cleanup runs before the removal of t's TempDirs, which t's first TempDir
// registered, by then made.
func stopPodsAtEnd(t testing.TB, cs k8s.Interface) {
	t.Helper()
	if _, had := stopping.LoadOrStore(t, true); had {
		return
	}
	nodes, err := labNodes()
	if err != nil {
		stopping.Delete(t)
		t.Fatal(err)
	}
	root := filepath.Dir(t.TempDir())
	t.Cleanup(func() {
		defer stopping.Delete(t)
		ctx, cancel := context.WithTimeout(context.Background(), settleBound)
		defer cancel()
		if err := stopPodsUsing(ctx, cs, nodes, root); err != nil {
			t.Errorf("lab cleanup: %v", err)
		}
	})
}

// stopPodsUsing deletes the Jobs (foreground: their pods first) and the
// pods that use directory root, and waits until none of them is left in
// the API server and none of those pods runs on a node. A pod is given 1 s
// to stop (the node agent then kills it): a pod's object stays, after its
// processes end, for as long as its deletion's grace period, 30 s as the
// Job controller makes its pods, and the object is what says that the node
// agent is done with it (one whose deletion it has not seen yet may still
// be started).
func stopPodsUsing(ctx context.Context, cs k8s.Interface, nodes *nodeClient, root string) error {
	fg := metav1.DeletePropagationForeground
	grace := int64(1)
	for {
		var left []string
		jobs, err := cs.BatchV1().Jobs(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, j := range jobs.Items {
				if !usesDir(&j.Spec.Template.Spec, root) {
					continue
				}
				left = append(left, fmt.Sprintf("Job %s/%s", j.Namespace, j.Name))
				if j.DeletionTimestamp == nil {
					err = errors.Join(err, gone(cs.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{
						PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &j.UID}})))
				}
			}
		}
		pods, perr := podsUsing(ctx, cs, nodes, root, func(p *corev1.Pod) error {
			if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds <= grace {
				return nil
			}
			return gone(cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
				GracePeriodSeconds: &grace, Preconditions: &metav1.Preconditions{UID: &p.UID}}))
		})
		left = append(left, pods...)
		err = errors.Join(err, perr)
		if err == nil && len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v, Jobs and pods that use the test's directories (%s) are still there: %s (last error: %v); the directories are removed under them",
				settleBound, root, strings.Join(left, "; "), err)
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}

// gone is err, nil where the object was gone already (or made again
// under its name: the precondition's UID differs).
func gone(err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// podsUsing names the pods that use directory root: those in the API
// server (each handed to each, where not nil) and those a node runs that
// have not ended.
func podsUsing(ctx context.Context, cs k8s.Interface, nodes *nodeClient, root string, each func(*corev1.Pod) error) ([]string, error) {
	var left []string
	pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if !usesDir(&p.Spec, root) {
			continue
		}
		left = append(left, fmt.Sprintf("pod %s/%s (%s, node %q)", p.Namespace, p.Name, p.Status.Phase, p.Spec.NodeName))
		if each != nil {
			err = errors.Join(err, each(p))
		}
	}
	ns, lerr := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if lerr != nil {
		return left, errors.Join(err, lerr)
	}
	for _, n := range ns.Items {
		run, rerr := nodes.running(ctx, &n)
		if rerr != nil {
			err = errors.Join(err, rerr)
			continue
		}
		for i := range run {
			p := &run[i]
			if usesDir(&p.Spec, root) && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				left = append(left, fmt.Sprintf("pod %s/%s running on node %s", p.Namespace, p.Name, n.Name))
			}
		}
	}
	return left, err
}

// usesDir reports whether a container of the pod works in, or mounts a
// volume at, root or a path under it.
func usesDir(spec *corev1.PodSpec, root string) bool {
	under := func(path string) bool {
		path = filepath.Clean(path)
		return path == root || strings.HasPrefix(path, root+string(filepath.Separator))
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			if c.WorkingDir != "" && under(c.WorkingDir) {
				return true
			}
			for _, m := range c.VolumeMounts {
				if under(m.MountPath) {
					return true
				}
			}
		}
	}
	return false
}

// nodeClient asks the lab's node agents which pods they run (the kubelet
// API's /runningpods/), as the API server does: with its client
// certificate, of the lab's CA. (The API server does not proxy to a node
// on 127.0.0.1.)
type nodeClient struct{ hc *http.Client }

var labNodes = sync.OnceValues(func() (*nodeClient, error) {
	pki := filepath.Join(os.Getenv("MERIDIAN_KUBE_DIR"), "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "apiserver-kubelet-client.crt"), filepath.Join(pki, "apiserver-kubelet-client.key"))
	if err != nil {
		return nil, fmt.Errorf("the lab's kubelet client certificate (MERIDIAN_KUBE_DIR, from scripts/kube-up.sh's env.sh): %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("the lab's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("the lab's CA %s holds no certificate", filepath.Join(pki, "ca.crt"))
	}
	return &nodeClient{hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}}}, nil
})

func (c *nodeClient) running(ctx context.Context, n *corev1.Node) ([]corev1.Pod, error) {
	addr := ""
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			addr = a.Address
		}
	}
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	if addr == "" || port == 0 {
		return nil, fmt.Errorf("node %s: no kubelet address (%q, port %d)", n.Name, addr, port)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(addr, strconv.Itoa(int(port)))+"/runningpods/", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("node %s: runningpods: %s", n.Name, resp.Status)
	}
	var l corev1.PodList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, fmt.Errorf("node %s: runningpods: %w", n.Name, err)
	}
	return l.Items, nil
}
