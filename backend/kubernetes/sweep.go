package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Orphaned Secrets. An attempt's Secret is created before its Job and given
// to the Job once the Job exists; the garbage collector deletes it with the
// Job. A Submit cut off in between (the controller stopped, the API server
// stopped answering) leaves a Secret that no Job owns. When the attempt is
// submitted again, Submit takes it over; when it never is (the run was
// cancelled, or moved to another site), nothing would delete it, and it
// holds the attempt's secret variables. The sweep finds such Secrets and
// either gives them to their Job, where one of the attempt exists, or
// deletes them once they have stayed unchanged, with no Job, for
// OrphanGrace.
//
// A Secret its Job owns goes only with the Job, and a finished Job stays
// (with its pods' logs) until someone deletes it: its Secret, with the
// attempt's credential, would stay as long. The credential is refused once
// the attempt has ended, but nothing needs it then either, so the sweep
// also deletes the Secret of a Job that has finished (complete or failed,
// or ended on the attempt's record): its pods have read it when they
// started (attemptOver).

const (
	// DefaultOrphanGrace is how long a Secret with no Job must stay
	// unchanged before the sweep deletes it: far longer than a Submit
	// takes between writing the Secret and creating the Job.
	DefaultOrphanGrace = 10 * time.Minute
	// DefaultSweepEvery is how often the sweep lists the Secrets.
	DefaultSweepEvery = 5 * time.Minute
	// maxOrphansSeen bounds what the sweep remembers: anyone who may create
	// Secrets in the namespace can label them as Meridian's. Those past it
	// are remembered by a later sweep, once earlier ones are gone, except
	// an attempt's with a record in the state directory, which is
	// remembered at once.
	maxOrphansSeen = 10000
)

// sweeper remembers, for each ownerless Secret, the version it was first
// seen at and when, so that only a Secret unchanged for the grace is
// deleted: a Submit that takes one over rewrites it, which changes its
// version and starts the grace again. Submits in flight are never swept.
type sweeper struct {
	mu       sync.Mutex
	seen     map[string]orphanSeen // by Secret name
	inflight map[string]int        // Submits under way, by Job name
}

type orphanSeen struct {
	version string // seenVersion
	since   time.Time
}

// maxSeenVersion bounds what the sweep keeps of a Secret's
// resourceVersion: the API server's, a number of some 20 digits from a real
// one, up to the megabytes of a list page from a hostile one, kept for
// each of maxOrphansSeen Secrets from sweep to sweep.
const maxSeenVersion = 64

