package kubernetes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/ptr"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/textsafe"
)

func init() { backend.Register(catalog.BackendKubernetes, Factory) }

// Factory is New as a backend.Factory, for a program's backend.Set.
func Factory(site catalog.BackendSpec, stateDir string) (backend.Backend, error) {
	return New(site, stateDir)
}

// Labels and annotations Meridian puts on its Jobs and their Pods.
const (
	// LabelRun holds the run id (or, for an id that is not a valid label
	// value, "h-" and a hash of it; AnnotationRunID always has the id).
	LabelRun = "meridian.dev/run"
	// LabelAttempt holds the attempt number.
	LabelAttempt = "meridian.dev/attempt"
	// LabelManagedBy marks every object the backend creates.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "meridian"
	// AnnotationRunID holds the exact run id.
	AnnotationRunID = "meridian.dev/run-id"
	// AnnotationLost records that the backend found the attempt lost, so that
	// the verdict survives the node's return and a controller restart.
	AnnotationLost = "meridian.dev/lost"
	// AnnotationWritten on an attempt's Secret says when a Submit last wrote
	// it, so that each write changes the Secret (the API server keeps the
	// version of an update that changes nothing) and the sweep of ownerless
	// Secrets sees it as new (sweep.go).
	AnnotationWritten = "meridian.dev/written"
	// AnnotationCancelled records a cancellation before the Job is deleted.
	AnnotationCancelled = "meridian.dev/cancelled"
	// AnnotationSubmission holds a random value that Submit also keeps in
	// the attempt's record before it creates the Job: it tells the Job
	// Submit created from one made by someone else under its name while
	// the record does not have the Job's UID yet (attemptsJob).
	AnnotationSubmission = "meridian.dev/submission"
	// KueueQueueLabel names the Kueue LocalQueue of a Job.
	KueueQueueLabel = "kueue.x-k8s.io/queue-name"
	// DefaultGPUResource is the extended resource requested when the site
	// does not name one.
	DefaultGPUResource = "nvidia.com/gpu"
	// ContainerName is the name of the one container of every Pod.
	ContainerName = "main"
	jobNameLabel  = "batch.kubernetes.io/job-name"
	// The Job controller's selector label on a Job's pods, the Job's UID
	// (the one before Kubernetes 1.27 too, for pods of Jobs made then).
	controllerUIDLabel       = "batch.kubernetes.io/controller-uid"
	legacyControllerUIDLabel = "controller-uid"
)

// Backend runs attempts as Jobs on one Kubernetes cluster (one site). It is
// safe for concurrent use; several Backends (in one process or several) may
// work on the same namespace and the same state directory.
type Backend struct {
	// NodeLostAfter is how long a Node may be not Ready (or gone) before the
	// attempts on it are Lost. Default 30 s, the run controller's site timeout.
	NodeLostAfter time.Duration

	cs        *clients
	rc        *rest.Config
	host      string
	ns        string
	image     string
	gpu       string
	selector  map[string]string
	tolerate  []toleration
	queue     string
	workRoot  string
	scratchIn string // the scratch volume's emptyDir medium ("" or Memory)
	// scratchSize bounds what one pod may write (backend.scratchSize);
	// nil: no bound.
	scratchSize *resource.Quantity
	stateDir    string
	// markKey signs the marks the backend puts on Jobs (marks.go).
	markKey []byte
	// version is the API server's version, read once (versionErr).
	version serverVersion
	// probe is whether the API server keeps matchLabelKeys, asked at
	// most once per spreadProbeEvery (spreadErr).
	probe     spreadProbe
	watch     *watcher
	sweep     sweeper
	closeOnce sync.Once

	recMu  sync.Mutex        // serialises record files
	finals map[string]record // records with an end, by Job name
	// overs holds, by Job name, the cancelled attempts found stopped
	// (cancelledStatus): a Job ended, being deleted or replaced starts
	// no pod of the attempt again, so they are not looked at again;
	// under recMu, at most maxFinals.
	overs map[string]struct{}
	// pending holds, by Job name, the completion indexes seen succeeded
	// that the record does not hold yet (batchIndexLocked); under recMu.
	pending map[string]*pendingIndexes
	uids    map[string]types.UID // the UIDs on record, by Job name (knownUID)

	// fixedLogs keeps the sizes of pods' logs that no longer change.
	fixedLogs fixedLogs

	// beforePodLog, when set (by tests), is called before each pod's log
	// is asked for.
	beforePodLog func(namespace, pod string)
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Finder  = (*Backend)(nil)
)

// New makes the backend for one site from its settings and starts watching
// the cluster. stateDir is the backend's directory on the controller's
// machine. Settings that cannot work (a missing kubeconfig, an unknown
// context, names the API server would refuse) are reported here, naming the
// setting; what needs the cluster (namespace access, nodes offering the GPU
// resource) is checked by Check and by Submit. An unreachable API server is
// not an error here: Status reports it until the server answers.
func New(site catalog.BackendSpec, stateDir string) (*Backend, error) {
	cfg, err := newConfig(site, stateDir)
	if err != nil {
		return nil, err
	}
	rc, err := restConfig(site)
	if err != nil {
		return nil, fmt.Errorf("kubernetes backend: %w", err)
	}
	return newWithConfig(cfg, rc)
}

// NewFromConfig is New with the cluster's client configuration given
// directly rather than through backend.kubeconfig and backend.context.
func NewFromConfig(site catalog.BackendSpec, stateDir string, rc *rest.Config) (*Backend, error) {
	cfg, err := newConfig(site, stateDir)
	if err != nil {
		return nil, err
	}
	return newWithConfig(cfg, rc)
}

func newConfig(site catalog.BackendSpec, stateDir string) (*Backend, error) {
	if site.Type == "" {
		site.Type = catalog.BackendKubernetes
	}
	if site.Type != catalog.BackendKubernetes {
		return nil, fmt.Errorf("kubernetes backend: backend.type is %q", site.Type)
	}
	if probs := site.Problems(); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = p.Error()
			if len(p.Accepted) > 0 {
				msgs[i] += " (accepted: " + strings.Join(p.Accepted, ", ") + ")"
			}
		}
		return nil, fmt.Errorf("kubernetes backend: %s", strings.Join(msgs, "; "))
	}
	if stateDir == "" {
		return nil, errors.New("kubernetes backend: state directory must not be empty")
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("kubernetes backend: state directory: %w", err)
	}
	// The records hold each submission's nonce (the annotation that makes
	// a Job the attempt's) and the Jobs' UIDs: only this server's user
	// reads them. A directory made by an older version (0755) is narrowed.
	// Only the records' own directory is private: the state directory and
	// those above it, made here when missing, stay as open as before (a
	// local site's sandboxed workloads traverse the server's state
	// directory, of which this one is part, to reach their scratch).
	jobs := filepath.Join(abs, "jobs")
	if err := atomicfile.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("kubernetes backend: %w", err)
	}
	// Synced into its parent: the records of submissions are written in
	// it, and a directory lost to a power loss lost them with it.
	if err := atomicfile.MkdirAll(jobs, 0o700); err != nil {
		return nil, fmt.Errorf("kubernetes backend: %w", err)
	}
	if st, err := os.Stat(jobs); err != nil {
		return nil, fmt.Errorf("kubernetes backend: %w", err)
	} else if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(jobs, 0o700); err != nil {
			return nil, fmt.Errorf("kubernetes backend: the records' directory %s is open to other users (%v) and could not be narrowed to 0700: %w", jobs, st.Mode().Perm(), err)
		}
	}
	removeStaleTemps(jobs)
	markKey, err := loadMarkKey(jobs)
	if err != nil {
		return nil, fmt.Errorf("kubernetes backend: %w", err)
	}
	b := &Backend{
		NodeLostAfter: 30 * time.Second,
		ns:            site.Namespace,
		image:         site.Image,
		gpu:           site.GPUResource,
		selector:      site.NodeSelector,
		queue:         site.QueueName,
		workRoot:      site.WorkDir,
		scratchIn:     site.ScratchMedium,
		stateDir:      abs,
		markKey:       markKey,
		finals:        map[string]record{},
		overs:         map[string]struct{}{},
		uids:          map[string]types.UID{},
	}
	if site.ScratchSize != "" {
		q, err := catalog.ParseScratchSize(site.ScratchSize)
		if err != nil {
			return nil, fmt.Errorf("kubernetes backend: backend.scratchSize: %w", err)
		}
		b.scratchSize = &q
	}
	if b.ns == "" {
		b.ns = "default"
	}
	if b.gpu == "" {
		b.gpu = DefaultGPUResource
	}
	for _, t := range site.Tolerations {
		op := t.Operator
		if op == "" {
			op = tolerationOpEqual
		}
		b.tolerate = append(b.tolerate, toleration{Key: t.Key, Operator: op, Value: t.Value,
			Effect: t.Effect, TolerationSeconds: clonePtr(t.TolerationSeconds)})
	}
	return b, nil
}

func newWithConfig(b *Backend, rc *rest.Config) (*Backend, error) {
	rc = rest.CopyConfig(rc)
	// One backend follows many Jobs: the defaults (5 requests/s) would make
	// a burst of submissions queue in the client.
	if rc.QPS == 0 {
		rc.QPS = 100
	}
	if rc.Burst == 0 {
		rc.Burst = 200
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "meridian"
	}
	if rc.RateLimiter == nil {
		// One limit for all the backend's requests, whatever their group.
		rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(rc.QPS, int(rc.Burst))
	}
	// What client-go logs of the API server's words is escaped, and its
	// warnings are logged within a bound.
	routeClientLogsByDefault()
	if rc.WarningHandler == nil && rc.WarningHandlerWithContext == nil {
		rc.WarningHandlerWithContext = newWarningLog()
	}
	// Every answer's headers are read within maxResponseHeaderBytes, its
	// body within the bounds of limits.go.
	bounded := boundHeaders(rc)
	rc.Wrap(boundResponses)
	// Redirects are refused by the configuration's transport: the
	// backend's clients and those made from RESTConfig's copy follow none.
	rc.Wrap(refuseRedirects)
	cs, err := newClients(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes backend: client for %s: %w", rc.Host, err)
	}
	switch {
	case bounded.Load():
	case rc.Transport != nil:
		return nil, fmt.Errorf("kubernetes backend: client for %s: the client configuration's transport must be an http.Transport whose MaxResponseHeaderBytes is at most %s",
			rc.Host, sizeString(maxResponseHeaderBytes))
	default:
		return nil, fmt.Errorf("kubernetes backend: client for %s: its transport could not be made to read an answer's headers within %s (Go's default is %s)",
			rc.Host, sizeString(maxResponseHeaderBytes), sizeString(defaultResponseHeaderBytes))
	}
	b.cs = cs
	b.rc = rc
	b.host = rc.Host
	b.watch = newWatcher(b)
	b.watch.start()
	// The API server's version is read as the backend starts, where it
	// answers (Check and Submit ask again where it did not).
	go func() {
		ctx, cancel := context.WithTimeout(b.watch.ctx, answerWait)
		defer cancel()
		_ = b.versionErr(ctx)
	}()
	go b.sweepLoop(b.watch.ctx, DefaultSweepEvery, DefaultOrphanGrace)
	return b, nil
}

// Close stops the backend's watches. The backend must not be used after.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.watch.stop()
		// What the watch saw succeed and had not yet written, once
		// nothing adds to it.
		b.flushAllIndexes()
	})
	return nil
}

// Notify has f called with an attempt's handle each time a change of its
// Job or of one of its Pods reaches the backend's watch cache (so Status
// may have changed). f must not block. A later call replaces f; nil stops.
func (b *Backend) Notify(f func(handle string)) {
	if f == nil {
		b.watch.onChange.Store(nil)
		return
	}
	b.watch.onChange.Store(&f)
}

// Namespace is the namespace the site's Jobs run in.
func (b *Backend) Namespace() string { return b.ns }

// RESTConfig is the backend's client configuration (for tests and tools).
// It is a copy that keeps the backend's refusal of redirects
// (refuseRedirects, on its transport): a client made from it follows none
// of the API server's redirects, with the cluster's credential, elsewhere.
func (b *Backend) RESTConfig() *rest.Config { return rest.CopyConfig(b.rc) }

var jobNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// JobName is the name of the Job of one attempt: "m-", a readable form of
// the run id, a hash of the exact id (so that ids differing only in case or
// punctuation do not collide) and the attempt; at most 63 characters, as a
// Job's name must be for its Pods' labels.
func JobName(runID string, attempt int) string {
	sum := sha256.Sum256([]byte(runID))
	h := hex.EncodeToString(sum[:4])
	s := jobNameChars.ReplaceAllString(strings.ToLower(runID), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	s = strings.Trim(s, "-")
	if s != "" {
		s += "-"
	}
	return "m-" + s + h + "-" + strconv.Itoa(attempt)
}

var handlePattern = regexp.MustCompile(`^m-([a-z0-9-]*-)?[0-9a-f]{8}-[0-9]+$`)

func validHandle(h string) error {
	if len(h) > 63 || !handlePattern.MatchString(h) {
		return fmt.Errorf("handle %q: %w", h, backend.ErrNotFound)
	}
	return nil
}

var labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)

func runLabel(runID string) string {
	if len(runID) <= 63 && labelValue.MatchString(runID) {
		return runID
	}
	sum := sha256.Sum256([]byte(runID))
	return "h-" + hex.EncodeToString(sum[:8])
}

// ours reports whether job is the Job of runID's attempt.
func ours(job *apiJob, runID string, attempt int) bool {
	return job.Annotations[AnnotationRunID] == runID && job.Labels[LabelAttempt] == strconv.Itoa(attempt)
}

// attemptsJob reports whether job, of the attempt's name, is the Job that
// Submit created for the attempt of record rec. Anyone who may write Jobs
// in the namespace can make one under the name, before Submit (the next
// attempt's name is known from the run's first) or after its Job was
// deleted, and copy onto it everything Meridian's carries that they can
// read: the annotation and labels that name the attempt, and (from a Job
// of Meridian's they saw) its submission value. What they cannot give it:
//
//   - Its UID, which the API server chooses. A record with the UID (from
//     the answer to the create, or from the first Job that matched as
//     below) matches by it alone.
//   - The submission value before Meridian's Job exists: Submit draws it
//     and writes it in the record, on the controller's disk, before it
//     creates the Job, and nowhere else (not in the Secret, which more
//     users can read through a pod). A record without the UID (the
//     create's answer was lost: the server stopped, the call timed out)
//     matches a Job that carries its value. A Job made before Meridian's
//     cannot carry it; one made after Meridian's was deleted can, if it
//     was copied from Meridian's, and is then taken for the attempt's:
//     the record has no UID to tell them apart by, and the attempt's Job
//     was gone anyway.
//   - Its creation time, which the API server sets: for a record of an
//     older version (no submission value, no UID) a Job made before the
//     record (less olderRecordSkew for the two machines' clocks) is not
//     the attempt's. Such a record is only one written before an upgrade
//     whose Job has not been seen since.
//
// Not used: the Secret's owner reference (given by Meridian after the
// create answered, when the UID is on record anyway) and the Secret itself
// (the Job only names it, and anyone may name it).
func attemptsJob(job *apiJob, rec record) bool {
	switch {
	case rec.UID != "":
		return job.UID == rec.UID
	case !ours(job, rec.RunID, rec.Attempt):
		return false
	case rec.Nonce != "":
		return job.Annotations[AnnotationSubmission] == rec.Nonce
	default:
		return !rec.Submitted.IsZero() &&
			!job.CreationTimestamp.Time.Before(rec.Submitted.Truncate(time.Second).Add(-olderRecordSkew))
	}
}

