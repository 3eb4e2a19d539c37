package kubernetes

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// This file holds the part of the Kubernetes API that the backend reads and
// writes: a Job (batch/v1), its Pods and the Nodes they run on (core/v1),
// and a SelfSubjectAccessReview (authorization.k8s.io/v1). Each field has
// the JSON name and type of the same field in k8s.io/api (api_test.go checks
// every one against it); what the backend does not use is left out. The
// JSON decoder ignores fields it does not know, and the backend never sends
// back an object it has read (it creates, patches and deletes), so a field
// left out here is never lost at the site.
//
// Why not k8s.io/api itself: a scheme that knows its core, batch and
// authorization v1 groups keeps every type of those groups in the binary,
// with its protobuf, deep-copy and String methods. Measured with Go 1.26 and
// k8s.io/api v0.37.2, that added 4.9 MB to the stripped meridian binary
// (55.1 MB against 50.2 MB with the types below) for the four objects used
// here. The client machinery (rest.RESTClient, informers, clientcmd) is
// client-go's.

// Group versions of the objects the backend uses.
var (
	coreV1  = schema.GroupVersion{Group: "", Version: "v1"}
	batchV1 = schema.GroupVersion{Group: "batch", Version: "v1"}
	authzV1 = schema.GroupVersion{Group: "authorization.k8s.io", Version: "v1"}
)

// apiJob is a batch/v1 Job.
type apiJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              jobSpec   `json:"spec,omitempty"`
	Status            jobStatus `json:"status,omitempty"`
	// spreadCut is, for a Job cut for a watch cache (trimCached), what
	// spreadChanged said of the pod template it no longer has: "" for
	// kept. Nil for a Job read whole.
	spreadCut *string
	// spreadKept is, for a Job cut for a watch cache, whether the pod
	// template it no longer has kept the attempt's own anti-affinity term
	// (hasOwnSpread). Nil for a Job read whole.
	spreadKept *bool
	// spreadKeyed is, for a Job cut for a watch cache, whether that
	// term also kept its matchLabelKeys (hasKeyedSpread). Nil for a Job
	// read whole.
	spreadKeyed *bool
}

// jobSelector is what the backend reads of a Job's label selector.
type jobSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// label is the value that the selector asks of label k, if it asks one.
func (s *jobSelector) label(k string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.MatchLabels[k]
	return v, ok
}

type jobSpec struct {
	Parallelism  *int32 `json:"parallelism,omitempty"`
	Completions  *int32 `json:"completions,omitempty"`
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// ActiveDeadlineSeconds is never set by Meridian; read to tell a Job
	// changed at the site (changedAtSite).
	ActiveDeadlineSeconds *int64          `json:"activeDeadlineSeconds,omitempty"`
	Template              podTemplateSpec `json:"template"`
	// Selector is the Job's pod selector, which the API server sets at
	// creation and never lets change: of it, the controller-uid labels
	// it matches (ownedBy).
	Selector       *jobSelector `json:"selector,omitempty"`
	CompletionMode *string      `json:"completionMode,omitempty"`
	Suspend        *bool        `json:"suspend,omitempty"`
}

// Job condition types and completion modes.
const (
	jobComplete       = "Complete"
	jobFailed         = "Failed"
	indexedCompletion = "Indexed"
	// completionIndexAnnotation holds a Pod's index in an Indexed Job.
	completionIndexAnnotation = "batch.kubernetes.io/job-completion-index"
)

