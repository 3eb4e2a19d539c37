package kubernetes

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"meridian.dev/meridian/backend"
)

// Capacity: what the site can give Meridian's jobs now, in units of
// backend.gpuResource over the nodes backend.nodeSelector picks:
//
//	capacity = Σ over Ready nodes that take new pods (not cordoned, no
//	           NoSchedule/NoExecute taint the site does not tolerate):
//	               allocatable − what every bound, unfinished pod requests
//	         + Σ over Ready nodes: what Meridian's own pods request there
//
// A pod's request is what the scheduler counts: the larger of its
// containers' sum and its largest init container (a container's request,
// or its limit when it sets none, as for extended resources). Own pods are
// those in the site's namespace with the label app.kubernetes.io/managed-by
// =meridian whose owner is the Job of an attempt on record in the state
// directory (ownPod): a server on another state directory using the same
// namespace does not count as own, nor does a pod anyone else labelled. A
// pod's owner reference is not authenticated, though, and the Job's UID is
// readable by anyone who may read Jobs: a pod that copies it is taken for
// the Job's. So what one Job's pods add back, over all nodes, is bounded by
// what the Job itself asks (ownBudget): its parallelism times what its pod
// template requests, nothing for a Job suspended or finished, or one the
// watch cache does not hold. A copier can then have counted as free only
// GPUs that the Job asks for and its own pods do not hold at the moment. A
// NotReady node gives nothing, its pods included: they may stay there
// Terminating for as long as the node is away.
//
// One poll is one list of the selected nodes and, for each Ready one, one
// list of its pods (field selector spec.nodeName, which the API server's
// watch cache indexes), a few nodes at a time, each list read in pages
// (listPages): fresh answers, not the backend's watch cache, so a cordon
// or a new pod counts at the next poll. A poll reads at most
// maxCapacityPods pods over all nodes; a site that holds more fails the
// poll, saying so. Listing pods of every namespace needs the
// kubeconfig's user to be allowed to list pods cluster-wide; without that
// Capacity fails, saying so, and the catalog's figure stands.

// Bounds on what the cluster's answer may be.
const (
	// maxGPUsPerNode bounds a node's allocatable accelerators and one
	// pod's request: no node has anything near 65,536.
	maxGPUsPerNode = 1 << 16
	// maxCapacityNodes bounds the nodes a site's selector may pick for a
	// capacity poll.
	maxCapacityNodes = 1 << 14
	// maxPodsPerNode bounds the pods listed on one node (Kubernetes
	// supports 110 by default, and a few hundred where raised).
	maxPodsPerNode = 10000
	// capacityLists is how many node's pod lists run at once.
	capacityLists = 8
)

// maxCapacityPods bounds the pods one poll reads over all its nodes
// (maxCapacityNodes of maxPodsPerNode each would be 164 million): well
// above the 150,000 pods Kubernetes supports in a cluster. A site over it
// is reported as over it, an error, never as what the pods read so far
// leave free. A variable, so that tests can lower it.
var maxCapacityPods int64 = 1 << 20

// Capacity reports how many of the site's GPU resource its jobs can have
// now (see above), keyed backend.SiteAccelerator.
func (b *Backend) Capacity(ctx context.Context) (map[string]int, error) {
	var nodes []*apiNode
	err := listPages(ctx, b.cs.core, resourceNodes, "",
		metav1.ListOptions{LabelSelector: labels.SelectorFromSet(b.selector).String()}, func() { nodes = nil }, func(list *apiNodeList) error {
			if len(nodes)+len(list.Items) > maxCapacityNodes {
				return fmt.Errorf("backend.nodeSelector picks more than %d nodes", maxCapacityNodes)
			}
			for i := range list.Items {
				nodes = append(nodes, &list.Items[i])
			}
			return nil
		})
	if apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("kubernetes capacity: backend.kubeconfig: the user may not list nodes: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes capacity: nodes: %w", err)
	}
	var (
		mu    sync.Mutex
		total int
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, capacityLists)
		own   = &ownBudget{b: b, left: map[types.UID]int{}}
		pods  atomic.Int64 // left to read
	)
	pods.Store(maxCapacityPods)
	for _, n := range nodes {
		if !nodeReady(n) {
			continue
		}
		if pods.Load() < 0 {
			break // over the bound: the poll fails, the rest is not read
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			got, err := b.nodeCapacity(ctx, n, own, &pods)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			total += got
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, fmt.Errorf("kubernetes capacity: %w", first)
	}
	return map[string]int{backend.SiteAccelerator: total}, nil
}