// olderRecordSkew is how far the API server's clock may be behind the
// controller's for a record of an older version (attemptsJob).
const olderRecordSkew = 30 * time.Second

// replaced reports a Job of the attempt's name that is not the attempt's
// on record (attemptsJob): Meridian's was deleted and another made under
// its name by someone who may write Jobs in the namespace, or another was
// there before it. Its state, pods and logs are not the attempt's, and
// Cancel must not delete it. A record that names neither a Job nor a run
// (none of Meridian's) judges no Job.
func replaced(job *apiJob, rec record) bool {
	if rec.UID == "" && rec.RunID == "" {
		return false
	}
	return !attemptsJob(job, rec)
}

// replacedJob reports whether job, of the attempt's name, is not the
// attempt's on record (replaced). A record without the Job's UID takes it
// from the first Job it matches (attemptsJob), so that a Job made later
// under the name is told from the attempt's by its UID.
func (b *Backend) replacedJob(handle string, job *apiJob) bool {
	if uid, ok := b.knownUID(handle); ok {
		// What every poll of an attempt past its first asks: answered
		// from memory, not the record's file.
		return job.UID != uid
	}
	rec, hasRec := b.record(handle)
	if !hasRec {
		return false
	}
	if replaced(job, rec) {
		return true
	}
	if rec.UID == "" && rec.Final == nil && rec.RunID != "" {
		// Best effort: without it the next call matches as this one did.
		_ = b.keepUID(handle, job.UID)
	}
	return false
}

const replacedReason = "the attempt's Job was deleted at the site and another made under its name"

// shape splits n accelerators over pods of at most perNode each: the fewest
// pods that divide n evenly.
func shape(n, perNode int64) (pods, each int64) {
	if n <= perNode {
		return 1, n
	}
	for pods = (n + perNode - 1) / perNode; pods <= n; pods++ {
		if n%pods == 0 && n/pods <= perNode {
			return pods, n / pods
		}
	}
	return n, 1
}

// Submit creates the attempt's Job unless it exists (or existed and
// finished; it is then not created again).
func (b *Backend) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("kubernetes submit: %w", err)
	}
	name := JobName(spec.RunID, spec.Attempt)
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("kubernetes submit %s (Job %s/%s): %w", spec.Key(), b.ns, name, err)
	}
	image := spec.Image
	if image != "" && !catalog.ValidImageRef(image) {
		// The tenant's job names it. The API server refuses only space
		// around it and the kubelet the rest, leaving the pod waiting
		// (InvalidImageName) for as long as the run lets it.
		return fail(fmt.Errorf("%w: image: %.80q is not an image reference", backend.ErrInvalid, image))
	}
	if image == "" {
		image = b.image
	}
	if image == "" {
		return fail(errors.New("image: the spec names none and the site sets no backend.image"))
	}
	workDir := spec.WorkDir
	if workDir != "" && !filepath.IsAbs(workDir) {
		if b.workRoot == "" {
			return fail(fmt.Errorf("workDir: %q is relative and the site sets no backend.workDir", workDir))
		}
		workDir = filepath.Join(b.workRoot, workDir)
	} else if workDir == "" && b.workRoot != "" {
		workDir = filepath.Join(b.workRoot, spec.RunID)
	} else if workDir == "" {
		workDir = DefaultScratch
	}
	if err := b.watch.ready(ctx); err != nil {
		return fail(err)
	}
	// Nothing is submitted to an API server that would drop what keeps
	// the attempt's pods apart (versionErr, spreadErr), nor to one whose
	// version, or whether it keeps it, is not known.
	if err := b.siteErr(ctx); err != nil {
		return fail(err)
	}
	// The sweep of ownerless Secrets leaves this attempt's alone meanwhile.
	b.sweep.begin(name)
	defer b.sweep.end(name)
	if job, ok := b.watch.job(name); ok {
		// Submit writes the attempt's record before it creates the Job:
		// a Job of the name without one is not this attempt's, whatever
		// it carries (attemptsJob).
		rec, hasRec := b.record(name)
		if !hasRec || !ours(job, spec.RunID, spec.Attempt) || replaced(job, rec) {
			// The cache keeps few of the Job's labels: the API server's
			// copy names them all, or, failing that, the cache's does.
			if got, err := b.getJob(ctx, name); err == nil {
				job = got
			}
			return fail(notAttemptsJob(job, hasRec, spec))
		}
		if rec.Final == nil {
			// Best effort, as in replacedJob.
			_ = b.keepUID(name, job.UID)
			if err := b.refuseUnkeptSpread(ctx, job); err != nil {
				return fail(err)
			}
		}
		if len(spec.Secret) > 0 && !b.jobFinished(job) {
			// A Submit cut off after creating the Job left its Secret
			// without an owner; one whose Job create failed on an answer
			// the API server had carried out (a timeout) deleted it, and
			// the Job's pod cannot start without it.
			if _, err := b.putSecret(ctx, spec, name, job.UID); err != nil {
				return fail(err)
			}
		}
		return name, nil
	}
	if rec, ok := b.record(name); ok && rec.Final != nil && rec.RunID == spec.RunID {
		return name, nil // finished (or cancelled) and deleted since
	}
	pods, each, err := b.placement(ctx, int64(spec.Accelerators))
	if err != nil {
		return fail(err)
	}
	// The record comes first: it is what tells the Job this Submit
	// creates from one made by someone else under its name (attemptsJob),
	// after a crash too. Of Submits of the attempt at once (controllers
	// sharing the state directory), one writes it and the others use it.
	rec, hasRec := b.record(name)
	wroteRecord := false
	if !hasRec {
		rec = record{RunID: spec.RunID, Attempt: spec.Attempt, Namespace: b.ns,
			Nonce: newNonce(), Submitted: time.Now().UTC()}
		if wroteRecord, err = b.createRecord(name, rec); err != nil {
			return fail(err)
		}
		if !wroteRecord {
			if rec, hasRec = b.record(name); !hasRec {
				// Unreadable, or not written by Submit (record): left for
				// the operator, as nothing tells whose it is.
				return fail(fmt.Errorf("record of job %s: unreadable, or not written by a Submit", name))
			}
		}
	}
	job := b.jobFor(spec, name, image, workDir, pods, each, rec.Nonce)
	var secretUID types.UID
	if len(spec.Secret) > 0 {
		if secretUID, err = b.putSecret(ctx, spec, name, ""); err != nil {
			if wroteRecord {
				b.removeRecordIfUnfinished(name)
			}
			return fail(err)
		}
	}
	var created apiJob
	fresh := true
	err = b.cs.batch.Post().Namespace(b.ns).Resource(resourceJobs).Body(job).Do(ctx).Into(&created)
	if apierrors.IsAlreadyExists(err) {
		got, gerr := b.getJob(ctx, name)
		if gerr != nil {
			return fail(gerr)
		}
		if !ours(got, spec.RunID, spec.Attempt) || replaced(got, rec) {
			// The Secret just written is this attempt's, and no Job of
			// this attempt will own it.
			if len(spec.Secret) > 0 {
				b.deleteSecret(ctx, name, secretUID)
			}
			// No Job of this attempt was made: a record this Submit
			// wrote goes (as for any create refused), and the next
			// Submit finds the state directory as this one did.
			if wroteRecord {
				b.removeRecordIfUnfinished(name)
			}
			return fail(notAttemptsJob(got, !wroteRecord, spec))
		}
		created, err = *got, nil
		fresh = false
	}
	if err != nil {
		if wroteRecord && createRefused(err) {
			// Kept otherwise: the API server may have created the Job
			// all the same (a timeout), and the next Submit or Find
			// takes it by the record's submission value.
			b.removeRecordIfUnfinished(name)
		}
		if len(spec.Secret) > 0 {
			b.deleteSecret(ctx, name, secretUID)
		}
		return fail(b.explain(err))
	}
	// What the API server stored is what the pods are made from: one that
	// dropped the matchLabelKeys of the term that keeps them apart (a
	// feature gate off, which no version check sees) gets no Job to run
	// (keptSpread). A Job of the attempt found made already (by a Submit
	// whose create answer was lost, or one before an upgrade) is not
	// deleted: it may be running, and it is given up as the attempt
	// instead (refuseUnkeptSpread).
	if fresh && !keptSpread(job, &created) {
		return fail(b.refuseDroppedSpread(ctx, name, &created, secretUID, len(spec.Secret) > 0, wroteRecord))
	}
	// Best effort: the Job is made, and a record left without its UID
	// takes it at the Job's first sight (replacedJob). Kept before a Job
	// found made is judged (refuseUnkeptSpread), as it was.
	_ = b.keepUID(name, created.UID)
	if !fresh {
		if err := b.refuseUnkeptSpread(ctx, &created); err != nil {
			if len(spec.Secret) > 0 {
				b.deleteSecret(ctx, name, secretUID)
			}
			return fail(err)
		}
	}
	if len(spec.Secret) > 0 {
		// Owned by the Job, the Secret goes when the Job goes (deleted
		// by Cancel, or by whoever cleans the namespace).
		if err := b.ownSecret(ctx, name, created.UID, secretUID); err != nil {
			return fail(fmt.Errorf("Secret %s/%s: give it to its Job: %w", b.ns, name, b.explain(err)))
		}
	}
	return name, nil
}

// Bounds on what a refusal names of a Job (notAttemptsJob).
const (
	// shownLabels is how many of its labels are shown.
	shownLabels = 8
	// shownBytes bounds each label key and value, and its UID, as shown.
	shownBytes = 64
)

// notAttemptsJob is Submit's refusal of a Job of the attempt's name that
// is not the attempt's (attemptsJob), saying why and naming the Job by its
// UID, creation time and labels, so that an operator reading the run's
// timeline can tell which Job to look at: one made by someone else, or
// one of Meridian's left without a record (an older version's Job whose
// create timed out but was carried out, a state directory restored from a
// backup). It is not taken for the attempt's. Everything shown is anyone's
// to write who may write Jobs in the namespace: each string is cut to
// shownBytes and quoted (control and invisible characters escaped), and
// at most shownLabels labels are shown, in key order. hasRec tells
// whether the state directory had a record of the attempt before this
// Submit.
func notAttemptsJob(job *apiJob, hasRec bool, spec backend.Spec) error {
	var why string
	switch mine := ours(job, spec.RunID, spec.Attempt); {
	case !hasRec && mine:
		why = "the state directory has no record of the attempt's Job, though this one's run-id annotation and attempt label are the attempt's"
	case !hasRec:
		why = "the state directory has no record of the attempt's Job, and this one's run-id annotation or attempt label are not the attempt's"
	case !mine:
		why = "its run-id annotation or attempt label are not the attempt's"
	default:
		why = "it is not the Job the attempt's record names"
	}
	created := "at a time not given"
	if !job.CreationTimestamp.IsZero() {
		created = job.CreationTimestamp.UTC().Format(time.RFC3339)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "a Job of that name exists and is not this attempt's (%s): uid %s, created %s, labels {",
		why, shown(string(job.UID)), created)
	keys := slices.Sorted(maps.Keys(job.Labels))
	for i, k := range keys {
		if i == shownLabels {
			fmt.Fprintf(&sb, ", and %d more", len(keys)-i)
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(shown(k) + ": " + shown(job.Labels[k]))
	}
	sb.WriteString("}; it is left as it is")
	return errors.New(sb.String())
}

// shown is s, cut to shownBytes, quoted as Go does, with every character
// that is not printable ASCII escaped: more than textsafe.Quote escapes,
// so that a name shows the same on any terminal, and so all it flags.
func shown(s string) string {
	if len(s) > shownBytes {
		return strconv.QuoteToASCII(s[:shownBytes]) + "..."
	}
	return strconv.QuoteToASCII(s)
}

// siteWords is s, said by the site or its workload (a pod's termination
// message, which the workload writes; a condition's message, a node's
// name), as a status reason repeats it: trimmed, with each character
// textsafe flags (a control, a bidirectional override, a line separator)
// a space and each byte that is not UTF-8 U+FFFD. A reason is kept as the
// run's, shown to whoever reads the run and written to the server's log
// and the audit log, where a line break forges a line and an escape or an
// override rewrites what the reader sees.
func siteWords(s string) string {
	if textsafe.Safe(s) {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if textsafe.Unsafe(r) {
			return ' '
		}
		return r
	}, s))
}

// maxReasonBytes bounds an attempt's reason (Status, and the mark of a
// lost Job): what the cache keeps of each string the site says is cut at
// maxKeptString, and a reason repeats a few, but a Job read from the API
// server (one the cache lacks) is read whole, its strings up to the
// megabytes of an answer. A reason is kept in the attempt's record, read
// within maxRecordBytes, and on as the run's.
const maxReasonBytes = 8 << 10

// cutReason is reason cut at maxReasonBytes, at a character's start, saying
// how long it was.
func cutReason(reason string) string {
	if len(reason) <= maxReasonBytes {
		return reason
	}
	cut := maxReasonBytes
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + fmt.Sprintf("... (%d bytes in all)", len(reason))
}

// maxErrorText bounds what an error repeats of the API server's answer.
const maxErrorText = 1 << 10

// saidError is an error of the API server's (a Status's message, a body
// that is not one) as the backend repeats it: escaped as textsafe escapes
// a site's text, and cut. The error is still what it was beneath
// (apierrors.IsNotFound and the like).
type saidError struct {
	err error
	msg string
}

func (e *saidError) Error() string { return e.msg }
func (e *saidError) Unwrap() error { return e.err }

// siteError is err, which may repeat what the API server said, as the
// backend's errors repeat it: logged at each try and kept as a run's
// reason, where a line break forges a line and an escape or an override
// rewrites what the reader sees, and up to the 4 MiB of an answer.
func siteError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) <= maxErrorText && textsafe.Safe(msg) {
		return err
	}
	return &saidError{err: err, msg: cutEscaped(msg, maxErrorText)}
}

// newNonce draws an attempt's submission value (AnnotationSubmission).
func newNonce() string {
	return rand.Text()
}

// createRefused reports an answer to a create that says the API server did
// not create the object; other errors (a timeout, a connection cut, a
// server error) leave it unknown.
func createRefused(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) ||
		apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) ||
		apierrors.IsRequestEntityTooLargeError(err) || apierrors.IsNotAcceptable(err) ||
		apierrors.IsUnsupportedMediaType(err)
}