type jobStatus struct {
	Conditions []condition `json:"conditions,omitempty"`
	// Active is how many pending or running pods the Job controller
	// counts as the Job's (by its selector), to tell one of them hidden
	// from the watch cache (hiddenPod).
	Active int32 `json:"active,omitempty"`
	// Failed is how many pods of the Job the Job controller counted as
	// failed, deleted unfinished among them (completedWithout).
	Failed int32 `json:"failed,omitempty"`
	// Succeeded is how many pods of the Job the Job controller counted as
	// succeeded: with Failed, no more than the Job runs (failedWithout).
	Succeeded int32 `json:"succeeded,omitempty"`
	// CompletedIndexes is, for an Indexed Job, the completion indexes
	// whose pods the Job controller counted as succeeded, as it writes
	// them ("0-255,300"): compared with the indexes of the attempt's own
	// pods on record (uncountedSuccess).
	CompletedIndexes string `json:"completedIndexes,omitempty"`
	// StartTime is when the Job controller started the Job, which it
	// does only while the Job is not suspended: a queued Job that ended
	// unstarted ran no pod of the attempt's (neverStarted).
	StartTime *metav1.Time `json:"startTime,omitempty"`
}

// condition is the part that Job, Pod and Node conditions share.
type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

const conditionTrue = "True"

type podTemplateSpec struct {
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              podSpec `json:"spec,omitempty"`
}

type podSpec struct {
	// InitContainers are read (for what a foreign pod requests), never
	// set: Meridian's pods have none.
	InitContainers               []container       `json:"initContainers,omitempty"`
	Containers                   []container       `json:"containers"`
	RestartPolicy                string            `json:"restartPolicy,omitempty"`
	NodeSelector                 map[string]string `json:"nodeSelector,omitempty"`
	AutomountServiceAccountToken *bool             `json:"automountServiceAccountToken,omitempty"`
	NodeName                     string            `json:"nodeName,omitempty"`
	Tolerations                  []toleration      `json:"tolerations,omitempty"`
	EnableServiceLinks           *bool             `json:"enableServiceLinks,omitempty"`
	Volumes                      []volume          `json:"volumes,omitempty"`
	Affinity                     *affinity         `json:"affinity,omitempty"`
}

// affinity is a pod's affinity; Meridian sets only its pods' required
// anti-affinity to one another (jobFor).
type affinity struct {
	PodAntiAffinity *podAntiAffinity `json:"podAntiAffinity,omitempty"`
}

