package kubernetes

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// The site's API server is not trusted. These tests play a hostile one:
// the fake of secret_test.go, with some answers replaced by endless or
// oversized ones, and check that the backend refuses each with an error
// naming what was too large, reads no more than its bound (the server's
// writes fail once the backend has closed the connection), and keeps
// working with answers of normal size.

// floodCap is where a flood stops when the client never does, so that a
// backend without bounds fails these tests rather than hang them.
const floodCap = 256 << 20

// hostileAPI answers through answer when that returns true, else as the
// fake does.
type hostileAPI struct {
	f      *fakeAPI
	mu     sync.Mutex
	answer func(w http.ResponseWriter, r *http.Request) bool
}

func (h *hostileAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	answer := h.answer
	h.mu.Unlock()
	if answer != nil && answer(w, r) {
		return
	}
	h.f.ServeHTTP(w, r)
}

func (h *hostileAPI) set(answer func(w http.ResponseWriter, r *http.Request) bool) {
	h.mu.Lock()
	h.answer = answer
	h.mu.Unlock()
}

const hostileRun = "hostile-run"

var hostileJob = JobName(hostileRun, 1)

// newHostile starts the fake holding one Job of Meridian's with one
// running Pod, answering through answer (may be nil) from the start, and a
// backend on it that has listed them.
func newHostile(t testing.TB, answer func(w http.ResponseWriter, r *http.Request) bool) (*hostileAPI, *Backend) {
	return newHostileTimeout(t, answer, 30*time.Second)
}

// newHostileTimeout is newHostile with the client's request timeout
// (rest.Config.Timeout) set to timeout; 0, as a kubeconfig leaves it, is
// none.
func newHostileTimeout(t testing.TB, answer func(w http.ResponseWriter, r *http.Request) bool, timeout time.Duration) (*hostileAPI, *Backend) {
	f := newFakeAPI(t)
	f.objs["jobs"][hostileJob] = map[string]any{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": hostileJob, "namespace": "ns", "uid": "job-uid", "resourceVersion": "1",
			"labels":      map[string]any{LabelManagedBy: managedBy},
			"annotations": map[string]any{AnnotationRunID: hostileRun}},
		"spec": hostileJobSpec()}
	f.objs["pods"][hostileJob+"-x"] = map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": hostileJob + "-x", "namespace": "ns", "uid": "pod-uid", "resourceVersion": "1",
			"labels":          map[string]any{LabelManagedBy: managedBy, controllerUIDLabel: "job-uid", jobNameLabel: hostileJob},
			"ownerReferences": []any{map[string]any{"apiVersion": "batch/v1", "kind": "Job", "name": hostileJob, "uid": "job-uid", "controller": true}}},
		"spec":   map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": ContainerName}}},
		"status": map[string]any{"phase": "Running"}}
	h := &hostileAPI{f: f, answer: answer}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// The watch-list protocol is left at client-go's default (on): the
	// backend's watch caches must list in pages whatever it is.
	b, err := NewFromConfig(catalog.BackendSpec{Type: catalog.BackendKubernetes, Namespace: "ns", Image: "img"},
		t.TempDir(), &rest.Config{Host: srv.URL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// Submitted through the backend's state directory.
	if err := b.writeRecord(hostileJob, record{RunID: hostileRun, Attempt: 1, Namespace: "ns", UID: "job-uid", Submitted: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(testContext(t), hostileJob)
	if err != nil || st.State != backend.Running {
		t.Fatalf("before any hostile answer: Status = %+v, %v; want Running", st, err)
	}
	return h, b
}

// testContextWait is how long a test's calls may take in all
// (testContext): a guard against a call that hangs, not a measure. 30 s
// was passed on a loaded machine by tests that do much (three sweeps of
// 10,000 Secrets, listed in pages from the fake API server), which then
// failed with the context's deadline.
const testContextWait = 3 * time.Minute

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testContextWait)
	t.Cleanup(cancel)
	return ctx
}

// flooded is what one flood wrote and whether a write failed: the client
// closed the connection before the end.
type flooded struct {
	written int64
	cut     bool
}

// flood answers 200 with prefix and then filler without end (up to
// floodCap), reporting on done when it stops. A contentLength above 0 is
// declared in the header.
func flood(w http.ResponseWriter, r *http.Request, contentLength int64, prefix string, filler byte, done chan<- flooded) {
	w.Header().Set("Content-Type", "application/json")
	if contentLength > 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(contentLength, 10))
	}
	w.WriteHeader(http.StatusOK)
	floodBody(w, r, prefix, filler, done)
}