// putSecret creates the attempt's Secret (named as its Job) holding
// spec.Secret, owned by the Job owner when that is set, or, when a Submit
// cut off left one, rewrites it whole. A Secret of that name that is not
// this attempt's is an error. The labels that make one this attempt's can
// be written by anyone who may create Secrets in the namespace, so nothing
// else of an existing Secret is kept: not its other labels or annotations
// (which may have another controller copy it elsewhere), finalizers or
// owners, nor other keys. One that cannot be rewritten whole (immutable, or
// of another type) is none that Meridian made. It returns the UID of the
// Secret written, by which it is told from one made later under its name.
func (b *Backend) putSecret(ctx context.Context, spec backend.Spec, name string, owner types.UID) (types.UID, error) {
	data := make(map[string][]byte, len(spec.Secret))
	for k, v := range spec.Secret {
		data[k] = []byte(v)
	}
	sec := &apiSecret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns, Labels: map[string]string{
			LabelManagedBy: managedBy, LabelRun: runLabel(spec.RunID), LabelAttempt: strconv.Itoa(spec.Attempt)},
			Annotations: map[string]string{AnnotationRunID: spec.RunID,
				AnnotationWritten: time.Now().UTC().Format(time.RFC3339Nano)}},
		Data: data, Type: secretTypeOpaque,
	}
	if owner != "" {
		sec.OwnerReferences = []metav1.OwnerReference{jobOwner(name, owner)}
	}
	var written apiSecret
	err := b.cs.core.Post().Namespace(b.ns).Resource(resourceSecrets).Body(sec).Do(ctx).Into(&written)
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return "", fmt.Errorf("create Secret %s/%s: %w", b.ns, name, b.explain(err))
		}
		return written.UID, nil
	}
	var got apiSecret
	if err := b.cs.core.Get().Namespace(b.ns).Resource(resourceSecrets).Name(name).Do(ctx).Into(&got); err != nil {
		return "", fmt.Errorf("read Secret %s/%s: %w", b.ns, name, b.explain(err))
	}
	if got.Annotations[AnnotationRunID] != spec.RunID || got.Labels[LabelAttempt] != strconv.Itoa(spec.Attempt) ||
		got.Labels[LabelManagedBy] != managedBy || ptr.Deref(got.Immutable, false) ||
		got.Type != "" && got.Type != secretTypeOpaque {
		return "", fmt.Errorf("a Secret %s/%s exists and is not this attempt's", b.ns, name)
	}
	// An update, not a patch: it replaces the whole object, and fails if
	// the Secret changed since it was read.
	sec.ResourceVersion = got.ResourceVersion
	if err := b.cs.core.Put().Namespace(b.ns).Resource(resourceSecrets).Name(name).
		Body(sec).Do(ctx).Into(&written); err != nil {
		return "", fmt.Errorf("update Secret %s/%s: %w", b.ns, name, b.explain(err))
	}
	return written.UID, nil
}

// jobOwner is the owner reference to the attempt's Job.
func jobOwner(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: batchV1.String(), Kind: "Job", Name: name, UID: uid}
}

// ownSecret makes the Job (uid) the owner of the attempt's Secret, so that
// the garbage collector deletes the Secret with the Job. The patch carries
// the Secret's UID (secretUID), which the API server refuses to change
// (422 Invalid): a Secret made under the name since it was written or
// listed is another's, and is not given to the Job, to go with it.
func (b *Backend) ownSecret(ctx context.Context, name string, uid, secretUID types.UID) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": secretUID,
		"ownerReferences": []metav1.OwnerReference{jobOwner(name, uid)}}})
	if err != nil {
		return err
	}
	return b.cs.core.Patch(types.PatchType(mergePatch)).Namespace(b.ns).Resource(resourceSecrets).Name(name).
		Body(patch).Do(ctx).Error()
}

// deleteSecret removes the attempt's Secret, the one its Submit wrote
// (uid), best effort: a Submit whose Job was refused leaves no credential
// behind. The delete is conditional on the UID: a Secret made under the
// name since is another's, and the API server refuses its delete
// (409 Conflict), which leaves it alone.
//
// The caller's context is often what ended the Submit (its deadline passed
// while the Job was being created): the delete is sent all the same, within
// a bound of its own, or the credential would wait for the sweep's grace.
func (b *Backend) deleteSecret(ctx context.Context, name string, uid types.UID) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	b.cs.core.Delete().Namespace(b.ns).Resource(resourceSecrets).Name(name).
		Body(&metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}).Do(dctx) //nolint:errcheck
}

// explain turns API errors about the namespace into errors naming the
// setting.
func (b *Backend) explain(err error) error {
	err = siteError(tooLarge(err))
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("backend.namespace %q: forbidden for the kubeconfig's user: %w", b.ns, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("backend.namespace %q: %w", b.ns, err)
	case apierrors.IsInvalid(err):
		// The API server refused the object as it is (422): asking again
		// gets the same answer, so this is no unreachable site.
		return fmt.Errorf("%w: %w", backend.ErrInvalid, err)
	}
	return err
}

// placement checks that the site's nodes can take n accelerators and
// splits them over pods. It fails with backend.ErrSiteDown when nodes match
// the site's selector but none is Ready.
func (b *Backend) placement(ctx context.Context, n int64) (pods, each int64, err error) {
	nodes := b.watch.nodes()
	readyNodes := 0
	for _, nd := range nodes {
		if nodeReady(nd) {
			readyNodes++
		}
	}
	if readyNodes == 0 && len(nodes) > 0 {
		// The cache may trail a node that just came back: ask once.
		var listed []*apiNode
		ready := 0
		lerr := listPages(ctx, b.cs.core, resourceNodes, "",
			metav1.ListOptions{LabelSelector: labels.SelectorFromSet(b.selector).String()}, func() {
				listed, ready = nil, 0
			}, func(list *apiNodeList) error {
				for i := range list.Items {
					// Kept as the cache keeps a Node, not whole: a page
					// of megabytes per Submit, up to maxListPages of them,
					// was held until placement ended.
					n := *trimCached(&list.Items[i], b.gpu).(*apiNode)
					listed = append(listed, &n)
					if nodeReady(&n) {
						ready++
					}
				}
				return nil
			})
		if lerr == nil {
			nodes, readyNodes = listed, ready
		}
	}
	if len(nodes) == 0 {
		if len(b.selector) > 0 {
			return 0, 0, fmt.Errorf("backend.nodeSelector %s: no node of the cluster matches", labels.SelectorFromSet(b.selector))
		}
		return 0, 0, errors.New("backend.kubeconfig: the cluster has no nodes")
	}
	if readyNodes == 0 {
		return 0, 0, fmt.Errorf("none of the %d nodes matching backend.nodeSelector is Ready: %w", len(nodes), backend.ErrSiteDown)
	}
	if n == 0 {
		return 1, 0, nil
	}
	// Pods are as large as the largest node that takes them: a node that
	// is not Ready, is cordoned or has a taint the site does not tolerate
	// would leave a pod shaped for it pending while other nodes could run
	// the attempt split over more pods. Only when no such node offers the
	// resource are the others' sizes taken (the attempt waits for them).
	// A node's count is one capacity would read (gpuCount): a node that
	// claims more than maxGPUsPerNode is no node to shape pods for.
	var most, mostTaking int64
	for _, nd := range nodes {
		q, ok := nd.Status.Allocatable[b.gpu]
		if !ok {
			continue
		}
		v, err := gpuCount(q)
		if err != nil {
			continue
		}
		most = max(most, int64(v))
		if nodeReady(nd) && b.takesPods(nd) {
			mostTaking = max(mostTaking, int64(v))
		}
	}
	if mostTaking > 0 {
		most = mostTaking
	}
	if most == 0 {
		return 0, 0, fmt.Errorf("backend.gpuResource: no node matching backend.nodeSelector (%s) offers %s", nodeNames(nodes), b.gpu)
	}
	pods, each = shape(n, most)
	return pods, each, nil
}

// maxNodeName is the longest name the API server gives a Node (a DNS
// subdomain).
const maxNodeName = 253

// siteName is the name of an object as the API server said it (a Node's,
// a Pod's, a namespace's) as an error repeats it: as it is when it could
// be a real one's (at most maxNodeName bytes, none of them a character
// textsafe flags, a space or a comma), otherwise quoted and cut (shown). A
// real API server gives no object such a name; a hostile one's escape
// sequences and line breaks reached the operator's terminal and the
// server's log in the errors of Capacity, Logs and Cancel.
func siteName(s string) string {
	if len(s) <= maxNodeName && textsafe.Safe(s) && !strings.ContainsAny(s, " ,") {
		return s
	}
	return shown(s)
}

func nodeNames(nodes []*apiNode) string {
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, siteName(n.Name))
	}
	sort.Strings(names)
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(names, ", ")
}

// DefaultScratch is where an attempt's scratch volume is mounted when
// neither the spec nor the site names a working directory.
const DefaultScratch = "/meridian/scratch"

// ScratchVolume names the attempt's scratch volume: an emptyDir mounted at
// its working directory, so that the node, not the attempt, removes the
// unsealed data and checkpoints when the pod ends, even when the attempt
// died with its node and the node came back later.
const ScratchVolume = "scratch"

// jobFor builds the Job of one attempt.
func (b *Backend) jobFor(spec backend.Spec, name, image, workDir string, pods, each int64, nonce string) *apiJob {
	lbl := map[string]string{
		LabelManagedBy: managedBy,
		LabelRun:       runLabel(spec.RunID),
		LabelAttempt:   strconv.Itoa(spec.Attempt),
	}
	jobLabels := map[string]string{}
	for k, v := range lbl {
		jobLabels[k] = v
	}
	if b.queue != "" {
		jobLabels[KueueQueueLabel] = b.queue
	}
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]envVar, 0, len(keys)+6)
	for _, k := range keys {
		env = append(env, envVar{Name: k, Value: spec.Env[k]})
	}
	// Secret variables are read from the attempt's Secret (same name as
	// the Job): the Job and its Pods, which more users may read, hold only
	// the reference.
	keys = keys[:0]
	for k := range spec.Secret {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, envVar{Name: k, ValueFrom: &envVarSource{SecretKeyRef: &secretKeySelector{Name: name, Key: k}}})
	}
	env = append(env,
		envVar{Name: "MERIDIAN_RUN_ID", Value: spec.RunID},
		envVar{Name: "MERIDIAN_ATTEMPT", Value: strconv.Itoa(spec.Attempt)},
		envVar{Name: envAccelerators, Value: strconv.FormatInt(each, 10)},
		envVar{Name: envNodes, Value: strconv.FormatInt(pods, 10)},
	)
	env = append(env, envVar{Name: "MERIDIAN_WORKDIR", Value: workDir})
	res := resourceRequirements{Limits: resourceList{}, Requests: resourceList{}}
	if each > 0 {
		q := *resource.NewQuantity(each, resource.DecimalSI)
		res.Limits[b.gpu] = q
		res.Requests[b.gpu] = q
	}
	scratch := &emptyDirSource{Medium: b.scratchIn}
	if b.scratchSize != nil {
		scratch.SizeLimit = ptr.To(b.scratchSize.DeepCopy())
		// The container's ephemeral storage is its writable layer (/tmp,
		// anything written outside the scratch) and its log, and, on the
		// node's disk, the scratch: the request makes the scheduler place
		// the pod where that much is free, the limit has the kubelet
		// evict a pod past it. Set in memory too, where the tmpfs is
		// counted against the pod's memory, not here (sizeLimit bounds
		// it): without it the writable layer and the log could still fill
		// the node's disk.
		res.Limits[ephemeralStorage] = b.scratchSize.DeepCopy()
		res.Requests[ephemeralStorage] = b.scratchSize.DeepCopy()
	}
	if len(res.Limits) == 0 {
		res = resourceRequirements{}
	}
	j := &apiJob{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   b.ns,
			Labels:      jobLabels,
			Annotations: map[string]string{AnnotationRunID: spec.RunID},
		},
		Spec: jobSpec{
			Parallelism:  ptr.To(int32(pods)),
			Completions:  ptr.To(int32(pods)),
			BackoffLimit: ptr.To(int32(0)), // retries are the run controller's decision
			Suspend:      ptr.To(b.queue != ""),
			Template: podTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl, Annotations: map[string]string{AnnotationRunID: spec.RunID}},
				Spec: podSpec{
					RestartPolicy:                restartPolicyNever,
					NodeSelector:                 b.selector,
					Tolerations:                  b.tolerate,
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					Containers: []container{{
						Name:         ContainerName,
						Image:        image,
						Command:      spec.Command,
						Env:          env,
						WorkingDir:   workDir,
						Resources:    res,
						VolumeMounts: []volumeMount{{Name: ScratchVolume, MountPath: workDir}},
						// The tenant's image runs the agent and the workload
						// here (the container is the sandbox): it gains no
						// privilege (no setuid binary, no file capability),
						// holds no capability, and runs under the runtime's
						// default seccomp profile, as Kubernetes' restricted
						// Pod Security Standard asks of a container.
						SecurityContext: &securityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &capabilities{Drop: []string{"ALL"}},
							SeccompProfile:           &seccompProfile{Type: "RuntimeDefault"},
						},
					}},
					Volumes: []volume{{Name: ScratchVolume, EmptyDir: scratch}},
				},
			},
		},
	}
	if pods > 1 {
		j.Spec.CompletionMode = ptr.To(indexedCompletion)
		// One pod per node, as MERIDIAN_NODES tells the workload: the
		// scheduler would otherwise put two pods that each ask half a
		// node's GPUs or fewer (9 on nodes of 8: three pods of 3) on one
		// node, and a workload that takes its pods for nodes would be
		// wrong about where they run.
		//
		// The pods it keeps apart are the Job's own, by the controller-uid
		// label that the Job controller gives each pod it makes (the API
		// server adds the pod's own value of it to the term as it creates
		// the pod: matchLabelKeys). The run's and attempt's labels alone
		// were a term anyone who may create pods could satisfy: known
		// before the attempt exists, put on a pod of their own on each
		// node, they kept every pod of the attempt off every node. The
		// Job's UID is drawn by the API server as it creates the Job, and a
		// pod that carries it afterwards claims the Job (claimsOf).
		j.Spec.Template.Spec.Affinity = &affinity{PodAntiAffinity: &podAntiAffinity{Required: []podAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				LabelRun:     lbl[LabelRun],
				LabelAttempt: lbl[LabelAttempt],
			}},
			TopologyKey:    hostnameLabel,
			MatchLabelKeys: []string{controllerUIDLabel},
		}}}}
	}
	if nonce != "" {
		j.Annotations[AnnotationSubmission] = nonce
	}
	return j
}

// hostnameLabel is the node label that names each node apart: one pod
// per node is one pod per value of it.
const hostnameLabel = "kubernetes.io/hostname"

// envNodes is the variable that tells the attempt's workload how many pods
// it has: what the Job was submitted with (changedAtSite).
const envNodes = "MERIDIAN_NODES"

// envAccelerators is the variable that tells the attempt's workload how
// many of the site's GPUs each of its pods has: what Submit asked of each
// (jobAsks).
const envAccelerators = "MERIDIAN_ACCELERATORS"

