package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

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
	// ledgers holds, by resource, what its list and watches have passed
	// on to its cache, with its counters: how many objects, and what they
	// hold (keptBytes).
	ledgers map[string]*ledger
	// broken holds, by resource, a watch event or list the backend refused
	// (too large, too many objects) and has not seen a good one since.
	broken map[string]failure
	// down holds, by Node name, since when a Node has been seen not Ready
	// or gone: for the Nodes in the cache that are not Ready, and for
	// those outside it (deleted, or not picked by the selector) that an
	// unfinished Pod of Meridian's still names. An entry of the second kind
	// goes with the last such Pod (forgetNode), or the names of the
	// Nodes an autoscaler made and removed would stay for good.
	down map[string]downNode
	// downIdle holds the names of the entries of w.down whose Node no
	// unfinished Pod was on when last looked at: when it was recorded, or
	// when a Pod on it ended or went (forgetNode). They are the ones that
	// make room in a full map (setDownLocked), each looked at again first.
	downIdle map[string]struct{}
	// downFull logs, at most once per clientLogEvery, a Node down that a
	// full w.down does not record.
	downFull *rateLog
	// unfinished holds, by the UID of a Job, the first pod of it
	// (controlledBy) that left the cache without being seen Succeeded
	// (podGone), until the Job goes.
	unfinished map[types.UID]unfinishedPod
	// gone holds, by the UID of a Job, the UIDs of its pods (controlledBy)
	// that left the cache, however they ended, a queue's suspension aside
	// (podGone), until the Job goes: with those the cache holds, how many
	// pods the Job ran (ranPods). goneCount is how many it holds in all.
	gone      map[types.UID]gonePods
	goneCount int
	// suspendedPods holds the UIDs of pods whose deletion began while
	// their Job was suspended (podEnding), until they go.
	suspendedPods map[types.UID]struct{}
	// downBytes, unfinishedBytes, goneBytes and suspendedBytes are what
	// down, unfinished, gone and suspendedPods hold (sideBytes), each
	// bounded by maxSideBytes: their names and UIDs are the API server's,
	// each up to maxKeptString, and outlive the objects that named them.
	downBytes, unfinishedBytes, goneBytes, suspendedBytes int64
	// onChange is called with the Job name after each change of a Job or
	// of one of its Pods reaches the cache.
	onChange atomic.Pointer[func(job string)]
}

type failure struct {
	since time.Time
	err   error
}

type unfinishedPod struct {
	job, pod string
}

// maxSideBytes bounds what each of the watcher's own maps (down,
// unfinished, gone, suspendedPods) holds, counted by sideBytes: room for
// maxCachedObjects entries of the longest names a real API server allows
// (253 bytes) and its UIDs (36), where entries of maxKeptString each
// would have held some 200 MiB per map beside the caches' maxCachedBytes.
var maxSideBytes int64 = 32 << 20

// maxDownNodes bounds the entries of the watcher's map of Nodes down
// (w.down), beside maxSideBytes: as many as the Pods the cache holds
// (maxCachedObjects), so that the Nodes unfinished Pods are on, one or more
// Pods to each, always fit once the others have made room. A variable, so
// that tests can lower it.
var maxDownNodes = maxCachedObjects

// sideEntryBytes is what sideBytes counts of an entry beside its strings:
// its map slot and string headers.
const sideEntryBytes = 64

// sideBytes is what an entry of the watcher's maps holds whose strings
// are ss.
func sideBytes(ss ...string) int64 {
	n := int64(sideEntryBytes)
	for _, s := range ss {
		n += int64(len(s))
	}
	return n
}

// gonePods are the pods of Job job that left the cache: their names by
// UID.
type gonePods struct {
	job  string
	pods map[types.UID]gonePod
}

// gonePod is what w.gone keeps of a pod: its name (cut, to show), and,
// for one that left the cache Succeeded as a pod of its Job (podGone),
// when it was made, so that uncountedSuccess counts it as a record's
// Succeeded (which keeps maxSeenSucceeded pods) would. Its fixed fields
// fit in the sideEntryBytes that sideBytes counts of an entry.
type gonePod struct {
	name      string
	made      time.Time
	succeeded bool
}

type downNode struct {
	since time.Time
	why   string
}

const (
	podsByJob  = "job"
	podsByNode = "node"
)

func newWatcher(b *Backend) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{b: b, ctx: ctx, cancel: cancel, synced: make(chan struct{}),
		failures: map[string]failure{}, broken: map[string]failure{}, down: map[string]downNode{},
		downIdle:   map[string]struct{}{},
		downFull:   &rateLog{every: clientLogEvery, now: time.Now, last: map[string]time.Time{}, held: map[string]int{}},
		unfinished: map[types.UID]unfinishedPod{}, suspendedPods: map[types.UID]struct{}{},
		gone:    map[types.UID]gonePods{},
		ledgers: map[string]*ledger{}}
	for _, r := range []string{resourceJobs, resourcePods, resourceNodes} {
		w.ledgers[r] = &ledger{kept: map[string]int64{}, maxBytes: maxCachedBytes}
	}
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy}).String()
	nodeSel := labels.SelectorFromSet(b.selector).String()

	w.jobs = cache.NewSharedIndexInformer(listWatch[apiJobList](w, b.cs.batch, resourceJobs, b.ns, managed),
		&apiJob{}, 0, cache.Indexers{})

	w.pods = cache.NewSharedIndexInformer(listWatch[apiPodList](w, b.cs.core, resourcePods, b.ns, managed),
		&apiPod{}, 0, cache.Indexers{podsByJob: indexPod(func(p *apiPod) string { return p.Labels[jobNameLabel] }),
			podsByNode: indexPod(func(p *apiPod) string { return downKey(p.Spec.NodeName) })})

	w.nodesI = cache.NewSharedIndexInformer(listWatch[apiNodeList](w, b.cs.core, resourceNodes, "", nodeSel),
		&apiNode{}, 0, cache.Indexers{})
	return w
}