// floodBody is flood after the header.
func floodBody(w http.ResponseWriter, r *http.Request, prefix string, filler byte, done chan<- flooded) {
	chunk := []byte(strings.Repeat(string(filler), 64<<10))
	var res flooded
	n, err := io.WriteString(w, prefix)
	res.written += int64(n)
	for err == nil && res.written < floodCap && r.Context().Err() == nil {
		n, err = w.Write(chunk)
		res.written += int64(n)
	}
	res.cut = err != nil || r.Context().Err() != nil
	select {
	case done <- res:
	default:
	}
}

func waitFlood(t *testing.T, done <-chan flooded, limit int64) flooded {
	t.Helper()
	select {
	case res := <-done:
		if !res.cut {
			t.Errorf("the server wrote all %d bytes: the backend read on to the end", res.written)
		}
		// What the backend read, plus what the sockets' buffers held when
		// it closed the connection.
		if res.written > limit+16<<20 {
			t.Errorf("the server wrote %d bytes before the backend closed the connection; want at most the bound %d and the sockets' buffers", res.written, limit)
		}
		t.Logf("server wrote %.1f MiB before the connection closed (bound %.1f MiB)", float64(res.written)/(1<<20), float64(limit)/(1<<20))
		return res
	case <-time.After(30 * time.Second):
		t.Fatal("the flood did not end within 30 s: the backend kept the connection open")
	}
	return flooded{}
}

func wantTooLarge(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var tl *tooLargeError
	if !errors.As(err, &tl) {
		t.Errorf("error %q carries no tooLargeError", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
	if strings.Contains(err.Error(), "Please retry") {
		t.Errorf("error %q asks for a retry, which cannot help", err)
	}
}

func TestHostileOversizedObject(t *testing.T) {
	h, b := newHostile(t, nil)
	for _, declared := range []int64{0, 1 << 30} {
		t.Run(fmt.Sprintf("content-length=%d", declared), func(t *testing.T) {
			done := make(chan flooded, 1)
			h.set(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/jobs/"+hostileJob) {
					return false
				}
				flood(w, r, declared, `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"`+hostileJob+`","annotations":{"x":"`, 'a', done)
				return true
			})
			defer h.set(nil)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := b.getJob(testContext(t), hostileJob)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			wantTooLarge(t, err, "GET /apis/batch/v1/namespaces/ns/jobs/"+hostileJob, "larger than 4 MiB")
			res := waitFlood(t, done, maxObjectBytes)
			if declared > 0 && res.written > 16<<20 {
				t.Errorf("an answer declared as %d bytes was read (%d written) before it was refused", declared, res.written)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("refused in %s, %.1f MiB allocated meanwhile", took.Round(time.Millisecond), float64(alloc)/(1<<20))
			if alloc > 64<<20 {
				t.Errorf("%d bytes allocated while reading a 4 MiB-bounded answer", alloc)
			}
		})
	}
	// The bound is on the answer, not on what follows it: the next get of
	// a Job of normal size works on the same backend.
	if _, err := b.getJob(testContext(t), hostileJob); err != nil {
		t.Fatalf("get of a normal Job after the refusals: %v", err)
	}
}

func TestHostileCompressedObject(t *testing.T) {
	// 64 MiB of Job that gzip makes 64 KiB: the bound is on what the
	// answer expands to.
	h, b := newHostile(t, nil)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	io.WriteString(zw, `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"`+hostileJob+`","annotations":{"x":"`)
	zw.Write(bytes.Repeat([]byte{'a'}, 64<<20))
	io.WriteString(zw, `"}}}`)
	zw.Close()
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/jobs/"+hostileJob) {
			return false
		}
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Errorf("the request accepts no gzip (Accept-Encoding %q): the test shows nothing", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(zipped.Bytes())
		return true
	})
	_, err := b.getJob(testContext(t), hostileJob)
	wantTooLarge(t, err, "GET /apis/batch/v1/namespaces/ns/jobs/"+hostileJob, "larger than 4 MiB")
	t.Logf("a %d KiB gzip answer expanding to 64 MiB: %v", zipped.Len()>>10, err)
}

