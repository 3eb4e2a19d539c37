package kubernetes

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"meridian.dev/meridian/backend"
)

// WriteSecretForTest writes the attempt's Secret as Submit does before it
// creates the Job: what a Submit cut off at that point leaves.
func (b *Backend) WriteSecretForTest(ctx context.Context, spec backend.Spec) error {
	_, err := b.putSecret(ctx, spec, JobName(spec.RunID, spec.Attempt), "")
	return err
}

// SubmitUnderWayForTest marks the attempt's Submit as under way in this
// process until the returned function is called.
func (b *Backend) SubmitUnderWayForTest(spec backend.Spec) (done func()) {
	name := JobName(spec.RunID, spec.Attempt)
	b.sweep.begin(name)
	return func() { b.sweep.end(name) }
}

// PatchJobForTest sets one annotation of the Job name whose UID is uid, as
// markLost and Cancel do.
func (b *Backend) PatchJobForTest(ctx context.Context, name string, uid types.UID, key, value string) error {
	return b.patchJob(ctx, name, uid, map[string]string{key: value})
}

// OwnSecretForTest gives the Secret name whose UID is secretUID to the Job
// jobUID, as Submit and the sweep do.
func (b *Backend) OwnSecretForTest(ctx context.Context, name string, jobUID, secretUID types.UID) error {
	return b.ownSecret(ctx, name, jobUID, secretUID)
}

// DeleteSecretForTest deletes the Secret name whose UID is uid, as a
// refused Submit does.
func (b *Backend) DeleteSecretForTest(ctx context.Context, name string, uid types.UID) {
	b.deleteSecret(ctx, name, uid)
}

// BeforePodLogForTest has f called before each pod's log is asked for.
func (b *Backend) BeforePodLogForTest(f func(namespace, pod string)) { b.beforePodLog = f }

// ErrPodReplaced is what a log read fails with when the pod was deleted,
// or another made under its name, while it was read.
var ErrPodReplaced = errPodReplaced

// PodsNowForTest asks the API server for each pod of the attempt's Job
// that the watch cache holds, as completedWithout asks for one the cache
// shows live when the Job completes.
func (b *Backend) PodsNowForTest(ctx context.Context, name string) error {
	job, ok := b.watch.job(name)
	if !ok {
		return fmt.Errorf("job %s is not in the watch cache", name)
	}
	pods := b.watch.podsOf(job)
	if len(pods) == 0 {
		return fmt.Errorf("job %s has no pod in the watch cache", name)
	}
	for _, p := range pods {
		now, found, err := b.podNow(ctx, b.ns, p.Name)
		if err != nil {
			return err
		}
		if !found || now.UID != p.UID {
			return fmt.Errorf("pod %s: found %v, UID %q; want UID %q", p.Name, found, now.UID, p.UID)
		}
	}
	return nil
}

// StartSlack is startSlack: how much earlier than its Job's start a pod
// may read as made and still count as made after it.
const StartSlack = startSlack

// CreateUnkeyedJobForTest creates the attempt's Job of pods pods as a
// Submit made it before the anti-affinity term that keeps its pods apart
// had matchLabelKeys (or as an API server that drops the field stores
// it): its record first, then the Job without the field, suspended so
// that no pod of it runs. It returns the Job's name.
func (b *Backend) CreateUnkeyedJobForTest(ctx context.Context, spec backend.Spec, pods int64) (string, error) {
	// As Submit does: the first list of the cluster is taken before the
	// Job is created, so that the Job reaches the cache only by a watch.
	if err := b.watch.ready(ctx); err != nil {
		return "", err
	}
	name := JobName(spec.RunID, spec.Attempt)
	rec := record{RunID: spec.RunID, Attempt: spec.Attempt, Namespace: b.ns, Nonce: newNonce(), Submitted: time.Now().UTC()}
	if _, err := b.createRecord(name, rec); err != nil {
		return "", err
	}
	image := spec.Image
	if image == "" {
		image = b.image
	}
	job := b.jobFor(spec, name, image, DefaultScratch, pods, 0, rec.Nonce)
	terms := job.Spec.Template.Spec.Affinity.PodAntiAffinity.Required
	for i := range terms {
		terms[i].MatchLabelKeys = nil
	}
	job.Spec.Suspend = ptr.To(true)
	return name, b.cs.batch.Post().Namespace(b.ns).Resource(resourceJobs).Body(job).Do(ctx).Error()
}

// ProbeSpreadForTest asks the API server, by a dry-run create, whether it
// keeps the matchLabelKeys of an attempt's anti-affinity term, as
// spreadErr does once per spreadProbeEvery, whatever answer is kept: nil
// where it keeps it, the refusal where it does not, or why it did not
// answer.
func (b *Backend) ProbeSpreadForTest(ctx context.Context) error {
	verdict, err := b.probeSpread(ctx)
	if err != nil {
		return err
	}
	return verdict
}