// listWatch lists and watches one resource (in namespace ns, or cluster
// wide with ns "") with selector as its label selector; the failures of
// list and watch calls (and the next success) tell whether the API server
// can be reached. Lists are read in pages (listWhole) and watches event by
// event within the bounds of limits.go; each object is cut to what the
// backend reads (trimCached) before the cache takes it, and a list or watch
// that would have the cache hold more than maxCachedObjects, or more than
// maxCachedBytes, is refused (a watch is ended).
//
// The reflector is told that this ListerWatcher does not speak the
// watch-list protocol, so that it lists (in bounded pages) rather than
// opening a watch that starts with every object as an event, which no
// page count bounds.
func listWatch[L any, PL interface {
	*L
	runtime.Object
	GetContinue() string
}](w *watcher, c *rest.RESTClient, resource, ns, selector string) cache.ListerWatcher {
	lw := cache.NewFilteredListWatchFromClient(c, resource, ns, func(o *metav1.ListOptions) { o.LabelSelector = selector })
	watchFn := lw.WatchFuncWithContext
	return pagedListWatch{&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			if o.ResourceVersion == "0" {
				// At version 0 the API server answers from its cache,
				// whole, whatever page size was asked for; with none it
				// pages.
				o.ResourceVersion = ""
				o.ResourceVersionMatch = ""
			}
			obj, err := listWhole[L, PL](ctx, c, resource, ns, o, func(o runtime.Object) int64 {
				return keptBytes(trimCached(o, w.b.gpu))
			})
			w.observe(resource, err)
			if err == nil {
				if err = w.ledgers[resource].reset(obj); err != nil {
					return nil, err
				}
				w.observeStream(resource, nil)
			}
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			ctx = context.WithValue(ctx, watchRefusedKey{}, func(err error) { w.observeStream(resource, err) })
			// A watch that has not started within answerWait is given up
			// (its context lives on with the watch, and ends with it).
			wctx, cancel := context.WithCancel(ctx)
			timer := time.AfterFunc(answerWait, cancel)
			wi, err := watchFn(withResponseLimit(wctx, maxWatchEventBytes, "watch of "+resource, "event"), o)
			if late := !timer.Stop(); err != nil && late && ctx.Err() == nil {
				err = fmt.Errorf("kubernetes API server: watch of %s: no answer within %s", resource, answerWait)
			}
			w.observe(resource, err)
			if err != nil {
				cancel()
				return wi, err
			}
			bw := w.boundWatch(resource, wi)
			bw.cancel = cancel
			return bw, nil
		},
	}}
}

// pagedListWatch is a ListWatch that the reflector must not use for the
// watch-list protocol (see listWatch).
type pagedListWatch struct{ *cache.ListWatch }

func (pagedListWatch) IsWatchListSemanticsUnSupported() bool { return true }

// boundWatch passes on the events of a watch of resource, each object cut
// to what the cache keeps (trimCached), ending it with an error event
// where one more object would have the cache hold more than
// maxCachedObjects, or an object added or changed more than maxCachedBytes
// (ledger.admit). An event that arrives whole clears a refusal of an
// earlier one (observeStream). Once the reflector has opened another watch
// of resource or listed it again, this one passes on nothing more
// (ledger.begin).
func (w *watcher) boundWatch(resource string, in watch.Interface) *boundedWatch {
	bw := &boundedWatch{in: in, out: make(chan watch.Event), done: make(chan struct{})}
	l := w.ledgers[resource]
	gen := l.begin()
	go func() {
		defer close(bw.out)
		for {
			var ev watch.Event
			var ok bool
			select {
			case ev, ok = <-in.ResultChan():
			case <-bw.done:
				return
			}
			if !ok {
				return
			}
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				// A deleted object is cut too, so that what the handlers
				// are given of it is what the cache held of it.
				ev.Object = trimCached(ev.Object, w.b.gpu)
				refuse, current := l.admit(gen, resource, ev)
				if !current {
					bw.Stop()
					return
				}
				if refuse != nil {
					w.observeStream(resource, refuse)
					ev = watch.Event{Type: watch.Error, Object: &metav1.Status{Status: metav1.StatusFailure, Message: refuse.Error()}}
					select {
					case bw.out <- ev:
					case <-bw.done:
					}
					bw.Stop()
					return
				}
				w.observeStream(resource, nil)
			}
			select {
			case bw.out <- ev:
			case <-bw.done:
				return
			}
		}
	}()
	return bw
}

// ledger is what the watch cache of one resource has been given: what
// its list and watch events have passed on to it (keptBytes), by cache
// key. An event is counted as it is passed on, before the next one is
// weighed: the cache takes the events in order, so what it holds is at
// every moment what the ledger held at some earlier one, never more than
// the bounds. (Counted by the cache's event handlers instead, the count
// would trail the watch by however many events the informer has queued,
// and every event in that queue would be weighed against too little.)
//
// A deletion takes off what was counted of its object: the object a
// Deleted event carries is not necessarily what the cache took (it may be
// bigger), and one may name an object the cache never held; counting it
// instead would let such events wear the counters down and the bounds
// away.
type ledger struct {
	mu   sync.Mutex
	gen  uint64
	kept map[string]int64
	// maxBytes is maxCachedBytes when the backend started.
	maxBytes int64
	// count and bytes are len(kept) and its sum, read without mu.
	count, bytes atomic.Int64
}

