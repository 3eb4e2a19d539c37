package kubernetes

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// What the watch caches keep of each object. The caches live as long as
// the backend and hold up to maxCachedObjects objects each, and what the
// API server sends of one object is bounded only by maxWatchEventBytes: a
// few Pods with megabytes of annotations, labels or status messages (which
// anyone who may write Pods in the namespace can give them, or a hostile
// API server send) would otherwise stay in memory for as long as they
// exist. So each object is cut, before the cache takes it, to the fields
// the backend reads (the labels, annotations, conditions and container
// states it looks at, not managedFields, the pod template or the other
// keys; of a Job's pod template, what each pod requests of the site's GPU
// resource, as one container's request), each string of it to
// maxKeptString bytes; and keptBytes, an estimate of what a cut object
// holds, bounds what a cache holds in all (maxCachedBytes).

const (
	// maxKeptString bounds each string a cached object keeps: a name, a
	// label or annotation value, a condition's reason or message, a
	// container's termination message. The kubelet keeps no termination
	// message over 4 KiB; the backend reports reasons and messages, and
	// more of one says nothing more.
	maxKeptString = 4 << 10
	// maxKeptItems bounds the owner references and container statuses a
	// cached Pod keeps, and the conditions of each type an object keeps
	// (one: the first).
	maxKeptItems = 4
	// objectOverhead is what keptBytes counts for an object beside its
	// strings: its structs, maps and slices.
	objectOverhead = 1 << 10
)

// maxCachedBytes bounds what each watch cache holds, counted by keptBytes:
// an honest cut Pod, Job or Node counts 1–2 KiB, so a cache of
// maxCachedObjects of them stays well within it. A variable, so that
// tests can lower it.
var maxCachedBytes int64 = 128 << 20

// Labels and annotations the backend reads of a cached object.
var (
	keptLabels      = []string{LabelManagedBy, LabelAttempt, KueueQueueLabel, jobNameLabel, controllerUIDLabel, legacyControllerUIDLabel}
	keptAnnotations = []string{AnnotationRunID, AnnotationSubmission, AnnotationLost, AnnotationCancelled, AnnotationLostSig, AnnotationCancelledSig, AnnotationLostValueSig, AnnotationCancelledValueSig, completionIndexAnnotation}
)

// cut bounds a string to maxKeptString bytes. Copying it lets go of the
// (larger) buffer it was decoded from.
func cut(s string) string {
	if len(s) <= maxKeptString {
		return s
	}
	return string([]byte(s[:maxKeptString]))
}

// wholeOrNone is s where it is within maxKeptString bytes, and "" where
// it is not. A list cut short can still read as a list (a Job's completed
// indexes "…,40001" cut to "…,4000"), of other items than it holds: a
// list kept whole or not at all is read right or not read (an attempt's
// success told by its Job's indexes then fails closed, succeededByIndex).
func wholeOrNone(s string) string {
	if len(s) > maxKeptString {
		return ""
	}
	return cut(s)
}

// trimMeta keeps of an object's metadata what the backend reads.
func trimMeta(m *metav1.ObjectMeta) {
	*m = metav1.ObjectMeta{
		Name:      cut(m.Name),
		Namespace: cut(m.Namespace),
		// Cut and copied, as every string kept: a slice of a UID of
		// megabytes would keep all of it.
		UID:               types.UID(cut(string(m.UID))),
		ResourceVersion:   cut(m.ResourceVersion),
		CreationTimestamp: m.CreationTimestamp,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            keepKeys(m.Labels, keptLabels),
		Annotations:       keepKeys(m.Annotations, keptAnnotations),
		OwnerReferences:   trimOwners(m.OwnerReferences),
	}
}

func keepKeys(in map[string]string, keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := in[k]; ok {
			if out == nil {
				out = make(map[string]string, len(keys))
			}
			out[k] = cut(v)
		}
	}
	return out
}

// trimOwners keeps the first maxKeptItems owner references that name a
// Job, which is what podsOf matches a Pod's owner on (ownedBy: by UID, and
// whether the reference is the controller's).
func trimOwners(refs []metav1.OwnerReference) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, r := range refs {
		if len(out) == maxKeptItems {
			break
		}
		if r.Kind == "Job" && len(r.UID) <= maxKeptString {
			out = append(out, metav1.OwnerReference{Kind: r.Kind, UID: r.UID, Controller: keepBool(r.Controller)})
		}
	}
	return out
}

// trimConditions keeps the first condition of each of types.
func trimConditions(in []condition, types ...string) []condition {
	var out []condition
	for _, t := range types {
		for _, c := range in {
			if c.Type == t {
				out = append(out, condition{Type: t, Status: cut(c.Status), Reason: cut(c.Reason), Message: cut(c.Message)})
				break
			}
		}
	}
	return out
}

