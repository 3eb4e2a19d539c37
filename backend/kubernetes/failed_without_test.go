package kubernetes

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// startIn is start with state directory dir: a backend restarted on the
// same state.
func (f *fakeAPI) startIn(t *testing.T, dir string, settings ...func(*catalog.BackendSpec)) *Backend {
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	site := catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"}
	for _, set := range settings {
		set(&site)
	}
	b, err := NewFromConfig(site, dir, &rest.Config{Host: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// endedPod is a pod of Job job (of UID jobUID) with UID uid and
// completion index index ("" for none) whose container exited with code
// exit; deleted says its deletion began before it ended (the kubelet
// then ends it Failed).
func endedPod(name, uid, job, jobUID, index string, exit int, deleted bool) map[string]any {
	phase := podFailed
	if exit == 0 {
		phase = podSucceeded
	}
	o := fakePod(name, job, jobUID, "n1", phase)
	m := meta(o)
	m["uid"] = uid
	if index != "" {
		m["annotations"] = map[string]any{completionIndexAnnotation: index}
	}
	if deleted {
		m["deletionTimestamp"] = "2026-01-01T00:01:00Z"
	}
	o["status"].(map[string]any)["containerStatuses"] = []any{map[string]any{"name": ContainerName,
		"state": map[string]any{"terminated": map[string]any{"exitCode": exit, "reason": "Error"}}}}
	return o
}

// putWithUID is put, keeping the object's own UID.
func (f *fakeAPI) putWithUID(resource string, o map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	meta(o)["resourceVersion"] = strconv.Itoa(f.rv)
	f.objs[resource][fmt.Sprint(meta(o)["name"])] = o
	f.notify(resource, "ADDED", o)
}

// Anyone who may create Pods in the namespace can make one with every
// mark of an attempt's pod that fails at once: the Job, which runs no
// retries, fails by it, and the Job controller deletes the attempt's own
// pods, unfinished. The Job controller sets Failed only once every pod
// has ended, and the kubelet ends a deleted pod Failed, so the attempt's
// pod reads Failed, being deleted, until it goes: the copy's exit code
// was read as the attempt's failure. A Job that ran more pods than it
// runs (its completions, no retries), by its own counts (which a
// restarted backend, that never saw the pods go, still reads) or by the
// pods seen, did not fail by the attempt's pods alone: the attempt is
// lost. A Job that fails of its own, of one pod or of several (the
// others deleted unfinished), fails with its pod's exit code.
func TestFailedJobWithACopiedPodIsLost(t *testing.T) {
	type pod struct {
		name, index string
		exit        int
		deleted     bool
		gone        bool // deleted from the API server, after the cache saw it
	}
	for _, tc := range []struct {
		name           string
		gpus           int
		pods           []pod
		failed, succ   int // the Job's counts
		want           backend.State
		reason         string
		beforeSeenPods bool // the pods come before the backend starts (a restart)
	}{
		{name: "one pod, failing of its own", gpus: 4, pods: []pod{{name: "real", exit: 3}}, failed: 1,
			want: backend.Failed, reason: "exit code 3"},
		{name: "one pod, the copy failing it, the attempt's killed and not yet gone", gpus: 4,
			pods: []pod{{name: "copy", exit: 3}, {name: "real", exit: 137, deleted: true}},
			want: backend.Lost, reason: "-real\"), more than the 1 it runs"},
		{name: "one pod, the copy failing it and gone, the attempt's killed", gpus: 4,
			pods: []pod{{name: "copy", exit: 3, gone: true}, {name: "real", exit: 137, deleted: true}},
			want: backend.Lost, reason: "-real\"), more than the 1 it runs"},
		{name: "one pod, the copy failing it, the attempt's gone unseen by a restarted backend", gpus: 4,
			pods: []pod{{name: "copy", exit: 3}}, failed: 2, beforeSeenPods: true,
			want: backend.Lost, reason: "the Job counted 2 failed and 0 succeeded pods, more than the 1"},
		{name: "three pods, one failing of its own, the others killed", gpus: 9,
			pods: []pod{{name: "p0", index: "0", exit: 137, deleted: true}, {name: "p1", index: "1", exit: 3},
				{name: "p2", index: "2", exit: 137, deleted: true}}, failed: 3,
			want: backend.Failed},
		{name: "three pods, a copy of index 1 failing them, the others killed", gpus: 9,
			pods: []pod{{name: "copy", index: "1", exit: 3}, {name: "p0", index: "0", exit: 137, deleted: true},
				{name: "p1", index: "1", exit: 137, deleted: true}, {name: "p2", index: "2", exit: 137, deleted: true}},
			failed: 4, want: backend.Lost, reason: "the Job counted 4 failed and 0 succeeded pods, more than the 3"},
		{name: "three pods, a copy failing them, one of the attempt's having succeeded", gpus: 9,
			pods: []pod{{name: "p0", index: "0", exit: 0}, {name: "copy", index: "1", exit: 3},
				{name: "p1", index: "1", exit: 137, deleted: true, gone: true}, {name: "p2", index: "2", exit: 137, deleted: true, gone: true}},
			want: backend.Lost, reason: "-p2\"), more than the 3 it runs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.objs["nodes"]["n1"]["status"].(map[string]any)["allocatable"] = map[string]any{DefaultGPUResource: "8"}
			spec := gpuSpec(tc.gpus)
			dir := t.TempDir()
			var b *Backend
			if !tc.beforeSeenPods {
				b = f.startIn(t, dir)
			}
			put := func(name, uid string) {
				for i, p := range tc.pods {
					f.putWithUID("pods", endedPod(name+"-"+p.name, fmt.Sprintf("pod-uid-%d", i), name, uid, p.index, p.exit, p.deleted))
				}
			}
			if tc.beforeSeenPods {
				// A first backend submits; a second, started after the
				// pods ended, reads them from its first list.
				b0 := f.startIn(t, dir)
				name, err := b0.Submit(testContext(t), spec)
				if err != nil {
					t.Fatal(err)
				}
				job, _ := f.get("jobs", name)
				put(name, meta(job)["uid"].(string))
				b0.Close()
				b = f.startIn(t, dir)
			}
			ctx := testContext(t)
			name, err := b.Submit(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			job, _ := f.get("jobs", name)
			uid := meta(job)["uid"].(string)
			if !tc.beforeSeenPods {
				put(name, uid)
			}
			eventually(t, "the cache did not take the pods", func() bool {
				j, ok := b.watch.job(name)
				return ok && len(b.watch.podsOf(j)) == len(tc.pods)
			})
			gone := 0
			for _, p := range tc.pods {
				if p.gone {
					f.drop("pods", name+"-"+p.name)
					gone++
				}
			}
			eventually(t, "the cache did not see the pods go", func() bool {
				j, ok := b.watch.job(name)
				return ok && len(b.watch.podsOf(j)) == len(tc.pods)-gone
			})
			f.changeJob(name, map[string]any{"status": map[string]any{"failed": tc.failed, "succeeded": tc.succ,
				"conditions": []any{map[string]any{"type": jobFailed, "status": "True", "reason": "BackoffLimitExceeded"}}}})
			eventually(t, "the cache did not take the Job's end", func() bool {
				j, ok := b.watch.job(name)
				return ok && b.jobFinished(j)
			})
			st, err := b.Status(ctx, name)
			if err != nil || st.State != tc.want || !strings.Contains(st.Reason, tc.reason) {
				t.Fatalf("Status = %+v, %v; want %s (%q)", st, err, tc.want, tc.reason)
			}
			if tc.want == backend.Failed && st.ExitCode != 3 {
				t.Fatalf("Status = %+v; want exit code 3, its failed pod's", st)
			}
		})
	}
}

// With a queue the attempt's Job is created suspended, and the Job
// controller neither starts it nor makes a pod of it until the queue
// admits it. Anyone who may create Pods in the namespace can make one
// with every mark of the Job's while it waits, which the Job controller
// counts: ending at once, it completed (or failed) the Job, unstarted or
// as soon as the queue admitted it, which read as the attempt's success
// (or failure) though it never ran. A Job that ended unstarted, or with a
// pod made before it was started (by more than startSlack), is lost; one
// that was started, and so admitted, ends as its pods did.
func TestQueuedJobEndedBeforeItStartedIsLost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cond    string
		exit    int
		started bool
		want    backend.State
	}{
		{"completed unstarted", jobComplete, 0, false, backend.Lost},
		{"failed unstarted", jobFailed, 3, false, backend.Lost},
		{"completed once started", jobComplete, 0, true, backend.Succeeded},
		{"failed once started", jobFailed, 3, true, backend.Failed},
		{"completed once started by a pod made before", jobComplete, 0, true, backend.Lost},
		{"failed once started by a pod made before", jobFailed, 3, true, backend.Lost},
		// Resuming a Job, the Job controller makes its pods and then sets
		// startTime, both to the second: its own pod reads a second early.
		{"completed once resumed by a pod of the same pass", jobComplete, 0, true, backend.Succeeded},
		{"failed once resumed by a pod of the same pass", jobFailed, 3, true, backend.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			b := f.start(t, func(s *catalog.BackendSpec) { s.QueueName = "q" })
			ctx := testContext(t)
			spec := secretSpec()
			spec.Secret = nil
			name, err := b.Submit(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			job, _ := f.get("jobs", name)
			uid := meta(job)["uid"].(string)
			if st, err := b.Status(ctx, name); err != nil || st.State != backend.Pending {
				t.Fatalf("Status = %+v, %v; want Pending, queued", st, err)
			}
			made := "2026-01-01T00:00:05Z" // after the start below
			if strings.Contains(tc.name, "made before") {
				made = "2025-12-31T23:59:00Z"
			}
			if strings.Contains(tc.name, "same pass") {
				made = "2025-12-31T23:59:59Z"
			}
			pod := endedPod(name+"-copy", "copy-uid", name, uid, "", tc.exit, false)
			meta(pod)["creationTimestamp"] = made
			f.putWithUID("pods", pod)
			eventually(t, "the cache did not take the pod", func() bool {
				j, ok := b.watch.job(name)
				return ok && len(b.watch.podsOf(j)) == 1
			})
			status := map[string]any{"conditions": []any{map[string]any{"type": tc.cond, "status": "True"}}}
			if tc.exit == 0 {
				status["succeeded"] = 1
			} else {
				status["failed"] = 1
			}
			patch := map[string]any{"status": status}
			if tc.started {
				status["startTime"] = "2026-01-01T00:00:00Z"
				patch["spec"] = map[string]any{"suspend": false}
			}
			f.changeJob(name, patch)
			eventually(t, "the cache did not take the Job's end", func() bool {
				j, ok := b.watch.job(name)
				return ok && b.jobFinished(j)
			})
			st, err := b.Status(ctx, name)
			if err != nil || st.State != tc.want || tc.want == backend.Lost && !strings.Contains(st.Reason, "never started") && !strings.Contains(st.Reason, "made before the Job was started") {
				t.Fatalf("Status = %+v, %v; want %s", st, err, tc.want)
			}
		})
	}
}

// The pods the backend remembers after they leave the cache (podGone) are
// bounded: past maxCachedObjects, those of Jobs no longer in the cache go
// first, and while every one remembered is of a Job still there, no more
// are taken.
func TestGonePodsAreBounded(t *testing.T) {
	f := newFakeAPI(t)
	b := f.start(t)
	name := submitWithoutSecret(t, b)
	job, _ := f.get("jobs", name)
	uid := types.UID(meta(job)["uid"].(string))
	eventually(t, "the cache did not take the Job", func() bool { _, ok := b.watch.job(name); return ok })
	w := b.watch
	pod := func(i int) *apiPod {
		p := &apiPod{}
		p.Name = fmt.Sprintf("p%d", i)
		p.UID = types.UID(p.Name)
		return p
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range maxCachedObjects {
		w.rememberGone("gone-job-uid", "gone-job", pod(i))
	}
	if w.goneCount != maxCachedObjects {
		t.Fatalf("goneCount = %d; want %d", w.goneCount, maxCachedObjects)
	}
	// Those of a Job no longer in the cache go.
	w.rememberGone(uid, name, pod(-1))
	if w.goneCount != 1 || len(w.gone["gone-job-uid"].pods) != 0 {
		t.Fatalf("goneCount = %d, the gone Job's %d; want 1, 0", w.goneCount, len(w.gone["gone-job-uid"].pods))
	}
	for i := range maxCachedObjects + 10 {
		w.rememberGone(uid, name, pod(i))
	}
	if w.goneCount != maxCachedObjects {
		t.Fatalf("goneCount = %d; want at most %d", w.goneCount, maxCachedObjects)
	}
}
