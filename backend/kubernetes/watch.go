package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"meridian.dev/meridian/backend"
)

// syncWait bounds how long a call waits for the first list of the cluster.
const syncWait = 15 * time.Second

// watcher keeps the backend's view of the cluster: informers over the
// site's Jobs and Pods (by Meridian's label) and the Nodes its selector
// picks, the time each Node was first seen not Ready, and whether the API
// server answered the last list or watch.
type watcher struct {
	b      *Backend
	ctx    context.Context
	cancel context.CancelFunc
	jobs   cache.SharedIndexInformer
	pods   cache.SharedIndexInformer
	nodesI cache.SharedIndexInformer
	synced chan struct{}

	mu       sync.Mutex
	failures map[string]failure // by resource ("jobs", "pods", "nodes")
	down     map[string]downNode
	// onChange is called with the Job name after each change of a Job or
	// of one of its Pods reaches the cache.
	onChange atomic.Pointer[func(job string)]
}

type failure struct {
	since time.Time
	err   error
}

type downNode struct {
	since time.Time
	why   string
}

const podsByJob = "job"

func newWatcher(b *Backend) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{b: b, ctx: ctx, cancel: cancel, synced: make(chan struct{}),
		failures: map[string]failure{}, down: map[string]downNode{}}
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy}).String()
	nodeSel := labels.SelectorFromSet(b.selector).String()

	w.jobs = cache.NewSharedIndexInformer(w.listWatch(b.cs.batch, resourceJobs, b.ns, managed),
		&apiJob{}, 0, cache.Indexers{})

	w.pods = cache.NewSharedIndexInformer(w.listWatch(b.cs.core, resourcePods, b.ns, managed),
		&apiPod{}, 0, cache.Indexers{podsByJob: func(obj any) ([]string, error) {
			p, ok := obj.(*apiPod)
			if !ok {
				return nil, nil
			}
			if j := p.Labels[jobNameLabel]; j != "" {
				return []string{j}, nil
			}
			return nil, nil
		}})

	w.nodesI = cache.NewSharedIndexInformer(w.listWatch(b.cs.core, resourceNodes, "", nodeSel),
		&apiNode{}, 0, cache.Indexers{})
	return w
}

// listWatch lists and watches one resource (in namespace ns, or cluster
// wide with ns "") through client-go's ListWatch, with selector as its label
// selector; the failures of list and watch calls (and the next success)
// tell whether the API server can be reached.
func (w *watcher) listWatch(c *rest.RESTClient, resource, ns, selector string) *cache.ListWatch {
	lw := cache.NewFilteredListWatchFromClient(c, resource, ns, func(o *metav1.ListOptions) { o.LabelSelector = selector })
	list, watchFn := lw.ListWithContextFunc, lw.WatchFuncWithContext
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			obj, err := list(ctx, o)
			w.observe(resource, err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			wi, err := watchFn(ctx, o)
			w.observe(resource, err)
			return wi, err
		},
	}
}

func (w *watcher) observe(what string, err error) {
	if w.ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		delete(w.failures, what)
		return
	}
	f, ok := w.failures[what]
	if !ok {
		f.since = time.Now()
	}
	f.err = err
	w.failures[what] = f
}

// healthErr describes why the API server is not answering, or nil.
func (w *watcher) healthErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failures) == 0 {
		return nil
	}
	whats := make([]string, 0, len(w.failures))
	for k := range w.failures {
		whats = append(whats, k)
	}
	sort.Strings(whats)
	f := w.failures[whats[0]]
	b := w.b
	switch {
	case apierrors.IsForbidden(f.err) && whats[0] == "nodes":
		return fmt.Errorf("backend.kubeconfig: the user may not list and watch nodes, which Meridian needs to notice a lost node: %w", f.err)
	case apierrors.IsForbidden(f.err):
		return fmt.Errorf("backend.namespace %q: the kubeconfig's user may not list and watch %s there: %w", b.ns, whats[0], f.err)
	case apierrors.IsUnauthorized(f.err):
		return fmt.Errorf("backend.kubeconfig: the API server at %s refuses the credentials: %w", b.host, f.err)
	}
	return fmt.Errorf("kubernetes API server at %s unreachable for %s (%s): %w", b.host,
		time.Since(f.since).Round(time.Second), whats[0], f.err)
}

func (w *watcher) start() {
	nodeEvent := func(obj any) {
		n, ok := obj.(*apiNode)
		if !ok {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if nodeReady(n) {
			delete(w.down, n.Name)
			return
		}
		if _, seen := w.down[n.Name]; !seen {
			w.down[n.Name] = downNode{since: time.Now(), why: notReadyWhy(n)}
		}
	}
	_, _ = w.nodesI.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    nodeEvent,
		UpdateFunc: func(_, obj any) { nodeEvent(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if n, ok := obj.(*apiNode); ok {
				w.mu.Lock()
				if _, seen := w.down[n.Name]; !seen {
					w.down[n.Name] = downNode{since: time.Now(), why: "was deleted"}
				} else {
					w.down[n.Name] = downNode{since: w.down[n.Name].since, why: "was deleted"}
				}
				w.mu.Unlock()
			}
		},
	})
	notify := func(name string) {
		if f := w.onChange.Load(); f != nil && name != "" {
			(*f)(name)
		}
	}
	_, _ = w.jobs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { notify(metaName(obj)) },
		UpdateFunc: func(_, obj any) { notify(metaName(obj)) },
		DeleteFunc: func(obj any) { w.jobDeleted(obj) },
	})
	podNotify := func(obj any) {
		if p, ok := obj.(*apiPod); ok {
			notify(p.Labels[jobNameLabel])
		}
	}
	_, _ = w.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    podNotify,
		UpdateFunc: func(_, obj any) { podNotify(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			podNotify(obj)
		},
	})
	go w.jobs.RunWithContext(w.ctx)
	go w.pods.RunWithContext(w.ctx)
	go w.nodesI.RunWithContext(w.ctx)
	go func() {
		if cache.WaitForCacheSync(w.ctx.Done(), w.jobs.HasSynced, w.pods.HasSynced, w.nodesI.HasSynced) {
			close(w.synced)
		}
	}()
}

