package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/utils/ptr"
)

// The oldest Kubernetes the backend submits to. The pods of an attempt
// split over nodes keep apart by a required anti-affinity term whose
// matchLabelKeys narrows it to the pods of the attempt's own Job (jobFor):
// without it, anyone who may create pods in the namespace, knowing the
// run's and attempt's labels before the attempt exists, keeps every pod of
// the attempt off every node with pods of their own, and the attempt waits
// for good, unseen (blockingPod looks for pods carrying the Job's UID).
// An API server before 1.31 drops the field as it stores the Job, without
// an error: before 1.29 it does not know it; in 1.29 and 1.30 it keeps it
// only with the MatchLabelKeysInPodAffinity feature gate on, which is off
// by default there and which no client can read. No form of the term
// that those servers keep names the Job's own pods (its UID is drawn as
// the Job is made, after its template is written), so the backend does
// not submit to them rather than submit what cannot hold.
const (
	minServerMajor = 1
	minServerMinor = 31
)

// serverVersion holds the API server's version, read once (the first
// time the API server answers) by versionErr.
type serverVersion struct {
	mu    sync.Mutex
	known bool
	err   error // a *versionRefusedError, or nil where the version is minServerMajor.minServerMinor or later
}

// versionErr is nil when the site's API server is recent enough for the
// backend to submit to it (minServerMinor), and otherwise an error naming
// its version and why it is refused (a *versionRefusedError), or why its
// version could not be asked. The version is asked once: an
// answer (a version, or one that names none the backend can read) is kept
// for the backend's life; a failed request is not, and the next call asks
// again. newWithConfig asks as the backend starts. A Submit that finds the
// API server dropped the field all the same keeps its refusal here
// (refuseDroppedSpread).
func (b *Backend) versionErr(ctx context.Context) error {
	b.version.mu.Lock()
	known, verdict := b.version.known, b.version.err
	b.version.mu.Unlock()
	if known {
		return verdict
	}
	// Asked without the lock held: a call that waits on a slow answer
	// holds up no other beyond its own context.
	raw, err := b.cs.core.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return fmt.Errorf("kubernetes API server at %s: asking its version: %w", b.host, tooLarge(err))
	}
	b.version.mu.Lock()
	defer b.version.mu.Unlock()
	if !b.version.known {
		b.version.known, b.version.err = true, versionRefusal(b.host, raw)
	}
	return b.version.err
}

// versionRefusedError is versionErr's refusal of the API server's
// version.
type versionRefusedError struct{ msg string }

func (e *versionRefusedError) Error() string { return e.msg }

func refuseVersion(format string, args ...any) error {
	return &versionRefusedError{fmt.Sprintf(format, args...)}
}

// versionRefusal says why the API server at host, whose /version answer
// is raw, is not one to submit to, or nil.
func versionRefusal(host string, raw []byte) error {
	var info version.Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return refuseVersion("backend.kubeconfig: the API server at %s: its /version answer is not a version (%v); refused, as its version cannot be told to keep matchLabelKeys", host, err)
	}
	major, minor, ok := serverMinor(info)
	if !ok {
		return refuseVersion("backend.kubeconfig: the API server at %s: its /version answer names no version the backend can read (gitVersion %s, major %s, minor %s); refused, as its version cannot be told to keep matchLabelKeys",
			host, shown(info.GitVersion), shown(info.Major), shown(info.Minor))
	}
	if major > minServerMajor || major == minServerMajor && minor >= minServerMinor {
		return nil
	}
	return refuseVersion("backend.kubeconfig: the API server at %s is Kubernetes %s, older than %d.%d: it drops the matchLabelKeys of the anti-affinity term that keeps an attempt's pods on a node each apart from pods others make, so anyone who may create pods in the namespace could keep an attempt waiting for good, unseen; the backend does not submit to it (upgrade the cluster to %d.%d or later)",
		host, shown(versionName(info, major, minor)), minServerMajor, minServerMinor, minServerMajor, minServerMinor)
}

