package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// benchPod is a Pod of Meridian's as the API server lists it: what the
// backend reads and what it does not (managedFields, the rest of the
// status), about 6 KiB of JSON, the size of a real one.
func benchPod(i int) map[string]any {
	name := fmt.Sprintf("m-bench-%08x-1-%05d", i, i)
	env := []any{}
	for k := range 12 {
		env = append(env, map[string]any{"name": fmt.Sprintf("VAR_%d", k), "value": strings.Repeat("v", 40)})
	}
	fields := map[string]any{}
	for k := range 30 {
		fields[fmt.Sprintf("f:field%d", k)] = map[string]any{".": map[string]any{}, "f:name": map[string]any{}}
	}
	return map[string]any{
		"metadata": map[string]any{"name": name, "namespace": "ns", "uid": fmt.Sprintf("%08x-0000-4000-8000-000000000000", i),
			"resourceVersion": fmt.Sprint(1000 + i), "creationTimestamp": "2026-01-02T03:04:05Z",
			"labels": map[string]any{LabelManagedBy: managedBy, jobNameLabel: name[:len(name)-6], LabelRun: "bench",
				LabelAttempt: "1", "batch.kubernetes.io/controller-uid": "c0ffee"},
			"annotations":     map[string]any{AnnotationRunID: "bench", completionIndexAnnotation: "0"},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": name[:len(name)-6], "uid": "c0ffee", "controller": true}},
			"managedFields": []any{map[string]any{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
				"time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1", "fieldsV1": fields}}},
		"spec": map[string]any{"nodeName": "node-1", "restartPolicy": "Never",
			"containers": []any{map[string]any{"name": ContainerName, "image": "registry.example/trainer:1.4",
				"command": []any{"meridian", "agent"}, "env": env,
				"resources": map[string]any{"limits": map[string]any{"nvidia.com/gpu": "8"}, "requests": map[string]any{"nvidia.com/gpu": "8"}}}}},
		"status": map[string]any{"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.1.0.1", "startTime": "2026-01-02T03:04:06Z",
			"conditions": []any{
				map[string]any{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05Z"},
				map[string]any{"type": "Initialized", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05Z"},
				map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:04:07Z"},
			},
			"containerStatuses": []any{map[string]any{"name": ContainerName, "ready": true, "restartCount": 0,
				"image": "registry.example/trainer:1.4", "imageID": "registry.example/trainer@sha256:" + strings.Repeat("ab", 32),
				"containerID": "containerd://" + strings.Repeat("cd", 32),
				"state":       map[string]any{"running": map[string]any{"startedAt": "2026-01-02T03:04:07Z"}}}}},
	}
}

// BenchmarkListPodsPage measures one page of a list (listPageSize Pods,
// about 1.5 MiB) read and decoded by listPages from a local server: what
// each page of a watch cache's list, a capacity poll and a sweep costs the
// backend beyond the network.
func BenchmarkListPodsPage(b *testing.B) {
	items := make([]any, listPageSize)
	for i := range items {
		items[i] = benchPod(i)
	}
	page, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "PodList",
		"metadata": map[string]any{"resourceVersion": "5000"}, "items": items})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(page)
	}))
	defer srv.Close()
	rc := &rest.Config{Host: srv.URL, QPS: -1} // no client-side rate limit
	rc.Wrap(boundResponses)
	cs, err := newClients(rc)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	// The CPU time the process spent (this machine's cores may be shared,
	// which the wall time per op shows and this does not).
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	for b.Loop() {
		n := 0
		err := listPages(context.Background(), cs.core, resourcePods, "ns", metav1.ListOptions{}, nil, func(l *apiPodList) error {
			n += len(l.Items)
			return nil
		})
		if err != nil || n != listPageSize {
			b.Fatalf("listed %d pods: %v", n, err)
		}
	}
	b.ReportMetric(float64((cpu()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func TestListPageReadOnce(t *testing.T) {
	// A page whose objects are mostly what the backend does not read
	// (fields of a Pod's status, here 40 KiB each): decoding skips those
	// bytes without keeping them, so what a page costs in memory is about
	// what reading it costs (the answer's buffer, which grows as it fills:
	// about 2.4 times the page), not that and a copy of every object
	// besides (3.5 times), which counting the objects in a pass of their
	// own made.
	items := make([]any, listPageSize)
	for i := range items {
		p := benchPod(i)
		p["status"].(map[string]any)["unread"] = strings.Repeat("x", 40<<10)
		items[i] = p
	}
	page, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "PodList", "metadata": map[string]any{}, "items": items})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(page)
	}))
	defer srv.Close()
	rc := &rest.Config{Host: srv.URL, QPS: -1}
	rc.Wrap(boundResponses)
	cs, err := newClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	list := func() uint64 {
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		n := 0
		err := listPages(context.Background(), cs.core, resourcePods, "ns", metav1.ListOptions{}, nil, func(l *apiPodList) error {
			n += len(l.Items)
			return nil
		})
		goruntime.ReadMemStats(&after)
		if err != nil || n != listPageSize {
			t.Fatalf("listed %d pods: %v", n, err)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	list() // the connection, the client's caches
	alloc := list()
	t.Logf("a page of %.1f MiB: %.1f MiB allocated", float64(len(page))/(1<<20), float64(alloc)/(1<<20))
	if raceEnabled {
		// The race detector's build allocates some 1.9 times what the
		// product's does here (48.7 MiB against 25.6), every time: the
		// bound is of the product's build, and a build with the race
		// detector checks the listing alone.
		t.Log("built with the race detector: the allocations are not bounded")
		return
	}
	if limit := uint64(len(page)) * 3; alloc > limit {
		t.Errorf("%.1f MiB allocated for a page of %.1f MiB; want at most %.1f MiB", float64(alloc)/(1<<20),
			float64(len(page))/(1<<20), float64(limit)/(1<<20))
	}
}