// submittedPods is how many pods the Job of pod template spec was
// submitted with, from its container's envNodes; false when it does not
// say. A Job's pod template cannot be changed but for a suspended Job's
// scheduling directives and container resources (the API server refuses
// any other change, of the environment too), so this is what Submit gave
// it, whoever has written the Job since.
func submittedPods(spec *podSpec) (int32, bool) {
	n, ok := submittedValue(spec, envNodes)
	return int32(n), ok && n >= 1
}

// submittedEach is how many of the site's GPUs Submit asked for each pod
// of the Job of pod template spec, from its container's envAccelerators;
// false when it does not say. Unlike the container's request, which
// anyone who may update Jobs can change while the Job is suspended, the
// variable is what Submit gave it (submittedPods).
func submittedEach(spec *podSpec) (int64, bool) {
	n, ok := submittedValue(spec, envAccelerators)
	return n, ok && n >= 0
}

// submittedValue is the number that Meridian's container in spec is given
// as variable name.
func submittedValue(spec *podSpec, name string) (int64, bool) {
	v, ok := submittedString(spec, name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	return n, err == nil
}

// changedAtSite says how the attempt's Job was changed since Submit made
// it, or "" when it was not. Anyone who may update Jobs in the namespace
// can change what the API server lets change of a running Job: its
// parallelism (and an Indexed Job's completions with it). The Job would
// then run more or fewer pods than the attempt was placed with (and
// complete with fewer): its state is not the attempt's, nor is what its
// pods hold the attempt's (Capacity). What Submit gave it is read from its
// pod template, which cannot be changed (submittedPods).
//
// Its retries and its deadline can be changed too, but a cluster's own
// admission policy may also set them on every Job when it is created
// (a default deadline, a backoffLimit), and such a Job runs the attempt as
// placed: judged by the fields, every attempt at such a site was lost at
// its first poll. They are judged by what they did instead
// (retriedOrTimedOut).
func changedAtSite(job *apiJob) string {
	n, ok := submittedPods(&job.Spec.Template.Spec)
	if !ok {
		return "the Job's pod template does not say how many pods it was submitted with (" + envNodes + ")"
	}
	const changed = "the attempt's Job was changed at the site: "
	switch s := job.Spec; {
	case s.Parallelism == nil || *s.Parallelism != n:
		return changed + fmt.Sprintf("parallelism %s, submitted with %d", intString(s.Parallelism), n)
	case s.Completions == nil || *s.Completions != n:
		return changed + fmt.Sprintf("completions %s, submitted with %d", intString(s.Completions), n)
	}
	if n > 1 {
		why := ""
		if job.spreadCut != nil {
			why = *job.spreadCut
		} else {
			why = spreadChanged(&job.Spec.Template)
		}
		if why != "" {
			return changed + why
		}
	}
	return ""
}

// spreadChanged says, or "", how the pod template of an attempt split over
// pods no longer keeps them one to a node, as Submit made it (jobFor) and
// as envNodes tells the workload. Anyone who may update a suspended Job
// can change its template's labels and node scheduling directives (the
// API server lets them change for a queue's admission): relabelled, its
// pods are matched by none of the anti-affinity's terms, and could share a
// node. The API server refuses a change to the pod anti-affinity itself,
// but what it lets change of a suspended Job has grown from one version
// to the next: the term is judged too, dropped or narrowed.
//
// A queue's admission (Kueue) adds to the same fields: a node selector,
// tolerations, labels and annotations of the flavor it assigns, node
// affinity. So only the attempt's own term is judged: it must still be
// there as submitted (by node, matching exactly the pods labelled with the
// attempt's run and attempt in the Job's namespace), and the template's
// pods must still carry those labels. What it is compared with is the
// container's environment, which cannot be changed.
func spreadChanged(tmpl *podTemplateSpec) string {
	runID, okRun := submittedString(&tmpl.Spec, "MERIDIAN_RUN_ID")
	attempt, okAttempt := submittedString(&tmpl.Spec, "MERIDIAN_ATTEMPT")
	if !okRun || !okAttempt {
		return "its pod template does not say which attempt it runs"
	}
	want := map[string]string{LabelRun: runLabel(runID), LabelAttempt: attempt}
	for k, v := range want {
		if tmpl.Labels[k] != v {
			return fmt.Sprintf("its pods are labelled %s=%q, submitted with %q", k, tmpl.Labels[k], v)
		}
	}
	a := tmpl.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.Required) == 0 {
		// No required term at all: a Job submitted before attempts were
		// given one (an API server refuses a change to a Job's pod
		// anti-affinity, suspended or not), not one changed at the site.
		// Such a Job lacks the term's matchLabelKeys as well: one still
		// running is lost by that (unkeptSpread), and one that has ended
		// keeps its result, which a missing term cannot have changed.
		return ""
	}
	for _, t := range a.PodAntiAffinity.Required {
		if spreadsPods(t, want) {
			return ""
		}
	}
	return "its pods no longer have a node each (the required pod anti-affinity by " + hostnameLabel + " was removed or narrowed)"
}

// sharedNode says, or "", which two live pods of an attempt that was
// submitted with a node for each pod (its template's own anti-affinity
// term, spreadChanged) were put on the same node. The template can still
// say so while its pods do not: anyone who may update Pods in the
// namespace (a right apart from updating Jobs) can relabel a pod of the
// attempt so that the term no longer matches it, and a sibling scheduled
// after that may land on its node; the workload is told it has a node
// each (envNodes) and runs on fewer. So what the pods were given is
// judged, not only what the template asks: pods are the Job's by its
// controller reference and UID (podsOf), not by the labels that were
// changed, and a pod that has ended (Succeeded or Failed) holds no node.
//
// A Job submitted before attempts had the term (none at all) is not
// judged: its pods could share a node as it was placed.
func sharedNode(job *apiJob, pods []*apiPod) string {
	tmpl := &job.Spec.Template
	if n, ok := submittedPods(&tmpl.Spec); !ok || n < 2 {
		return ""
	}
	if kept := job.spreadKept; kept != nil && !*kept || kept == nil && !hasOwnSpread(tmpl) {
		return ""
	}
	on := make(map[string]string, len(pods))
	for _, p := range pods {
		node := p.Spec.NodeName
		if node == "" || p.Status.Phase == podSucceeded || p.Status.Phase == podFailed {
			continue
		}
		if other, ok := on[node]; ok {
			return fmt.Sprintf("the attempt's pods were changed at the site: its pods %s and %s share node %s, submitted with a node each", other, p.Name, node)
		}
		on[node] = p.Name
	}
	return ""
}

// errFound ends a list early: what was looked for was found.
var errFound = errors.New("found")

