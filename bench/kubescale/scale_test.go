// Package kubescale measures the kubernetes backend at scale against a
// cluster of fake GPU nodes run by KWOK (bench/kube-scale.sh starts it),
// side by side with the local backend on this machine:
//
//   - submissions per second through Backend.Submit;
//   - watch lag: from a change written to a Job (an annotation carrying the
//     time of the write) to the backend's watch cache holding it, which is
//     when Status can see a change;
//   - how long until Status reports every attempt finished.
//
// Without MERIDIAN_BENCH_KWOK_KUBECONFIG the Kubernetes benchmark is
// skipped; it is not part of the default test run.
package kubescale

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/kubernetes"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Sizes (environment): MERIDIAN_BENCH_NODES fake nodes (1000),
// MERIDIAN_BENCH_JOBS attempts (2000), MERIDIAN_BENCH_CONCURRENCY
// submitters (32).
var (
	nodes       = envInt("MERIDIAN_BENCH_NODES", 1000)
	jobs        = envInt("MERIDIAN_BENCH_JOBS", 2000)
	concurrency = envInt("MERIDIAN_BENCH_CONCURRENCY", 32)
)

const lagAnnotation = "bench.meridian.dev/written-unix-nano"

// ensureKWOKNodes creates the fake GPU nodes that KWOK manages.
func ensureKWOKNodes(b *testing.B, cs k8s.Interface, n int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res := corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("64"),
				corev1.ResourceMemory: resource.MustParse("512Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
				"nvidia.com/gpu":      resource.MustParse("8"),
			}
			node := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{
					Name:        fmt.Sprintf("kwok-gpu-%04d", i),
					Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
					Labels:      map[string]string{"type": "kwok", "meridian.dev/site": "kwok"},
				},
				Spec:   corev1.NodeSpec{},
				Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
			}
			if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// KWOK marks its nodes Ready; wait until the backend sees them so.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "meridian.dev/site=kwok"})
		if err != nil {
			b.Fatal(err)
		}
		ready := 0
		for _, nd := range list.Items {
			for _, c := range nd.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d KWOK nodes Ready after 5 minutes", ready, n)
		}
		time.Sleep(time.Second)
	}
}

// submitAll submits n attempts with c submitters and returns their handles
// and the submissions per second.
func submitAll(b *testing.B, be backend.Backend, prefix string, n, c int, cmd []string, workDir string) ([]string, float64) {
	handles := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				h, err := be.Submit(context.Background(), backend.Spec{RunID: fmt.Sprintf("%s-%05d", prefix, i), Attempt: 1,
					Command: cmd, WorkDir: workDir, Accelerators: 1})
				if err != nil {
					errs <- err
					return
				}
				handles[i] = h
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return handles, float64(n) / elapsed.Seconds()
}

// waitAllFinal polls Status over the unfinished attempts until every one is
// final, returning the time it took and the mean cost of one Status call.
func waitAllFinal(b *testing.B, be backend.Backend, handles []string, limit time.Duration) (time.Duration, time.Duration) {
	start := time.Now()
	left := append([]string{}, handles...)
	calls := 0
	var spent time.Duration
	for len(left) > 0 {
		if time.Since(start) > limit {
			b.Fatalf("%d of %d attempts not final after %s", len(left), len(handles), limit)
		}
		var still []string
		for _, h := range left {
			t0 := time.Now()
			st, err := be.Status(context.Background(), h)
			spent += time.Since(t0)
			calls++
			if err != nil {
				b.Fatalf("Status(%s): %v", h, err)
			}
			if !st.State.Final() {
				still = append(still, h)
			} else if st.State != backend.Succeeded {
				b.Fatalf("attempt %s ended %+v", h, st)
			}
		}
		left = still
		if len(left) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return time.Since(start), spent / time.Duration(calls)
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(p*float64(len(d)-1))]
}