// reset makes the ledger what list (the reflector's list, which replaces
// what the cache holds) holds, and ends the watches opened before.
func (l *ledger) reset(list runtime.Object) error {
	objs, err := apimeta.ExtractList(list)
	if err != nil {
		return err
	}
	kept := make(map[string]int64, len(objs))
	var sum int64
	for _, o := range objs {
		key, err := cache.MetaNamespaceKeyFunc(o)
		if err != nil {
			continue // the cache cannot take it either
		}
		n := keptBytes(o)
		sum += n - kept[key]
		kept[key] = n
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	l.kept = kept
	l.count.Store(int64(len(kept)))
	l.bytes.Store(sum)
	return nil
}

// begin opens a watch: the one of the generation it returns is the only
// one whose events admit takes from now on.
func (l *ledger) begin() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	return l.gen
}

// admit counts ev, an event of the watch of generation gen, as passed on
// to the cache of resource, or says why it may not be (and counts
// nothing). current is false when the reflector has moved on from the
// watch (listed again or opened another): it is given nothing more.
func (l *ledger) admit(gen uint64, resource string, ev watch.Event) (refuse error, current bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		return nil, false
	}
	key, err := cache.MetaNamespaceKeyFunc(ev.Object)
	if err != nil {
		return nil, true // the cache cannot take it either
	}
	old, had := l.kept[key]
	if ev.Type == watch.Deleted {
		if had {
			delete(l.kept, key)
			l.count.Add(-1)
			l.bytes.Add(-old)
		}
		return nil, true
	}
	n := keptBytes(ev.Object)
	switch {
	case !had && int64(len(l.kept)) >= maxCachedObjects:
		// Modified as well as Added: the cache takes a change of an object
		// it does not hold as a new one.
		return fmt.Errorf("kubernetes API server: watch of %s: more than %d objects, the most the backend keeps; refused", resource, maxCachedObjects), true
	case l.bytes.Load()-old+n > l.maxBytes:
		return errCacheFull("watch of "+resource, l.maxBytes), true
	}
	if !had {
		l.count.Add(1)
	}
	l.kept[key] = n
	l.bytes.Add(n - old)
	return nil, true
}

type boundedWatch struct {
	in     watch.Interface
	out    chan watch.Event
	done   chan struct{}
	once   sync.Once
	cancel context.CancelFunc // the watch request's context, or nil
}

func (bw *boundedWatch) Stop() {
	bw.once.Do(func() {
		close(bw.done)
		bw.in.Stop()
		if bw.cancel != nil {
			bw.cancel()
		}
	})
}

func (bw *boundedWatch) ResultChan() <-chan watch.Event { return bw.out }

// watchRefusedKey carries, in a watch request's context, what to call when
// the transport refuses one of its events (boundResponses).
type watchRefusedKey struct{}

// cached is how many objects the watch cache of resource has been given
// (ledger).
func (w *watcher) cached(resource string) int64 {
	if l, ok := w.ledgers[resource]; ok {
		return l.count.Load()
	}
	return 0
}

// observeStream records that the API server sent resource's watch (or
// list) something the backend refused (err), or, with nil, something it
// took: a watch that keeps failing this way leaves the cache behind, and
// Status says so rather than report what it last knew.
func (w *watcher) observeStream(what string, err error) {
	if w.ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		delete(w.broken, what)
		return
	}
	f, ok := w.broken[what]
	if !ok {
		f.since = time.Now()
	}
	f.err = siteError(err)
	w.broken[what] = f
}

// observe records that a list or watch of what failed (err, which may
// repeat what the API server said: it is kept as siteError has it, since
// healthErr repeats it in every call's error), or, with nil, that one
// was answered.
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
	f.err = siteError(err)
	w.failures[what] = f
}

