package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/kubernetes"
)

// On the test cluster: the attempt's pod is deleted and another pod made
// under its name, one that is not the Job's and writes other output,
// after the backend's cache read the attempt's pods and before it asks
// for the pod's log (which the API server finds by the pod's name). The
// other pod's log is not handed over as the attempt's output: the read
// fails, naming the pod replaced.
func TestLogOfAPodMadeAgainUnderItsNameOnTheCluster(t *testing.T) {
	kc := lab(t)
	cs := adminClient(t, kc)
	b := newBackend(t, site(kc), t.TempDir())
	h, err := b.Submit(testCtx(t), backend.Spec{RunID: uniqueRunID("podswap"), Attempt: 1, WorkDir: t.TempDir(),
		Command: []string{"/bin/sh", "-c", "echo output of the attempt"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := backendtest.WaitFinal(t, b, h); st.State != backend.Succeeded {
		t.Fatalf("status %+v, want succeeded", st)
	}
	read := func() (string, error) {
		rc, err := b.Logs(testCtx(t), h)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out, err := io.ReadAll(rc)
		return string(out), err
	}
	if out, err := read(); err != nil || !strings.Contains(out, "output of the attempt") {
		t.Fatalf("the attempt's own pod: read %q, %v", out, err)
	}

	var once sync.Once
	b.BeforePodLogForTest(func(ns, name string) {
		once.Do(func() { replacePod(t, cs, ns, name) })
	})
	out, err := read()
	if !errors.Is(err, kubernetes.ErrPodReplaced) {
		t.Fatalf("the pod made again under its name before its log was asked for: read %q, %v; want an error saying so", out, err)
	}
}

// replacePod deletes the pod (on node c, the site's) and makes another
// under its name on the same node, bound to it once the node is Ready (the
// scheduler, in a run of the whole package, at times left the pod
// unscheduled for a minute after the node tests), not the Job's, that
// writes "planted output" and ends; it returns once that pod has ended.
// The other pod is deleted when the test ends.
//
// The pod deleted with no grace is gone from the API server at once, but
// node c's agent may not have let it go yet: it takes the deletion and the
// new pod's creation together (as on a loaded machine), and tells the new
// pod from the old one by its UID.
func replacePod(t *testing.T, cs k8s.Interface, ns, name string) {
	ctx := testCtx(t)
	zero := int64(0)
	// Node c's agent is held across the deletion and the creation, as a
	// loaded machine may hold it, so that it takes both together.
	if err := signalNode(nodeC, syscall.SIGSTOP); err != nil {
		t.Errorf("pause node %s: %v", nodeC, err)
		return
	}
	resume := sync.OnceFunc(func() {
		if err := signalNode(nodeC, syscall.SIGCONT); err != nil {
			t.Errorf("resume node %s: %v", nodeC, err)
		}
	})
	defer resume()
	if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Errorf("delete pod %s: %v", name, err)
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("pod %s not gone 60 s after its deletion (%v)", name, err)
			return
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	if err := waitNode(ctx, cs, nodeC, true); err != nil {
		t.Errorf("node %s: %v", nodeC, err)
		return
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:                     nodeC,
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: new(false),
			Containers: []corev1.Container{{Name: kubernetes.ContainerName, Image: labImage,
				Command: []string{"/bin/sh", "-c", "echo planted output"}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Errorf("make pod %s again: %v", name, err)
		return
	}
	t.Cleanup(func() {
		cs.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	time.Sleep(time.Second) // the pod's creation, seen by node c's agent, waits for it
	resume()
	deadline = time.Now().Add(60 * time.Second)
	for {
		got, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodSucceeded {
			return
		}
		if err == nil && got.Status.Phase == corev1.PodFailed || time.Now().After(deadline) || ctx.Err() != nil {
			var status any = err
			if err != nil {
				// The test's context may be what ended: ask again.
				c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				got, err = cs.CoreV1().Pods(ns).Get(c, name, metav1.GetOptions{})
				cancel()
			}
			if err == nil {
				status = got.Status
			}
			t.Errorf("the pod made again as %s has not succeeded: %+v; its events: %s", name, status, podEvents(cs, ns, name))
			return
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// podEvents lists the events of pod name, for a test's failure.
func podEvents(cs k8s.Interface, ns, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		return err.Error()
	}
	var sb strings.Builder
	for _, e := range l.Items {
		fmt.Fprintf(&sb, "\n\t%s %s %s: %s (uid %s, x%d)", e.LastTimestamp.Format(time.RFC3339), e.Type, e.Reason, e.Message, e.InvolvedObject.UID, e.Count)
	}
	if sb.Len() == 0 {
		return "none"
	}
	return sb.String()
}