func TestHostileOversizedListPage(t *testing.T) {
	h, b := newHostile(t, nil)
	done := make(chan flooded, 1)
	var limits []string
	var mu sync.Mutex
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v1/nodes" || r.URL.Query().Get("watch") != "" {
			return false
		}
		mu.Lock()
		limits = append(limits, r.URL.Query().Get("limit"))
		mu.Unlock()
		flood(w, r, 0, `{"apiVersion":"v1","kind":"NodeList","metadata":{},"items":[{"metadata":{"name":"n1","annotations":{"x":"`, 'a', done)
		return true
	})
	_, err := b.Capacity(testContext(t))
	wantTooLarge(t, err, "list of nodes", "page (of 250 objects) larger than 16 MiB")
	waitFlood(t, done, maxListPageBytes)
	mu.Lock()
	defer mu.Unlock()
	if len(limits) != 1 || limits[0] != strconv.Itoa(listPageSize) {
		t.Errorf("node lists asked for limit %q; want one list with limit=%d", limits, listPageSize)
	}
}

func TestHostileEndlessListPages(t *testing.T) {
	h, b := newHostile(t, nil)
	var pages atomic.Int64
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v1/nodes" || r.URL.Query().Get("watch") != "" {
			return false
		}
		n := pages.Add(1)
		if n > 1 && r.URL.Query().Get("continue") != fmt.Sprint("page-", n-1) {
			t.Errorf("page %d asks for continue=%q", n, r.URL.Query().Get("continue"))
		}
		h.f.reply(w, 200, map[string]any{"apiVersion": "v1", "kind": "NodeList",
			"metadata": map[string]any{"continue": fmt.Sprint("page-", n)}, "items": []any{}})
		return true
	})
	_, err := b.Capacity(testContext(t))
	wantTooLarge(t, err, "list of nodes", fmt.Sprintf("more than %d pages of %d objects", maxListPages, listPageSize))
	if got := pages.Load(); got != maxListPages {
		t.Errorf("%d pages asked for; want %d", got, maxListPages)
	}
}

func TestHostileEndlessLog(t *testing.T) {
	h, b := newHostile(t, nil)
	done := make(chan flooded, 1)
	var limitBytes atomic.Value
	var honest atomic.Bool
	honest.Store(true)
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/log") {
			return false
		}
		limitBytes.Store(r.URL.Query().Get("limitBytes"))
		if honest.Load() {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello\n")
			return true
		}
		flood(w, r, 0, "", 'x', done)
		return true
	})
	read := func() ([]byte, error) {
		rc, err := b.Logs(testContext(t), hostileJob)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	// A log of normal size comes whole.
	out, err := read()
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("honest log: %q, %v", out, err)
	}
	if got := limitBytes.Load(); got != strconv.Itoa(maxPodLogBytes) {
		t.Errorf("log asked for with limitBytes=%v; want %d", got, maxPodLogBytes)
	}
	honest.Store(false)
	out, err = read()
	wantTooLarge(t, err, "log of pod "+hostileJob+"-x", "larger than 17 MiB")
	if len(out) != maxPodLogBytes+podLogSlack {
		t.Errorf("%d bytes of the log passed; want the bound, %d", len(out), maxPodLogBytes+podLogSlack)
	}
	waitFlood(t, done, maxPodLogBytes+podLogSlack)
}