type podAntiAffinity struct {
	Required []podAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

type podAffinityTerm struct {
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	TopologyKey   string                `json:"topologyKey"`
	// Namespaces, NamespaceSelector and MismatchLabelKeys are never set by
	// Meridian, nor MatchLabelKeys but to the Job's controller-uid label
	// (jobFor); read because each narrows which pods a term keeps apart
	// (changedAtSite).
	Namespaces        []string              `json:"namespaces,omitempty"`
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	MatchLabelKeys    []string              `json:"matchLabelKeys,omitempty"`
	MismatchLabelKeys []string              `json:"mismatchLabelKeys,omitempty"`
}

// volume is a pod volume; Meridian uses emptyDir only.
type volume struct {
	Name     string          `json:"name"`
	EmptyDir *emptyDirSource `json:"emptyDir,omitempty"`
}

type emptyDirSource struct {
	Medium    string             `json:"medium,omitempty"`
	SizeLimit *resource.Quantity `json:"sizeLimit,omitempty"`
}

// UnmarshalJSON decodes an emptyDir volume, its size limit as
// siteQuantity does.
func (e *emptyDirSource) UnmarshalJSON(data []byte) error {
	var raw struct {
		Medium    string          `json:"medium,omitempty"`
		SizeLimit json.RawMessage `json:"sizeLimit,omitempty"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*e = emptyDirSource{Medium: raw.Medium}
	if len(raw.SizeLimit) > 0 && string(raw.SizeLimit) != "null" {
		q, err := siteQuantity("emptyDir sizeLimit", raw.SizeLimit)
		if err != nil {
			return err
		}
		e.SizeLimit = &q
	}
	return nil
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
}

type container struct {
	Name         string               `json:"name"`
	Image        string               `json:"image,omitempty"`
	Command      []string             `json:"command,omitempty"`
	WorkingDir   string               `json:"workingDir,omitempty"`
	Env          []envVar             `json:"env,omitempty"`
	Resources    resourceRequirements `json:"resources,omitempty"`
	VolumeMounts []volumeMount        `json:"volumeMounts,omitempty"`
	// SecurityContext is what Meridian's container may not do (set on
	// its own containers; read, not relied on, of others).
	SecurityContext *securityContext `json:"securityContext,omitempty"`
}

type securityContext struct {
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *capabilities   `json:"capabilities,omitempty"`
	SeccompProfile           *seccompProfile `json:"seccompProfile,omitempty"`
}

type capabilities struct {
	Drop []string `json:"drop,omitempty"`
}

type seccompProfile struct {
	Type string `json:"type"`
}

type envVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *envVarSource `json:"valueFrom,omitempty"`
}

// envVarSource is where a variable's value comes from; Meridian uses a
// key of a Secret only.
type envVarSource struct {
	SecretKeyRef *secretKeySelector `json:"secretKeyRef,omitempty"`
}

// secretKeySelector has Name where k8s.io/api embeds a
// LocalObjectReference (inline): the same JSON.
type secretKeySelector struct {
	Name     string `json:"name,omitempty"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// apiSecret is a core/v1 Secret: an attempt's Spec.Secret variables.
type apiSecret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Immutable         *bool             `json:"immutable,omitempty"`
	Data              map[string][]byte `json:"data,omitempty"`
	Type              string            `json:"type,omitempty"`
}

const secretTypeOpaque = "Opaque"

type apiSecretList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []apiSecret `json:"items"`
}

type resourceList map[string]resource.Quantity

// maxQuantityBytes bounds a quantity the backend decodes, as its JSON
// (quotes included). An honest API server writes each in its canonical
// form, a few bytes ("8", "1056939800Ki"); decoding a number of a
// megabyte of digits, which a hostile one may send within maxObjectBytes,
// takes seconds of a core and grows with the square of its length.
const maxQuantityBytes = 64

// siteQuantity decodes the quantity of resource (or field) what from its
// JSON, refusing one of more than maxQuantityBytes, or whose decimal
// exponent ("1e-200000000", eleven bytes) is more than maxQuantityScale
// either way, before it is parsed: the parser rounds such a number to
// nanos, working out all of its 200 million digits, for minutes of a
// core, and the caches decode every object the site sends.
func siteQuantity(what string, data []byte) (resource.Quantity, error) {
	var q resource.Quantity
	if len(data) > maxQuantityBytes {
		return q, fmt.Errorf("quantity of %s: %d bytes, more than the %d the backend reads", shown(what), len(data), maxQuantityBytes)
	}
	text := strings.Trim(string(data), `"`)
	if i := strings.LastIndexAny(text, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(text[i+1:]); err == nil && (exp > maxQuantityScale || exp < -maxQuantityScale) {
			return q, fmt.Errorf("quantity of %s: %s: decimal exponent %d, more than %d either way", shown(what), shown(text), exp, maxQuantityScale)
		}
	}
	if err := q.UnmarshalJSON(data); err != nil {
		return q, fmt.Errorf("quantity of %s: %w", shown(what), err)
	}
	return q, nil
}

// UnmarshalJSON decodes a resource list, each quantity as siteQuantity
// does.
func (l *resourceList) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*l = nil
		return nil
	}
	out := make(resourceList, len(raw))
	for k, v := range raw {
		q, err := siteQuantity("resource "+k, v)
		if err != nil {
			return err
		}
		out[k] = q
	}
	*l = out
	return nil
}

// ephemeralStorage is the resource of a pod's local disk: its emptyDir
// volumes, its containers' writable layers and logs.
const ephemeralStorage = "ephemeral-storage"

type resourceRequirements struct {
	Limits   resourceList `json:"limits,omitempty"`
	Requests resourceList `json:"requests,omitempty"`
}

type toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// apiPod is a core/v1 Pod.
type apiPod struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              podSpec   `json:"spec,omitempty"`
	Status            podStatus `json:"status,omitempty"`
}