// hiddenPod says, or "", which live pod of the attempt's Job no longer
// carries the labels the backend follows the Job's pods by: the watch
// cache holds only pods labelled managed by Meridian (LabelManagedBy) and
// finds a Job's by jobNameLabel, and anyone who may update Pods in the
// namespace can change either on a running pod. The pod, still the Job's
// (its controller reference and the controller-uid label, which the Job
// controller selects by, are unchanged), then ran out of sight: it shared
// a node with a sibling unseen (sharedNode), and the attempt read Pending
// while it ran, or Succeeded when it was done.
//
// It is looked for only when the Job controller counts more live pods
// (status.active) than the cache shows, with one list of the Job's pods
// by its selector; a pod is hidden by its labels, not by a cache that
// has not caught up, so a list made while the cache trails finds none.
// The selector's label is controllerUIDLabel on a Job made by Kubernetes
// 1.27 or later and legacyControllerUIDLabel on one made before (whose
// pods carry only that one, on a cluster upgraded since too): where the
// first list finds fewer live pods of the Job than it counts, the Job's
// pods are listed again by the older label.
func (b *Backend) hiddenPod(ctx context.Context, job *apiJob, pods []*apiPod) string {
	live := 0
	for _, p := range pods {
		if p.Status.Phase != podSucceeded && p.Status.Phase != podFailed {
			live++
		}
	}
	if job.UID == "" || int64(job.Status.Active) <= int64(live) {
		return ""
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	why, listed, known := b.hiddenPodBy(lctx, controllerUIDLabel, job)
	if !known || why != "" || int64(listed) >= int64(job.Status.Active) {
		return why
	}
	why, _, _ = b.hiddenPodBy(lctx, legacyControllerUIDLabel, job)
	return why
}

// hiddenPodBy is hiddenPod's list of the Job's pods by one selector label
// (key): why a live pod of the Job is hidden, or "", and how many live
// pods of the Job it listed; known is false where the list failed (the
// next poll asks again).
func (b *Backend) hiddenPodBy(ctx context.Context, key string, job *apiJob) (why string, listed int, known bool) {
	sel := labels.SelectorFromSet(labels.Set{key: string(job.UID)}).String()
	err := listPages(ctx, b.cs.core, resourcePods, b.ns, metav1.ListOptions{LabelSelector: sel}, func() {
		why, listed = "", 0
	}, func(list *apiPodList) error {
		for i := range list.Items {
			p := &list.Items[i]
			if !controlledBy(p, job.UID) || p.Status.Phase == podSucceeded || p.Status.Phase == podFailed {
				continue
			}
			listed++
			if p.Labels[LabelManagedBy] != managedBy || p.Labels[jobNameLabel] != job.Name {
				why = fmt.Sprintf("the attempt's pods were changed at the site: its pod %s is labelled %s=%s, %s=%s, which its Job's pods are followed by",
					shown(p.Name), LabelManagedBy, shown(p.Labels[LabelManagedBy]), jobNameLabel, shown(p.Labels[jobNameLabel]))
				return errFound
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", listed, false
	}
	return why, listed, true
}

// blockingPod says, or "", which pod that is not the attempt's Job's
// keeps the attempt's pods off its node. The pods of an attempt split over
// nodes keep off the nodes of the pods that carry their Job's
// controller-uid label (jobFor): anyone who may create pods in the
// namespace can read the Job's UID and put it on a pod of their own, under
// another controller (so that the Job controller neither adopts nor counts
// it) and without the labels the watch cache follows, and so keep a pod of
// the attempt waiting for good, unseen. Such a pod claims the attempt's Job
// as no pod of the Job controller's does (ownedBy): the attempt is lost,
// as for a claim the cache holds (extraPods).
//
// It is looked for only while a live pod of the attempt waits for a node
// that the scheduler found none for (PodScheduled False) and the Job keeps
// its pods apart, with one list of the pods carrying the label (as
// hiddenPod's).
func (b *Backend) blockingPod(ctx context.Context, job *apiJob, pods []*apiPod) string {
	if job.UID == "" {
		return ""
	}
	if kept := job.spreadKept; kept != nil && !*kept || kept == nil && !hasOwnSpread(&job.Spec.Template) {
		return ""
	}
	waiting := false
	for _, p := range pods {
		if p.Spec.NodeName != "" || p.DeletionTimestamp != nil || p.Status.Phase == podSucceeded || p.Status.Phase == podFailed {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == podScheduled && c.Status != conditionTrue {
				waiting = true
			}
		}
	}
	if !waiting {
		return ""
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	why := ""
	sel := labels.SelectorFromSet(labels.Set{controllerUIDLabel: string(job.UID)}).String()
	err := listPages(lctx, b.cs.core, resourcePods, b.ns, metav1.ListOptions{LabelSelector: sel}, func() { why = "" }, func(list *apiPodList) error {
		for i := range list.Items {
			p := &list.Items[i]
			if ownedBy(p, job) || p.Spec.NodeName == "" || p.Status.Phase == podSucceeded || p.Status.Phase == podFailed {
				continue
			}
			why = fmt.Sprintf("the attempt's pods were changed at the site: pod %s on node %s carries the %s label of the attempt's Job, which keeps the Job's pods off its node, but is not the Job's",
				shown(p.Name), shown(p.Spec.NodeName), controllerUIDLabel)
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "" // the next poll asks again
	}
	return why
}

// hasOwnSpread reports whether tmpl still has the attempt's own required
// anti-affinity term (spreadsPods), as Submit made it (jobFor).
func hasOwnSpread(tmpl *podTemplateSpec) bool {
	runID, okRun := submittedString(&tmpl.Spec, "MERIDIAN_RUN_ID")
	attempt, okAttempt := submittedString(&tmpl.Spec, "MERIDIAN_ATTEMPT")
	a := tmpl.Spec.Affinity
	if !okRun || !okAttempt || a == nil || a.PodAntiAffinity == nil {
		return false
	}
	want := map[string]string{LabelRun: runLabel(runID), LabelAttempt: attempt}
	for _, t := range a.PodAntiAffinity.Required {
		if spreadsPods(t, want) {
			return true
		}
	}
	return false
}

// hasKeyedSpread reports whether tmpl has the attempt's own required
// anti-affinity term (hasOwnSpread) with the matchLabelKeys that narrow it
// to the pods of the Job itself (jobFor).
func hasKeyedSpread(tmpl *podTemplateSpec) bool {
	runID, okRun := submittedString(&tmpl.Spec, "MERIDIAN_RUN_ID")
	attempt, okAttempt := submittedString(&tmpl.Spec, "MERIDIAN_ATTEMPT")
	a := tmpl.Spec.Affinity
	if !okRun || !okAttempt || a == nil || a.PodAntiAffinity == nil {
		return false
	}
	want := map[string]string{LabelRun: runLabel(runID), LabelAttempt: attempt}
	for _, t := range a.PodAntiAffinity.Required {
		if spreadsPods(t, want) && slices.Equal(t.MatchLabelKeys, []string{controllerUIDLabel}) {
			return true
		}
	}
	return false
}

// unkeptSpread says, or "", why the Job of an attempt split over pods,
// found made already (by an earlier Submit, before the API server was
// upgraded or downgraded, or by an older Meridian), is not trusted to
// keep its pods apart: its pod template lacks the matchLabelKeys of the
// anti-affinity term (or the term itself), so the term is the run's and
// attempt's labels alone, which anyone who may create pods in the
// namespace can put on pods of their own to keep the attempt's pods off
// every node, waiting for good and unseen (blockingPod looks only for
// pods carrying the Job's UID). Submit's check of what the API server
// stored (keptSpread) sees only the Jobs it creates. A Job of one pod has
// no term to lose. A Job that has ended (Complete or Failed) is judged as
// any other: a term without the key could only have kept its pods
// waiting, which delays its end and cannot change it, and read lost, an
// attempt that ran to its end before the key was given was run again.
func (b *Backend) unkeptSpread(job *apiJob) string {
	if n, ok := submittedPods(&job.Spec.Template.Spec); !ok || n < 2 || jobEnded(job) {
		return ""
	}
	keyed := false
	if job.spreadKeyed != nil {
		keyed = *job.spreadKeyed
	} else {
		keyed = hasKeyedSpread(&job.Spec.Template)
	}
	if keyed {
		return ""
	}
	return fmt.Sprintf("the attempt's Job %s/%s lacks %s=[%s] in the anti-affinity term that keeps its pods on a node each (made by an earlier Submit or an older Meridian, or stored by an API server that dropped the field): anyone who may create pods in the namespace could keep its pods waiting for good, unseen, so it is not run as the attempt",
		b.ns, job.Name, spreadFieldPath, controllerUIDLabel)
}

// refuseUnkeptSpread is Submit's answer to a Job of the attempt found made
// already that is not trusted to keep its pods apart (unkeptSpread): the
// Job is marked lost and its end recorded, as Status would, and the
// attempt is given up (backend.ErrAttemptUnknown: it may have run, and it
// is not run a second time under its name). nil where the Job keeps the
// field, or has ended: Status judges its end as any other's.
func (b *Backend) refuseUnkeptSpread(ctx context.Context, job *apiJob) error {
	why := b.unkeptSpread(job)
	if why == "" {
		return nil
	}
	st := b.markLost(ctx, job, why)
	if rec, ok := b.record(job.Name); ok && rec.Final == nil && (rec.UID == "" || rec.UID == job.UID) {
		// Best effort: the mark on the Job says it as well.
		_ = b.saveFinal(job.Name, rec, st)
	}
	return fmt.Errorf("%s: %w", why, backend.ErrAttemptUnknown)
}

// spreadsPods reports whether term keeps each pod labelled want off the
// nodes of every other one of its Job: by node, selecting exactly those
// labels and (for a Job submitted since, jobFor) the pod's own Job's
// controller-uid label, in the pod's own namespace, narrowed by nothing
// else. A term without the controller-uid key is a Job's submitted before
// it, or one whose API server does not know matchLabelKeys (Kubernetes
// before 1.29, or 1.29 and 1.30 without its feature gate) and dropped it:
// it keeps more pods apart, not fewer.
func spreadsPods(t podAffinityTerm, want map[string]string) bool {
	sel := t.LabelSelector
	return t.TopologyKey == hostnameLabel && sel != nil && len(sel.MatchExpressions) == 0 &&
		maps.Equal(sel.MatchLabels, want) && len(t.Namespaces) == 0 && t.NamespaceSelector == nil &&
		(len(t.MatchLabelKeys) == 0 || slices.Equal(t.MatchLabelKeys, []string{controllerUIDLabel})) &&
		len(t.MismatchLabelKeys) == 0
}

// submittedString is the value that Meridian's container in spec is given
// as variable name, and whether it is given one.
func submittedString(spec *podSpec, name string) (string, bool) {
	for _, c := range spec.Containers {
		if c.Name != ContainerName {
			continue
		}
		for _, e := range c.Env {
			if e.Name == name && e.ValueFrom == nil {
				return e.Value, true
			}
		}
	}
	return "", false
}

// raisedRequest says, or "", whether the attempt's Job or its pods
// request more of the site's GPU resource (gpu) for a pod than Submit
// asked of each (submittedEach, which the template's environment keeps
// whatever is written to the Job since). Anyone who may update Jobs in the
// namespace can raise a suspended Job's container resources (which the
// API server lets change then), and the Job's pods made after it is
// resumed hold the more: the attempt was not placed with them, and what
// its workload ran on is not what it was given (its environment still
// says the fewer).
//
// Only more of the GPU resource is a change: a site's admission policy
// may well give every pod more of other resources (CPU, memory, another
// device's), or a container of its own that asks for none of it, and such
// a pod runs the attempt as placed. A Job whose template does not say what
// it asked (made by an older version) is not judged.
func raisedRequest(job *apiJob, pods []*apiPod, gpu string) string {
	asked, ok := submittedEach(&job.Spec.Template.Spec)
	if !ok {
		return ""
	}
	const changed = "the attempt's Job was changed at the site: "
	if n, err := specRequest(&job.Spec.Template.Spec, gpu); err != nil || int64(n) > asked {
		return changed + fmt.Sprintf("its pods request %s %s each, submitted with %d", requestString(n, err), gpu, asked)
	}
	for _, p := range pods {
		if n, err := podRequest(p, gpu); err != nil || int64(n) > asked {
			return changed + fmt.Sprintf("its pod %s requests %s %s, submitted with %d each", p.Name, requestString(n, err), gpu, asked)
		}
	}
	return ""
}

// requestString is a request of specRequest in words.
func requestString(n int, err error) string {
	if err != nil {
		return fmt.Sprintf("more than %d", maxGPUsPerNode)
	}
	return strconv.Itoa(n)
}

// retriedOrTimedOut says, or "", whether the site's retries or deadline
// (set by whoever: Submit sets neither) acted on the attempt's Job: a pod
// of it failed and the Job, not failed, goes on to run it again, or the
// Job failed on its deadline. Either way the attempt did not end by its
// workload's doing: it is lost to the site, not failed (a run that fails
// is not tried again), and a retry runs the attempt twice.
func retriedOrTimedOut(job *apiJob, pods []*apiPod) string {
	failed := false
	for _, c := range job.Status.Conditions {
		if c.Type != jobFailed || c.Status != conditionTrue {
			continue
		}
		if c.Reason == "DeadlineExceeded" {
			return "the attempt's Job was ended by a deadline set at the site (activeDeadlineSeconds " + intString(job.Spec.ActiveDeadlineSeconds) + "), not by its workload"
		}
		failed = true
	}
	if failed || job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit == 0 {
		return ""
	}
	for _, p := range pods {
		if p.Status.Phase == podFailed {
			return fmt.Sprintf("a pod of the attempt's Job failed and the Job, given backoffLimit %d at the site (submitted with 0), runs it again", *job.Spec.BackoffLimit)
		}
	}
	return ""
}

// notOwnPodsWhy is in the reason of an attempt whose Job ended, but not
// by its own pods alone (completedWithout, failedWithout): Logs reads no
// output of it.
const notOwnPodsWhy = "not by its own pods alone"

// completedWithout says, or "", why a Job that completed cannot be told
// to have completed by its own pods' success. Anyone who may create Pods
// in the namespace can make one with every mark of the Job's (its labels,
// annotations, controller reference, even the Job controller's tracking
// finalizer), which the Job controller counts as the Job's. Made to end at
// once, it can succeed before any poll sees two live pods (extraPods): the
// Job controller counts its success, completes the Job and deletes the
// attempt's own pod, unfinished, as one it no longer needs; or, under a
// retry limit set at the site, deletes the attempt's pod as surplus
// (counted failed) and completes by the other. The attempt's Job was
// submitted with no retries and as many pods as completions, so every
// pod it ever ran succeeded when it completes of its own: none failed,
// none was deleted before it ended, and the Job counted no failure.
// A pod deleted unfinished is remembered after it leaves the watch cache
// (podGone). A pod the cache still shows live is asked of the API server
// (whose Job status who may write it can set Complete while the pod
// runs): the cache of pods may trail that of Jobs, so only a pod the API
// server has live is one that did not succeed; where it cannot be asked,
// unsure is true and the end is not decided.
func (b *Backend) completedWithout(ctx context.Context, job *apiJob, pods []*apiPod) (why string, unsure bool) {
	const lost = "the attempt's Job completed, but " + notOwnPodsWhy + ": "
	if job.Status.Failed > 0 {
		return lost + fmt.Sprintf("the Job counted %d failed pods (failed, or deleted before they ended), submitted with no retries", job.Status.Failed), false
	}
	var live []*apiPod
	for _, p := range pods {
		switch {
		case p.Status.Phase == podSucceeded:
		case p.Status.Phase == podFailed:
			return lost + fmt.Sprintf("its pod %s failed", shown(p.Name)), false
		case p.DeletionTimestamp != nil:
			return lost + fmt.Sprintf("its pod %s was deleted before it ended", shown(p.Name)), false
		default:
			live = append(live, p)
		}
	}
	if name := b.watch.unfinishedPod(job.UID); name != "" {
		return lost + fmt.Sprintf("its pod %s went away before it succeeded", shown(name)), false
	}
	for _, p := range live {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, found, err := b.podNow(gctx, b.ns, p.Name)
		cancel()
		switch {
		case err != nil:
			return "", true
		case !found:
			// Gone since: podGone judges how it ended.
		case got.UID == p.UID && got.Status.Phase != podSucceeded:
			return lost + fmt.Sprintf("its pod %s is %s", shown(p.Name), shown(got.Status.Phase)), false
		}
	}
	return b.uncountedSuccess(ctx, job, pods)
}

// uncountedSuccess says, or "", why a Job that completed counts more
// successes than the backend saw of its own pods. The watch cache follows
// only pods with Meridian's labels: anyone who may create Pods in the
// namespace can make one without them but with the Job's controller-uid
// label and controller reference, which the Job controller counts and
// the backend never sees (with a queue, made while the Job waits
// suspended, it completes the Job as soon as the queue admits it, with no
// pod of the attempt's run). A success is the attempt's only by a pod of
// the Job (ownedBy) with Meridian's labels, made no earlier than the
// Job's start, seen Succeeded: in the cache, in the attempt's record
// (podSucceeded: one deleted since), or, where those fall short (the
// pods' cache may trail the Jobs'), in one list of the pods carrying the
// Job's controller-uid label. unsure is true where the list failed.
func (b *Backend) uncountedSuccess(ctx context.Context, job *apiJob, pods []*apiPod) (why string, unsure bool) {
	counted := int64(job.Status.Succeeded)
	if counted <= 0 {
		return "", false
	}
	var start time.Time
	if job.Status.StartTime != nil {
		start = job.Status.StartTime.Time
	}
	seen := map[types.UID]struct{}{}
	see := func(uid types.UID, made time.Time) {
		if uid != "" && !madeBeforeStart(made, start) {
			seen[sideUID(uid)] = struct{}{}
		}
	}
	// And the completion indexes of those of them that have one.
	var indexes []indexRange
	seePod := func(p *apiPod) {
		see(p.UID, p.CreationTimestamp.Time)
		if i, ok := podIndex(p); ok && p.UID != "" && !madeBeforeStart(p.CreationTimestamp.Time, start) {
			indexes = addIndex(indexes, i)
		}
	}
	for _, p := range pods {
		if p.Status.Phase == podSucceeded {
			seePod(p)
		}
	}
	// What the watch has seen succeed and not yet written (flushIndexes).
	_ = b.flushIndexes(job.Name)
	rec, hasRec := b.record(job.Name)
	if hasRec && rec.UID == job.UID {
		for _, s := range rec.Succeeded {
			see(s.UID, s.Made)
		}
	}
	// The record keeps maxSeenSucceeded pods: those of a larger attempt
	// deleted since are in the watcher's memory of pods gone (until the
	// backend restarts; then the Job's completed indexes are read against
	// the record's, succeededByIndex).
	for _, s := range b.watch.goneSucceeded(job.UID) {
		see(s.UID, s.Made)
	}
	if int64(len(seen)) >= counted {
		return "", false
	}
	// A Job made before Kubernetes 1.27 selects its pods by the older
	// label alone.
	succeeded := func(p *apiPod) bool { return p.Status.Phase == podSucceeded }
	hidden, err := b.listJobsPods(ctx, job, func(p *apiPod) {
		if succeeded(p) {
			seePod(p)
		}
	}, succeeded)
	if err != nil {
		return "", true // the next poll asks again
	}
	if int64(len(seen)) >= counted {
		return "", false
	}
	if hidden == "" && hasRec && rec.UID == job.UID && succeededByIndex(job, rec, indexes, start) {
		return "", false
	}
	why = fmt.Sprintf("the attempt's Job completed, but %s: the Job %s counted %d succeeded pods, and %d of its own pods were seen to succeed since it started",
		notOwnPodsWhy, shown(job.Name), counted, len(seen))
	if hidden != "" {
		why += fmt.Sprintf(" (its pod %s succeeded without the labels of the Job's pods)", shown(hidden))
	}
	return why, false
}

// succeededByIndex reports whether every success that an Indexed Job
// counts is a completion index at which a pod of the attempt's own was
// seen to succeed, on record (rec, which keeps them all, made no earlier
// than start) or among the pods seen (seen): the Job's counters, read
// instead of the pods themselves, where the pods that succeeded were
// deleted and the backend restarted since (uncountedSuccess). A success
// at an index is counted once by the Job controller, whichever pod of
// the index made it, and a pod of someone else's that succeeds first
// leaves the attempt's own pod of its index deleted unfinished, never
// seen to succeed. The counters must agree: as many indexes completed as
// successes counted, each below the Job's completions; where they do not,
// or the record's list does not read, the attempt is not taken to have
// succeeded (fails closed).
func succeededByIndex(job *apiJob, rec record, seen []indexRange, start time.Time) bool {
	n := int(ptr.Deref(job.Spec.Completions, 0))
	if n <= 0 || n > maxIndexedCompletions || job.Status.CompletedIndexes == "" {
		return false
	}
	done, ok := parseIndexes(job.Status.CompletedIndexes, n)
	if !ok {
		return false
	}
	total := 0
	for _, r := range done {
		total += r.hi - r.lo + 1
	}
	if total != int(job.Status.Succeeded) {
		return false
	}
	var onRecord []indexRange
	if rec.SucceededIndexes != "" && !madeBeforeStart(rec.SucceededIndexesMade, start) {
		if onRecord, ok = parseIndexes(rec.SucceededIndexes, n); !ok {
			return false
		}
	}
	own := unionIndexes(onRecord, seen)
	for _, r := range done {
		if !coversIndexes(own, r) {
			return false
		}
	}
	return true
}

// failedWithout says, or "", why a failed Job cannot be told to have
// failed by its own pods: a pod with every mark of the Job's
// (completedWithout) that fails at once fails the Job (it runs no
// retries), and the Job controller deletes the attempt's own pods,
// unfinished; the copy's exit code was read as the attempt's. The
// attempt's Job was submitted with no retries and as many pods as
// completions, so it runs no more pods than that, a queue's suspension
// aside: one more, in the Job's own counts (which the Job controller
// keeps, and a restarted backend still reads) or among the pods seen
// (ranPods), is another's. The Job controller sets Failed only once
// every pod has ended, and the kubelet ends a deleted pod Failed: the
// attempt's pod, deleted unfinished, then reads Failed in the cache until
// it goes. A Job of one pod that fails of its own has no pod deleted
// before it ended; one of several pods has the others deleted unfinished
// when one fails, and is judged by the counts alone.
//
// A pod without Meridian's labels, which the watch cache never sees, that
// claims the Job as the Job controller's pods do and fails at once, fails
// it too (with a queue, while the Job waits, to read Failed once
// admitted, with none of the attempt's pods): a failed Job that counts
// more ended pods than the backend saw of its own (uncountedEnds) is not
// the attempt's failure either. unsure is true where that could not be
// told (a list of the pods failed).
func (b *Backend) failedWithout(ctx context.Context, job *apiJob, pods []*apiPod) (why string, unsure bool) {
	if why := b.failedByOthers(job, pods); why != "" {
		return why, false
	}
	return b.uncountedEnds(ctx, job, pods)
}

// failedByOthers is failedWithout but for uncountedEnds.
func (b *Backend) failedByOthers(job *apiJob, pods []*apiPod) string {
	const lost = "the attempt's Job failed, but " + notOwnPodsWhy + ": "
	runs := int64(ptr.Deref(job.Spec.Completions, 1))
	if n := int64(job.Status.Failed) + int64(job.Status.Succeeded); n > runs {
		return lost + fmt.Sprintf("the Job counted %d failed and %d succeeded pods, more than the %d it runs with no retries",
			job.Status.Failed, job.Status.Succeeded, runs)
	}
	if ran := b.watch.ranPods(job, pods); int64(len(ran)) > runs {
		slices.Sort(ran)
		n := len(ran)
		for i := range ran {
			ran[i] = shown(ran[i])
		}
		if n > 4 {
			ran = append(ran[:4], "…")
		}
		return lost + fmt.Sprintf("%d pods of the Job were seen (%s), more than the %d it runs with no retries", n, strings.Join(ran, ", "), runs)
	}
	if ptr.Deref(job.Spec.Parallelism, 1) != 1 {
		return ""
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Status.Phase != podSucceeded && p.Status.Phase != podFailed {
			return lost + fmt.Sprintf("its pod %s was deleted before it ended", shown(p.Name))
		}
	}
	if name := b.watch.unfinishedPod(job.UID); name != "" {
		return lost + fmt.Sprintf("its pod %s went away before it ended", shown(name))
	}
	return ""
}

// startSlack is how much earlier than its Job's start (status.startTime)
// a pod of the Job may read as made and still count as made once the Job
// started. The Job controller, resuming a suspended Job (a queue's
// admission or preemption undone), makes the Job's pods first and sets
// startTime to its clock's time after, in the same pass; both times are
// kept to the second, so a pod of that pass can read a second or more
// earlier than the start (seen on the test cluster: a pod made at :10 of
// a Job started at :11, which read lost). A pod made by another while the
// Job waited, within startSlack of its admission, counts as the Job's:
// to take the attempt's end that way, one must time the copy to the
// queue's admission, which one cannot set.
const startSlack = 3 * time.Second

// madeBeforeStart says whether a pod made at made was made before a Job
// that started at start did, by more than startSlack.
func madeBeforeStart(made, start time.Time) bool {
	return made.Before(start.Add(-startSlack))
}

// neverStarted says, or "", why a Job that ended (condition cond) did not
// run the attempt: with a queue (backend.queueName) the Job is created
// suspended, and the Job controller makes no pod of it, nor starts it
// (status.startTime, set again at each resumption), until the queue
// admits it. Anyone who may create Pods in the namespace can make one
// with every mark of the Job's while it waits, which the Job controller
// counts: ending at once, it completes (or fails) the Job before it ever
// started, or as soon as the queue admits it, with no pod of the
// attempt's run. A Job that ended unstarted, or with a pod made before it
// was last started, is not the attempt's end. (A Job of several pods that
// a queue preempted after some of them ended has such pods of its own,
// and reads lost too.)
func (b *Backend) neverStarted(job *apiJob, cond string, pods []*apiPod) string {
	if b.queue == "" || (cond != jobComplete && cond != jobFailed) {
		return ""
	}
	start := job.Status.StartTime
	if start == nil {
		return fmt.Sprintf("the attempt's Job is %s but was never started: its queue never admitted it, and the pods that ended it are not the attempt's", shown(cond))
	}
	for _, p := range pods {
		if madeBeforeStart(p.CreationTimestamp.Time, start.Time) {
			return fmt.Sprintf("the attempt's Job is %s, but its pod %s was made before the Job was started (admitted by its queue)", shown(cond), shown(p.Name))
		}
	}
	// One that ended and was deleted since is dated by the record
	// (podEnded).
	if r, ok := b.record(job.Name); ok && r.UID == job.UID && !r.EarlyPodMade.IsZero() && madeBeforeStart(r.EarlyPodMade, start.Time) {
		return fmt.Sprintf("the attempt's Job is %s, but its pod %s, since gone, was made before the Job was started (admitted by its queue) and ended", shown(cond), shown(r.EarlyPod))
	}
	return ""
}

// uncountedEnds says, or "", why a failed Job counts more ended pods
// (failed and succeeded) than the backend saw of its own: pods of the Job
// seen Succeeded, Failed, being deleted or gone before they succeeded, in
// the cache, in the attempt's record (podSucceeded) and in the watcher's
// memory of pods gone (podGone), and, only where those fall short, in one
// list of the pods carrying the Job's controller-uid label (as
// uncountedSuccess's, which see). A pod that claims the Job without
// Meridian's labels is never seen by the cache, yet the Job controller
// counts it. unsure is true where the list failed.
func (b *Backend) uncountedEnds(ctx context.Context, job *apiJob, pods []*apiPod) (why string, unsure bool) {
	counted := int64(job.Status.Failed) + int64(job.Status.Succeeded)
	if counted <= 0 {
		return "", false
	}
	ended := func(p *apiPod) bool {
		return p.Status.Phase == podSucceeded || p.Status.Phase == podFailed || p.DeletionTimestamp != nil
	}
	seen := map[types.UID]struct{}{}
	see := func(uid types.UID) {
		if uid != "" {
			seen[sideUID(uid)] = struct{}{}
		}
	}
	for _, p := range pods {
		if ended(p) {
			see(p.UID)
		}
	}
	if r, ok := b.record(job.Name); ok && r.UID == job.UID {
		for _, s := range r.Succeeded {
			see(s.UID)
		}
		for _, s := range r.Ended {
			see(s.UID)
		}
	}
	for _, uid := range b.watch.goneUIDs(job.UID) {
		see(uid)
	}
	if int64(len(seen)) >= counted {
		return "", false
	}
	hidden, err := b.listJobsPods(ctx, job, func(p *apiPod) {
		if ended(p) {
			see(p.UID)
		}
	}, ended)
	if err != nil {
		return "", true // the next poll asks again
	}
	if int64(len(seen)) >= counted {
		return "", false
	}
	why = fmt.Sprintf("the attempt's Job failed, but %s: the Job %s counted %d failed and %d succeeded pods, and %d of its own pods were seen to end",
		notOwnPodsWhy, shown(job.Name), job.Status.Failed, job.Status.Succeeded, len(seen))
	if hidden != "" {
		why += fmt.Sprintf(" (its pod %s ended without the labels of the Job's pods)", shown(hidden))
	}
	return why, false
}

// listJobsPods lists, in one paged list, the pods carrying the Job's
// controller-uid label (the older label for a Job made before Kubernetes
// 1.27, which selects by it alone), handing own each pod of the Job
// (ownedBy) with Meridian's labels, and returning the name of the first
// pod without them for which other is true, or "".
func (b *Backend) listJobsPods(ctx context.Context, job *apiJob, own func(*apiPod), other func(*apiPod) bool) (string, error) {
	sel, err := uidSelector(selectorKey(job), job.UID)
	if err != nil {
		return "", err
	}
	hidden := ""
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// own is called again for the pods a list started over reads again
	// (listPages): its callers keep them by UID.
	err = listPages(lctx, b.cs.core, resourcePods, b.ns, metav1.ListOptions{LabelSelector: sel}, func() { hidden = "" }, func(list *apiPodList) error {
		for i := range list.Items {
			p := &list.Items[i]
			labelled := p.Labels[LabelManagedBy] == managedBy && p.Labels[jobNameLabel] == job.Name
			if ownedBy(p, job) && labelled {
				own(p)
			} else if !labelled && hidden == "" && other(p) {
				hidden = p.Name
			}
		}
		return nil
	})
	return hidden, err
}

// intString is *p in decimal, or "unset".
func intString[T int32 | int64](p *T) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(int64(*p), 10)
}

// Find returns the handle of the attempt's Job if it exists, or existed:
// what the attempt's record in the state directory says, as strictly as
// Status judges a Job (attemptsJob). Submit writes the record before it
// creates the Job, so an attempt without one was never submitted through
// this state directory, whatever Job of its name carries its annotation
// and label. A record with an end or with the Job's UID says the Job was
// created: its handle is found even when the Job has gone or another is
// under its name since (Status then reports the attempt lost, and Cancel
// leaves the other alone), and without asking the API server. A record
// with neither (the create's answer never came) is the attempt's only if
// the Job of the name carries the record's submission value.
func (b *Backend) Find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	if err := backend.ValidRunID(runID); err != nil {
		return "", false, err
	}
	name := JobName(runID, attempt)
	rec, hasRec := b.record(name)
	if !hasRec || rec.RunID != runID || rec.Attempt != attempt {
		return "", false, nil
	}
	if rec.Final != nil || rec.UID != "" {
		return name, true, nil
	}
	if err := b.watch.ready(ctx); err != nil {
		return "", false, err
	}
	job, ok := b.watch.job(name)
	if !ok {
		// Another controller may have created it an instant ago.
		got, err := b.getJob(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			return "", false, nil
		case err != nil:
			return "", false, b.explain(err)
		}
		job = got
	}
	if !attemptsJob(job, rec) {
		return "", false, nil
	}
	// Best effort, as in replacedJob.
	_ = b.keepUID(name, job.UID)
	return name, true, nil
}

// Status reports the attempt's state from the watched Job, Pods and Nodes.
func (b *Backend) Status(ctx context.Context, handle string) (backend.Status, error) {
	if err := validHandle(handle); err != nil {
		return backend.Status{}, err
	}
	if err := b.watch.ready(ctx); err != nil {
		return backend.Status{}, err
	}
	// A Job of the name that the state directory has no record of was
	// never submitted through it (attemptsJob), whatever it carries: its
	// state is no attempt's, in the watch cache or not. A UID in memory
	// is one read from or written to the record (knownUID), which is
	// never removed once it has one: what every poll past the first
	// asks is answered without reading the file.
	if _, known := b.knownUID(handle); !known {
		if _, hasRec := b.record(handle); !hasRec {
			return backend.Status{}, fmt.Errorf("job %s/%s: no record of it in the state directory: %w", b.ns, handle, backend.ErrNotFound)
		}
	}
	job, ok := b.watch.job(handle)
	if !ok {
		rec, hasRec := b.record(handle)
		// A cancellation on record is the end only once the Job stops
		// (below): one the cache lacks may be too new for it (the watch
		// has not taken it yet) and running, Cancel's mark and delete not
		// through. It is read from the API server.
		if hasRec && rec.Final != nil && rec.Final.State != backend.Cancelled {
			return *rec.Final, nil
		}
		if !hasRec {
			return backend.Status{}, fmt.Errorf("job %s/%s: %w", b.ns, handle, backend.ErrNotFound)
		}
		// Submitted through this state directory but not in the cache: it
		// may be an instant old, or deleted behind Meridian's back.
		got, err := b.getJob(ctx, handle)
		if apierrors.IsNotFound(err) {
			if rec.Final != nil {
				// Cancelled, and its Job gone: maybe with orphan
				// propagation, its pods still running.
				return b.endOnRecord(ctx, handle, nil, *rec.Final), nil
			}
			st := backend.Status{State: backend.Lost, Reason: "the Job was deleted at the site"}
			if err := b.saveFinal(handle, rec, st); err != nil {
				return backend.Status{}, err
			}
			return st, nil
		}
		if err != nil {
			return backend.Status{}, b.explain(err)
		}
		job = got
	}
	if fin, ok := b.knownFinal(handle); ok {
		// The attempt's end on record is its end: it is not worked out
		// again from the Job, its pods and their nodes at every call, nor
		// changed by what the cluster says of the Job since. A recorded
		// cancellation is the end only once the attempt's pods stopped
		// (cancelledStatus), which is looked at at each call until it is
		// found so, and remembered from then on (rememberOver).
		return b.endOnRecord(ctx, handle, job, fin), nil
	}
	if b.replacedJob(handle, job) {
		rec, _ := b.record(handle)
		if rec.Final != nil {
			// Forgotten from memory (maxFinals): as above.
			return b.endOnRecord(ctx, handle, job, *rec.Final), nil
		}
		st := backend.Status{State: backend.Lost, Reason: replacedReason}
		if err := b.saveFinal(handle, rec, st); err != nil {
			return backend.Status{}, err
		}
		return st, nil
	}
	st := b.jobStatus(ctx, job)
	if st.State.Final() {
		rec, hasRec := b.record(handle)
		if hasRec && rec.Final != nil {
			// Forgotten from memory (maxFinals) but on record: the end
			// on record stands, as above.
			return b.endOnRecord(ctx, handle, job, *rec.Final), nil
		}
		if hasRec {
			if err := b.saveFinal(handle, rec, st); err != nil {
				return backend.Status{}, err
			}
		}
	}
	return st, nil
}

// endOnRecord is the state of an attempt whose record has an end, fin:
// fin, unless it is a cancellation, which is the end only once the
// attempt's pods stopped (cancelledStatus). Each of Status's paths to an
// end on record goes through it, so that none takes a cancellation for
// the end by itself. job is the Job under the attempt's name, or nil
// where none is.
func (b *Backend) endOnRecord(ctx context.Context, handle string, job *apiJob, fin backend.Status) backend.Status {
	if fin.State != backend.Cancelled {
		return fin
	}
	return b.cancelledStatus(ctx, handle, job, fin)
}

// cancelledStatus is the state of an attempt whose record ends Cancelled
// (fin), its Job (job, under the attempt's name) still there, or gone (job
// nil): fin once the attempt's pods stopped (cancelOver), else Running.
// The record of the cancellation and Meridian's mark on the Job say only
// that no pod of the attempt is to start again: a Cancel whose delete the
// API server refused (failing, throttling, an admission policy) leaves
// the Job and its pods running, a Job being deleted keeps its pods for
// their grace period (or for good, Terminating on a node that does not
// answer), and one deleted with orphan propagation leaves them running.
// Taken for the end, a drain moved the run on while the old attempt still
// wrote its checkpoint. Once found over, the attempt is remembered so (rememberOver)
// and not looked at again.
func (b *Backend) cancelledStatus(ctx context.Context, handle string, job *apiJob, fin backend.Status) backend.Status {
	if b.knownOver(handle) {
		return fin
	}
	var running int
	var known, over bool
	uid := types.UID("")
	gone := job == nil || b.replacedJob(handle, job)
	if gone {
		// The attempt's own Job is gone, and none or someone else's is
		// under its name: gone maybe with orphan propagation, leaving its
		// pods running. They carry its UID (on record); a record without
		// one (an older version's) has nothing to find them by.
		uid, _ = b.knownUID(handle)
		if uid == "" {
			rec, _ := b.record(handle)
			uid = rec.UID
		}
		if uid == "" || job != nil && uid == job.UID {
			return fin
		}
		running = b.unfinishedInCache(handle, uid)
		known = true
		if running == 0 {
			running, known, over = b.attemptPodsStopped(ctx, uid)
		}
	} else {
		uid = job.UID
		running, known, over = b.cancelOver(ctx, job)
	}
	if over {
		b.rememberOver(handle)
		return fin
	}
	st := backend.Status{State: backend.Running}
	switch {
	case !known:
		st.Reason = "cancelling: whether the attempt's pods still run could not be read"
		if _, err := uidSelector(controllerUIDLabel, uid); err != nil {
			// Never readable: said, or the attempt reads cancelling
			// for good with no word why.
			st.Reason = cutReason(st.Reason + ": " + err.Error())
		}
	case !gone && job.DeletionTimestamp == nil && !jobEnded(job):
		st.Reason = fmt.Sprintf("cancelling: the attempt's Job is not deleted yet, %s", podsStillRun(running))
	default:
		st.Reason = "cancelling: " + podsStillRun(running)
	}
	if gone {
		// The other Job's pods, if any, are not the attempt's, nor are
		// their times.
		return st
	}
	return podTimes(st, b.watch.podsOf(job))
}

func podsStillRun(n int) string {
	if n == 1 {
		return "1 pod of the attempt still runs"
	}
	return fmt.Sprintf("%d pods of the attempt still run", n)
}

// cancelOver reports whether the cancelled attempt's Job, job, and its
// pods have stopped: no pod labelled with its UID (labelledFor) is
// unfinished in the watch cache, and the Job controller ended it
// (Complete or Failed: before Kubernetes 1.31 Failed is set while the
// pods still terminate, and anyone who may update jobs/status can set
// either, so the cache's pods, which cost nothing, are looked at first),
// or it is being deleted and no such pod is unfinished in one list of the
// pods by each controller-uid label either (attemptPodsStopped), since a
// pod relabelled out of the cache's sight runs on all the same. running
// is how many such pods were found; known is false where a list failed,
// which is no word that they stopped.
func (b *Backend) cancelOver(ctx context.Context, job *apiJob) (running int, known, over bool) {
	if running = b.unfinishedInCache(job.Name, job.UID); running > 0 {
		return running, true, false
	}
	if jobEnded(job) {
		return 0, true, true
	}
	if job.DeletionTimestamp == nil {
		// Not deleted, the Job controller may start its pods again.
		return 0, true, false
	}
	return b.attemptPodsStopped(ctx, job.UID)
}

// unfinishedFor reports whether pod p is unfinished and labelled with the
// UID uid (labelledFor).
func unfinishedFor(p *apiPod, uid types.UID) bool {
	return p.Status.Phase != podSucceeded && p.Status.Phase != podFailed && labelledFor(p, uid)
}

// unfinishedInCache is how many pods of the Job name in the watch cache
// are unfinished and labelled with the UID uid.
func (b *Backend) unfinishedInCache(name string, uid types.UID) int {
	if uid == "" {
		return 0
	}
	n := 0
	objs, _ := b.watch.pods.GetIndexer().ByIndex(podsByJob, name)
	for _, o := range objs {
		if p, ok := o.(*apiPod); ok && unfinishedFor(p, uid) {
			n++
		}
	}
	return n
}

// attemptPodsStopped reports whether no pod of the namespace labelled with
// the UID uid is unfinished, by one list of the pods by each controller-uid
// label (listAttemptPods; a pod found by both is counted once, by its name
// and UID). running is how many were found; known is false where a list
// failed.
func (b *Backend) attemptPodsStopped(ctx context.Context, uid types.UID) (running int, known, over bool) {
	if uid == "" {
		return 0, false, false
	}
	var found podSet
	err := b.listAttemptPods(ctx, uid, uidLabels, func(p *apiPod) {
		if unfinishedFor(p, uid) {
			found.add(p)
		}
	})
	if err != nil {
		return found.len(), false, false
	}
	return found.len(), true, found.len() == 0
}

// jobStatus maps a Job, its Pods and their Nodes to a backend state, with
// when its workload ran.
func (b *Backend) jobStatus(ctx context.Context, job *apiJob) backend.Status {
	pods, stray := b.watch.claimsOf(job)
	st := podTimes(b.jobState(ctx, job, pods, stray), pods)
	// The reason repeats what the workload and the site said.
	st.Reason = siteWords(st.Reason)
	if why := b.forgedMarks(job); why != "" {
		// Reported beside the state the Job's own conditions and pods
		// give, as the attempt's record does not change by them.
		if st.Reason == "" {
			st.Reason = why
		} else {
			st.Reason += "; " + why
		}
	}
	st.Reason = cutReason(st.Reason)
	return st
}

// podTimes adds to st when the Job's workload ran: from the first start of
// its container in any of pods (its running or terminated state's
// startedAt, else the pod's startTime) to the last finish, once st is
// final and the container has finished in every pod that started it.
func podTimes(st backend.Status, pods []*apiPod) backend.Status {
	if st.State == backend.Pending {
		return st
	}
	var first, last time.Time
	finished := true
	for _, p := range pods {
		var start, end time.Time
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != ContainerName {
				continue
			}
			switch s := cs.State; {
			case s.Running != nil:
				start = siteTime(s.Running.StartedAt.Time)
			case s.Terminated != nil:
				start, end = siteTime(s.Terminated.StartedAt.Time), siteTime(s.Terminated.FinishedAt.Time)
			}
		}
		if start.IsZero() && p.Status.StartTime != nil {
			start = siteTime(p.Status.StartTime.Time)
		}
		if start.IsZero() {
			continue
		}
		if first.IsZero() || start.Before(first) {
			first = start
		}
		if end.IsZero() {
			finished = false
		} else if end.After(last) {
			last = end
		}
	}
	if first.IsZero() {
		return st
	}
	st.Started = first.UTC()
	if st.State.Final() && finished && !last.Before(first) {
		st.Ended = last.UTC()
	}
	return st
}

// siteTime is a time the API server gave, in UTC; zero when it is before
// 1971 or past the year 9999 (RFC 3339 takes a zone offset of up to a day,
// which can carry 9999-12-31 into the year 10000). Such a time is not a
// job's, and one past 9999 would not even encode: the job's final record
// could not be saved, and the job would read as a site that does not
// answer.
func siteTime(t time.Time) time.Time {
	if t = t.UTC(); t.Year() < 1971 || t.Year() > 9999 {
		return time.Time{}
	}
	return t
}

// jobState maps a Job, its Pods (pods) and their Nodes to a backend state.
func (b *Backend) jobState(ctx context.Context, job *apiJob, pods []*apiPod, stray *apiPod) backend.Status {
	// Marks the backend did not put there (marks.go) are no verdict: the
	// attempt is judged by the Job's conditions and pods, as without them.
	if r, own := b.markOf(job, AnnotationLost); own {
		return backend.Status{State: backend.Lost, Reason: r}
	}
	if b.ownMark(job, AnnotationCancelled) {
		if b.cancelledOnRecord(job.Name) {
			return backend.Status{State: backend.Cancelled, ExitCode: 128 + 15, Reason: "cancelled"}
		}
		return b.markLost(ctx, job, cancelledAtSite)
	}
	if why := changedAtSite(job); why != "" {
		// Whatever its conditions and pods say: a Job that completed
		// with fewer pods than the attempt's did not run the attempt.
		return b.markLost(ctx, job, why)
	}
	if why := b.unkeptSpread(job); why != "" {
		// Whatever its pods say, until it ends: its pods could be kept
		// off every node by anyone's, unseen (refuseUnkeptSpread).
		return b.markLost(ctx, job, why)
	}
	if why := raisedRequest(job, pods, b.gpu); why != "" {
		// What it ran on is not what the attempt was placed with.
		return b.markLost(ctx, job, why)
	}
	if why := extraPods(job, pods, stray); why != "" {
		// Whose output and end the attempt's is cannot be told.
		return b.markLost(ctx, job, why)
	}
	if why := sharedNode(job, pods); why != "" {
		return b.markLost(ctx, job, why)
	}
	if why := b.hiddenPod(ctx, job, pods); why != "" {
		return b.markLost(ctx, job, why)
	}
	if why := b.blockingPod(ctx, job, pods); why != "" {
		return b.markLost(ctx, job, why)
	}
	if why := retriedOrTimedOut(job, pods); why != "" {
		return b.markLost(ctx, job, why)
	}
	for _, c := range job.Status.Conditions {
		if c.Status != conditionTrue {
			continue
		}
		if why := b.neverStarted(job, c.Type, pods); why != "" {
			return b.markLost(ctx, job, why)
		}
		switch c.Type {
		case jobComplete:
			why, unsure := b.completedWithout(ctx, job, pods)
			if why != "" {
				return b.markLost(ctx, job, why)
			}
			if unsure {
				return backend.Status{State: backend.Running, Reason: "the Job is complete; its pods' ends are not yet confirmed"}
			}
			return backend.Status{State: backend.Succeeded}
		case jobFailed:
			why, unsure := b.failedWithout(ctx, job, pods)
			if why != "" {
				return b.markLost(ctx, job, why)
			}
			if unsure {
				return backend.Status{State: backend.Running, Reason: "the Job failed; its pods' ends are not yet confirmed"}
			}
			if st, over := overStorageLimit(pods); over {
				return st
			}
			if reason, lost := disrupted(pods); lost {
				return b.markLost(ctx, job, reason)
			}
			return failedStatus(c, pods)
		}
	}
	if job.DeletionTimestamp != nil {
		return b.markLost(ctx, job, "the Job is being deleted at the site")
	}
	if st, over := overStorageLimit(pods); over {
		return st
	}
	if reason, lost := b.lostPods(pods); lost {
		return b.markLost(ctx, job, reason)
	}
	if ptr.Deref(job.Spec.Suspend, false) {
		if q := job.Labels[KueueQueueLabel]; q != "" {
			return backend.Status{State: backend.Pending, Reason: fmt.Sprintf("queued: waiting for Kueue to admit the Job (LocalQueue %s)", q)}
		}
		return backend.Status{State: backend.Pending, Reason: "the Job is suspended"}
	}
	want := int(ptr.Deref(job.Spec.Parallelism, 1))
	running := 0
	reason := ""
	for _, p := range pods {
		switch p.Status.Phase {
		case podRunning:
			if p.DeletionTimestamp == nil {
				running++
			}
		case podPending:
			if reason == "" {
				reason = pendingReason(p)
			}
		}
	}
	if running >= want {
		return backend.Status{State: backend.Running}
	}
	if reason == "" {
		if len(pods) == 0 {
			reason = "waiting for the Job controller to create its pods"
		} else {
			reason = fmt.Sprintf("%d of %d pods running", running, want)
		}
	}
	return backend.Status{State: backend.Pending, Reason: reason}
}

func pendingReason(p *apiPod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == podScheduled && c.Status != conditionTrue {
			if c.Message != "" {
				return "unschedulable: " + c.Message
			}
			return "waiting to be scheduled"
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return strings.TrimSpace(w.Reason + " " + w.Message)
		}
	}
	if p.Spec.NodeName != "" {
		return "starting on node " + p.Spec.NodeName
	}
	return "waiting to be scheduled"
}

// failedStatus reports a failed Job with the exit code of its first failed
// container.
func failedStatus(c condition, pods []*apiPod) backend.Status {
	st := backend.Status{State: backend.Failed, ExitCode: 1, Reason: strings.TrimSpace(c.Reason + ": " + c.Message)}
	// A pod that failed undeleted first: the Job controller deletes the
	// others of a Job that failed, and the kubelet's kill is their end.
	ordered := make([]*apiPod, 0, len(pods))
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			ordered = append(ordered, p)
		}
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			ordered = append(ordered, p)
		}
	}
	for _, p := range ordered {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; cs.Name == ContainerName && t != nil && t.ExitCode != 0 {
				st.ExitCode = int(t.ExitCode)
				st.Reason = fmt.Sprintf("exit code %d", t.ExitCode)
				if t.Reason != "" && t.Reason != "Error" {
					st.Reason += " (" + t.Reason + ")"
				}
				if t.Message != "" {
					st.Reason += ": " + t.Message
				}
				return st
			}
		}
	}
	return st
}