// serverMinor is the major and minor version of the API server that info
// describes: by its gitVersion ("v1.30.4-gke.1000"), or, where that does
// not read as a version, by its major and minor fields (which some
// providers end with "+": "30+").
func serverMinor(info version.Info) (major, minor uint, ok bool) {
	if v, err := utilversion.ParseGeneric(info.GitVersion); err == nil {
		return v.Major(), v.Minor(), true
	}
	ma, err1 := strconv.ParseUint(strings.TrimSuffix(info.Major, "+"), 10, 32)
	mi, err2 := strconv.ParseUint(strings.TrimSuffix(info.Minor, "+"), 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint(ma), uint(mi), true
}

// versionName is how a refusal names the API server's version.
func versionName(info version.Info, major, minor uint) string {
	if info.GitVersion != "" {
		return info.GitVersion
	}
	return fmt.Sprintf("%d.%d", major, minor)
}

// keptSpread reports whether got, the Job the API server answered the
// create of sent with (what it stored), still has sent's required
// anti-affinity term with its matchLabelKeys. A version check cannot see
// everything that drops the field: Kubernetes 1.31 and 1.32 keep it only
// with the MatchLabelKeysInPodAffinity feature gate on (on by default,
// but a site may turn it off), and a mutating admission webhook may strip
// it. What the API server stored is what the pods are made from. A Job
// sent without the term (one pod) has nothing to lose.
func keptSpread(sent, got *apiJob) bool {
	a := sent.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return true
	}
	for _, want := range a.PodAntiAffinity.Required {
		if want.LabelSelector == nil || !keptTerm(got, want) {
			return false
		}
	}
	return true
}

// keptTerm reports whether got's pod template has a required anti-affinity
// term that is want (spreadsPods), narrowed by the controller-uid key.
func keptTerm(got *apiJob, want podAffinityTerm) bool {
	a := got.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for _, t := range a.PodAntiAffinity.Required {
		if spreadsPods(t, want.LabelSelector.MatchLabels) && slices.Equal(t.MatchLabelKeys, want.MatchLabelKeys) {
			return true
		}
	}
	return false
}

// spreadFieldPath names the field an API server drops (keptSpread).
const spreadFieldPath = "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].matchLabelKeys"

// refuseDroppedSpread is Submit's answer to an API server that stored the
// attempt's Job (created, named name) without the matchLabelKeys of its
// anti-affinity term. The Job is deleted, with its pods (foreground
// propagation: a Job's own default orphans them), conditional on its UID,
// so that no pod of it runs with a term anyone may satisfy. The refusal is
// kept as the version's is (versionErr): no later Submit creates a Job
// there, and the site check fails, for the backend's life (the feature
// gate is read by no client, and turning it on restarts the API server).
// The Secret written for the Job goes, and the record this Submit wrote
// goes once the Job is gone; where its delete fails, the record keeps the
// Job's UID, so that Cancel and Status reach it.
func (b *Backend) refuseDroppedSpread(ctx context.Context, name string, created *apiJob, secretUID types.UID, hasSecret, wroteRecord bool) error {
	refusal := refuseVersion("backend.kubeconfig: the API server at %s stored Job %s/%s without the %s of the anti-affinity term that keeps an attempt's pods on a node each apart from pods others make (the MatchLabelKeysInPodAffinity feature gate is off, or an admission webhook removed it), so anyone who may create pods in the namespace could keep an attempt waiting for good, unseen; the backend does not submit to it (turn the feature gate on, or stop whatever removes the field)",
		b.host, b.ns, name, spreadFieldPath)
	b.version.mu.Lock()
	b.version.known, b.version.err = true, refusal
	b.version.mu.Unlock()

	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	uid := created.UID
	err := b.cs.batch.Delete().Namespace(b.ns).Resource(resourceJobs).Name(name).Body(&metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		Preconditions:     &metav1.Preconditions{UID: &uid},
	}).Do(dctx).Error()
	if hasSecret {
		// Without it the Job's pods, if any start before they go, do
		// not start at all.
		b.deleteSecret(ctx, name, secretUID)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		_ = b.keepUID(name, created.UID) // best effort, as in Submit
		return fmt.Errorf("%w; deleting the Job it created: %w", refusal, b.explain(err))
	}
	if wroteRecord {
		b.removeRecordIfUnfinished(name)
	}
	return fmt.Errorf("%w; the Job it created was deleted", refusal)
}