// Pod phases, condition types and the values the backend sets.
const (
	podPending         = "Pending"
	podRunning         = "Running"
	podSucceeded       = "Succeeded"
	podFailed          = "Failed"
	podScheduled       = "PodScheduled"
	disruptionTarget   = "DisruptionTarget"
	nodeReadyCondition = "Ready"
	restartPolicyNever = "Never"
	tolerationOpEqual  = "Equal"
)

type podStatus struct {
	Phase             string            `json:"phase,omitempty"`
	Conditions        []condition       `json:"conditions,omitempty"`
	Message           string            `json:"message,omitempty"`
	Reason            string            `json:"reason,omitempty"`
	ContainerStatuses []containerStatus `json:"containerStatuses,omitempty"`
	StartTime         *metav1.Time      `json:"startTime,omitempty"`
}

type containerStatus struct {
	Name         string         `json:"name"`
	State        containerState `json:"state,omitempty"`
	ContainerID  string         `json:"containerID,omitempty"`
	RestartCount int32          `json:"restartCount"`
}

type containerState struct {
	Waiting    *containerWaiting    `json:"waiting,omitempty"`
	Running    *containerRunning    `json:"running,omitempty"`
	Terminated *containerTerminated `json:"terminated,omitempty"`
}

type containerRunning struct {
	StartedAt metav1.Time `json:"startedAt,omitempty"`
}

type containerWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

type containerTerminated struct {
	ExitCode   int32       `json:"exitCode"`
	Reason     string      `json:"reason,omitempty"`
	Message    string      `json:"message,omitempty"`
	StartedAt  metav1.Time `json:"startedAt,omitempty"`
	FinishedAt metav1.Time `json:"finishedAt,omitempty"`
}

// apiNode is a core/v1 Node.
type apiNode struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              nodeSpec   `json:"spec,omitempty"`
	Status            nodeStatus `json:"status,omitempty"`
}

// nodeSpec is what tells whether the scheduler places new pods on a node:
// cordoned (unschedulable) or tainted.
type nodeSpec struct {
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []taint `json:"taints,omitempty"`
}

type taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

type nodeStatus struct {
	Allocatable resourceList `json:"allocatable,omitempty"`
	Conditions  []condition  `json:"conditions,omitempty"`
}

// accessReview is an authorization.k8s.io/v1 SelfSubjectAccessReview.
type accessReview struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              accessReviewSpec   `json:"spec"`
	Status            accessReviewStatus `json:"status,omitempty"`
}

type accessReviewSpec struct {
	ResourceAttributes *resourceAttributes `json:"resourceAttributes,omitempty"`
}

type resourceAttributes struct {
	Namespace   string `json:"namespace,omitempty"`
	Verb        string `json:"verb,omitempty"`
	Group       string `json:"group,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Subresource string `json:"subresource,omitempty"`
}

type accessReviewStatus struct {
	Allowed bool   `json:"allowed"`
	Denied  bool   `json:"denied,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

type apiJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []apiJob `json:"items"`
}

type apiPodList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []apiPod `json:"items"`
}

type apiNodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []apiNode `json:"items"`
}

func (s *apiSecret) DeepCopyObject() runtime.Object {
	out := *s
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Immutable = clonePtr(s.Immutable)
	if s.Data != nil {
		out.Data = make(map[string][]byte, len(s.Data))
		for k, v := range s.Data {
			out.Data[k] = slices.Clone(v)
		}
	}
	return &out
}

// Deep copies, which runtime.Object requires. The informers' caches hand
// out shared objects; the backend never changes one.

func (j *apiJob) DeepCopyObject() runtime.Object { return j.deepCopy() }