// ownStorageEvictions are the words with which the kubelet evicts a pod
// for what the pod itself wrote past its limits (an emptyDir past its
// sizeLimit, a container or the pod past its ephemeral-storage limit),
// not for its node running short, which says "The node was low on
// resource". They have read so since Kubernetes 1.8.
var ownStorageEvictions = []string{
	"Usage of EmptyDir volume",
	"exceeded its local ephemeral storage limit",
	"ephemeral local storage usage exceeds the total limit of containers",
}

// overStorageLimit reports a Pod the kubelet evicted for writing past its
// own limits (backend.scratchSize): the attempt failed, by its workload's
// doing, and would do the same at another site; it is not lost.
func overStorageLimit(pods []*apiPod) (backend.Status, bool) {
	for _, p := range pods {
		msgs := []string{}
		if p.Status.Reason == "Evicted" {
			msgs = append(msgs, p.Status.Message)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == disruptionTarget && c.Status == conditionTrue {
				msgs = append(msgs, c.Message)
			}
		}
		for _, m := range msgs {
			for _, w := range ownStorageEvictions {
				if strings.Contains(m, w) {
					return backend.Status{State: backend.Failed, ExitCode: 1,
						Reason: fmt.Sprintf("pod %s evicted for writing past its storage limit (backend.scratchSize): %s", p.Name, strings.TrimSpace(m))}, true
				}
			}
		}
	}
	return backend.Status{}, false
}