// A log that trickles in, well within limitBytes (a kubelet that sends a
// byte at a time), held the reader, and with it a user's request for a
// run's output, for as long as the caller waited. It is cut podLogWait
// after the call: what came is kept, a line says where and why it was cut,
// the error names the pod, and the connection is closed.
func TestHostileTricklingLog(t *testing.T) {
	defer func(w time.Duration) { podLogWait = w }(podLogWait)
	podLogWait = 500 * time.Millisecond
	stopped := make(chan bool, 1)
	// No client timeout, as a kubeconfig leaves it.
	h, b := newHostileTimeout(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/log") {
			return false
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "started\n")
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		giveUp := time.After(20 * time.Second)
		for {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				stopped <- true
				return true
			case <-giveUp:
				stopped <- false
				return true
			case <-tick.C:
				io.WriteString(w, "x")
			}
		}
	}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	rc, err := b.Logs(ctx, hostileJob)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(rc)
	rc.Close()
	took := time.Since(start)
	if took > 5*time.Second {
		t.Fatalf("reading a trickling log took %s (%v); want it cut after podLogWait, %s", took.Round(time.Millisecond), err, podLogWait)
	}
	pod := hostileJob + "-x"
	if err == nil || !strings.Contains(err.Error(), "log of pod "+pod+": not sent whole within 500ms") {
		t.Errorf("error %v; want one naming the pod and the time it had", err)
	}
	cut := "\n==> log of pod " + pod + " cut: not sent whole within 500ms <==\n"
	if !strings.HasPrefix(string(out), "started\nx") || !strings.HasSuffix(string(out), cut) ||
		strings.Trim(strings.TrimSuffix(strings.TrimPrefix(string(out), "started\n"), cut), "x") != "" {
		t.Errorf("output %q; want what came, then %q", out, cut)
	}
	select {
	case closed := <-stopped:
		if !closed {
			t.Error("the backend never closed the log's connection")
		}
	case <-time.After(5 * time.Second):
		t.Error("the server still writes the log 5 s after the read ended")
	}

	// A log that never starts (no answer at all) is cut the same way.
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/log") {
			return false
		}
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		return true
	})
	start = time.Now()
	if rc, err = b.Logs(ctx, hostileJob); err != nil {
		t.Fatal(err)
	}
	out, err = io.ReadAll(rc)
	rc.Close()
	if took := time.Since(start); took > 5*time.Second || err == nil || string(out) != cut[1:] {
		t.Errorf("a log never answered: %q, %v after %s; want %q and an error within about %s", out, err, took.Round(time.Millisecond), cut[1:], podLogWait)
	}
}

