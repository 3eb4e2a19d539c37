package kubernetes_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/kubernetes"
)

// waitFor polls Status until pred holds (a backend's Status is a cache
// read, so polling every millisecond costs little) and returns when.
func waitFor(b *testing.B, be *kubernetes.Backend, h string, pred func(backend.Status) bool) time.Time {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if st, err := be.Status(context.Background(), h); err == nil && pred(st) {
			return time.Now()
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("job %s: condition not met within a minute", h)
	return time.Time{}
}

// BenchmarkSubmitToRunning measures, on the test cluster, the time from
// Submit to Status reporting Running: the Job controller creating the pod,
// the scheduler binding it, the node starting the process and the watch
// bringing the change back.
func BenchmarkSubmitToRunning(b *testing.B) {
	kc := lab(b)
	be := newBackend(b, site(kc), b.TempDir())
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		h, err := be.Submit(context.Background(), backend.Spec{RunID: uniqueRunID(fmt.Sprintf("bench%d", i)), Attempt: 1,
			Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: b.TempDir(), Accelerators: 1})
		if err != nil {
			b.Fatal(err)
		}
		total += waitFor(b, be, h, func(s backend.Status) bool { return s.State == backend.Running }).Sub(start)
		if err := be.Cancel(context.Background(), h); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-submit-to-running")
}

// BenchmarkNodeLossToLost measures the time from a node's loss (its agent
// kills the pods and reports NotReady) to Status reporting the attempt
// Lost, with NodeLostAfter 0: the detection cost alone. With a site
// timeout T, Lost comes T later.
func BenchmarkNodeLossToLost(b *testing.B) {
	kc := lab(b)
	cs := adminClient(b, kc)
	s := site(kc)
	s.NodeSelector = map[string]string{"meridian.dev/site": "conformance-b"}
	be := newBackend(b, s, b.TempDir())
	be.NodeLostAfter = 0
	ensureRestored(b, cs, nodeD)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		h, err := be.Submit(context.Background(), backend.Spec{RunID: uniqueRunID(fmt.Sprintf("loss%d", i)), Attempt: 1,
			Command: []string{"/bin/sh", "-c", "exec sleep 300"}, WorkDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, be, h, func(s backend.Status) bool { return s.State == backend.Running })
		start := time.Now()
		if err := signalNode(nodeD, syscall.SIGUSR1); err != nil {
			b.Fatal(err)
		}
		total += waitFor(b, be, h, func(s backend.Status) bool { return s.State == backend.Lost }).Sub(start)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := restoreNode(ctx, b, cs, nodeD); err != nil {
			b.Fatal(err)
		}
		cancel()
		_ = be.Cancel(context.Background(), h)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-loss-to-lost")
}
