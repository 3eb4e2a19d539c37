package kubernetes

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// podLogServer answers pods/log of the fake's pods from logs (by pod
// name), counting the streams it opened and the bytes it sent.
type podLogServer struct {
	mu      sync.Mutex
	logs    map[string][]byte
	streams int
	sent    int64
}

func (s *podLogServer) answer(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasSuffix(r.URL.Path, "/log") {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(r.URL.Path, "/log"), "/")
	name := parts[len(parts)-1]
	s.mu.Lock()
	log, ok := s.logs[name]
	if ok {
		s.streams++
		s.sent += int64(len(log))
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return true
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(log)
	return true
}

func (s *podLogServer) set(pod string, log []byte) {
	s.mu.Lock()
	s.logs[pod] = log
	s.mu.Unlock()
}

func (s *podLogServer) counts() (streams int, sent int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams, s.sent
}

// containerEnded is the patch of a pod whose container (id) ended and
// which is over (phase Succeeded): its log is whole.
func containerEnded(id string) map[string]any {
	return map[string]any{"status": map[string]any{"phase": podSucceeded, "containerStatuses": []any{map[string]any{
		"name": ContainerName, "containerID": id, "restartCount": 0,
		"state": map[string]any{"terminated": map[string]any{"exitCode": 0,
			"startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z"}}}}}}
}

// secondPod is a second pod of the hostile fake's Job (made after the
// first, so read after it), on node n1, with the given status.
func secondPod(status map[string]any) map[string]any {
	second := hostileJob + "-y"
	return map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": second, "namespace": "ns", "creationTimestamp": "2030-01-01T00:00:00Z",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: "job-uid", jobNameLabel: hostileJob},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": hostileJob, "uid": "job-uid", "controller": true}}},
		"spec":   map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": ContainerName}}},
		"status": status}
}

// twoPodJob is the hostile fake's Job with two pods: the first ended with
// a log of first, the second (running, or ended when done) with a log of
// second; it waits until the backend's cache holds both as such.
func twoPodJob(t testing.TB, first, second []byte, done bool) (*podLogServer, *Backend) {
	t.Helper()
	s := &podLogServer{logs: map[string][]byte{hostileJob + "-x": first, hostileJob + "-y": second}}
	h, b := newHostile(t, s.answer)
	h.f.changePod(hostileJob+"-x", containerEnded("containerd://one"))
	st := map[string]any{"phase": podRunning, "containerStatuses": []any{map[string]any{"name": ContainerName,
		"containerID": "containerd://two", "state": map[string]any{"running": map[string]any{"startedAt": "2026-01-01T00:02:00Z"}}}}}
	if done {
		st = containerEnded("containerd://two")["status"].(map[string]any)
	}
	h.f.put("pods", secondPod(st))
	eventually(t, "the Job's two pods are not in the cache as set", func() bool {
		j, ok := b.watch.job(hostileJob)
		if !ok {
			return false
		}
		pods := b.watch.podsOf(j)
		return len(pods) == 2 && pods[0].Status.Phase == podSucceeded &&
			strings.Contains(podLogsID(pods), "containerd://two") && (!done || pods[1].Status.Phase == podSucceeded)
	})
	return s, b
}

// wholeOutput is the attempt's output as Logs gives it, and its size.
func wholeOutput(t testing.TB, b *Backend) []byte {
	t.Helper()
	rc, err := b.Logs(testContext(t), hostileJob)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkLogsAtFollowed is one poll of a followed attempt whose first
// pod ended (an 8 MiB log) and whose second runs: the output opened at
// its end, as a follower that read all of it opens it. Reported: the
// log bytes the API server sent, and the streams it opened, per poll.
func BenchmarkLogsAtFollowed(b *testing.B) {
	s, be := twoPodJob(b, bytes.Repeat([]byte("0123456789abcde\n"), 8<<20/16), []byte("running\n"), false)
	off := int64(len(wholeOutput(b, be)))
	streams0, sent0 := s.counts()
	for b.Loop() {
		rc, _, err := be.LogsAt(testContext(b), hostileJob, off)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rc); err != nil || n != 0 {
			b.Fatalf("read %d bytes past the end, %v", n, err)
		}
		rc.Close()
	}
	streams, sent := s.counts()
	b.ReportMetric(float64(sent-sent0)/float64(b.N), "log-B/op")
	b.ReportMetric(float64(streams-streams0)/float64(b.N), "streams/op")
}

// BenchmarkLogsAtFinishedOpen is the opening of a finished attempt's
// output (two pods, 8 MiB of log each) as a reader of a run's output does
// it: opened at 0; read whole to learn its size when LogsAt does not say
// it (info.Size -1), else closed unread.
func BenchmarkLogsAtFinishedOpen(b *testing.B) {
	log := bytes.Repeat([]byte("0123456789abcde\n"), 8<<20/16)
	s, be := twoPodJob(b, log, log, true)
	wholeOutput(b, be)
	streams0, sent0 := s.counts()
	for b.Loop() {
		rc, info, err := be.LogsAt(testContext(b), hostileJob, 0)
		if err != nil {
			b.Fatal(err)
		}
		if info.Size < 0 {
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
		}
		rc.Close()
	}
	streams, sent := s.counts()
	b.ReportMetric(float64(sent-sent0)/float64(b.N), "log-B/op")
	b.ReportMetric(float64(streams-streams0)/float64(b.N), "streams/op")
}