// nodeCapacity is what one Ready node gives: its free accelerators when
// it takes new pods, plus what Meridian's own pods hold there, within what
// their Jobs ask (budget, shared by the nodes of one poll). left is how
// many pods the poll may still read (maxCapacityPods), shared too.
func (b *Backend) nodeCapacity(ctx context.Context, n *apiNode, budget *ownBudget, left *atomic.Int64) (int, error) {
	alloc := 0
	if q, ok := n.Status.Allocatable[b.gpu]; ok {
		v, err := gpuCount(q)
		if err != nil {
			return 0, fmt.Errorf("node %s: allocatable %s: %w", siteName(n.Name), b.gpu, err)
		}
		alloc = v
	}
	sel := fields.AndSelectors(fields.OneTermEqualSelector("spec.nodeName", n.Name),
		fields.OneTermNotEqualSelector("status.phase", podSucceeded),
		fields.OneTermNotEqualSelector("status.phase", podFailed)).String()
	// What Meridian's own pods add back is taken from budget (shared by
	// the poll's nodes) once the list has ended: a list started over
	// (listPages) would otherwise take twice for the pods it read twice.
	type ownReq struct {
		job string
		uid types.UID
		req int
	}
	var mine []ownReq
	used, listed := 0, 0
	restart := func() {
		left.Add(int64(listed))
		used, listed, mine = 0, 0, nil
	}
	err := listPages(ctx, b.cs.core, resourcePods, "", metav1.ListOptions{FieldSelector: sel}, restart, func(pods *apiPodList) error {
		if listed += len(pods.Items); listed > maxPodsPerNode {
			return fmt.Errorf("more than %d pods listed", maxPodsPerNode)
		}
		if left.Add(-int64(len(pods.Items))) < 0 {
			return fmt.Errorf("the selected nodes hold more than %d pods, more than one capacity poll reads", maxCapacityPods)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Spec.NodeName != n.Name || p.Status.Phase == podSucceeded || p.Status.Phase == podFailed {
				continue
			}
			req, err := podRequest(p, b.gpu)
			if err != nil {
				return fmt.Errorf("pod %s/%s: %w", siteName(p.Namespace), siteName(p.Name), err)
			}
			used += req
			if req == 0 {
				continue
			}
			if job, uid, ok := b.ownPod(p); ok {
				mine = append(mine, ownReq{job, uid, req})
			}
		}
		return nil
	})
	if apierrors.IsForbidden(err) {
		return 0, fmt.Errorf("backend.kubeconfig: the user may not list pods in every namespace, which reporting the site's free %s needs: %w", b.gpu, err)
	}
	if err != nil {
		return 0, fmt.Errorf("node %s: pods: %w", siteName(n.Name), err)
	}
	own := 0
	for _, m := range mine {
		own += budget.take(m.job, m.uid, m.req)
	}
	free := 0
	if b.takesPods(n) && alloc > used {
		free = alloc - used
	}
	return free + own, nil
}

// ownPod reports whether p is a pod of one of the backend's attempts, and
// of which Job (its name and UID): in the site's namespace, with Meridian's
// label, and owned by the Job whose UID the attempt's record has (the Job
// it names by the Job controller's label). A pod of a Job whose UID is not
// on record yet is not counted: the capacity is then reported short, not
// long. The label, the name and the owner reference are all anyone's to
// give a pod who may write Pods in the namespace (the UID is not secret:
// whoever may read Jobs reads it), so a pod that passes is not trusted to
// hold what it says: ownBudget bounds what the Job's pods add back.
func (b *Backend) ownPod(p *apiPod) (job string, uid types.UID, ok bool) {
	if p.Namespace != b.ns || p.Labels[LabelManagedBy] != managedBy {
		return "", "", false
	}
	name := p.Labels[jobNameLabel]
	if validHandle(name) != nil {
		return "", "", false
	}
	uid, ok = b.knownUID(name)
	if !ok {
		rec, hasRec := b.record(name)
		if !hasRec || rec.UID == "" {
			return "", "", false
		}
		uid = rec.UID
	}
	if controlledBy(p, uid) {
		return name, uid, true
	}
	return "", "", false
}

// ownBudget is what each of Meridian's Jobs may still add back in one
// capacity poll, by Job UID: at first what the Job asks (jobAsks), less
// what its pods seen so far added. The nodes of a poll are counted at once
// and take from it under mu. However the pods are ordered, one Job's pods
// add back min(what they request, what the Job asks) in all.
type ownBudget struct {
	b    *Backend
	mu   sync.Mutex
	left map[types.UID]int
}

// take is what a pod of Job job (uid) that requests req adds back.
func (o *ownBudget) take(job string, uid types.UID, req int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	left, seen := o.left[uid]
	if !seen {
		left = 0
		if j, ok := o.b.watch.job(job); ok && j.UID == uid && !o.b.endedOnRecord(job) {
			left = o.b.jobAsks(j)
		}
	}
	n := min(req, left)
	o.left[uid] = left - n
	return n
}

// endedOnRecord reports whether the attempt's record has its end. Its Job
// may still look live: Status's mark of the end is best effort (markLost),
// and anyone who may update Jobs can take a mark off; the pods of an
// attempt that Meridian found lost, still holding their GPUs, are no
// longer its to place again, and add nothing back.
func (b *Backend) endedOnRecord(name string) bool {
	rec, ok := b.record(name)
	return ok && rec.Final != nil
}