// jobDeleted keeps the end of a Job that was deleted after Meridian
// cancelled it (possibly through another controller sharing the state
// directory).
func (w *watcher) jobDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	job, ok := obj.(*apiJob)
	if !ok {
		return
	}
	b := w.b
	rec, hasRec := b.record(job.Name)
	if hasRec && rec.Final == nil {
		switch {
		case job.Annotations[AnnotationLost] != "":
			b.saveFinal(job.Name, rec, backend.Status{State: backend.Lost, Reason: job.Annotations[AnnotationLost]})
		case job.Annotations[AnnotationCancelled] != "":
			b.saveFinal(job.Name, rec, backend.Status{State: backend.Cancelled, ExitCode: 128 + 15, Reason: "cancelled"})
		}
	}
	if f := w.onChange.Load(); f != nil {
		(*f)(job.Name)
	}
}

func metaName(obj any) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetName()
	}
	return ""
}

func notReadyWhy(n *apiNode) string {
	for _, c := range n.Status.Conditions {
		if c.Type == nodeReadyCondition {
			why := "Ready=" + string(c.Status)
			if c.Reason != "" {
				why += " (" + c.Reason + ")"
			}
			return "not Ready: " + why
		}
	}
	return "not Ready: no Ready condition"
}

func (w *watcher) stop() { w.cancel() }

// ready waits for the first list of the cluster and reports an API server
// that does not answer.
func (w *watcher) ready(ctx context.Context) error {
	select {
	case <-w.synced:
		return w.healthErr()
	default:
	}
	t := time.NewTimer(syncWait)
	defer t.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.synced:
			return w.healthErr()
		case <-ctx.Done():
			if err := w.healthErr(); err != nil {
				return err
			}
			return ctx.Err()
		case <-t.C:
			if err := w.healthErr(); err != nil {
				return err
			}
			return fmt.Errorf("kubernetes API server at %s: no answer to the first list of jobs, pods and nodes within %s", w.b.host, syncWait)
		case <-tick.C:
			// A refused list will not succeed by waiting: say so at once.
			if err := w.healthErr(); err != nil && !isTransient(err) {
				return err
			}
		case <-w.ctx.Done():
			return errors.New("kubernetes backend is closed")
		}
	}
}

// isTransient reports errors that waiting may cure (connection refused),
// as opposed to refusals (forbidden, unauthorized).
func isTransient(err error) bool {
	return !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err)
}

func (w *watcher) job(name string) (*apiJob, bool) {
	obj, ok, err := w.jobs.GetIndexer().GetByKey(w.b.ns + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	j, ok := obj.(*apiJob)
	return j, ok
}

// podsOf lists the Job's Pods, by completion index then creation.
func (w *watcher) podsOf(job *apiJob) []*apiPod {
	objs, err := w.pods.GetIndexer().ByIndex(podsByJob, job.Name)
	if err != nil {
		return nil
	}
	out := make([]*apiPod, 0, len(objs))
	for _, o := range objs {
		p, ok := o.(*apiPod)
		if !ok || !ownedBy(p, job) {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		ii, ij := completionIndex(out[i]), completionIndex(out[j])
		if ii != ij {
			return ii < ij
		}
		if !out[i].CreationTimestamp.Equal(&out[j].CreationTimestamp) {
			return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func ownedBy(p *apiPod, job *apiJob) bool {
	for _, r := range p.OwnerReferences {
		if r.UID == job.UID {
			return true
		}
	}
	return false
}

func completionIndex(p *apiPod) int {
	if v, ok := p.Annotations[completionIndexAnnotation]; ok {
		if i, err := strconv.Atoi(v); err == nil {
			return i
		}
	}
	return 0
}

// nodes lists the cached Nodes that the site's selector picks.
func (w *watcher) nodes() []*apiNode {
	objs := w.nodesI.GetStore().List()
	out := make([]*apiNode, 0, len(objs))
	for _, o := range objs {
		if n, ok := o.(*apiNode); ok {
			out = append(out, n)
		}
	}
	return out
}

// nodeDown reports since when a Node has been seen not Ready or gone.
func (w *watcher) nodeDown(name string) (time.Time, string, bool) {
	w.mu.Lock()
	d, down := w.down[name]
	w.mu.Unlock()
	if down {
		return d.since, d.why, true
	}
	if _, ok, _ := w.nodesI.GetStore().GetByKey(name); !ok {
		// Not in the cache and never seen: the pod's node does not match the
		// site's selector (or was deleted before this controller started).
		w.mu.Lock()
		defer w.mu.Unlock()
		if d, down := w.down[name]; down {
			return d.since, d.why, true
		}
		w.down[name] = downNode{since: time.Now(), why: "is not among the site's nodes"}
		return w.down[name].since, w.down[name].why, true
	}
	return time.Time{}, "", false
}
