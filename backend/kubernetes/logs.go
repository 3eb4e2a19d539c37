package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"meridian.dev/meridian/backend"
)

// Logs streams the output of the attempt's Pods from pods/log, one Pod
// after the other (by completion index); each Pod's output after the
// first starts with a "==> pod NAME <==" line (the first has none, so that
// a Job that gains a Pod only adds to its output). Of each Pod's log the
// first maxPodLogBytes are read (limitBytes); an API server that sends
// more fails the read with an error naming the Pod. The logs must come
// within podLogWait of the call: what has not come by then is cut, with a
// line that says so in the output and an error naming the Pod. A Pod not
// started yet, or deleted (a cancelled Job), contributes nothing. A Pod
// made again under its name before its log was looked up fails the read
// before any byte of that log is passed on (errPodReplaced): what came of
// it may be another pod's, not the attempt's. The check is one list of
// pods by name per log, after its first bytes came (or, for an empty log,
// at its end): the name held the pod's UID then, so it held it when the
// log was looked up, and the whole stream is the pod's.
func (b *Backend) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	rc, _, err := b.openLogs(ctx, handle)
	return rc, err
}

// LogsAt is Logs from byte off on. Pods' logs cannot be read from an
// offset, so the output is read from its start and the first off bytes
// dropped, as for any backend (backend.LogsAt), but for the logs of pods
// that are over (fixedLogs): such a log whose size is known, and which
// ends at or before off, is not asked for at all. When every log of the
// output is such a log, the output's size is known without reading it,
// and told (info.Size).
// What LogsAt adds besides is the output's identity, the pods read and
// their containers (ID and restart count), so that a follower of the
// output sees a pod's container started again, or a pod replaced, as
// output replaced, not grown.
//
// A running container's log is read whole each time: the API server can
// start one at a time (sinceTime, sinceSeconds) but not at a byte, and no
// time maps to a byte exactly (sinceTime is whole seconds, lines of one
// time are many, the kubelet splits long lines, limitBytes counts from
// the time, not from the log's start, and a rotated log starts anew).
func (b *Backend) LogsAt(ctx context.Context, handle string, off int64) (io.ReadCloser, backend.LogInfo, error) {
	if off < 0 {
		return nil, backend.LogInfo{}, fmt.Errorf("log offset %d: want 0 or more", off)
	}
	rc, pods, err := b.openLogs(ctx, handle)
	if err != nil {
		return nil, backend.LogInfo{}, err
	}
	info := backend.LogInfo{Size: -1, ID: podLogsID(pods)}
	if l, ok := rc.(*podLogs); ok {
		if size, known := l.fixedSize(); known {
			info.Size = size
		}
		off -= l.skipFixed(off)
	}
	if _, err := io.CopyN(io.Discard, rc, off); err != nil && err != io.EOF {
		rc.Close()
		return nil, backend.LogInfo{}, err
	}
	return rc, info, nil
}

// maxFixedLogs is how many pod logs' sizes the backend keeps (fixedLogs):
// a little memory each, the oldest let go first.
const maxFixedLogs = 4096

// fixedLogs keeps the size of pod logs that no longer change, read whole
// once: a log is the same bytes each time it is read once its pod is over
// (phase Succeeded or Failed: its containers ran their last, the pod's
// restartPolicy notwithstanding) and its container terminated, so that a
// read of an attempt's output from an offset past such a log need not
// read it again (LogsAt), nor the output's size be read from its start.
// Entries are by the pod's UID, its container's ID and restart count
// (fixedLogKey); a size is kept only from a read that reached the log's
// end and was the pod's (samePod).
type fixedLogs struct {
	mu    sync.Mutex
	sizes map[string]fixedLog
	order []string // the keys, oldest first
}

type fixedLog struct {
	n    int64 // bytes
	last byte  // the last of them, when n > 0
}