// healthErr describes why the API server is not answering, or nil.
func (w *watcher) healthErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.b
	if len(w.failures) == 0 {
		if len(w.broken) == 0 {
			return nil
		}
		whats := slices.Sorted(maps.Keys(w.broken))
		f := w.broken[whats[0]]
		return fmt.Errorf("kubernetes API server at %s: the watch of %s has failed for %s, so what the backend knows of them is stale: %w",
			b.host, whats[0], time.Since(f.since).Round(time.Second), f.err)
	}
	whats := slices.Sorted(maps.Keys(w.failures))
	f := w.failures[whats[0]]
	var tl *tooLargeError
	switch {
	case errors.As(f.err, &tl):
		return fmt.Errorf("kubernetes API server at %s: %w", b.host, f.err)
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

// nodeSeen notes a Node the cache took: since when it has been not
// Ready, or nothing once it is.
func (w *watcher) nodeSeen(obj any) {
	n, ok := obj.(*apiNode)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if nodeReady(n) {
		w.forgetDownLocked(n.Name)
		return
	}
	if _, seen := w.down[downKey(n.Name)]; !seen {
		w.setDownLocked(n.Name, downNode{since: time.Now(), why: notReadyWhy(n)})
	}
}

// setDownLocked records (or replaces) what w.down holds of Node name,
// with w.mu held, within maxDownNodes entries and maxSideBytes. Past
// either, a Node newly down that an unfinished Pod of Meridian's is on
// makes room: entries of Nodes no such Pod is on (w.downIdle) go, each
// looked at again before it goes, so that one a Pod was placed on since
// stays. A Node no such Pod is on is not recorded past the bounds, and
// neither is one that is while the Nodes such Pods are on fill the map
// (past maxSideBytes alone: their count is within maxDownNodes); each such
// refusal is logged, at most once per clientLogEvery. nodeDown finds a
// Node the map lacks down all the same, since the time it is asked, and
// records it when there is room.
//
// What is kept is what a site cannot push out: only the Nodes an
// attempt's pod is on decide whether it is lost (and when, by the time
// kept), and no number of Nodes going down, Ready, deleted or made again
// evicts one of those, since none of them is evicted at all while its Pod
// is unfinished. The site can only fill the room of the Nodes no such Pod
// is on, which is given up to those Pods' Nodes. Each entry that goes is
// taken out of w.downIdle as it is looked at, and is put back only by an
// event of its own (recorded, or a Pod on it ending), so the cost of
// making room is, over time, one look per such event, not a scan of the
// map per Node down.
func (w *watcher) setDownLocked(name string, d downNode) {
	key := downKey(name)
	d.why = cutDownWhy(d.why)
	n := sideBytes(key, d.why)
	if old, had := w.down[key]; had {
		n -= sideBytes(key, old.why)
		if n > 0 && w.downBytes+n > maxSideBytes {
			return // the entry kept, with its time: only its reason differs
		}
		w.down[key] = d
		w.downBytes += n
		return
	}
	inUse := w.nodeInUse(name)
	for len(w.down) >= maxDownNodes || w.downBytes+n > maxSideBytes {
		if !inUse || !w.evictIdleLocked() {
			w.downFull.handle(w.ctx, nil, "the map of nodes down is full: a node newly down is not recorded",
				"node", strings.ToValidUTF8(name[:min(len(name), maxNodeName)], ""), "ours", inUse, "entries", len(w.down), "bytes", w.downBytes,
				"maxEntries", maxDownNodes, "maxBytes", maxSideBytes)
			return
		}
	}
	w.down[key] = d
	w.downBytes += n
	if !inUse {
		w.downIdle[key] = struct{}{}
	}
}

// maxDownWhy bounds what w.down keeps of why a Node is down: its Ready
// condition's reason, the site's word, is up to maxKeptString.
const maxDownWhy = 256

// cutDownWhy is why cut at maxDownWhy, at a character's start.
func cutDownWhy(why string) string { return cutSide(why, maxDownWhy) }

// cutSide is s cut at max bytes, at a character's start, and marked so
// ("..."), for a string the watcher's maps keep only to show.
func cutSide(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n]) + "..."
}