// watchEvent writes one event of a watch of jobs: the Job at resource
// version rv with an annotation of n bytes.
func watchEvent(w io.Writer, typ string, rv int, n int) error {
	// Braces, brackets, quotes and backslashes inside a string are no
	// structure: the frame counter must not take them for any.
	val := strings.Repeat(`a}]{["\`, n/7+1)[:n]
	return json.NewEncoder(w).Encode(map[string]any{"type": typ, "object": map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": hostileJob, "namespace": "ns", "uid": "job-uid", "resourceVersion": strconv.Itoa(rv),
			"labels":      map[string]any{LabelManagedBy: managedBy},
			"annotations": map[string]any{AnnotationRunID: hostileRun, "seq": strconv.Itoa(rv), "pad": val}},
		"spec": hostileJobSpec()}})
}

// hostileJobSpec is the spec of the hostile API server's Job of Meridian's:
// one pod, as Submit makes it.
func hostileJobSpec() map[string]any {
	return map[string]any{"parallelism": 1, "completions": 1, "backoffLimit": 0, "template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"name": ContainerName, "env": []any{map[string]any{"name": envNodes, "value": "1"}}}}}}}
}

func TestHostileWatchEvents(t *testing.T) {
	// First a watch of normal events that together far exceed one event's
	// bound: it must stay open. Then one event larger than the bound, on
	// that watch and on every watch after.
	const events, size = 3000, 4 << 10
	var watches atomic.Int64
	var hostile atomic.Bool
	oversized := make(chan bool, 1)
	done := make(chan flooded, 1)
	oversizedEvent := `{"type":"MODIFIED","object":{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"` + hostileJob + `","annotations":{"x":"`
	_, b := newHostile(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/jobs") || r.URL.Query().Get("watch") != "true" {
			return false
		}
		watches.Add(1)
		if hostile.Load() {
			flood(w, r, 0, oversizedEvent, 'a', done)
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		for i := range events {
			if err := watchEvent(w, "MODIFIED", 100+i, size); err != nil {
				return true
			}
		}
		w.(http.Flusher).Flush()
		select {
		case <-oversized:
			floodBody(w, r, oversizedEvent, 'a', done)
		case <-r.Context().Done():
		}
		return true
	})

	last := strconv.Itoa(100 + events - 1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		job, ok := b.watch.job(hostileJob)
		if ok && job.ResourceVersion == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache did not get event %s within 30 s (has %v)", last, job.ResourceVersion)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.watch.healthErr(); err != nil {
		t.Fatalf("after %d events of %d KiB (%.1f MiB on one watch): %v", events, size>>10, float64(events*size)/(1<<20), err)
	}
	if n := watches.Load(); n != 1 {
		t.Errorf("%d watches of jobs opened for %d normal events; want 1", n, events)
	}

	hostile.Store(true)
	oversized <- true
	waitFlood(t, done, maxWatchEventBytes)
	for {
		_, err := b.Status(testContext(t), hostileJob)
		if err != nil {
			wantTooLarge(t, err, "watch of jobs", "event larger than 5 MiB")
			if !strings.Contains(err.Error(), "stale") {
				t.Errorf("Status error %q does not say that what it knows is stale", err)
			}
			t.Logf("Status: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Status reports no error 30 s after the watch of jobs sent an oversized event")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchCacheListsInPages(t *testing.T) {
	// The Job list comes in two pages; the watch cache must hold both, and
	// have asked for pages of listPageSize rather than the whole list at
	// version 0 (which the API server answers whole from its cache).
	second := JobName("second-page", 1)
	var mu sync.Mutex
	var asked []string
	_, b := newHostile(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/namespaces/ns/jobs") {
			return false
		}
		q := r.URL.Query()
		mu.Lock()
		asked = append(asked, fmt.Sprintf("watch=%s limit=%s resourceVersion=%s continue=%s sendInitialEvents=%s",
			q.Get("watch"), q.Get("limit"), q.Get("resourceVersion"), q.Get("continue"), q.Get("sendInitialEvents")))
		mu.Unlock()
		if q.Get("watch") != "" {
			return false
		}
		job := func(name, uid string) map[string]any {
			return map[string]any{"apiVersion": "batch/v1", "kind": "Job",
				"metadata": map[string]any{"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "1",
					"labels": map[string]any{LabelManagedBy: managedBy}}}
		}
		switch q.Get("continue") {
		case "":
			j := job(hostileJob, "job-uid")
			meta(j)["annotations"] = map[string]any{AnnotationRunID: hostileRun}
			j["spec"] = hostileJobSpec()
			h := map[string]any{"apiVersion": "batch/v1", "kind": "JobList",
				"metadata": map[string]any{"resourceVersion": "1", "continue": "page-2"}, "items": []any{j}}
			(&fakeAPI{}).reply(w, 200, h)
		case "page-2":
			(&fakeAPI{}).reply(w, 200, map[string]any{"apiVersion": "batch/v1", "kind": "JobList",
				"metadata": map[string]any{"resourceVersion": "1"}, "items": []any{job(second, "second-uid")}})
		default:
			(&fakeAPI{}).status(w, 410, "Expired", "no such continue token")
		}
		return true
	})
	for _, name := range []string{hostileJob, second} {
		if _, ok := b.watch.job(name); !ok {
			t.Errorf("the watch cache lacks Job %s", name)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"watch= limit=250 resourceVersion= continue= sendInitialEvents=",
		"watch= limit=250 resourceVersion= continue=page-2 sendInitialEvents=",
		"watch=true limit= resourceVersion=1 continue= sendInitialEvents=",
	}
	if len(asked) < len(want) || strings.Join(asked[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Errorf("requests for jobs:\n%s\nwant first:\n%s", strings.Join(asked, "\n"), strings.Join(want, "\n"))
	}
}

func TestHostileWatchOfEndlessObjects(t *testing.T) {
	// A watch of nodes that adds one new node after another: the cache
	// stops taking them at maxCachedObjects, and Status says why.
	hostileWatchOfEndless(t, "ADDED")
}

func TestHostileWatchOfEndlessChanges(t *testing.T) {
	// The same with changes of nodes the cache never held, which it takes
	// as new ones.
	hostileWatchOfEndless(t, "MODIFIED")
}

func hostileWatchOfEndless(t *testing.T, typ string) {
	var sent atomic.Int64
	_, b := newHostile(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v1/nodes" || r.URL.Query().Get("watch") != "true" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		bw := bufio.NewWriterSize(w, 64<<10)
		for i := 0; i < 2*maxCachedObjects && r.Context().Err() == nil; i++ {
			_, err := fmt.Fprintf(bw, `{"type":%q,"object":{"apiVersion":"v1","kind":"Node","metadata":{"name":"flood-%d","resourceVersion":"%d"}}}`+"\n", typ, i, 10+i)
			if err != nil {
				return true
			}
			sent.Add(1)
		}
		bw.Flush()
		<-r.Context().Done()
		return true
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := b.Status(testContext(t), hostileJob)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("watch of nodes: more than %d objects", maxCachedObjects)) {
				t.Fatalf("Status error %q does not say the watch of nodes sent too many objects", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error within 60 s; the cache holds %d nodes", len(b.watch.nodesI.GetStore().ListKeys()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	held := len(b.watch.nodesI.GetStore().ListKeys())
	t.Logf("the server sent %d new nodes; the cache holds %d", sent.Load(), held)
	if held > maxCachedObjects {
		t.Errorf("the cache holds %d nodes; want at most %d", held, maxCachedObjects)
	}
}

func TestHostileListPageOfTooManyObjects(t *testing.T) {
	// A page within its byte bound but of far more objects than asked
	// for: 3 MiB of empty nodes ("{},") is a million of them, each a
	// decoded struct hundreds of times its 3 bytes. The page is refused
	// before it is decoded, not after the million are in memory (or in a
	// watch cache that maxCachedObjects is to bound).
	const objects = 1 << 20
	h, b := newHostile(t, nil)
	page := `{"apiVersion":"v1","kind":"NodeList","metadata":{},"items":[` +
		strings.TrimSuffix(strings.Repeat(`{},`, objects), ",") + `]}`
	h.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v1/nodes" || r.URL.Query().Get("watch") != "" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, page)
		return true
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := b.Capacity(testContext(t))
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %.1f MiB page of %d nodes: %.1f MiB allocated; %v", float64(len(page))/(1<<20), objects, float64(alloc)/(1<<20), err)
	wantTooLarge(t, err, "list of nodes", fmt.Sprintf("more than %d objects", listPageSize))
	if alloc > 64<<20 {
		t.Errorf("%.1f MiB allocated for a %.1f MiB page", float64(alloc)/(1<<20), float64(len(page))/(1<<20))
	}
	// A page of what was asked for is read as before.
	h.set(nil)
	if _, err := b.Capacity(testContext(t)); err != nil {
		t.Fatalf("Capacity with an honest node list: %v", err)
	}
}

func TestHostileSilentAPIServer(t *testing.T) {
	// An API server that takes requests and never answers them: once the
	// watches in progress end (as each does after its timeoutSeconds), the
	// backend's new watches and lists wait on it. Status must then say
	// that the site does not answer, not go on reporting what the cache
	// last held (the Job Running, though it has finished meanwhile), and
	// the backend must recover once the server answers again, however
	// many of its requests it left hanging.
	defer func(w time.Duration) { answerWait = w }(answerWait)
	answerWait = time.Second
	var silent atomic.Bool
	// No client timeout, as a kubeconfig sets none.
	h, b := newHostileTimeout(t, func(w http.ResponseWriter, r *http.Request) bool {
		if !silent.Load() || r.Method != http.MethodGet {
			return false
		}
		<-r.Context().Done()
		return true
	}, 0)
	// The watches end as they do in a cluster, after minutes: past the
	// second within which the reflector takes an end for a failure and
	// lists again, so that it watches again.
	time.Sleep(1500 * time.Millisecond)
	silent.Store(true)
	h.f.endWatches()
	h.f.mu.Lock()
	h.f.objs["jobs"][hostileJob]["status"] = map[string]any{"conditions": []any{map[string]any{"type": jobComplete, "status": conditionTrue}}}
	// Its pod succeeded, as a Job completes.
	for _, p := range h.f.objs["pods"] {
		p["status"] = map[string]any{"phase": podSucceeded}
	}
	h.f.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := b.Status(testContext(t), hostileJob)
		if err != nil {
			t.Logf("Status while the server is silent: %v", err)
			if !strings.Contains(err.Error(), "no answer within") {
				t.Errorf("Status error %q does not say the server did not answer", err)
			}
			break
		}
		if st.State != backend.Running {
			t.Fatalf("Status = %+v while the server answers nothing; want Running from the cache, then an error", st)
		}
		if time.Now().After(deadline) {
			t.Fatal("Status still reports the cached Job Running, with no error, 20 s after the server stopped answering")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Silent for a while longer, so that the reflectors, refused their
	// watch, list again and wait on those lists too.
	for end := time.Now().Add(4 * answerWait); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if st, err := b.Status(testContext(t), hostileJob); err == nil {
			t.Fatalf("Status = %+v while the server answers nothing; want an error", st)
		}
	}
	silent.Store(false)
	deadline = time.Now().Add(30 * time.Second)
	for {
		st, err := b.Status(testContext(t), hostileJob)
		if err == nil && st.State == backend.Succeeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the server answers again: Status = %+v, %v; want Succeeded", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