// jobAsks is how many of resource gpu a Job asks for at once: its
// parallelism times what its pod template requests (podRequest; the watch
// cache keeps that much of the template, trimCached), at most what Submit
// asked of each pod (submittedEach); nothing once it is
// suspended (its pods are deleted) or finished.
func (b *Backend) jobAsks(j *apiJob) int {
	gpu := b.gpu
	if ptr.Deref(j.Spec.Suspend, false) || b.jobFinished(j) || changedAtSite(j) != "" {
		// A Job changed at the site (its parallelism raised) is not what
		// Submit placed: none of what its pods hold is added back.
		return 0
	}
	par := int64(ptr.Deref(j.Spec.Parallelism, 1))
	each, err := specRequest(&j.Spec.Template.Spec, gpu)
	// The template's request may have been raised while the Job was
	// suspended (the API server lets container resources change then):
	// no more is added back than Submit asked of each pod, which the
	// template's environment keeps.
	asked, ok := submittedEach(&j.Spec.Template.Spec)
	if !ok {
		return 0
	}
	each = int(min(int64(each), asked))
	if par <= 0 || err != nil || each <= 0 {
		return 0
	}
	// No poll counts more than maxCapacityNodes nodes of maxGPUsPerNode.
	return int(min(par*int64(each), maxCapacityNodes*maxGPUsPerNode))
}

// takesPods reports whether the scheduler places the site's new pods on
// n: not cordoned, and every NoSchedule or NoExecute taint tolerated.
func (b *Backend) takesPods(n *apiNode) bool {
	if n.Spec.Unschedulable {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect != "NoSchedule" && t.Effect != "NoExecute" {
			continue
		}
		if !tolerated(b.tolerate, t) {
			return false
		}
	}
	return true
}

// tolerated reports whether one of ts tolerates taint t, as the scheduler
// matches them.
func tolerated(ts []toleration, t taint) bool {
	for _, tol := range ts {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		switch tol.Operator {
		case "Exists":
			if tol.Key == "" || tol.Key == t.Key {
				return true
			}
		case "", tolerationOpEqual:
			if tol.Key == t.Key && tol.Value == t.Value {
				return true
			}
		}
	}
	return false
}

// podRequest is how many of resource gpu the scheduler counts pod p as
// requesting: the larger of its containers' sum and its largest init
// container.
func podRequest(p *apiPod, gpu string) (int, error) {
	return specRequest(&p.Spec, gpu)
}

// specRequest is podRequest of a pod of spec s.
func specRequest(s *podSpec, gpu string) (int, error) {
	sum := 0
	for _, c := range s.Containers {
		n, err := containerRequest(c, gpu)
		if err != nil {
			return 0, err
		}
		if sum += n; sum > maxGPUsPerNode {
			return 0, fmt.Errorf("requests more than %d %s", maxGPUsPerNode, gpu)
		}
	}
	for _, c := range s.InitContainers {
		n, err := containerRequest(c, gpu)
		if err != nil {
			return 0, err
		}
		sum = max(sum, n)
	}
	return sum, nil
}

func containerRequest(c container, gpu string) (int, error) {
	q, ok := c.Resources.Requests[gpu]
	if !ok {
		if q, ok = c.Resources.Limits[gpu]; !ok {
			return 0, nil
		}
	}
	n, err := gpuCount(q)
	if err != nil {
		return 0, fmt.Errorf("container %s: %s: %w", siteName(c.Name), gpu, err)
	}
	return n, nil
}

// gpuCount is a quantity of accelerators as a count: a whole number from 0
// to maxGPUsPerNode (a fraction is rounded up, as the scheduler does).
func gpuCount(q resource.Quantity) (int, error) {
	// Before anything that writes the number out or compares it: the
	// site's "1e200000000" is eleven bytes, and a number of 200 million
	// digits to compare or print.
	if scale, ok := quantityScale(q); !ok {
		return 0, fmt.Errorf("a quantity of decimal exponent %d is no count (at most %d either way)", -scale, maxQuantityScale)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%s is negative", q.String())
	}
	if q.Cmp(*resource.NewQuantity(maxGPUsPerNode, resource.DecimalSI)) > 0 {
		return 0, fmt.Errorf("%s is more than %d", q.String(), maxGPUsPerNode)
	}
	return int(q.Value()), nil
}

// maxQuantityScale bounds the decimal exponent of a quantity gpuCount
// reads: far past any count of accelerators (or a fraction of one), and
// small enough that comparing the quantity is cheap.
const maxQuantityScale = 64

// quantityScale is the scale of q as a decimal (its value is its unscaled
// digits times ten to minus the scale), read without working the number
// out, and whether it is within maxQuantityScale either way.
func quantityScale(q resource.Quantity) (int, bool) {
	c := q.DeepCopy()
	s := int(c.AsDec().Scale())
	return s, s >= -maxQuantityScale && s <= maxQuantityScale
}
