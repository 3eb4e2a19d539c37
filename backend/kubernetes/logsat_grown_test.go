package kubernetes

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
)

// TestLogsAtSecondPodIsGrowth: a Job's pod failed and the Job controller
// made another. What a follower read of the first pod's log must stay as
// it was, at the same offsets, once the Job has two pods: the second's log
// is added after it, and the output is the same one grown, not replaced
// (which sent the attempt's whole output again).
func TestLogsAtSecondPodIsGrowth(t *testing.T) {
	first, second := hostileJob+"-x", hostileJob+"-y"
	h, b := newHostile(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/log") {
			return false
		}
		w.Header().Set("Content-Type", "text/plain")
		switch {
		case strings.Contains(r.URL.Path, "/"+first+"/"):
			io.WriteString(w, "from the first pod\n")
		case strings.Contains(r.URL.Path, "/"+second+"/"):
			io.WriteString(w, "from the second pod\n")
		default:
			http.NotFound(w, r)
		}
		return true
	})
	h.f.changePod(first, containerStarted("containerd://one", 0))
	read := func() (string, string) {
		t.Helper()
		rc, info, err := b.LogsAt(testContext(t), hostileJob, 0)
		if err != nil {
			t.Fatalf("LogsAt: %v", err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("LogsAt: read: %v", err)
		}
		return info.ID, string(got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if id, _ := read(); id != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the watch cache
	}
	rc, before, err := b.LogsAt(testContext(t), hostileJob, 0)
	if err != nil {
		t.Fatal(err)
	}
	was, _ := io.ReadAll(rc)
	rc.Close()
	if string(was) != "from the first pod\n" {
		t.Fatalf("one pod: read %q", was)
	}

	// The first pod failed (its container as it was), and the Job
	// controller made the second.
	h.f.changePod(first, map[string]any{"status": map[string]any{"phase": podFailed}})
	h.f.put("pods", map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": second, "namespace": "ns", "creationTimestamp": "2030-01-01T00:00:00Z",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: "job-uid", jobNameLabel: hostileJob},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": hostileJob, "uid": "job-uid", "controller": true}}},
		"spec":   map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": ContainerName}}},
		"status": map[string]any{"phase": "Running", "containerStatuses": []any{map[string]any{"name": ContainerName, "containerID": "containerd://two"}}}})
	for time.Now().Before(deadline.Add(10 * time.Second)) {
		if id, _ := read(); strings.Contains(id, second) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the watch cache
	}
	rc, after, err := b.LogsAt(testContext(t), hostileJob, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(after.ID, second) {
		t.Fatalf("the second pod never seen: ID %q", after.ID)
	}
	if !strings.HasPrefix(string(got), string(was)) || !strings.Contains(string(got), "from the second pod\n") {
		t.Errorf("two pods: read %q; want what was read of the first pod (%q) at the same offsets, then the second's", got, was)
	}
	if before.Replaced(after) {
		t.Errorf("the Job's second pod started: replaced (heads %q, was %q); want the same output grown", after.Head, before.Head)
	}
}

// TestLogOfAPodMadeAgainUnderItsName: the attempt's pod is deleted and
// another made under its name between the backend's cache read and its
// log request (the API server finds a pod's log by its name alone). What
// comes is the other pod's log, not the attempt's output: the read fails
// naming the pod, rather than ending as the attempt's output does.
func TestLogOfAPodMadeAgainUnderItsName(t *testing.T) {
	pod := hostileJob + "-x"
	var h *hostileAPI
	h, b := newHostile(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/log") {
			return false
		}
		// The pod's name is taken by another before the log is sent.
		h.f.mu.Lock()
		o := clone(h.f.objs["pods"][pod])
		meta(o)["uid"] = "another-pod-uid"
		h.f.objs["pods"][pod] = o
		h.f.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		// More than one read takes, so that bytes reach the reader
		// before the log's end does.
		io.WriteString(w, strings.Repeat("another's output\n", 4096))
		return true
	})
	h.f.changePod(pod, containerStarted("containerd://one", 0))
	eventually(t, "the pod's container start is not in the cache", func() bool {
		j, ok := b.watch.job(hostileJob)
		return ok && podLogsID(b.watch.podsOf(j)) != ""
	})
	rc, err := b.Logs(testContext(t), hostileJob)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, errPodReplaced) || !errors.Is(err, backend.ErrLogReplaced) {
		t.Fatalf("the pod replaced while its log was read: read %q, %v; want an error saying so (backend.ErrLogReplaced)", out, err)
	}
	if len(out) != 0 {
		t.Errorf("the pod replaced before its log was looked up: %.40q (%d bytes) handed on before the error; want none of the other pod's bytes", out, len(out))
	}
	rc, _, err = b.LogsAt(testContext(t), hostileJob, 5)
	out = nil
	if err == nil {
		out, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, errPodReplaced) {
		t.Errorf("LogsAt(5): read %q, %v; want an error saying the pod was replaced", out, err)
	}
	if len(out) != 0 {
		t.Errorf("LogsAt(5): %.40q (%d bytes) handed on before the error; want none of the other pod's bytes", out, len(out))
	}
}