// seenVersion is what the sweep keeps of resourceVersion v: v, or, past
// maxSeenVersion, its hash, which tells it from another as well.
func seenVersion(v string) string {
	if len(v) <= maxSeenVersion {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (s *sweeper) begin(name string) {
	s.mu.Lock()
	if s.inflight == nil {
		s.inflight = map[string]int{}
	}
	s.inflight[name]++
	s.mu.Unlock()
}

func (s *sweeper) end(name string) {
	s.mu.Lock()
	if s.inflight[name]--; s.inflight[name] <= 0 {
		delete(s.inflight, name)
	}
	s.mu.Unlock()
}

// SweepResult says what one sweep did.
type SweepResult struct {
	Listed  int // Secrets the backend made, in the namespace
	Owned   int // given to their attempt's Job
	Deleted int // ownerless, with no Job, unchanged for the grace
	// Finished counts the Secrets deleted because their Job has finished.
	Finished int
	Waiting  int // ownerless, with no Job, still within the grace
}

// SweepSecrets runs one sweep of the namespace's Secrets that the backend
// made (labelled as managed by Meridian, and named as Submit names them:
// submitsSecret) and that no object owns. Those whose attempt's Job
// exists are given to it; the others are deleted once
// they have been seen unchanged for grace, and only at the version seen
// (the API server refuses the delete of one rewritten since). A Secret
// whose Submit is under way in this process is left alone.
func (b *Backend) SweepSecrets(ctx context.Context, grace time.Duration) (SweepResult, error) {
	var res SweepResult
	if err := b.watch.ready(ctx); err != nil {
		return res, err
	}
	sel := labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy}).String()
	now := time.Now()
	present := map[string]bool{}
	var sweepErr error
	// Each page is acted on as it comes (Secrets given to their Jobs or
	// deleted), so a list whose version expires is not started over
	// (listPages' reset nil): the next sweep lists again.
	err := listPages(ctx, b.cs.core, resourceSecrets, b.ns, metav1.ListOptions{LabelSelector: sel}, nil, func(list *apiSecretList) error {
		for i := range list.Items {
			sec := &list.Items[i]
			res.Listed++
			if !submitsSecret(sec) {
				continue
			}
			if len(sec.OwnerReferences) > 0 {
				if sweepErr = b.sweepFinished(ctx, sec, &res); sweepErr != nil {
					return sweepErr
				}
				continue
			}
			if sweepErr = b.sweepOne(ctx, sec, grace, now, present, &res); sweepErr != nil {
				return sweepErr
			}
		}
		return nil
	})
	if sweepErr != nil {
		return res, sweepErr
	}
	if err != nil {
		return res, fmt.Errorf("list Secrets in %s: %w", b.ns, b.explain(err))
	}
	b.sweep.mu.Lock()
	for name := range b.sweep.seen {
		if !present[name] {
			delete(b.sweep.seen, name)
		}
	}
	b.sweep.mu.Unlock()
	return res, nil
}

// submitsSecret reports whether sec is named as Submit names the Secret of
// the attempt it says it is of (its run annotation and attempt label), as
// every one Submit writes is. The label that has the sweep list a Secret
// can be put on any Secret of the namespace by whoever may update it,
// without leave to delete it: another application's Secret so labelled
// would have been deleted by the sweep, with the backend's rights. Nor is
// a name the API server gives (which the backend does not trust) that no
// Submit makes looked up in the state directory.
func submitsSecret(sec *apiSecret) bool {
	attempt, err := strconv.Atoi(sec.Labels[LabelAttempt])
	return err == nil && sec.Name == JobName(sec.Annotations[AnnotationRunID], attempt)
}

// sweepFinished deletes sec, a Secret with owners, when it is the Secret of
// a Job of the attempt that has finished (attemptOver), at the version
// listed.
func (b *Backend) sweepFinished(ctx context.Context, sec *apiSecret, res *SweepResult) error {
	job, ok := b.watch.job(sec.Name)
	if !ok || !b.attemptOver(job) {
		return nil
	}
	attempt, err := strconv.Atoi(sec.Labels[LabelAttempt])
	if err != nil || !ours(job, sec.Annotations[AnnotationRunID], attempt) {
		return nil
	}
	owned := false
	for _, r := range sec.OwnerReferences {
		owned = owned || r.UID == job.UID
	}
	if !owned {
		return nil
	}
	b.sweep.mu.Lock()
	inflight := b.sweep.inflight[sec.Name] > 0
	b.sweep.mu.Unlock()
	if inflight {
		return nil
	}
	rv := sec.ResourceVersion
	err = b.cs.core.Delete().Namespace(b.ns).Resource(resourceSecrets).Name(sec.Name).
		Body(&metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &sec.UID, ResourceVersion: &rv}}).
		Do(ctx).Error()
	switch {
	case err == nil:
		res.Finished++
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
	default:
		return fmt.Errorf("delete Secret %s/%s of a finished Job: %w", b.ns, sec.Name, b.explain(err))
	}
	return nil
}