func (j *apiJob) deepCopy() *apiJob {
	if j == nil {
		return nil
	}
	out := &apiJob{TypeMeta: j.TypeMeta}
	j.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec = jobSpec{
		Parallelism:           clonePtr(j.Spec.Parallelism),
		Completions:           clonePtr(j.Spec.Completions),
		BackoffLimit:          clonePtr(j.Spec.BackoffLimit),
		ActiveDeadlineSeconds: clonePtr(j.Spec.ActiveDeadlineSeconds),
		CompletionMode:        clonePtr(j.Spec.CompletionMode),
		Suspend:               clonePtr(j.Spec.Suspend),
	}
	if sel := j.Spec.Selector; sel != nil {
		out.Spec.Selector = &jobSelector{MatchLabels: maps.Clone(sel.MatchLabels)}
	}
	j.Spec.Template.ObjectMeta.DeepCopyInto(&out.Spec.Template.ObjectMeta)
	out.Spec.Template.Spec = j.Spec.Template.Spec.deepCopy()
	out.Status.Conditions = slices.Clone(j.Status.Conditions)
	out.Status.Active = j.Status.Active
	out.Status.Failed = j.Status.Failed
	out.Status.Succeeded = j.Status.Succeeded
	out.Status.CompletedIndexes = j.Status.CompletedIndexes
	if t := j.Status.StartTime; t != nil {
		out.Status.StartTime = t.DeepCopy()
	}
	out.spreadCut = clonePtr(j.spreadCut)
	out.spreadKept = clonePtr(j.spreadKept)
	out.spreadKeyed = clonePtr(j.spreadKeyed)
	return out
}

func (s podSpec) deepCopy() podSpec {
	out := s
	out.NodeSelector = maps.Clone(s.NodeSelector)
	out.AutomountServiceAccountToken = clonePtr(s.AutomountServiceAccountToken)
	out.EnableServiceLinks = clonePtr(s.EnableServiceLinks)
	if s.Tolerations != nil {
		out.Tolerations = make([]toleration, len(s.Tolerations))
		for i, t := range s.Tolerations {
			t.TolerationSeconds = clonePtr(t.TolerationSeconds)
			out.Tolerations[i] = t
		}
	}
	out.InitContainers = copyContainers(s.InitContainers)
	out.Containers = copyContainers(s.Containers)
	if s.Volumes != nil {
		out.Volumes = make([]volume, len(s.Volumes))
		for i, v := range s.Volumes {
			if v.EmptyDir != nil {
				e := *v.EmptyDir
				if e.SizeLimit != nil {
					e.SizeLimit = ptr.To(e.SizeLimit.DeepCopy())
				}
				v.EmptyDir = &e
			}
			out.Volumes[i] = v
		}
	}
	if s.Affinity != nil {
		a := *s.Affinity
		if a.PodAntiAffinity != nil {
			pa := *a.PodAntiAffinity
			if pa.Required != nil {
				pa.Required = make([]podAffinityTerm, len(a.PodAntiAffinity.Required))
				for i, t := range a.PodAntiAffinity.Required {
					t.LabelSelector = t.LabelSelector.DeepCopy()
					t.NamespaceSelector = t.NamespaceSelector.DeepCopy()
					t.Namespaces = slices.Clone(t.Namespaces)
					t.MatchLabelKeys = slices.Clone(t.MatchLabelKeys)
					t.MismatchLabelKeys = slices.Clone(t.MismatchLabelKeys)
					pa.Required[i] = t
				}
			}
			a.PodAntiAffinity = &pa
		}
		out.Affinity = &a
	}
	return out
}