// disrupted reports a Pod that Kubernetes evicted or otherwise disrupted.
func disrupted(pods []*apiPod) (string, bool) {
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == disruptionTarget && c.Status == conditionTrue {
				return fmt.Sprintf("pod %s disrupted (%s): %s", p.Name, c.Reason, c.Message), true
			}
		}
		if p.Status.Reason == "Evicted" || p.Status.Reason == "NodeLost" {
			return fmt.Sprintf("pod %s %s: %s", p.Name, strings.ToLower(p.Status.Reason), p.Status.Message), true
		}
	}
	return "", false
}

// lostPods reports an unfinished Pod whose Node has been not Ready (or
// gone) for longer than NodeLostAfter, or that was disrupted.
func (b *Backend) lostPods(pods []*apiPod) (string, bool) {
	if r, ok := disrupted(pods); ok {
		return r, true
	}
	now := time.Now()
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == podSucceeded || p.Status.Phase == podFailed {
			continue
		}
		since, why, down := b.watch.nodeDown(p.Spec.NodeName)
		if down && now.Sub(since) >= b.NodeLostAfter {
			return fmt.Sprintf("node %s of pod %s %s for %s", p.Spec.NodeName, p.Name, why, now.Sub(since).Round(time.Second)), true
		}
	}
	return "", false
}

// cancelledAtSite is the reason an attempt is lost whose Job is marked
// cancelled (AnnotationCancelled) with no cancellation on record.
const cancelledAtSite = "the attempt's Job was marked cancelled at the site; the attempt was not cancelled"

// cancelledOnRecord reports whether the attempt's record ends Cancelled.
// Cancel records the cancellation before it marks the Job so (and always
// has): a mark without it was put there by someone else who may update
// Jobs in the namespace, and is not the attempt's user cancelling it. Read
// as Cancelled, it ended the run as though its user had, where the site
// only stopped (or not even stopped) the attempt.
func (b *Backend) cancelledOnRecord(name string) bool {
	rec, ok := b.record(name)
	return ok && rec.Final != nil && rec.Final.State == backend.Cancelled
}