// trimCached cuts an object a watch cache is to keep (in place) and returns
// it; an object of another type is returned as it is. gpu is the site's
// GPU resource, the one of a Node's allocatable resources kept.
func trimCached(obj runtime.Object, gpu string) runtime.Object {
	switch o := obj.(type) {
	case *apiJob:
		trimMeta(&o.ObjectMeta)
		// Of the pod template, what each pod requests of the site's GPU
		// resource, which capacity reads (jobAsks): as the request of one
		// container, so that the Job read from the cache is read as one
		// read from the API server. A template whose request is none
		// (negative, too large) keeps no container.
		var tmpl podTemplateSpec
		kept := keptRequest(&o.Spec.Template.Spec, gpu)
		// What the Job was submitted with, to tell one changed since
		// (changedAtSite): a number, or nothing.
		if n, ok := submittedPods(&o.Spec.Template.Spec); ok {
			kept.Env = append(kept.Env, envVar{Name: envNodes, Value: strconv.Itoa(int(n))})
		}
		// And what it asked of each pod, which bounds what its pods
		// add back (jobAsks).
		if n, ok := submittedEach(&o.Spec.Template.Spec); ok {
			kept.Env = append(kept.Env, envVar{Name: envAccelerators, Value: strconv.FormatInt(n, 10)})
		}
		if kept.Resources.Requests != nil || kept.Env != nil {
			tmpl.Spec.Containers = []container{kept}
		}
		// And whether its pods are still kept one to a node, which the
		// cut template cannot say (spreadChanged).
		if n, ok := submittedPods(&o.Spec.Template.Spec); ok && n > 1 {
			o.spreadCut = ptr.To(cut(spreadChanged(&o.Spec.Template)))
			o.spreadKept = ptr.To(hasOwnSpread(&o.Spec.Template))
			o.spreadKeyed = ptr.To(hasKeyedSpread(&o.Spec.Template))
		}
		sel := o.Spec.Selector
		if sel == nil {
			sel = &jobSelector{}
		}
		o.Spec = jobSpec{Parallelism: o.Spec.Parallelism, Completions: o.Spec.Completions,
			BackoffLimit: o.Spec.BackoffLimit, ActiveDeadlineSeconds: o.Spec.ActiveDeadlineSeconds,
			Suspend: o.Spec.Suspend, Template: tmpl}
		if sel := keepKeys(sel.MatchLabels, uidLabels); sel != nil {
			o.Spec.Selector = &jobSelector{MatchLabels: sel}
		}
		o.Status = jobStatus{Conditions: trimConditions(o.Status.Conditions, jobComplete, jobFailed), Active: o.Status.Active, Failed: o.Status.Failed, Succeeded: o.Status.Succeeded,
			CompletedIndexes: wholeOrNone(o.Status.CompletedIndexes), StartTime: o.Status.StartTime}
	case *apiPod:
		trimMeta(&o.ObjectMeta)
		// And what the pod requests of the GPU resource, to tell one
		// that holds more than Submit asked (raisedRequest).
		kept := keptRequest(&o.Spec, gpu)
		o.Spec = podSpec{NodeName: cut(o.Spec.NodeName)}
		if kept.Resources.Requests != nil {
			o.Spec.Containers = []container{kept}
		}
		st := podStatus{
			Phase:      cut(o.Status.Phase),
			Conditions: trimConditions(o.Status.Conditions, podScheduled, disruptionTarget),
			Message:    cut(o.Status.Message),
			Reason:     cut(o.Status.Reason),
			StartTime:  o.Status.StartTime,
		}
		for _, cs := range o.Status.ContainerStatuses {
			if len(st.ContainerStatuses) == maxKeptItems {
				break
			}
			k := containerStatus{Name: cut(cs.Name), ContainerID: cut(cs.ContainerID), RestartCount: cs.RestartCount}
			if w := cs.State.Waiting; w != nil {
				k.State.Waiting = &containerWaiting{Reason: cut(w.Reason), Message: cut(w.Message)}
			}
			k.State.Running = cs.State.Running
			if t := cs.State.Terminated; t != nil {
				k.State.Terminated = &containerTerminated{ExitCode: t.ExitCode, Reason: cut(t.Reason), Message: cut(t.Message),
					StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
			}
			st.ContainerStatuses = append(st.ContainerStatuses, k)
		}
		o.Status = st
	case *apiNode:
		trimMeta(&o.ObjectMeta)
		o.Spec = trimNodeSpec(o.Spec)
		alloc := o.Status.Allocatable
		o.Status = nodeStatus{Conditions: trimConditions(o.Status.Conditions, nodeReadyCondition)}
		// placement reads the site's GPU resource, and nothing else.
		if q, ok := alloc[gpu]; ok {
			o.Status.Allocatable = resourceList{gpu: q}
		}
	}
	return obj
}

// trimNodeSpec keeps of a Node's spec what placement reads to tell a node
// that takes the site's pods (takesPods): whether it is cordoned, and its
// first maxKeptItems taints that keep pods off (NoSchedule, NoExecute). A
// node with more such taints is kept as cordoned: one of those let go
// could be one the site does not tolerate.
func trimNodeSpec(in nodeSpec) nodeSpec {
	out := nodeSpec{Unschedulable: in.Unschedulable}
	for _, t := range in.Taints {
		if t.Effect != "NoSchedule" && t.Effect != "NoExecute" {
			continue
		}
		if len(out.Taints) == maxKeptItems {
			return nodeSpec{Unschedulable: true}
		}
		out.Taints = append(out.Taints, taint{Key: cut(t.Key), Value: cut(t.Value), Effect: cut(t.Effect)})
	}
	return out
}

// keptRequest is a container (Meridian's) that stands for what a pod of
// spec requests of resource gpu (specRequest): its request as one
// container's, none when it is none, and more than maxGPUsPerNode, which
// specRequest refuses again, when it was refused (too large).
func keptRequest(spec *podSpec, gpu string) container {
	kept := container{Name: ContainerName}
	n, err := specRequest(spec, gpu)
	if err != nil {
		n = maxGPUsPerNode + 1
	}
	if n > 0 {
		kept.Resources = resourceRequirements{Requests: resourceList{gpu: *resource.NewQuantity(int64(n), resource.DecimalSI)}}
	}
	return kept
}

// keptBytes estimates what a cut object (trimCached) holds: its strings
// and objectOverhead.
func keptBytes(obj any) int64 {
	n := int64(objectOverhead)
	meta := func(m *metav1.ObjectMeta) {
		n += int64(len(m.Name) + len(m.Namespace) + len(m.UID) + len(m.ResourceVersion))
		for k, v := range m.Labels {
			n += int64(len(k) + len(v))
		}
		for k, v := range m.Annotations {
			n += int64(len(k) + len(v))
		}
		for _, r := range m.OwnerReferences {
			n += int64(len(r.Kind)+len(r.UID)) + 64
		}
	}
	conds := func(cs []condition) {
		for _, c := range cs {
			n += int64(len(c.Type)+len(c.Status)+len(c.Reason)+len(c.Message)) + 64
		}
	}
	switch o := obj.(type) {
	case *apiJob:
		meta(&o.ObjectMeta)
		conds(o.Status.Conditions)
		n += int64(len(o.Status.CompletedIndexes))
		if o.spreadCut != nil {
			n += int64(len(*o.spreadCut))
		}
		for _, c := range o.Spec.Template.Spec.Containers {
			n += int64(len(c.Name)) + 128
			for _, e := range c.Env {
				n += int64(len(e.Name)+len(e.Value)) + 32
			}
		}
	case *apiPod:
		meta(&o.ObjectMeta)
		n += int64(len(o.Spec.NodeName) + len(o.Status.Phase) + len(o.Status.Message) + len(o.Status.Reason))
		n += int64(len(o.Spec.Containers)) * 128
		conds(o.Status.Conditions)
		for _, cs := range o.Status.ContainerStatuses {
			n += int64(len(cs.Name)) + 128
			if w := cs.State.Waiting; w != nil {
				n += int64(len(w.Reason) + len(w.Message))
			}
			if t := cs.State.Terminated; t != nil {
				n += int64(len(t.Reason) + len(t.Message))
			}
		}
	case *apiNode:
		meta(&o.ObjectMeta)
		conds(o.Status.Conditions)
		for _, t := range o.Spec.Taints {
			n += int64(len(t.Key)+len(t.Value)+len(t.Effect)) + 64
		}
		for k := range o.Status.Allocatable {
			n += int64(len(k)) + 64
		}
	}
	return n
}

// errCacheFull is the error of a watch or list (what) whose objects would
// have its cache hold more than limit bytes (maxCachedBytes).
func errCacheFull(what string, limit int64) error {
	return &tooLargeError{fmt.Sprintf("kubernetes API server: %s: objects of more than %s in all, the most the backend keeps; refused",
		what, sizeString(limit))}
}

// keepBool copies an optional bool, letting go of what it points into.
func keepBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	return ptr.To(*b)
}
