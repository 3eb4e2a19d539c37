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

	"meridian.dev/meridian/backend"
)

// The oldest Kubernetes the backend submits to. The pods of an attempt
// split over nodes keep apart by a required anti-affinity term whose
// matchLabelKeys narrows it to the pods of the attempt's own Job (jobFor):
// without it, anyone who may create pods in the namespace, knowing the
// run's and attempt's labels before the attempt exists, keeps every pod of
// the attempt off every node with pods of their own, and the attempt waits
// for good, unseen (blockingPod looks for pods carrying the Job's UID).
// An API server before 1.29 does not know the field and drops it as it
// stores the Job, without an error: it is refused by its version alone.
// From 1.29 the field is kept only with the MatchLabelKeysInPodAffinity
// feature gate on (off by default in 1.29 and 1.30, on by default since,
// but a site may turn it off), which no client can read: whether the API
// server keeps it is asked of it directly (spreadErr). No form of the
// term that a server without it keeps names the Job's own pods (its UID
// is drawn as the Job is made, after its template is written), so the
// backend does not submit to it rather than submit what cannot hold.
const (
	minServerMajor = 1
	minServerMinor = 29
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
// again. newWithConfig asks as the backend starts. Whether the API server
// keeps the matchLabelKeys field is not judged here: a dry run asks it,
// and its answer, or the refusal of a Submit that finds the field dropped
// all the same (refuseDroppedSpread), is kept for spreadProbeEvery
// (spreadErr).
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
		return fmt.Errorf("kubernetes API server at %s: asking its version: %w", b.host, siteError(tooLarge(err)))
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
	return refuseVersion("backend.kubeconfig: the API server at %s is Kubernetes %s, older than %d.%d: it drops the matchLabelKeys of the anti-affinity term that keeps an attempt's pods on a node each apart from pods others make, so anyone who may create pods in the namespace could keep an attempt waiting for good, unseen; the backend does not submit to it (upgrade the cluster to %d.%d or later, with the MatchLabelKeysInPodAffinity feature gate on)",
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
// anti-affinity term with its matchLabelKeys. A probe (spreadErr) cannot
// see everything that drops the field: its answer is kept for a while, in
// which the feature gate may be turned off, and a mutating admission
// webhook may strip it from what is stored and not from a dry run. What
// the API server stored is what the pods are made from; it is also the
// probe's test of a dry run's answer. A Job sent without the term (one
// pod) has nothing to lose.
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

// spreadProbeEvery is how long the answer of a probe (spreadErr) is kept:
// a site's feature gate or admission webhooks can change (an upgrade, a
// downgrade, a restart of its API server with other flags), and the
// backend asks again at the first Submit or site check past it.
const spreadProbeEvery = 10 * time.Minute

// spreadProbeName is what the probe's Job is named from (generateName):
// the API server draws the rest, and nothing is stored.
const spreadProbeName = "meridian-spread-probe-"

// spreadProbe holds the answer of the last probe (spreadErr).
type spreadProbe struct {
	mu sync.Mutex
	at time.Time // when err was answered; zero: not yet
	// err is a *versionRefusedError, or nil where the API server kept
	// the field.
	err error
	// busy is the probe under way, or nil: a call that finds one waits
	// for its answer rather than ask again.
	busy *spreadFlight
}

// spreadFlight is one probe under way (spreadErr): done is closed once
// verdict and err hold its answer.
type spreadFlight struct {
	done         chan struct{}
	verdict, err error
	// callerGone: err is the end of the context of the call that asked
	// (its caller gave up), not an answer of the API server's; those
	// waiting on it ask again.
	callerGone bool
}

// onSpreadWait is called as a call begins to wait on another's probe
// (spreadErr); tests count the calls waiting.
var onSpreadWait = func() {}

// spreadRefusal is the probe's refusal (spreadErr) while it is kept, or
// nil: the site check names it before it asks anything else.
func (b *Backend) spreadRefusal() error {
	b.probe.mu.Lock()
	defer b.probe.mu.Unlock()
	if !b.probe.at.IsZero() && time.Since(b.probe.at) < spreadProbeEvery {
		return b.probe.err
	}
	return nil
}

// siteErr is nil when the backend may submit to the site's API server:
// its version is not refused (versionErr) and it keeps the matchLabelKeys
// of the attempt's anti-affinity term (spreadErr).
func (b *Backend) siteErr(ctx context.Context) error {
	if err := b.versionErr(ctx); err != nil {
		return err
	}
	return b.spreadErr(ctx)
}

// spreadErr is nil when the site's API server keeps the matchLabelKeys of
// the anti-affinity term that keeps an attempt's pods apart, and otherwise
// a *versionRefusedError naming the field, or why that could not be
// asked. It asks by a server-side dry run (dryRun=All) of the create of
// a Job made as Submit makes an attempt's of two pods (jobFor): the API
// server defaults, validates and admits it (mutating webhooks included)
// as it would store it, stores nothing, and answers what it would have
// stored. The answer is kept for spreadProbeEvery: one more request per
// site per period, whatever the Submits; a failed request is not kept,
// and the next call asks again. Calls at once share one probe, and its
// answer: a failure too, so that calls at once against an API server
// that does not answer wait for one probe's timeout, not one each in
// turn; one whose caller gave up is asked again by those waiting.
func (b *Backend) spreadErr(ctx context.Context) error {
	for {
		b.probe.mu.Lock()
		if !b.probe.at.IsZero() && time.Since(b.probe.at) < spreadProbeEvery {
			verdict := b.probe.err
			b.probe.mu.Unlock()
			return verdict
		}
		if f := b.probe.busy; f != nil {
			b.probe.mu.Unlock()
			onSpreadWait()
			select {
			case <-f.done:
				if f.callerGone {
					continue
				}
				if f.err != nil {
					return f.err
				}
				return f.verdict
			case <-ctx.Done():
				return fmt.Errorf("kubernetes API server at %s: waiting for its answer on %s: %w", b.host, spreadFieldPath, ctx.Err())
			}
		}
		f := &spreadFlight{done: make(chan struct{})}
		b.probe.busy = f
		b.probe.mu.Unlock()

		verdict, err := b.probeSpread(ctx)
		b.probe.mu.Lock()
		b.probe.busy = nil
		if err == nil {
			b.probe.at, b.probe.err = time.Now(), verdict
		}
		f.verdict, f.err, f.callerGone = verdict, err, err != nil && ctx.Err() != nil
		b.probe.mu.Unlock()
		close(f.done)
		if err != nil {
			return err
		}
		return verdict
	}
}

// probeSpread asks the API server, by a dry-run create, whether it keeps
// the field (spreadErr): the verdict (nil, or a *versionRefusedError), or
// an error where it did not answer.
func (b *Backend) probeSpread(ctx context.Context) (verdict, err error) {
	image := b.image
	if image == "" {
		// Never pulled: nothing is stored, and no pod is made.
		image = "meridian.invalid/spread-probe:none"
	}
	sent := b.jobFor(backend.Spec{RunID: "spread-probe", Attempt: 1, Command: []string{"true"}}, "", image, DefaultScratch, 2, 0, "")
	sent.GenerateName = spreadProbeName
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got apiJob
	err = b.cs.batch.Post().Namespace(b.ns).Resource(resourceJobs).Param("dryRun", "All").Body(sent).Do(pctx).Into(&got)
	if err != nil {
		return nil, fmt.Errorf("kubernetes API server at %s: a dry-run create of a Job, asking whether it keeps %s: %w", b.host, spreadFieldPath, b.explain(err))
	}
	if keptSpread(sent, &got) {
		return nil, nil
	}
	return refuseVersion("backend.kubeconfig: the API server at %s answers a dry-run create of a Job without the %s of the anti-affinity term that keeps an attempt's pods on a node each apart from pods others make (the MatchLabelKeysInPodAffinity feature gate is off, or an admission webhook removes it), so anyone who may create pods in the namespace could keep an attempt waiting for good, unseen; the backend does not submit to it (turn the feature gate on, or stop whatever removes the field)",
		b.host, spreadFieldPath), nil
}

// refuseDroppedSpread is Submit's answer to an API server that stored the
// attempt's Job (created, named name) without the matchLabelKeys of its
// anti-affinity term. The Job is deleted, with its pods (foreground
// propagation: a Job's own default orphans them), conditional on its UID,
// so that no pod of it runs with a term anyone may satisfy. The refusal is
// kept as a probe's answer is (spreadErr): no later Submit creates a Job
// there, and the site check fails, until the next probe is due (a webhook
// that strips the field from what is stored but not from a dry run).
// The Secret written for the Job goes, and the record this Submit wrote
// goes once the Job is gone; where its delete fails, the record keeps the
// Job's UID, so that Cancel and Status reach it.
func (b *Backend) refuseDroppedSpread(ctx context.Context, name string, created *apiJob, secretUID types.UID, hasSecret, wroteRecord bool) error {
	refusal := refuseVersion("backend.kubeconfig: the API server at %s stored Job %s/%s without the %s of the anti-affinity term that keeps an attempt's pods on a node each apart from pods others make (the MatchLabelKeysInPodAffinity feature gate is off, or an admission webhook removed it), so anyone who may create pods in the namespace could keep an attempt waiting for good, unseen; the backend does not submit to it (turn the feature gate on, or stop whatever removes the field)",
		b.host, b.ns, name, spreadFieldPath)
	b.probe.mu.Lock()
	b.probe.at, b.probe.err = time.Now(), refusal
	b.probe.mu.Unlock()

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