// markLost records on the Job that the attempt is lost, so that the verdict
// holds when the node returns and its Pods end some other way. Best effort:
// the state directory's record keeps it for this controller too. The patch
// is the Job's, by UID: one deleted and made again under its name since
// the cache saw it is refused (patchJob), and is not taken for lost.
func (b *Backend) markLost(ctx context.Context, job *apiJob, reason string) backend.Status {
	st := backend.Status{State: backend.Lost, Reason: reason}
	reason = cutReason(reason)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = b.patchJob(pctx, job.Name, job.UID, b.markPatch(AnnotationLost, job.Name, job.UID, reason))
	return st
}

// Cancel stops the attempt: its cancellation is recorded, then the Job is
// deleted with foreground propagation (its Pods first). Cancelling a
// finished Job keeps it (and its logs); a lost one is deleted but stays
// Lost. The attempt's pods that still run are deleted as well
// (stopAttemptPods), when the Job is gone or being deleted already: a
// deletion with orphan propagation, by anyone who may delete Jobs in the
// namespace, leaves them running.
func (b *Backend) Cancel(ctx context.Context, handle string) error {
	if err := validHandle(handle); err != nil {
		return err
	}
	if err := b.watch.ready(ctx); err != nil {
		return err
	}
	// Submit writes the attempt's record before it creates the Job: a Job
	// of the name without one was never submitted through this state
	// directory, whatever it carries (attemptsJob), and is not Meridian's
	// to mark or delete. Nor is a record of its end written for it, which
	// would have Find and Status take it for the attempt's from then on.
	rec, hasRec := b.record(handle)
	if !hasRec {
		return fmt.Errorf("job %s/%s: no record of it in the state directory: %w", b.ns, handle, backend.ErrNotFound)
	}
	job, ok := b.watch.job(handle)
	if !ok {
		got, err := b.getJob(ctx, handle)
		switch {
		case apierrors.IsNotFound(err):
			// Gone already; deleted with orphan propagation, it left its
			// pods running.
			return b.stopAttemptPods(ctx, handle, rec.UID, false, uidLabels)
		case err != nil:
			return b.explain(err)
		}
		job = got
	}
	if b.replacedJob(handle, job) {
		rec, _ = b.record(handle)
		// Not the attempt's: it is someone else's to delete.
		if rec.Final == nil {
			b.saveFinal(handle, rec, backend.Status{State: backend.Lost, Reason: replacedReason})
		}
		// The attempt's own Job is gone, maybe leaving its pods running.
		if rec.UID != "" && rec.UID != job.UID {
			return b.stopAttemptPods(ctx, handle, rec.UID, false, uidLabels)
		}
		return nil
	}
	st := b.jobStatus(ctx, job)
	switch {
	case st.State == backend.Lost || st.State == backend.Cancelled:
		if rec.Final == nil {
			b.saveFinal(handle, rec, st)
		}
	case st.State.Final():
		if rec.Final == nil {
			b.saveFinal(handle, rec, st)
		}
		return nil
	default:
		cancelled := backend.Status{State: backend.Cancelled, ExitCode: 128 + 15, Reason: "cancelled"}
		if err := b.saveFinal(handle, rec, cancelled); err != nil {
			return fmt.Errorf("kubernetes cancel %s: %w", handle, err)
		}
		err := b.patchJob(ctx, handle, job.UID, b.markPatch(AnnotationCancelled, handle, job.UID, time.Now().UTC().Format(time.RFC3339)))
		switch {
		case apierrors.IsNotFound(err):
			// Gone since the cache saw it: deleted with orphan
			// propagation, it left its pods running, as above.
			return b.stopAttemptPods(ctx, handle, job.UID, false, uidLabels)
		case apierrors.IsInvalid(err):
			// The Job was made again under its name by someone else (the
			// UID differs), or the mark was refused for another reason
			// (an admission policy on Job updates, annotations padded
			// past their bound): the delete below, by the attempt's UID,
			// tells them apart, deleting only the attempt's Job.
		case err != nil:
			return fmt.Errorf("kubernetes cancel %s: %w", handle, b.explain(err))
		}
	}
	if job.DeletionTimestamp != nil {
		// Being deleted by someone else, maybe with orphan propagation:
		// the garbage collector then leaves its pods running, with no
		// owner. Deleting the Job again with another propagation is no
		// cure: once the collector has orphaned the pods (before the Job
		// goes, or while another finalizer holds it) no propagation
		// reaches them. The attempt's pods are deleted here, whatever the
		// propagation (the collector's deletes of them, if any, and these
		// are the same).
		return b.stopAttemptPods(ctx, handle, job.UID, false, uidLabels)
	}
	err := b.cs.batch.Delete().Namespace(b.ns).Resource(resourceJobs).Name(handle).Body(&metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		Preconditions:     &metav1.Preconditions{UID: &job.UID},
	}).Do(ctx).Error()
	switch {
	case err == nil:
		// The cache may not have seen a deletion of the Job begun before
		// this one, with orphan propagation: the foreground propagation of
		// this one (which takes the place of a pending orphaning) deletes
		// the pods the Job still owns, and only those. The others, orphaned
		// before, are looked for by the label the Job's selector matches
		// alone, and at best effort: this is every Cancel's path (a law
		// move cancels each of its runs), and its lists share the client's
		// request rate with every other call.
		return b.stopAttemptPods(ctx, handle, job.UID, true, []string{selectorKey(job)})
	case apierrors.IsNotFound(err):
		return b.stopAttemptPods(ctx, handle, job.UID, false, uidLabels)
	case apierrors.IsConflict(err):
		// The Job under the name is not the attempt's (its UID differs):
		// the attempt's was deleted and another made under its name
		// since the cache saw it, maybe with orphan propagation, leaving
		// the attempt's pods running. They, and only they, carry its UID.
		// The Job is read again to be sure: a conflict for another reason
		// (an admission webhook's, or an API server's that does not
		// answer as Kubernetes does) left the attempt's Job undeleted.
		got, gerr := b.getJob(ctx, handle)
		switch {
		case gerr == nil && got.UID == job.UID:
			return fmt.Errorf("kubernetes cancel %s: the API server refused to delete the attempt's Job (409 Conflict), which is still there: %w", handle, b.explain(err))
		case gerr != nil && !apierrors.IsNotFound(gerr):
			return fmt.Errorf("kubernetes cancel %s: the API server refused to delete the attempt's Job (409 Conflict), and reading it again failed: %w", handle, b.explain(gerr))
		}
		return b.stopAttemptPods(ctx, handle, job.UID, false, uidLabels)
	}
	return fmt.Errorf("kubernetes cancel %s: %w", handle, b.explain(err))
}

// maxCancelPods bounds the pods one Cancel deletes: an attempt runs one
// pod per node it asks for; more carrying its Job's UID were made by
// someone else, and a Cancel called again deletes the next ones.
const maxCancelPods = 256

// podKey is a pod by name and UID: a name is one pod's at a time, and one
// made again under it has another UID.
type podKey struct {
	name string
	uid  types.UID
}

// podSet holds pods by name and UID, in the order found: the first
// maxCancelPods+1 (one past what a Cancel deletes, to tell that more are
// left), and how many more were found past them (more, which may count a
// pod twice: one found by both controller-uid labels, or in the cache and
// a list). Only the keys are kept, not the pods: a pod of a list points
// into its page, which would stay in memory with it.
type podSet struct {
	seen  map[podKey]struct{}
	order []podKey
	more  int
}

func (s *podSet) add(p *apiPod) {
	k := podKey{p.Name, p.UID}
	if _, ok := s.seen[k]; ok {
		return
	}
	if len(s.order) > maxCancelPods {
		s.more++
		return
	}
	if s.seen == nil {
		s.seen = map[podKey]struct{}{}
	}
	s.seen[k] = struct{}{}
	s.order = append(s.order, k)
}

// len is how many pods were found (more than maxCancelPods+1 only
// roughly: more may count a pod twice).
func (s *podSet) len() int { return len(s.order) + s.more }

// stopAttemptPods deletes the pods of the attempt's Job (name, of UID uid)
// that are unfinished and not being deleted: those the Job controller made
// for it carry its UID in their controller-uid labels, which stay when the
// garbage collector orphans them (it takes away only their owner
// reference). They are found in the watch cache and in one list from the
// API server by each controller-uid label of keys: the cache holds only
// the pods labelled managed by Meridian, and anyone who may update Pods in
// the namespace can take that label off a running pod of the attempt's.
// Each delete is of the pod's UID, so that a pod made again under its name
// is left alone.
//
// orphansOnly is for a Job whose foreground deletion was just accepted: it
// leaves the pods that still name the Job as their controller to that
// deletion, and the list is best effort (its failure is no error): the
// Job's deletion stops the pods it owns whatever the list says, and keeps
// the Job, being deleted, until they are gone, which Status waits for
// (cancelOver). What a failed list leaves is a pod orphaned before, by
// someone else's deletion, and relabelled out of the cache's sight. Else a
// list that fails does not stop the deletes of the pods found otherwise;
// Cancel then fails, saying so, and a Cancel called again lists again.
func (b *Backend) stopAttemptPods(ctx context.Context, name string, uid types.UID, orphansOnly bool, keys []string) error {
	if uid == "" {
		return nil
	}
	var found podSet
	take := func(p *apiPod) {
		if p.DeletionTimestamp != nil || !unfinishedFor(p, uid) {
			return
		}
		if orphansOnly && controlledBy(p, uid) {
			return
		}
		found.add(p)
	}
	if objs, err := b.watch.pods.GetIndexer().ByIndex(podsByJob, name); err == nil {
		for _, o := range objs {
			if p, ok := o.(*apiPod); ok {
				take(p)
			}
		}
	}
	listErr := b.listAttemptPods(ctx, uid, keys, take)
	if orphansOnly {
		listErr = nil
	}
	for i, k := range found.order {
		if i == maxCancelPods {
			return fmt.Errorf("kubernetes cancel %s: more than %d pods of the attempt's Job %s still run; the first %d were deleted, cancel again",
				name, maxCancelPods, shown(string(uid)), maxCancelPods)
		}
		err := b.cs.core.Delete().Namespace(b.ns).Resource(resourcePods).Name(k.name).Body(&metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &k.uid},
		}).Do(ctx).Error()
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("kubernetes cancel %s: deleting pod %s of the attempt's Job, whose deletion leaves it: %w", name, siteName(k.name), b.explain(err))
		}
	}
	if listErr != nil {
		return fmt.Errorf("kubernetes cancel %s: listing the pods of the attempt's Job (those out of the watch cache's sight): %w", name, b.explain(listErr))
	}
	return nil
}

// listAttemptPods hands take each pod of the namespace that one list by
// each controller-uid label of keys (uidLabels: the older one too, as a
// Job made before Kubernetes 1.27 gave its pods only that) finds naming
// uid, within 10 s. A pod read twice (by both labels, or by a list started
// over) is handed again: take keeps them by name and UID (podSet). A list
// started over may so hand a pod that has finished since, counted as
// unfinished: no word that the attempt stopped, until the next look.
func (b *Backend) listAttemptPods(ctx context.Context, uid types.UID, keys []string, take func(*apiPod)) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, key := range keys {
		sel, err := uidSelector(key, uid)
		if err != nil {
			return err
		}
		err = listPages(lctx, b.cs.core, resourcePods, b.ns, metav1.ListOptions{LabelSelector: sel}, func() {}, func(list *apiPodList) error {
			for i := range list.Items {
				take(&list.Items[i])
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// uidSelector is the label selector of the pods labelled key=uid; an error
// where uid is no label value (the API server's UIDs are), which would
// otherwise be written into the selector as it is.
func uidSelector(key string, uid types.UID) (string, error) {
	sel, err := labels.ValidatedSelectorFromSet(labels.Set{key: string(uid)})
	if err != nil {
		return "", fmt.Errorf("the attempt's Job UID %s is no label value (at most 63 letters, digits, '-', '_' or '.'), so its pods cannot be listed by their %s label", shown(string(uid)), key)
	}
	return sel.String(), nil
}

// selectorKey is the controller-uid label by which job's selector picks
// its pods: the older one only for a Job whose selector has that and not
// the newer (one made before Kubernetes 1.27).
func selectorKey(job *apiJob) string {
	if _, ok := job.Spec.Selector.label(controllerUIDLabel); !ok {
		if _, old := job.Spec.Selector.label(legacyControllerUIDLabel); old {
			return legacyControllerUIDLabel
		}
	}
	return controllerUIDLabel
}

// labelledFor reports whether pod p carries the controller-uid labels of
// the Job of UID uid: one at least, each naming uid.
func labelledFor(p *apiPod, uid types.UID) bool {
	n := 0
	for _, k := range uidLabels {
		if v, ok := p.Labels[k]; ok {
			if v != string(uid) {
				return false
			}
			n++
		}
	}
	return n > 0
}

// jobFinished reports a Job whose pods will start no more: complete or
// failed, being deleted, or marked cancelled or lost by Meridian's verdict
// (its own marks only: another's mark stops no pod). Not that its pods
// have stopped: a cancellation is over by cancelOver.
func (b *Backend) jobFinished(job *apiJob) bool {
	return job.DeletionTimestamp != nil || b.ownMark(job, AnnotationLost) || b.ownMark(job, AnnotationCancelled) || jobEnded(job)
}

// jobEnded reports whether the Job controller has ended job: a Complete or
// Failed condition that holds.
func jobEnded(job *apiJob) bool {
	for _, c := range job.Status.Conditions {
		if c.Status == conditionTrue && (c.Type == jobComplete || c.Type == jobFailed) {
			return true
		}
	}
	return false
}

func nodeReady(n *apiNode) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == nodeReadyCondition {
			return c.Status == conditionTrue
		}
	}
	return false
}

// getJob reads a Job from the API server (not the watch cache).
func (b *Backend) getJob(ctx context.Context, name string) (*apiJob, error) {
	var j apiJob
	if err := b.cs.batch.Get().Namespace(b.ns).Resource(resourceJobs).Name(name).Do(ctx).Into(&j); err != nil {
		return nil, tooLarge(err)
	}
	return &j, nil
}

// annotationPatch is the JSON merge patch that sets annotations of the
// object whose UID is uid. The value may quote the cluster (a pod's
// condition message), so it is encoded as JSON, not quoted as Go does
// ("\x01" is no JSON).
//
// The UID is a precondition: metadata.uid cannot change, so the API server
// refuses (422 Invalid) a patch whose UID is not the object's, that is, a
// patch meant for an object deleted since and made again under its name.
// (A merge patch has no preconditions of its own, as a delete has; the
// Kubernetes controllers guard theirs the same way.)
func annotationPatch(uid types.UID, ann map[string]string) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid, "annotations": ann}})
	return b
}

// patchJob sets annotations of the Job name whose UID is uid
// (annotationPatch); a Job of that name with another UID is left as it is,
// with an Invalid error.
func (b *Backend) patchJob(ctx context.Context, name string, uid types.UID, ann map[string]string) error {
	return b.cs.batch.Patch(types.PatchType(mergePatch)).Namespace(b.ns).Resource(resourceJobs).Name(name).
		Body(annotationPatch(uid, ann)).Do(ctx).Error()
}