// attemptOver reports whether the attempt of job has ended as far as its
// Secret goes: the Job controller marked the Job complete or failed (it
// starts no more pods), or the attempt's record holds its end, which only
// the backend writes. The marks on the Job itself (AnnotationLost,
// AnnotationCancelled) and its deletion do not count: anyone who may
// update or delete Jobs in the namespace can set them on a running Job,
// whose pods not yet started (or started again) would then find no Secret
// to read their variables from. The backend's own verdict on such a Job
// reaches the record at the next Status.
func (b *Backend) attemptOver(job *apiJob) bool {
	for _, c := range job.Status.Conditions {
		if c.Status == conditionTrue && (c.Type == jobComplete || c.Type == jobFailed) {
			return true
		}
	}
	rec, ok := b.record(job.Name)
	return ok && rec.Final != nil && !replaced(job, rec)
}

func (b *Backend) sweepOne(ctx context.Context, sec *apiSecret, grace time.Duration, now time.Time,
	present map[string]bool, res *SweepResult) error {
	name := sec.Name
	if job, ok := b.watch.job(name); ok {
		attempt, err := strconv.Atoi(sec.Labels[LabelAttempt])
		// Where the attempt's record is here, it judges the Job as
		// Status does (attemptsJob): a Job made under the name by
		// someone else does not get the attempt's Secret.
		rec, hasRec := b.record(name)
		// Without a record, the Job is none that Submit made (attemptsJob):
		// a Submit whose create was refused removes its record, and the
		// delete of its Secret may have failed.
		if err == nil && hasRec && ours(job, sec.Annotations[AnnotationRunID], attempt) && !replaced(job, rec) {
			err := b.ownSecret(ctx, name, job.UID, sec.UID)
			switch {
			case apierrors.IsNotFound(err), apierrors.IsInvalid(err):
				// Gone, or made again under its name since the list:
				// the next sweep looks again.
				return nil
			case err != nil:
				return fmt.Errorf("Secret %s/%s: give it to its Job: %w", b.ns, name, b.explain(err))
			}
			res.Owned++
			return nil
		}
	}
	b.sweep.mu.Lock()
	if b.sweep.inflight[name] > 0 {
		b.sweep.mu.Unlock()
		return nil
	}
	present[name] = true
	_, ok := b.sweep.seen[name]
	full := !ok && len(b.sweep.seen) >= maxOrphansSeen
	b.sweep.mu.Unlock()
	if full {
		// Past the bound, which others' Secrets can fill (and keep full
		// by rewriting them), an attempt's Secret with a record here is
		// remembered still: records are only Submit's, so they bound
		// what is remembered past it.
		if _, hasRec := b.record(name); !hasRec {
			res.Waiting++
			return nil
		}
	}
	b.sweep.mu.Lock()
	s, ok := b.sweep.seen[name]
	if version := seenVersion(sec.ResourceVersion); !ok || s.version != version {
		if b.sweep.seen == nil {
			b.sweep.seen = map[string]orphanSeen{}
		}
		b.sweep.seen[name] = orphanSeen{version: version, since: now}
		b.sweep.mu.Unlock()
		res.Waiting++
		return nil
	}
	b.sweep.mu.Unlock()
	if now.Sub(s.since) < grace {
		res.Waiting++
		return nil
	}
	rv := sec.ResourceVersion
	err := b.cs.core.Delete().Namespace(b.ns).Resource(resourceSecrets).Name(name).
		Body(&metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &sec.UID, ResourceVersion: &rv}}).
		Do(ctx).Error()
	switch {
	case err == nil:
		res.Deleted++
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone, or rewritten since the list: the next sweep looks again.
		res.Waiting++
	default:
		return fmt.Errorf("delete Secret %s/%s: %w", b.ns, name, b.explain(err))
	}
	b.sweep.mu.Lock()
	delete(b.sweep.seen, name)
	b.sweep.mu.Unlock()
	return nil
}

// sweepLoop sweeps every interval until ctx ends. A sweep that fails (the
// API server not answering, the user not allowed to list Secrets, which
// Check reports) is tried again at the next tick.
func (b *Backend) sweepLoop(ctx context.Context, every, grace time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, every)
		b.SweepSecrets(sctx, grace) //nolint:errcheck
		cancel()
	}
}