// fixedLogKey names the log of pod p when it no longer changes, and false
// while it may.
func fixedLogKey(p *apiPod) (string, bool) {
	if p.UID == "" || (p.Status.Phase != podSucceeded && p.Status.Phase != podFailed) {
		return "", false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == ContainerName && cs.ContainerID != "" && cs.State.Terminated != nil {
			key := fmt.Sprintf("%s/%s/%d", p.UID, cs.ContainerID, cs.RestartCount)
			if len(key) > maxFixedLogKey {
				sum := sha256.Sum256([]byte(key))
				key = "sha256:" + hex.EncodeToString(sum[:])
			}
			return key, true
		}
	}
	return "", false
}

// maxFixedLogKey bounds what fixedLogs keeps of a key: a real pod's UID
// and container ID make some 120 bytes; a hostile site's, up to the
// cache's maxKeptString each, held 32 MiB in maxFixedLogs keys. A longer
// key is kept as its hash, which has no slash, as every key has.
const maxFixedLogKey = 256

func (f *fixedLogs) get(p *apiPod) (fixedLog, bool) {
	key, ok := fixedLogKey(p)
	if !ok {
		return fixedLog{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sizes[key]
	return s, ok
}

func (f *fixedLogs) put(p *apiPod, s fixedLog) {
	key, ok := fixedLogKey(p)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sizes == nil {
		f.sizes = map[string]fixedLog{}
	}
	if _, seen := f.sizes[key]; seen {
		f.sizes[key] = s
		return
	}
	if len(f.order) >= maxFixedLogs {
		delete(f.sizes, f.order[0])
		f.order = f.order[1:]
	}
	f.sizes[key] = s
	f.order = append(f.order, key)
}

// podLogsID names the logs of pods (backend.LogInfo.ID): of each pod whose
// container has started, in the order their logs are read, its name and
// UID and its container's ID and restart count. A pod whose container has
// not started has no log yet; when it starts, its entry is added, and one
// after the last is the output grown, not replaced.
//
// Of each pod only the first status of the container counts (a pod has
// one container of a name; fixedLogKey reads the same), and an entry
// longer than maxLogIDEntry is named by its hash: a real pod's entry is
// some 150 bytes, but a hostile API server's names, UIDs and container
// IDs are up to the cache's maxKeptString each, in up to maxKeptItems
// statuses, some 48 KiB a pod, and the ID is made anew at each opening
// of the output and kept by whoever follows it.
func podLogsID(pods []*apiPod) string {
	var b strings.Builder
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != ContainerName {
				continue
			}
			if cs.ContainerID != "" {
				entry := fmt.Sprintf("%s/%s/%s/%d", p.Name, p.UID, cs.ContainerID, cs.RestartCount)
				if len(entry) > maxLogIDEntry {
					sum := sha256.Sum256([]byte(entry))
					entry = "sha256:" + hex.EncodeToString(sum[:])
				}
				b.WriteString(entry)
				b.WriteByte(';')
			}
			break
		}
	}
	return b.String()
}

// maxLogIDEntry bounds one pod's entry in podLogsID.
const maxLogIDEntry = 256

// openLogs is Logs, and the pods whose logs it reads.
func (b *Backend) openLogs(ctx context.Context, handle string) (io.ReadCloser, []*apiPod, error) {
	if err := validHandle(handle); err != nil {
		return nil, nil, err
	}
	if err := b.watch.ready(ctx); err != nil {
		return nil, nil, err
	}
	// A Job of the name that the state directory has no record of was
	// never submitted through it (attemptsJob): its pods' output is not
	// an attempt's, and not the caller's to read.
	if _, hasRec := b.record(handle); !hasRec {
		return nil, nil, fmt.Errorf("job %s/%s: no record of it in the state directory: %w", b.ns, handle, backend.ErrNotFound)
	}
	job, ok := b.watch.job(handle)
	if !ok {
		got, err := b.getJob(ctx, handle)
		switch {
		case apierrors.IsNotFound(err):
			return io.NopCloser(strings.NewReader("")), nil, nil
		case err != nil:
			return nil, nil, b.explain(err)
		}
		job = got
	}
	if b.replacedJob(handle, job) {
		// Another's Job under the attempt's name: its pods' output is not
		// the attempt's, and not the attempt's user's to read.
		return io.NopCloser(strings.NewReader("")), nil, nil
	}
	pods, err := b.startedPods(ctx, job)
	if err != nil {
		return nil, nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, podLogWait)
	return &podLogs{ctx: tctx, caller: ctx, cancel: cancel, b: b, pods: pods, last: '\n'}, pods, nil
}