func copyContainers(cs []container) []container {
	if cs == nil {
		return nil
	}
	out := make([]container, len(cs))
	for i, c := range cs {
		c.Command = slices.Clone(c.Command)
		c.Env = slices.Clone(c.Env)
		for j, e := range c.Env {
			if e.ValueFrom != nil {
				from := envVarSource{}
				if ref := e.ValueFrom.SecretKeyRef; ref != nil {
					r := *ref
					r.Optional = clonePtr(ref.Optional)
					from.SecretKeyRef = &r
				}
				c.Env[j].ValueFrom = &from
			}
		}
		c.Resources = resourceRequirements{Limits: c.Resources.Limits.deepCopy(), Requests: c.Resources.Requests.deepCopy()}
		c.VolumeMounts = slices.Clone(c.VolumeMounts)
		if sc := c.SecurityContext; sc != nil {
			cp := *sc
			cp.AllowPrivilegeEscalation = clonePtr(sc.AllowPrivilegeEscalation)
			if sc.Capabilities != nil {
				cp.Capabilities = &capabilities{Drop: slices.Clone(sc.Capabilities.Drop)}
			}
			cp.SeccompProfile = clonePtr(sc.SeccompProfile)
			c.SecurityContext = &cp
		}
		out[i] = c
	}
	return out
}

func (l resourceList) deepCopy() resourceList {
	if l == nil {
		return nil
	}
	out := make(resourceList, len(l))
	for k, q := range l {
		out[k] = q.DeepCopy()
	}
	return out
}

func (p *apiPod) DeepCopyObject() runtime.Object { return p.deepCopy() }

func (p *apiPod) deepCopy() *apiPod {
	if p == nil {
		return nil
	}
	out := &apiPod{TypeMeta: p.TypeMeta, Spec: p.Spec.deepCopy(), Status: p.Status}
	p.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Status.Conditions = slices.Clone(p.Status.Conditions)
	out.Status.StartTime = clonePtr(p.Status.StartTime)
	if p.Status.ContainerStatuses != nil {
		out.Status.ContainerStatuses = make([]containerStatus, len(p.Status.ContainerStatuses))
		for i, cs := range p.Status.ContainerStatuses {
			cs.State.Waiting = clonePtr(cs.State.Waiting)
			cs.State.Running = clonePtr(cs.State.Running)
			cs.State.Terminated = clonePtr(cs.State.Terminated)
			out.Status.ContainerStatuses[i] = cs
		}
	}
	return out
}

func (n *apiNode) DeepCopyObject() runtime.Object { return n.deepCopy() }

func (n *apiNode) deepCopy() *apiNode {
	if n == nil {
		return nil
	}
	out := &apiNode{TypeMeta: n.TypeMeta, Spec: nodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: slices.Clone(n.Spec.Taints)}}
	n.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Status.Allocatable = n.Status.Allocatable.deepCopy()
	out.Status.Conditions = slices.Clone(n.Status.Conditions)
	return out
}

func (a *accessReview) DeepCopyObject() runtime.Object {
	if a == nil {
		return nil
	}
	out := &accessReview{TypeMeta: a.TypeMeta, Status: a.Status}
	a.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec.ResourceAttributes = clonePtr(a.Spec.ResourceAttributes)
	return out
}

func (l *apiJobList) DeepCopyObject() runtime.Object {
	out := &apiJobList{TypeMeta: l.TypeMeta, Items: copyItems(l.Items, (*apiJob).deepCopy)}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	return out
}

func (l *apiPodList) DeepCopyObject() runtime.Object {
	out := &apiPodList{TypeMeta: l.TypeMeta, Items: copyItems(l.Items, (*apiPod).deepCopy)}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	return out
}

func (l *apiSecretList) DeepCopyObject() runtime.Object {
	out := &apiSecretList{TypeMeta: l.TypeMeta, Items: copyItems(l.Items, func(s *apiSecret) *apiSecret {
		return s.DeepCopyObject().(*apiSecret)
	})}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	return out
}

func (l *apiNodeList) DeepCopyObject() runtime.Object {
	out := &apiNodeList{TypeMeta: l.TypeMeta, Items: copyItems(l.Items, (*apiNode).deepCopy)}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	return out
}

// copyItems deep-copies a list's items (nil stays nil).
func copyItems[T any](items []T, deepCopy func(*T) *T) []T {
	if items == nil {
		return nil
	}
	out := make([]T, len(items))
	for i := range items {
		out[i] = *deepCopy(&items[i])
	}
	return out
}

// clonePtr returns a pointer to a copy of *p, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