// sideKey is the key the watcher's maps (down, unfinished, gone,
// suspendedPods) keep of s, a name or UID from the API server: s, or, when
// longer than max (the longest such string a real API server gives), its
// SHA-256, of sideHashLen bytes. The cache keeps such strings up to
// maxKeptString, and entries of them filled a map's maxSideBytes long
// before its count bound, past which what an attempt's own pod or Node did
// went unrecorded. With max at least sideHashLen a key is its own key; a
// hashed one has a colon, which no real name or UID has.
func sideKey(s string, max int) string {
	if len(s) <= max {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// sideHashLen is the length of a hashed sideKey.
const sideHashLen = len("sha256:") + 2*sha256.Size

// sideUID is the key of a Job's or pod's UID in the watcher's maps: a real
// API server's UIDs are 36 bytes.
func sideUID(uid types.UID) types.UID { return types.UID(sideKey(string(uid), sideHashLen)) }

// sideJobName is what the watcher's maps keep of a Job's name, by its
// pod's label: a real API server's label values are at most 63 bytes. A
// hashed one names no Job in the cache, so its entry is one that makes
// room.
func sideJobName(name string) string { return sideKey(name, sideHashLen) }

// sidePodName is what the watcher's maps keep of a pod's name, to show.
func sidePodName(name string) string { return cutSide(name, maxNodeName) }

// The most sideBytes counts of an entry of w.unfinished, of w.gone (a pod,
// with its Job's entry) and of w.suspendedPods: maxCachedObjects of each
// fit in maxSideBytes.
const (
	maxSidePodName          = maxNodeName + len("...")
	maxUnfinishedEntryBytes = sideEntryBytes + 2*sideHashLen + maxSidePodName
	maxGoneEntryBytes       = 2*sideEntryBytes + 3*sideHashLen + maxSidePodName
	maxSuspendedEntryBytes  = sideEntryBytes + sideHashLen
)

// downKey is the key of Node name in w.down and w.downIdle: the name, or,
// for one longer than any the API server gives a Node (maxNodeName), a
// hash of it, so that an entry holds at most maxDownEntryBytes and the
// map's maxDownNodes entries fit in maxSideBytes. Names of up to
// maxKeptString (the cache's cut) had some 4,000 entries fill the map's
// bytes, past which a Node that an attempt's pod is on went unrecorded
// while the others were those of pods too, its attempt never lost. A
// hashed key is no name the API server allows a Node (it has a colon), and
// is its own key, as is every name of up to maxNodeName.
func downKey(name string) string { return sideKey(name, maxNodeName) }

// maxDownEntryBytes is the most sideBytes counts of an entry of w.down.
const maxDownEntryBytes = sideEntryBytes + maxNodeName + maxDownWhy + len("...")

// evictIdleLocked drops, with w.mu held, the first entry of w.downIdle
// whose Node no unfinished Pod is on, and reports whether it found one.
// Those it finds a Pod on leave w.downIdle (forgetNode puts them back as
// their Pods end).
func (w *watcher) evictIdleLocked() bool {
	for k := range w.downIdle {
		delete(w.downIdle, k)
		if !w.nodeInUse(k) {
			w.forgetDownLocked(k)
			return true
		}
	}
	return false
}

// forgetDownLocked drops what w.down holds of Node name, with w.mu held.
func (w *watcher) forgetDownLocked(name string) {
	key := downKey(name)
	if d, ok := w.down[key]; ok {
		delete(w.down, key)
		delete(w.downIdle, key)
		w.downBytes -= sideBytes(key, d.why)
	}
}

func (w *watcher) start() {
	_, _ = w.nodesI.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.nodeSeen,
		UpdateFunc: func(_, obj any) { w.nodeSeen(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if n, ok := obj.(*apiNode); ok {
				w.mu.Lock()
				defer w.mu.Unlock()
				if w.nodeInCache(n.Name) {
					return // deleted and made again under its name
				}
				if !w.nodeInUse(n.Name) {
					w.forgetDownLocked(n.Name)
					return
				}
				since := time.Now()
				if d, seen := w.down[downKey(n.Name)]; seen {
					since = d.since
				}
				w.setDownLocked(n.Name, downNode{since: since, why: "was deleted"})
			}
		},
	})
	notify := func(name string) {
		if f := w.onChange.Load(); f != nil && name != "" {
			(*f)(name)
		}
	}
	_, _ = w.jobs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { notify(metaName(obj)) },
		UpdateFunc: func(_, obj any) {
			w.jobEndedFlush(obj)
			notify(metaName(obj))
		},
		DeleteFunc: func(obj any) { w.jobDeleted(obj) },
	})
	podNotify := func(obj any) {
		if p, ok := obj.(*apiPod); ok {
			notify(p.Labels[jobNameLabel])
		}
	}
	_, _ = w.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*apiPod); ok {
				w.podEnded(p)
				w.podSucceeded(p)
			}
			podNotify(obj)
		},
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*apiPod); ok {
				ended := p.Status.Phase == podSucceeded || p.Status.Phase == podFailed
				if ended {
					w.forgetNode(p.Spec.NodeName)
					w.podEnded(p)
				}
				if ended || p.DeletionTimestamp != nil {
					// Once for a pod both ended and being deleted:
					// each call reads the attempt's record.
					w.podSucceeded(p)
				}
				if p.DeletionTimestamp != nil {
					w.podEnding(p)
				}
			}
			podNotify(obj)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*apiPod); ok {
				w.forgetNode(p.Spec.NodeName)
				w.podEnded(p)
				w.podSucceeded(p)
				w.podGone(p)
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

// jobEndedFlush writes the completion indexes seen succeeded that the
// record of an ended Job's attempt does not hold yet (flushIndexes): its
// success may be judged by them after a restart.
func (w *watcher) jobEndedFlush(obj any) {
	if j, ok := obj.(*apiJob); ok && jobEnded(j) {
		if err := w.b.flushIndexes(j.Name); err != nil {
			w.downFull.handle(w.ctx, err, "the pods of an attempt that succeeded are not recorded")
		}
	}
}

// jobDeleted keeps the end of a Job that was deleted after it was marked
// lost, or marked cancelled with no cancellation on record (Cancel, here
// or in another controller sharing the state directory, records it before
// the mark and the delete).
// What is pending of its record is written (flushIndexes), not kept.
func (w *watcher) jobDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	job, ok := obj.(*apiJob)
	if !ok {
		return
	}
	if err := w.b.flushIndexes(job.Name); err != nil {
		w.downFull.handle(w.ctx, err, "the pods of an attempt that succeeded are not recorded")
	}
	w.mu.Lock()
	w.forgetUnfinishedLocked(job.UID)
	w.forgetGoneLocked(job.UID)
	w.mu.Unlock()
	b := w.b
	rec, hasRec := b.record(job.Name)
	if hasRec && rec.Final == nil && !replaced(job, rec) {
		// Only the backend's own marks (marks.go): a Job deleted with
		// another's is one deleted at the site, as Status finds it.
		switch {
		case b.ownMark(job, AnnotationLost):
			reason, _ := b.markOf(job, AnnotationLost)
			b.saveFinal(job.Name, rec, backend.Status{State: backend.Lost, Reason: reason})
		case b.ownMark(job, AnnotationCancelled):
			// Cancel records the cancellation before it marks the Job:
			// this mark was not the attempt's user's (cancelledOnRecord).
			b.saveFinal(job.Name, rec, backend.Status{State: backend.Lost, Reason: cancelledAtSite + ", and deleted"})
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
	var tl *tooLargeError
	return !errors.As(err, &tl) && !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err)
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
	pods, _ := w.claimsOf(job)
	return pods
}

// claimsOf is podsOf, and the first pod in the cache that claims the Job
// (by its controller reference or a controller-uid label naming the Job's
// UID) with marks the Job controller never gives a pod of it together
// (ownedBy), or nil: one pass over the pods the cache holds under the
// Job's name.
func (w *watcher) claimsOf(job *apiJob) (pods []*apiPod, stray *apiPod) {
	objs, err := w.pods.GetIndexer().ByIndex(podsByJob, job.Name)
	if err != nil {
		return nil, nil
	}
	out := make([]*apiPod, 0, len(objs))
	for _, o := range objs {
		p, ok := o.(*apiPod)
		if !ok {
			continue
		}
		if !ownedBy(p, job) {
			if stray == nil && claims(p, job.UID) {
				stray = p
			}
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
	return out, stray
}

// ownedBy reports whether pod p is one that the Job controller counts as
// job's: its controller reference (controller: true, kind Job) names the
// Job's UID, and so does the controller-uid label that the Job's selector
// matches, and every other controller-uid label it carries. The Job
// controller releases a pod that does not match the selector and ignores
// one the Job merely owns; it gives every pod it makes both labels (one
// only, the older, before Kubernetes 1.27) with the Job's UID. A pod that
// owns up to the Job otherwise (anyone who may create pods in the
// namespace can write any owner reference and labels) is not the
// attempt's, and claims (below) tells it apart.
//
// Nothing more can be asked of one pod: the API server checks neither the
// owner reference nor the labels of a pod at its creation against who
// creates it, and the Job controller itself takes a pod that bears them
// for the Job's (and adopts an ownerless one that bears the label). A pod
// so made by someone who may create pods in the namespace is counted by
// the Job's own status as well; what gives it away is that the attempt
// then has more live pods than it runs at a time (extraPods).
func ownedBy(p *apiPod, job *apiJob) bool {
	if !controlledBy(p, job.UID) {
		return false
	}
	// The label the Job's (immutable) selector matches must be there:
	// a pod without it is not the Job controller's to count.
	for _, k := range uidLabels {
		if v, ok := job.Spec.Selector.label(k); ok && p.Labels[k] != v {
			return false
		}
	}
	return true
}

// uidLabels are the labels by which the Job controller selects a Job's pods.
var uidLabels = []string{controllerUIDLabel, legacyControllerUIDLabel}

// controlledBy reports whether pod p's controller reference is a Job of
// UID uid and every controller-uid label it carries, one at least, names
// that UID too.
func controlledBy(p *apiPod, uid types.UID) bool {
	if uid == "" {
		return false
	}
	n := 0
	for _, k := range uidLabels {
		if v, ok := p.Labels[k]; ok {
			if v != string(uid) {
				return false
			}
			n++
		}
	}
	if n == 0 {
		return false
	}
	for _, r := range p.OwnerReferences {
		if ptr.Deref(r.Controller, false) {
			// At most one reference is the controller's (the API server
			// validates that).
			return r.Kind == "Job" && r.UID == uid
		}
	}
	return false
}

// claims reports whether pod p names the Job of UID uid as its controller
// or by a controller-uid label.
func claims(p *apiPod, uid types.UID) bool {
	if uid == "" {
		return false
	}
	for _, k := range uidLabels {
		if p.Labels[k] == string(uid) {
			return true
		}
	}
	for _, r := range p.OwnerReferences {
		if ptr.Deref(r.Controller, false) && r.Kind == "Job" && r.UID == uid {
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

// nodeDown reports since when a Node has been seen not Ready or gone. The
// cache says whether a Node it holds is down, w.down since when: the
// cache takes a change before its handlers run (nodeSeen), so an entry
// of a Node the cache has Ready again may not be forgotten yet, and one
// it has not Ready may not be recorded yet (or not at all, past
// maxSideBytes).
func (w *watcher) nodeDown(name string) (time.Time, string, bool) {
	o, inCache, _ := w.nodesI.GetStore().GetByKey(name)
	var why string
	if inCache {
		n, ok := o.(*apiNode)
		if !ok || nodeReady(n) {
			return time.Time{}, "", false
		}
		why = notReadyWhy(n)
	} else {
		// Not in the cache and never seen: the pod's node does not match
		// the site's selector (or was deleted before this controller
		// started).
		why = "is not among the site's nodes"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if d, down := w.down[downKey(name)]; down {
		return d.since, d.why, true
	}
	// Not recorded: down from now. Kept only while a Pod in the cache
	// names the Node: one that has just gone (its forgetNode may have run
	// already) would leave the entry behind for good.
	d := downNode{since: time.Now(), why: why}
	if w.nodeInUse(name) {
		w.setDownLocked(name, d)
	}
	return d.since, d.why, true
}

// indexPod is an index of Pods by what key says of each (none for "").
func indexPod(key func(*apiPod) string) cache.IndexFunc {
	return func(obj any) ([]string, error) {
		if p, ok := obj.(*apiPod); ok && key(p) != "" {
			return []string{key(p)}, nil
		}
		return nil, nil
	}
}

func (w *watcher) nodeInCache(name string) bool {
	_, ok, _ := w.nodesI.GetStore().GetByKey(name)
	return ok
}

// nodeInUse reports whether an unfinished Pod in the cache is on the Node
// (name, or its downKey).
func (w *watcher) nodeInUse(name string) bool {
	objs, _ := w.pods.GetIndexer().ByIndex(podsByNode, downKey(name))
	for _, o := range objs {
		if p, ok := o.(*apiPod); ok && p.Status.Phase != podSucceeded && p.Status.Phase != podFailed {
			return true
		}
	}
	return false
}

// forgetNode drops what w.down holds of a Node outside the cache once no
// unfinished Pod in the cache is on it: called when a Pod ends or goes,
// after the cache has taken the change. Checking and dropping under w.mu
// (as nodeDown checks and records) leaves no entry behind for a Pod that
// goes while its Job's status is being read.
func (w *watcher) forgetNode(name string) {
	if name == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.down[downKey(name)]; !ok || w.nodeInUse(name) {
		return
	}
	if w.nodeInCache(name) {
		// Kept while the cache has it not Ready, as one that may make room.
		w.downIdle[downKey(name)] = struct{}{}
		return
	}
	w.forgetDownLocked(name)
}

// podGone remembers a pod of a Job that left the cache (deleted, or gone
// between two lists) while its last state seen was not Succeeded: an
// attempt's Job completes only with every pod it ran succeeded
// (completedWithout). The memory is bounded: past maxCachedObjects
// entries or maxSideBytes, those of Jobs no longer in the cache are
// dropped first, and the cache holds no more Jobs than that.
//
// A Job that is suspended (a queue such as Kueue preempting it) has its
// pods deleted, unfinished, and made anew once resumed, which is how the
// site's queue runs it and no pod of another's: such a pod is not
// remembered, by the Job's suspension when its deletion began
// (podEnding) or when it went.
func (w *watcher) podGone(p *apiPod) {
	w.mu.Lock()
	podKey := sideUID(p.UID)
	_, suspended := w.suspendedPods[podKey]
	if suspended {
		delete(w.suspendedPods, podKey)
		w.suspendedBytes -= sideBytes(string(podKey))
	}
	w.mu.Unlock()
	uid, job := podsJob(p)
	if suspended || uid == "" || w.jobSuspended(job, uid) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rememberGone(uid, job, p)
	key := sideUID(uid)
	if _, seen := w.unfinished[key]; seen || p.Status.Phase == podSucceeded {
		return
	}
	u := unfinishedPod{job: sideJobName(job), pod: sidePodName(p.Name)}
	n := sideBytes(string(key), u.job, u.pod)
	full := func() bool {
		return len(w.unfinished) >= maxCachedObjects || w.unfinishedBytes+n > maxSideBytes
	}
	if full() {
		for k, u := range w.unfinished {
			if j, ok := w.job(u.job); !ok || sideUID(j.UID) != k {
				w.forgetUnfinishedLocked(k)
			}
		}
		if full() {
			return
		}
	}
	w.unfinished[key] = u
	w.unfinishedBytes += n
}

// forgetUnfinishedLocked drops what w.unfinished holds of the Job of UID
// uid (or its sideUID), with w.mu held.
func (w *watcher) forgetUnfinishedLocked(uid types.UID) {
	uid = sideUID(uid)
	if u, ok := w.unfinished[uid]; ok {
		delete(w.unfinished, uid)
		w.unfinishedBytes -= sideBytes(string(uid), u.job, u.pod)
	}
}

// forgetGoneLocked drops what w.gone holds of the Job of UID uid (or its
// sideUID), with w.mu held.
func (w *watcher) forgetGoneLocked(uid types.UID) {
	uid = sideUID(uid)
	g, ok := w.gone[uid]
	if !ok {
		return
	}
	delete(w.gone, uid)
	w.goneCount -= len(g.pods)
	w.goneBytes -= sideBytes(string(uid), g.job)
	for k, gp := range g.pods {
		w.goneBytes -= sideBytes(string(k), gp.name)
	}
}

// rememberGone adds pod p to the pods of the Job name of UID uid that
// left the cache (w.gone), with w.mu held. The memory is bounded as
// podGone's: past maxCachedObjects pods or maxSideBytes, those of Jobs no
// longer in the cache are dropped first.
func (w *watcher) rememberGone(uid types.UID, name string, p *apiPod) {
	uid, name = sideUID(uid), sideJobName(name)
	pod := p.UID
	if pod == "" {
		pod = types.UID("name/" + p.Name)
	}
	pod = sideUID(pod)
	podName := sidePodName(p.Name)
	if _, seen := w.gone[uid].pods[pod]; seen {
		return
	}
	n := sideBytes(string(pod), podName)
	if _, ok := w.gone[uid]; !ok {
		n += sideBytes(string(uid), name)
	}
	full := func() bool { return w.goneCount >= maxCachedObjects || w.goneBytes+n > maxSideBytes }
	if full() {
		for k, g := range w.gone {
			if j, ok := w.job(g.job); !ok || sideUID(j.UID) != k {
				w.forgetGoneLocked(k)
			}
		}
		if _, ok := w.gone[uid]; !ok {
			n = sideBytes(string(pod), podName) + sideBytes(string(uid), name)
		}
		if full() {
			return
		}
	}
	g, ok := w.gone[uid]
	if !ok {
		g = gonePods{job: name, pods: map[types.UID]gonePod{}}
		w.gone[uid] = g
	}
	g.pods[pod] = gonePod{name: podName, made: p.CreationTimestamp.Time, succeeded: w.succeededOwn(uid, name, p)}
	w.goneCount++
	w.goneBytes += n
}

// ranPods names the pods Job job ran, by what the cache holds (pods, its
// podsOf) and the pods of it that left the cache (podGone), those deleted
// by a queue's suspension aside, in no order.
func (w *watcher) ranPods(job *apiJob, pods []*apiPod) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, gp := range w.gone[sideUID(job.UID)].pods {
		out = append(out, gp.name)
	}
	for _, p := range pods {
		if _, suspended := w.suspendedPods[sideUID(p.UID)]; !suspended || p.UID == "" {
			out = append(out, p.Name)
		}
	}
	return out
}

// goneUIDs is the keys (sideUID) of the pods of the Job of UID uid that
// left the cache (podGone), in no order.
func (w *watcher) goneUIDs(uid types.UID) []types.UID {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []types.UID
	for k := range w.gone[sideUID(uid)].pods {
		out = append(out, k)
	}
	return out
}

// succeededOwn reports whether p, a pod of the Job name of UID uid that
// left the cache, left it Succeeded and as a pod of that Job, as
// podSucceeded records one: with Meridian's label and, while the Job is
// in the cache, owned by it.
func (w *watcher) succeededOwn(uid types.UID, name string, p *apiPod) bool {
	if p.Status.Phase != podSucceeded || p.UID == "" || p.CreationTimestamp.IsZero() || p.Labels[LabelManagedBy] != managedBy {
		return false
	}
	j, ok := w.job(name)
	return !ok || sideUID(j.UID) == uid && ownedBy(p, j)
}

// goneSucceeded is the pods of the Job of UID uid that left the cache
// Succeeded as its own (succeededOwn): their keys (sideUID) and when each
// was made, in no order.
func (w *watcher) goneSucceeded(uid types.UID) []seenPod {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []seenPod
	for k, gp := range w.gone[sideUID(uid)].pods {
		if gp.succeeded {
			out = append(out, seenPod{UID: k, Made: gp.made})
		}
	}
	return out
}

// podEnded keeps, in the attempt's record, the creation time of a pod of
// a queued attempt's Job that ended of itself (Succeeded, or Failed before
// its deletion began: a pod deleted for the Job's suspension ends Failed
// after) while its Job, as the cache has it, was suspended, not started,
// or started after the pod was made (keepEarlyPod). Such a pod, with
// every mark of the Job's, may be someone else's copy that the Job
// controller counts, ending the Job once the queue admits it; deleted
// once counted, it left no pod to date the attempt by, and the attempt
// read Succeeded (neverStarted). The pods the Job controller makes once
// the Job is started are not written down.
func (w *watcher) podEnded(p *apiPod) {
	if w.b.queue == "" || p.Status.Phase != podSucceeded && (p.Status.Phase != podFailed || p.DeletionTimestamp != nil) {
		return
	}
	uid, name := podsJob(p)
	if uid == "" || p.CreationTimestamp.IsZero() {
		return
	}
	if j, ok := w.job(name); ok && j.UID == uid && !ptr.Deref(j.Spec.Suspend, false) &&
		j.Status.StartTime != nil && !madeBeforeStart(p.CreationTimestamp.Time, j.Status.StartTime.Time) {
		return
	}
	if err := w.b.keepEarlyPod(name, uid, p.Name, p.CreationTimestamp.Time); err != nil {
		w.downFull.handle(w.ctx, err, "a pod of a queued attempt that ended before its Job was started is not recorded")
	}
}

// podSucceeded keeps, in the attempt's record, a pod of the attempt's Job
// seen Succeeded (keepSucceeded), unless the cache has the Job started
// after the pod was made: the Job counts the pod's success, and may keep
// counting it once the pod is deleted (pod garbage collection), where the
// cache no longer holds it (uncountedSuccess). A pod of a Job the cache
// holds ended is still written down: the pods' cache may trail the Jobs'.
// A pod seen Failed, or being deleted or gone before it succeeded, is
// written down as ended (uncountedEnds), whenever it was made.
func (w *watcher) podSucceeded(p *apiPod) {
	if p.UID == "" || p.Labels[LabelManagedBy] != managedBy {
		return // not one the watch follows (one whose label was taken off is told as deleted)
	}
	succeeded := p.Status.Phase == podSucceeded
	if !succeeded && p.Status.Phase != podFailed && p.DeletionTimestamp == nil {
		if _, cached, _ := w.pods.GetIndexer().GetByKey(p.Namespace + "/" + p.Name); cached {
			return // live, and in the cache
		}
	}
	uid, name := podsJob(p)
	if uid == "" || p.CreationTimestamp.IsZero() {
		return
	}
	j, ok := w.job(name)
	if ok && (j.UID != uid || !ownedBy(p, j)) {
		return
	}
	if succeeded && ok && j.Status.StartTime != nil && madeBeforeStart(p.CreationTimestamp.Time, j.Status.StartTime.Time) {
		return
	}
	index := -1
	if i, ok := podIndex(p); ok {
		index = i
	}
	if err := w.b.keepSucceeded(name, uid, p.UID, p.CreationTimestamp.Time, succeeded, index); err != nil {
		w.downFull.handle(w.ctx, err, "a pod of an attempt that succeeded is not recorded")
	}
}

// podEnding notes a pod whose deletion has begun while its Job is
// suspended (podGone). Bounded as the pods' cache is, and by
// maxSideBytes.
func (w *watcher) podEnding(p *apiPod) {
	uid, job := podsJob(p)
	if uid == "" || p.UID == "" || !w.jobSuspended(job, uid) {
		return
	}
	key := sideUID(p.UID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, seen := w.suspendedPods[key]; seen {
		return
	}
	n := sideBytes(string(key))
	if len(w.suspendedPods) < maxCachedObjects && w.suspendedBytes+n <= maxSideBytes {
		w.suspendedPods[key] = struct{}{}
		w.suspendedBytes += n
	}
}

// podsJob is the UID of the Job that pod p is controlled by
// (controlledBy), and the Job's name by p's label; "" for none.
func podsJob(p *apiPod) (types.UID, string) {
	for _, r := range p.OwnerReferences {
		if ptr.Deref(r.Controller, false) && controlledBy(p, r.UID) {
			return r.UID, p.Labels[jobNameLabel]
		}
	}
	return "", ""
}

// jobSuspended reports whether the cache holds the Job name of UID uid,
// suspended.
func (w *watcher) jobSuspended(name string, uid types.UID) bool {
	j, ok := w.job(name)
	return ok && j.UID == uid && ptr.Deref(j.Spec.Suspend, false)
}

// unfinishedPod is the name of a pod of the Job of UID uid that left the
// cache without being seen Succeeded (podGone), or "".
func (w *watcher) unfinishedPod(uid types.UID) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unfinished[sideUID(uid)].pod
}

// downCount is how many Nodes w.down holds.
func (w *watcher) downCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.down)
}