// startedPods lists the attempt's pods that were placed on a node, whose
// logs are its output. Where more pods claim its Job than it runs
// (extraPods), or its Job ended not by its own pods alone (endedByOthers:
// a copy of its pod that someone made ended it, and the Job controller
// killed the attempt's own), which of them are the attempt's cannot be
// told, and none is read: now, or since Status found it so. Before, the
// copy's log was read as the attempt's output, the first log of it when
// it was made first.
func (b *Backend) startedPods(ctx context.Context, job *apiJob) ([]*apiPod, error) {
	// A pod that claims the Job with marks the Job controller never
	// gives its pods together is not among pods (ownedBy).
	pods := b.watch.podsOf(job)
	why := extraPods(job, pods, nil)
	if why == "" {
		why = b.endedByOthers(ctx, job, pods)
	}
	// Only a lost attempt's reason is the backend's verdict: a failed
	// one's repeats its pod's termination message, which its workload
	// writes, and may say the same words.
	if fin, ok := b.knownFinal(job.Name); ok && fin.State == backend.Lost &&
		(strings.Contains(fin.Reason, extraPodsWhy) || strings.Contains(fin.Reason, notOwnPodsWhy)) {
		why = fin.Reason
	}
	if why != "" {
		return nil, fmt.Errorf("logs of job %s/%s: %s", b.ns, job.Name, why)
	}
	var out []*apiPod
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// endedByOthers says, or "", why the end of Job job (with pods, its
// podsOf) is not its own pods' alone, as jobState judges it: a Job ended
// unstarted, or by a pod made before its queue admitted it
// (neverStarted), completed with a pod of it failed or gone unfinished
// (completedWithout), or failed having run more pods than it runs
// (failedWithout). A Job not ended has none.
func (b *Backend) endedByOthers(ctx context.Context, job *apiJob, pods []*apiPod) string {
	for _, c := range job.Status.Conditions {
		if c.Status != conditionTrue {
			continue
		}
		if why := b.neverStarted(job, c.Type, pods); why != "" {
			return why
		}
		switch c.Type {
		case jobComplete:
			why, unsure := b.completedWithout(ctx, job, pods)
			if unsure {
				return "the Job is complete, and whether by its own pods alone cannot be told now (its pods could not be read from the API server)"
			}
			return why
		case jobFailed:
			why, unsure := b.failedWithout(ctx, job, pods)
			if unsure {
				return "the Job failed, and whether by its own pods alone cannot be told now (its pods could not be read from the API server)"
			}
			return why
		}
	}
	return ""
}

// podLogs reads the logs of pods in turn, opening each stream when the
// previous one ends.
type podLogs struct {
	ctx    context.Context // the caller's, ending podLogWait after the call
	caller context.Context
	cancel context.CancelFunc
	b      *Backend
	pods   []*apiPod
	// opened: a pod's log was read already. Each log after the first
	// is headed by a line naming its pod; the first is not, so that the
	// output of a Job that gains a pod (one that failed, replaced) only
	// grows: what was read of it stays at the same offsets.
	opened bool
	cur    io.ReadCloser
	pod    *apiPod      // whose log cur is
	log    *countReader // cur's log, without its head line
	// checked: the pod was found to hold its name after cur's first
	// bytes came (samePod), before they were passed on.
	checked bool
	last    byte // the last byte passed on
	// cut is the line that ends the output where podLogWait ran out, not
	// yet passed on; err follows it.
	cut []byte
	err error
}

func (l *podLogs) Read(p []byte) (int, error) {
	for {
		if len(l.cut) > 0 {
			n := copy(p, l.cut)
			l.cut = l.cut[n:]
			return n, nil
		}
		if l.err != nil {
			return 0, l.err
		}
		if l.cur == nil {
			if len(l.pods) == 0 {
				return 0, io.EOF
			}
			pod := l.pods[0]
			l.pods = l.pods[1:]
			l.pod = pod
			if l.b.beforePodLog != nil {
				l.b.beforePodLog(pod.Namespace, pod.Name)
			}
			// The API server is asked for maxPodLogBytes at most, and
			// what it sends past that (and a little slack) is refused.
			ctx := withResponseLimit(l.ctx, maxPodLogBytes+podLogSlack, "log of pod "+pod.Name,
				"answer to limitBytes "+sizeString(maxPodLogBytes))
			rc, err := l.b.cs.core.Get().Namespace(pod.Namespace).Resource(resourcePods).Name(pod.Name).
				SubResource("log").Param("container", ContainerName).
				Param("limitBytes", strconv.Itoa(maxPodLogBytes)).Stream(ctx)
			if apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) {
				continue // deleted, or its container has not started
			}
			if err != nil && l.timedOut() {
				continue
			}
			if err != nil {
				l.err = fmt.Errorf("logs of pod %s: %w", siteName(pod.Name), l.b.explain(err))
				return 0, l.err
			}
			l.log = &countReader{r: rc}
			l.checked = false
			l.cur = readCloser{l.log, rc}
			if head := l.head(pod); head != "" {
				l.cur = readCloser{io.MultiReader(strings.NewReader(head), l.log), rc}
			}
			l.opened = true
		}
		n, err := l.cur.Read(p)
		if n > 0 && !l.checked && l.log.n > 0 {
			// The first of the log's own bytes are held back until the
			// name is found to hold the pod's UID still: then it held
			// it when the log was looked up, and the whole stream is
			// the pod's. Bytes of another pod made under the name are
			// never handed on ahead of the error that says so.
			l.checked = true
			if cerr := l.b.samePod(l.ctx, l.pod); cerr != nil {
				if l.timedOut() {
					continue
				}
				l.cur.Close()
				l.cur = nil
				l.err = cerr
				return 0, l.err
			}
		}
		if n > 0 {
			l.last = p[n-1]
		}
		if err != nil && err != io.EOF && l.timedOut() {
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err == io.EOF {
			l.cur.Close()
			l.cur = nil
			// The log was asked for by the pod's name, which another
			// pod may have taken since the cache saw the attempt's
			// (deleted and made again under it): what came is the
			// pod's only if the name held the pod's UID after the log
			// was looked up, which for a log with bytes was checked
			// before the first of them was passed on.
			if !l.checked {
				if err := l.b.samePod(l.ctx, l.pod); err != nil {
					if l.timedOut() {
						continue
					}
					l.err = err
					return 0, l.err
				}
			}
			l.b.fixedLogs.put(l.pod, fixedLog{n: l.log.n, last: l.log.last})
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// errPodReplaced marks a pod log read that is not the pod's: the pod was
// deleted, or another made under its name, while it was read. It is the
// job's output replaced while read (backend.ErrLogReplaced).
var errPodReplaced = fmt.Errorf("pod deleted or made again under its name while its log was read: %w", backend.ErrLogReplaced)

// samePod checks that the pod named as p is p still (its UID), asking the
// API server (a list by name, which the backend may do where it may not
// get pods, read from etcd, not a cache). A pod's UID is never reused, so
// a pod that holds the name with p's UID now held it the whole time since
// the cache saw p: a log asked for by the name in that time is p's.
func (b *Backend) samePod(ctx context.Context, p *apiPod) error {
	now, _, err := b.podNow(ctx, p.Namespace, p.Name)
	if err != nil {
		return fmt.Errorf("logs of pod %s: telling whether the pod was replaced while its log was read: %w", siteName(p.Name), b.explain(err))
	}
	if now.UID != p.UID {
		return fmt.Errorf("logs of pod %s: %w (UID %s, was %s): what was read of it is not the attempt's output", siteName(p.Name), errPodReplaced, shown(string(now.UID)), shown(string(p.UID)))
	}
	return nil
}

// podNow is the pod of namespace ns named name as the API server has it
// now (read from etcd, not a cache), and false when none holds the name.
// It is asked by a list by name: the rights the backend needs
// (docs/kubernetes-rbac.md) let it list pods, not get one.
func (b *Backend) podNow(ctx context.Context, ns, name string) (now apiPod, found bool, err error) {
	err = listPages(ctx, b.cs.core, resourcePods, ns,
		metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()},
		func() { now, found = apiPod{}, false },
		func(pods *apiPodList) error {
			for i := range pods.Items {
				if pods.Items[i].Name == name {
					now, found = pods.Items[i], true
				}
			}
			return nil
		})
	return now, found, err
}

// head is the line that heads the log of pod p in the output: none for
// the first log, or, for a later one, one naming the pod (after a line's
// end, if the output so far does not end with one). The name is the API
// server's: one no real API server gives is quoted and escaped
// (siteName), so that the line stays one line of the backend's.
func (l *podLogs) head(p *apiPod) string {
	if !l.opened {
		return ""
	}
	if l.last != '\n' {
		return "\n==> pod " + siteName(p.Name) + " <==\n"
	}
	return "==> pod " + siteName(p.Name) + " <==\n"
}

// skipFixed passes over the logs at the start of the output whose size
// is known (fixedLogs) and which end at or before off, without reading
// them, and returns how many bytes of the output they are.
func (l *podLogs) skipFixed(off int64) int64 {
	var pos int64
	for len(l.pods) > 0 && l.cur == nil {
		s, ok := l.b.fixedLogs.get(l.pods[0])
		if !ok || pos+int64(len(l.head(l.pods[0])))+s.n > off {
			break
		}
		pos += l.pass(l.pods[0], s)
		l.pods = l.pods[1:]
	}
	return pos
}

// pass moves the output past the log of pod p, of s, unread, and returns
// how many bytes of the output that is, its head line with it.
func (l *podLogs) pass(p *apiPod, s fixedLog) int64 {
	head := l.head(p)
	l.opened = true
	switch {
	case s.n > 0:
		l.last = s.last
	case head != "":
		l.last = '\n'
	}
	return int64(len(head)) + s.n
}

// fixedSize is the size of the output when every pod's log in it is of a
// known size (fixedLogs), and false when one is not (or there is none).
func (l *podLogs) fixedSize() (int64, bool) {
	if l.cur != nil || l.opened || len(l.pods) == 0 {
		return 0, false
	}
	sim := podLogs{b: l.b, last: l.last}
	var size int64
	for _, p := range l.pods {
		s, ok := l.b.fixedLogs.get(p)
		if !ok {
			return 0, false
		}
		size += sim.pass(p, s)
	}
	return size, true
}

// countReader counts what it reads, and keeps its last byte.
type countReader struct {
	r    io.Reader
	n    int64
	last byte
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		c.last = p[n-1]
	}
	return n, err
}

// timedOut reports whether podLogWait has run out (and the caller still
// waits); if so, the stream is closed and the line and the error that say
// so are set.
func (l *podLogs) timedOut() bool {
	if l.ctx.Err() == nil || l.caller.Err() != nil {
		return false
	}
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
	if l.last != '\n' {
		l.cut = append(l.cut, '\n')
	}
	l.cut = fmt.Appendf(l.cut, "==> log of pod %s cut: not sent whole within %s <==\n", siteName(l.pod.Name), podLogWait)
	l.err = fmt.Errorf("kubernetes API server: log of pod %s: not sent whole within %s, the most the backend waits for an attempt's logs; cut there",
		siteName(l.pod.Name), podLogWait)
	return true
}

func (l *podLogs) Close() error {
	l.cancel()
	if l.cur != nil {
		return l.cur.Close()
	}
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