// BenchmarkScaleKubernetes submits the attempts to a KWOK cluster of fake
// GPU nodes through the kubernetes backend, measures the watch lag of a
// change to each Job, and waits until KWOK's completed pods have every Job
// reported Succeeded.
func BenchmarkScaleKubernetes(b *testing.B) {
	kc := os.Getenv("MERIDIAN_BENCH_KWOK_KUBECONFIG")
	if kc == "" {
		b.Skip("MERIDIAN_BENCH_KWOK_KUBECONFIG is not set: run bench/kube-scale.sh")
	}
	ns := "bench-" + strconv.FormatInt(time.Now().Unix(), 36)
	site := catalog.BackendSpec{Type: catalog.BackendKubernetes, Kubeconfig: kc, Namespace: ns,
		Image: "meridian.dev/bench:none", NodeSelector: map[string]string{"meridian.dev/site": "kwok"}}
	for b.Loop() {
		be, err := kubernetes.New(site, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		// KWOK keeps 1,000 nodes' leases from one process; on a loaded
		// machine some lapse for a while. This benchmark measures
		// throughput and watch lag, not loss detection.
		be.NodeLostAfter = time.Hour
		cs := k8s.NewForConfigOrDie(be.RESTConfig())
		if _, err := cs.CoreV1().Namespaces().Create(context.Background(),
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			b.Fatal(err)
		}
		ensureKWOKNodes(b, cs, nodes)

		handles, rate := submitAll(b, be, ns, jobs, concurrency, []string{"/bin/true"}, "")
		b.ReportMetric(rate, "submits/s")
		b.Logf("%d attempts submitted to %d KWOK nodes: %.1f submits/s", jobs, nodes, rate)

		all, perCall := waitAllFinal(b, be, handles, 20*time.Minute)
		b.ReportMetric(all.Seconds(), "s-until-all-succeeded")
		b.ReportMetric(float64(perCall.Microseconds()), "status-us")
		b.Logf("all Succeeded %.1f s after the last submit; Status %d µs a call", all.Seconds(), perCall.Microseconds())

		// Watch lag, once the cluster is quiet (every Job finished): patch
		// each Job and time until the backend's watch cache holds the change
		// (its notification). No other change of these Jobs is under way,
		// so the first notification after the write is the write.
		var mu sync.Mutex
		sent := map[string]time.Time{}
		lags := make([]time.Duration, 0, len(handles))
		done := make(chan struct{})
		be.Notify(func(h string) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			t0, ok := sent[h]
			if !ok {
				return
			}
			delete(sent, h)
			lags = append(lags, now.Sub(t0))
			if len(lags) == len(handles) {
				close(done)
			}
		})
		var wg sync.WaitGroup
		var next atomic.Int64
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(handles) {
						return
					}
					mu.Lock()
					sent[handles[i]] = time.Now()
					mu.Unlock()
					patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d"}}}`, lagAnnotation, time.Now().UnixNano())
					if _, err := cs.BatchV1().Jobs(ns).Patch(context.Background(), handles[i], types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("the backend saw %d of %d changes", len(lags), len(handles))
		}
		be.Notify(nil)
		mu.Lock()
		b.ReportMetric(float64(percentile(lags, 0.5).Microseconds())/1000, "lag-p50-ms")
		b.ReportMetric(float64(percentile(lags, 0.99).Microseconds())/1000, "lag-p99-ms")
		b.ReportMetric(float64(percentile(lags, 1).Microseconds())/1000, "lag-max-ms")
		mu.Unlock()
		be.Close()
		if err := cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
			b.Logf("delete namespace %s: %v", ns, err)
		}
	}
}

// BenchmarkScaleLocal runs the same number of attempts on the local backend:
// each is a real process (sleep, so that they overlap), which is what bounds
// the concurrency this machine holds.
func BenchmarkScaleLocal(b *testing.B) {
	n := envInt("MERIDIAN_BENCH_LOCAL_JOBS", jobs)
	for b.Loop() {
		be, err := local.New(catalog.BackendSpec{}, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		wd := b.TempDir()
		handles, rate := submitAll(b, be, "local-"+strconv.FormatInt(time.Now().UnixNano(), 36), n, concurrency,
			[]string{"/bin/sh", "-c", "sleep 5"}, wd)
		b.ReportMetric(rate, "submits/s")
		all, perCall := waitAllFinal(b, be, handles, 10*time.Minute)
		b.ReportMetric(all.Seconds(), "s-until-all-succeeded")
		b.ReportMetric(float64(perCall.Microseconds()), "status-us")
	}
}
