package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
)

// REST submits jobs to one partition of a Slurm cluster through slurmrestd,
// over its unix socket (rest_auth/local) or over https with a JWT. It never
// opens a file of the cluster: its state directory is on the controller's
// machine and holds only what it learnt from slurmrestd. It is safe for
// concurrent use, and several values may share a state directory.
type REST struct {
	c         *restClient
	rec       records
	workRoot  string // on the cluster; "" when jobs must give an absolute WorkDir
	partition string
	gres      string

	// nodeSem (one slot) guards nodesAt and nodesDown. A caller waits for
	// it no longer than its context lets it: a slurmrestd slow to list
	// its nodes held every Status of a running job behind the one
	// fetching them, and behind each other while the fetches failed,
	// past the callers' own deadlines.
	nodeSem   chan struct{}
	nodesAt   time.Time
	nodesDown *downNodes
	// NodeTTL is how long Status trusts the node states it fetched to tell
	// whether a running job's node is down: one GET /nodes per NodeTTL,
	// however many jobs are watched.
	NodeTTL time.Duration
}

var (
	_ backend.Backend = (*REST)(nil)
	_ backend.Finder  = (*REST)(nil)
	_ backend.Checker = (*REST)(nil)
	_ backend.Cleaner = (*REST)(nil)
)

// RESTOption changes how NewREST builds a backend.
type RESTOption func(*restOptions)

type restOptions struct {
	wrap func(http.RoundTripper) http.RoundTripper
}

// WithTransport wraps the HTTP transport that requests go through (to
// record exchanges, or to trust a test server's certificate); wrap gets the
// transport NewREST built, dialling the socket or the https host.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) RESTOption {
	return func(o *restOptions) { o.wrap = wrap }
}

// NewREST makes a backend for the Slurm that site.RestURL reaches, keeping
// its records in stateDir (on this machine). Over https the token file is
// read now, so a missing or unsafe one is reported at once.
func NewREST(site catalog.BackendSpec, stateDir string, opts ...RESTOption) (*REST, error) {
	if site.RestURL == "" {
		return nil, errors.New("backend.restURL: required for Slurm through slurmrestd")
	}
	if site.Type == "" {
		site.Type = catalog.BackendSlurm
	}
	if err := settingsError(site); err != nil {
		return nil, err
	}
	var o restOptions
	for _, opt := range opts {
		opt(&o)
	}
	if stateDir == "" {
		return nil, errors.New("slurm backend: state directory must not be empty")
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("slurm backend: state directory: %w", err)
	}
	rec, err := newRecords(abs)
	if err != nil {
		return nil, fmt.Errorf("slurm backend: %w", err)
	}
	rec.removeStaleTemps()
	c, err := newRESTClient(site.RestURL, site.TokenFile, site.User, o.wrap)
	if err != nil {
		return nil, err
	}
	if c.token != nil {
		if _, err := c.token.get(); err != nil {
			return nil, err
		}
	}
	return &REST{c: c, rec: rec, workRoot: site.WorkDir, partition: site.Partition,
		gres: siteGres(site.Gres, site.GresType), NodeTTL: 2 * time.Second, nodeSem: make(chan struct{}, 1)}, nil
}

// SetLimits sets how long one request to slurmrestd may take (30 s unless
// set) and how many more times a GET or DELETE that failed on the way is
// tried (2 unless set). Call it before using r.
func (r *REST) SetLimits(timeout time.Duration, retries int) {
	r.c.timeout, r.c.retries = timeout, retries
}

// OutputName is the name of the file that a job submitted through
// slurmrestd writes its output to (OutputPath). It is there for the site's
// admins (and tests); the backend never reads it.
func OutputName(runID string, attempt int) string {
	return JobName(runID, attempt) + ".out"
}

// OutputPath is where on the cluster the job of an attempt working in wd
// writes its output: beside wd, not in it, since wd is the scratch of
// Meridian's agent, which empties it at the start and the end of the
// attempt.
func OutputPath(wd, runID string, attempt int) string {
	return path.Join(path.Dir(wd), OutputName(runID, attempt))
}

func apiPath(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/slurm/" + apiVersion + "/" + strings.Join(parts, "/")
}

// workDir is the directory on the cluster that the job for spec runs in.
func (r *REST) workDir(spec backend.Spec) (string, error) {
	wd := spec.WorkDir
	if err := relWorkDirStaysIn(wd); err != nil {
		return "", err
	}
	if !path.IsAbs(wd) {
		if r.workRoot == "" {
			return "", fmt.Errorf("workDir: %q is not an absolute path on the cluster and the site sets no backend.workDir to put it under", wd)
		}
		if wd == "" {
			// One scratch per attempt: a lost attempt's is swept on its
			// own (Clean) while the next works in a fresh one.
			wd = spec.Key()
		}
		wd = path.Join(r.workRoot, wd)
	}
	if strings.ContainsAny(wd, "\x00\n") {
		return "", fmt.Errorf("workDir: %q contains a NUL or newline", wd)
	}
	wd = path.Clean(wd)
	if r.workRoot != "" && atOrAboveByName(wd, path.Clean(r.workRoot)) {
		// The directories on the cluster cannot be looked at from here:
		// judged by their names alone (a link to the work root passes).
		return "", fmt.Errorf("workDir %s: is the work root %s, or a directory above it; the job's directory is emptied at the attempt's end, which would empty every attempt's directory; name a directory of the job's own below it", spec.WorkDir, r.workRoot)
	}
	return wd, nil
}

// atOrAboveByName says whether the clean absolute path dir is root or a
// directory above it, by their names.
func atOrAboveByName(dir, root string) bool {
	rel, err := filepath.Rel(dir, root)
	return err == nil && filepath.IsLocal(rel) // "." too
}

// Check asks slurmrestd whether the site's settings work: that it answers
// (backend.restURL), accepts the credentials (backend.tokenFile), that
// slurmctld is up, that the partition exists (backend.partition) and that
// one of its nodes has the GRES (backend.gres).
func (r *REST) Check(ctx context.Context) error {
	up := false
	var said []string
	pings := 0
	err := r.c.one(ctx, apiPath("ping"), "pings", func(raw json.RawMessage) error {
		var p struct {
			Ping   string `json:"ping"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		up = up || p.Ping == "UP" && p.Status == 0
		if pings++; len(said) < maxNamedNodes {
			said = append(said, fmt.Sprintf("%s (status %d)", printable([]byte(p.Ping), maxNodeText), p.Status))
		}
		return nil
	})
	if err != nil {
		if re, ok := asRESTError(err); ok && re.status == http.StatusNotFound {
			return fmt.Errorf("backend.restURL %s: slurmrestd does not serve openapi/%s, the API this backend speaks (Slurm 22.05 does): %w", r.c.restURL, apiVersion, err)
		}
		return fmt.Errorf("slurm check: %w", err)
	}
	if !up {
		if pings > len(said) {
			said = append(said, fmt.Sprintf("and %d more", pings-len(said)))
		}
		return fmt.Errorf("backend.restURL %s: slurmrestd answers but no slurmctld does (ping: %s)", r.c.restURL, strings.Join(said, ", "))
	}
	if r.partition == "" {
		return nil
	}
	if _, err := r.partitionState(ctx, r.partition); err != nil {
		return err
	}
	if r.gres == "" {
		return nil
	}
	name, typ, _ := strings.Cut(r.gres, ":")
	var seen []string
	seenN := 0
	found := false
	err = listOf(ctx, r.c, apiPath("nodes"), "nodes", func(n *apiNode) error {
		if in, err := jsonHas(n.Partitions, r.partition); err != nil || !in {
			return err
		}
		// The error names a few of them: a partition may have
		// thousands.
		if seenN++; len(seen) < maxNamedNodes {
			seen = append(seen, printable([]byte(n.Name), maxNodeText)+"="+printable([]byte(n.Gres), maxNodeText))
		}
		// Entry by entry, nothing kept: a node's GRES is the site's
		// text, up to an element's bound (maxBody), and a slice of its
		// entries would cost many times that.
		for g := range strings.SplitSeq(n.Gres, ",") {
			gname, rest, _ := strings.Cut(strings.TrimSpace(g), ":")
			gtyp, _, counted := strings.Cut(rest, ":")
			if gname == name && (typ == "" || counted && gtyp == typ) {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("slurm check: %w", err)
	}
	if !found {
		if seenN > len(seen) {
			seen = append(seen, fmt.Sprintf("and %d more", seenN-len(seen)))
		}
		return fmt.Errorf("backend.gres: no node of partition %s has GRES %s (its nodes have: %s)", r.partition, r.gres, strings.Join(seen, ", "))
	}
	return nil
}

// What this backend keeps or repeats of the site's words about its nodes
// (and its controllers' pings): at most maxNodeText bytes of each (a
// node's name, state, reason, GRES), and of at most maxNamedNodes nodes
// in an error. Between two fetches of the node list it keeps the names of
// at most maxDownNodes nodes down, of maxDownNameBytes together, and at
// most maxDownWhys distinct texts of what they are, of maxDownWhyBytes
// together (about 1.5 MB in all). The list may be a gigabyte
// (maxListBody) and is read one node at a time; what is kept of it must
// not be.
const (
	maxNodeText      = 256
	maxNamedNodes    = 16
	maxDownNodes     = 1 << 16
	maxDownNameBytes = 1 << 20
	maxDownWhys      = 1 << 10
	maxDownWhyBytes  = 64 << 10
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// partitionState returns the partition's state (UP, DOWN, DRAIN, INACTIVE).
func (r *REST) partitionState(ctx context.Context, name string) (string, error) {
	var state *string
	err := r.c.one(ctx, apiPath("partition", name), "partitions", func(raw json.RawMessage) error {
		var p struct {
			Name  string `json:"name"`
			State string `json:"state"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		if p.Name == name && state == nil {
			state = &p.State
		}
		return nil
	})
	if hasSlurmError(err, errInvalidPartition) {
		return "", fmt.Errorf("backend.partition: slurmrestd at %s knows no partition %q: %w", r.c.restURL, name, err)
	}
	if err != nil {
		return "", err
	}
	if state != nil {
		return *state, nil
	}
	return "", fmt.Errorf("backend.partition: slurmrestd at %s lists no partition %q", r.c.restURL, name)
}

// submitRequest is the body of POST job/submit.
type submitRequest struct {
	Script string    `json:"script"`
	Job    submitJob `json:"job"`
}

type submitJob struct {
	Name        string            `json:"name"`
	Comment     string            `json:"comment,omitempty"`
	Partition   string            `json:"partition,omitempty"`
	Gres        string            `json:"gres,omitempty"`
	NoRequeue   bool              `json:"no_requeue"`
	Cwd         string            `json:"current_working_directory"`
	Stdout      string            `json:"standard_output"`
	Environment map[string]string `json:"environment"`
	TimeLimit   int               `json:"time_limit,omitempty"` // minutes
	Dependency  string            `json:"dependency,omitempty"` // e.g. afterany:123
}

// defaultPath is the PATH of a job whose spec sets none: the controller's
// own PATH means nothing on the cluster.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// Submit submits the attempt unless it was submitted before: the job id
// recorded in the state directory answers that, and when an earlier submit
// was interrupted after telling slurmrestd and before recording the id,
// slurmrestd's job list is searched for this user's job of the attempt
// (find). A failed submit is
// never retried by itself, as its answer may be all that was lost.
func (r *REST) Submit(ctx context.Context, spec backend.Spec) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("slurm submit: %w", err)
	}
	partition := firstNonEmpty(spec.Partition, r.partition)
	if partition != "" && !validName(partition) {
		return "", fmt.Errorf("slurm submit: partition: %q is not a valid name", partition)
	}
	if spec.GresType != "" && !validName(spec.GresType) {
		return "", fmt.Errorf("slurm submit: gresType: %q is not a valid name", spec.GresType)
	}
	wd, err := r.workDir(spec)
	if err != nil {
		return "", fmt.Errorf("slurm submit: %w", err)
	}
	key := spec.Key()
	if err := r.rec.ensureJobDir(key); err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	unlock, err := r.rec.lockJob(ctx, key)
	if err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	defer unlock()
	if id, ok := r.rec.recorded(key); ok {
		return id, nil
	}
	if r.rec.intent(key) {
		if id, ok, err := r.find(ctx, spec.RunID, spec.Attempt); err != nil || ok {
			return id, err
		}
		// An earlier submit reached slurmrestd, or may have, and its
		// answer was lost, yet slurmrestd lists no job of the attempt.
		// The job may have run to its end and been forgotten (slurmctld
		// keeps a finished job MinJobAge), and nothing the site shows
		// over the API tells that apart from a submit that never made a
		// job: the attempt is not run a second time. (A submit the
		// scheduler refused outright clears the record below.)
		return "", fmt.Errorf("slurm submit %s: an earlier submit of the attempt may have reached the scheduler and its answer was lost, and slurmrestd lists no job of it: the job may have run and been forgotten; not running the attempt a second time: %w", key, backend.ErrAttemptUnknown)
	}
	if partition != "" {
		state, err := r.partitionState(ctx, partition)
		if err != nil {
			return "", fmt.Errorf("slurm submit %s: %w", key, err)
		}
		if state != "UP" {
			return "", fmt.Errorf("slurm submit %s: partition %s is %s: %w", key, partition, printable([]byte(state), maxNodeText), backend.ErrSiteDown)
		}
	}
	env := map[string]string{"PATH": defaultPath}
	for k, v := range spec.JobEnv() {
		env[k] = v
	}
	env["MERIDIAN_RUN_ID"] = spec.RunID
	env["MERIDIAN_ATTEMPT"] = strconv.Itoa(spec.Attempt)
	env["MERIDIAN_WORKDIR"] = wd
	env["MERIDIAN_ACCELERATORS"] = strconv.Itoa(spec.Accelerators)
	req := submitRequest{
		Script: restScript(spec, wd),
		Job: submitJob{
			Name:      JobName(spec.RunID, spec.Attempt),
			Comment:   restComment(spec.RunID, spec.Attempt),
			Partition: partition,
			Gres:      gresRequest(r.gres, spec.GresType, spec.Accelerators),
			// Meridian, not Slurm, decides where a lost job runs next. (22.05
			// reads "requeue": false as --requeue; no_requeue is honoured.)
			NoRequeue:   true,
			Cwd:         restCwd,
			Stdout:      restStdout, // the script sends its output to OutputName in its directory
			Environment: env,
		},
	}
	// The sweep's record first: a submit that fails before it asks
	// slurmrestd must not leave the record that it may have asked.
	if err := r.rec.saveSweep(key, sweepInfo{Command: spec.Command, Root: path.Dir(wd), Name: path.Base(wd), Partition: partition}); err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	if err := r.rec.markIntent(key); err != nil {
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	var out struct {
		JobID int64 `json:"job_id"`
	}
	sent := time.Now()
	if err := r.c.call(ctx, http.MethodPost, apiPath("job", "submit"), req, &out); err != nil {
		if refusedOutright(err) {
			// The scheduler said why it made no job: a later submit of
			// the attempt need not look for one first.
			if cerr := r.rec.clearIntent(key); cerr != nil {
				err = fmt.Errorf("%w (and the submit's record stays: %v)", err, cerr)
			}
		}
		if hasSlurmError(err, errNodeConfigUnavail, errInvalidGres, errInvalidGresType, errUnsupportedGres, errInsufficientGres) {
			return "", fmt.Errorf("slurm submit %s: %w (check backend.gres %q and backend.partition %q)", key, err, r.gres, partition)
		}
		if hasSlurmError(err, errInvalidPartition) {
			return "", fmt.Errorf("slurm submit %s: backend.partition %q: %w", key, partition, err)
		}
		if hasSlurmError(err, errPartitionDown, errPartitionNotAvail, errSubmissionsDisabled) {
			return "", fmt.Errorf("slurm submit %s: %w: %w", key, err, backend.ErrSiteDown)
		}
		return "", fmt.Errorf("slurm submit %s: %w", key, err)
	}
	id := strconv.FormatInt(out.JobID, 10)
	if out.JobID <= 0 || !isJobID(id) {
		return "", fmt.Errorf("slurm submit %s: slurmrestd answered job id %d", key, out.JobID)
	}
	// Best effort, before the id: without it the job is told by its
	// name until its identity is kept.
	r.rec.saveSubmitted(key, sent, time.Now()) //nolint:errcheck
	h, err := r.rec.recordHandle(key, id)
	if err != nil {
		return "", fmt.Errorf("slurm submit %s: job %s submitted but not recorded: %w", key, id, err)
	}
	r.takeIdentity(ctx, id, key)
	return h, nil
}

// takeIdentity keeps the identity of the job just submitted for key (its
// user and submit time), so that later looks know the job by what its
// workload cannot change: a workload that renamed its job and had Slurm
// requeue it (a new submit time) before the first look read as a job that
// had taken over a forgotten id, and Cancel left it running. Best effort,
// and the submit's caller waits for it: it gets identityWait at most
// (retries included; never more than one request's timeout), and without
// an answer by then the first look takes the identity (REST.ownsID).
func (r *REST) takeIdentity(ctx context.Context, id, key string) {
	wait := identityWait
	if r.c.timeout < wait {
		wait = r.c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if job, err := r.getJob(ctx, id); err == nil {
		r.ownsID(job, key)
	}
}

// identityWait bounds how long Submit waits, after slurmrestd has
// answered the submit, for the job's identity (takeIdentity). A healthy
// slurmrestd answers GET job/{id} in milliseconds; against a slow one the
// whole request timeout (30 s unless set) was added to every submit, while
// the job was already made and recorded. What is not known by then is
// taken at the first Status or Cancel (REST.ownsID).
const identityWait = 2 * time.Second

// restScript is the batch script of a job submitted through slurmrestd:
// make and enter the working directory, send the output to OutputPath
// beside it, run the command. The environment comes in the request.
//
// The directories mkdir makes are made under umask 077 (in a subshell, so
// that the command's own umask is the job's): under the job's umask (002
// at many sites) a parent it made was 0775, which the agent's landlock
// sandbox refuses above a scratch (a directory another user may write)
// and which let the group rename the working directory away.
func restScript(spec backend.Spec, wd string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Meridian job " + spec.Key() + ", submitted through slurmrestd\n")
	b.WriteString("(umask 077 && mkdir -p " + quote(wd) + ") && cd " + quote(wd) + " || exit 1\n")
	b.WriteString("exec >>" + quote(OutputPath(wd, spec.RunID, spec.Attempt)) + " 2>&1\n")
	b.WriteString("exec")
	for _, a := range spec.Command {
		b.WriteString(" " + quote(a))
	}
	b.WriteString("\n")
	return b.String()
}

// Find returns the job id for runID and attempt: the one recorded in the
// state directory, else the oldest job that slurmrestd lists as this
// backend would have submitted the attempt (restFindable; filtered here:
// the API filters jobs by nothing but update time).
func (r *REST) Find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	if err := backend.ValidRunID(runID); err != nil {
		return "", false, err
	}
	return r.find(ctx, runID, attempt)
}

// A job of an attempt is submitted working in restCwd, its output to
// restStdout (its script sends the output beside its working directory);
// find takes a job as the attempt's only with both.
const (
	restCwd    = "/"
	restStdout = "/dev/null"
)

// restComment is the comment a job of the attempt is submitted with.
func restComment(runID string, attempt int) string {
	return fmt.Sprintf("meridian run %s attempt %d", runID, attempt)
}

// restListedJob is what find reads of a job in slurmrestd's list.
type restListedJob struct {
	JobID    int64           `json:"job_id"`
	Name     string          `json:"name"`
	UserID   *int64          `json:"user_id"`
	UserName string          `json:"user_name"`
	Comment  string          `json:"comment"`
	Cwd      string          `json:"current_working_directory"`
	Stdout   string          `json:"standard_output"`
	Submit   json.RawMessage `json:"submit_time"`
}

// find looks for the attempt's job among the jobs slurmrestd lists. A job
// counts only if it is the user's that jobs submitted through slurmrestd
// run as (restClient.jobUser): any user may name a job like the attempt's,
// and a job of another user was never submitted by this backend. Of this
// user's jobs with the attempt's name, one counts only if its comment,
// working directory and output are what Submit gave it; the owner may
// change those (a workload runs as that owner), so a job that bears the
// name but not the rest makes the lookup fail rather than answer "not
// found": it may be the attempt's, and a caller told "not found" would
// submit it again. A job renamed by its owner is not found: slurmrestd
// shows nothing of a job that its owner cannot change (its batch script is
// not listed), unlike the command path's lookup by script.
func (r *REST) find(ctx context.Context, runID string, attempt int) (string, bool, error) {
	key := backend.Spec{RunID: runID, Attempt: attempt}.Key()
	if id, ok := r.rec.recorded(key); ok {
		return id, true, nil
	}
	name, comment := JobName(runID, attempt), restComment(runID, attempt)
	var (
		oldest   int64
		oldestID apiJob // its user and submit time
		odd      []string
	)
	err, ownerErr := r.listOwnJobsNamed(ctx, name, func(j restListedJob) error {
		if id := strconv.FormatInt(j.JobID, 10); j.JobID <= 0 || !isJobID(id) {
			// Not an id slurmctld gives: recorded, Status would refuse
			// it ever after, and the attempt would read as lost. A job
			// of this user's that bears the name may be the attempt's,
			// so it is not passed over as none either.
			return fmt.Errorf("slurmrestd lists job id %s of the attempt's name %s, which is no Slurm job id", id, name)
		}
		if j.Comment != comment || j.Cwd != restCwd || j.Stdout != restStdout {
			if len(odd) < maxFindCandidates {
				odd = append(odd, strconv.FormatInt(j.JobID, 10))
			}
			return nil
		}
		if oldest == 0 || j.JobID < oldest {
			oldest = j.JobID
			oldestID = apiJob{UserID: j.UserID, SubmitTime: j.Submit}
		}
		return nil
	})
	if err == nil {
		// Whose the jobs of the attempt's name are cannot be told.
		err = ownerErr
	}
	if err != nil {
		return "", false, fmt.Errorf("find %s: %w", key, err)
	}
	if oldest == 0 {
		if len(odd) > 0 {
			return "", false, fmt.Errorf("find %s: job %s bears the attempt's name %s, but not the comment %q, working directory / and output /dev/null this backend submits the attempt with; "+
				"not taking it for the attempt, nor submitting the attempt again while it may be the attempt's",
				key, strings.Join(odd, ","), name, comment)
		}
		return "", false, nil
	}
	id := strconv.FormatInt(oldest, 10)
	if ident, ok := oldestID.identity(); ok {
		// Before the id: a record with an id has the identity it
		// was found with, or none (taken at the next look).
		if err := r.rec.ensureJobDir(key); err != nil {
			return "", false, fmt.Errorf("find %s: %w", key, err)
		}
		r.rec.saveIdentity(key, ident) //nolint:errcheck
	}
	h, err := r.rec.recordHandle(key, id)
	if err != nil {
		return "", false, fmt.Errorf("find %s: %w", key, err)
	}
	return h, true, nil
}

// apiJob is the part of a job in slurmrestd's answers that is used here.
type apiJob struct {
	JobID       int64           `json:"job_id"`
	Name        string          `json:"name"`
	Comment     string          `json:"comment"`
	UserID      *int64          `json:"user_id"`
	UserName    string          `json:"user_name"`
	SubmitTime  json.RawMessage `json:"submit_time"`
	RestartCnt  int64           `json:"restart_cnt"`
	State       jobState        `json:"job_state"`
	StateReason string          `json:"state_reason"`
	ExitCode    json.RawMessage `json:"exit_code"`
	StartTime   json.RawMessage `json:"start_time"`
	EndTime     json.RawMessage `json:"end_time"`
	Nodes       string          `json:"nodes"`
	Resources   struct {
		Allocated allocatedNodes `json:"allocated_nodes"`
	} `json:"job_resources"`
}

// allocatedNodes is the names of a job's allocated_nodes, read one entry
// at a time: decoded whole, a job's maxBody of empty entries cost ten
// times that, for each job of a list.
type allocatedNodes []string

func (a *allocatedNodes) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("allocated_nodes: want a list, got %v", tok)
	}
	var n struct {
		Name string `json:"nodename"`
	}
	for dec.More() {
		n.Name = ""
		if err := dec.Decode(&n); err != nil {
			return fmt.Errorf("allocated_nodes: %w", err)
		}
		if n.Name != "" {
			*a = append(*a, n.Name)
		}
	}
	_, err = dec.Token()
	return err
}

// jobState is job_state: one word in openapi/v0.0.38, a list of words in
// later versions (the first is the base state).
type jobState string

func (s *jobState) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = jobState(one)
		return nil
	}
	// The first word alone, read in place: decoded whole, a list of
	// millions of words cost over ten times its size.
	first := true
	err := eachJSONString(b, func(w []byte) {
		if first {
			*s, first = jobState(w), false
		}
	})
	if err != nil {
		return fmt.Errorf("job_state: %s is neither a word nor a list of words", printable(b, 40))
	}
	return nil
}

// status maps the job to a Status, with its start and end.
func (j *apiJob) status(code, sig int) backend.Status {
	st := mapJobState(string(j.State), j.StateReason, code, sig)
	return withTimes(st, string(j.State), epochTime(j.StartTime), epochTime(j.EndTime))
}

// exitCode is the job's wait status, an integer in openapi/v0.0.38.
func (j *apiJob) exitCode() (code, sig int) {
	ws, err := strconv.ParseInt(strings.TrimSpace(string(j.ExitCode)), 10, 64)
	if err != nil {
		return 0, 0
	}
	return waitStatus(ws)
}

// nodeNames lists the nodes the job runs on.
func (j *apiJob) nodeNames() []string {
	var out []string
	out = append(out, j.Resources.Allocated...)
	if len(out) == 0 && j.Nodes != "" && !strings.ContainsAny(j.Nodes, "[,") {
		out = append(out, j.Nodes) // a single node, not a compressed host list
	}
	return out
}

// apiNode is the part of a node in slurmrestd's answers that is used here.
type apiNode struct {
	Name       string          `json:"name"`
	State      string          `json:"state"`
	Flags      json.RawMessage `json:"state_flags"`
	Partitions json.RawMessage `json:"partitions"`
	Gres       string          `json:"gres"`
	Reason     string          `json:"reason"`
}

// errReusedID says that slurmctld knows a recorded job id as another job
// than the one recorded (Status).
var errReusedID = errors.New("the job id names another job now")

// isAttempts says whether the job bears the name and comment that Submit
// gives the job of the attempt key. slurmctld reuses a job id once its
// counter wraps (MaxJobId), for any job of any user. The job's owner may
// change both (a workload runs as that owner), so once the job's identity
// is known, that tells (REST.ownsID).
func (j *apiJob) isAttempts(key string) bool {
	i := strings.LastIndexByte(key, '-')
	if i < 0 {
		return false
	}
	n, err := strconv.Atoi(key[i+1:])
	if err != nil {
		return false
	}
	return j.Name == JobName(key[:i], n) && j.Comment == restComment(key[:i], n)
}

// identity is what slurmctld says of the job that its owner cannot change
// (records.jobIdentity); false when slurmrestd gives no submit time.
func (j *apiJob) identity() (jobIdentity, bool) {
	sub := epochTime(j.SubmitTime)
	if sub.IsZero() {
		return jobIdentity{}, false
	}
	return jobIdentity{UserID: j.UserID, SubmitTime: sub.Unix()}, true
}

// ownsID says whether job, which slurmctld knows by the id recorded for
// the attempt key, is the attempt's job. With the identity the job had
// when first seen as the attempt's (records.jobIdentity), it is while it
// runs as the same user and keeps its submit time, whatever its name and
// comment now: its workload, running as its owner, may change those, and
// a job so renamed was read as another job's and left to run, uncancelled,
// beside the attempt that replaced it. A job of another submit time is
// either another job that got the id once slurmctld's counter wrapped, or
// the attempt's job requeued; it counts as the attempt's when it was
// submitted later and counts a requeue (restart_cnt), or while it bears
// the attempt's name and comment. Before the identity is kept (at
// the first look, which the workload may beat), the job is the attempt's
// when it is this backend's user's and was submitted while Submit waited
// for slurmrestd (give or take submitSkew): slurmctld cannot have
// forgotten the attempt's job and given its id to another job so soon.
// Without those (a record from before they were kept, or a site that
// gives no submit time) the name and comment tell. The identity of a job
// taken for the attempt's is kept for the next look.
func (r *REST) ownsID(job *apiJob, key string) bool {
	now, haveNow := job.identity()
	if was, ok := r.rec.identity(key); ok {
		if was.UserID != nil && job.UserID != nil && *job.UserID != *was.UserID {
			return false
		}
		if haveNow && now.SubmitTime == was.SubmitTime {
			return true
		}
		if haveNow && now.SubmitTime > was.SubmitTime && job.RestartCnt > 0 && job.UserID != nil && was.UserID != nil {
			// Requeued since (a requeue sets a new submit time and
			// counts itself): the owner may requeue its own job, and
			// rename it too. A job that took over a forgotten id was
			// submitted new, and counts no requeue unless it too was
			// requeued.
			return true
		}
		return job.isAttempts(key)
	}
	if !job.isAttempts(key) && !(haveNow && r.submittedThen(job, now, key)) {
		return false
	}
	if haveNow {
		// Best effort: without it the next look goes by the name again.
		r.rec.saveIdentity(key, now) //nolint:errcheck
	}
	return true
}

// anAttempts says whether job, whose id has no record here, may be one
// this backend submitted: it runs as the user this backend's jobs run as
// and bears the name and comment Submit gives some attempt's job. A handle
// whose record is gone (a state directory lost) and whose id slurmctld
// has since given to another job must not cancel that job: another
// user's, where slurmrestd's user may cancel it, or one of this user's
// that no attempt runs.
func (r *REST) anAttempts(job *apiJob, handle string) bool {
	key, ok := strings.CutPrefix(job.Name, "meridian-")
	if !ok || !validKey(key) || !job.isAttempts(key) {
		return false
	}
	if r.rec.notItsHandle(key, handle) {
		// The attempt's record gives its job another handle (ID:KEY):
		// the id was another attempt's first.
		return false
	}
	owner, err := r.c.jobUser()
	return err == nil && owner.owns(job.UserID, job.UserName)
}

// submitSkew is how far apart this machine's clock and slurmctld's may be
// for a job's submit time to tell it (REST.ownsID).
const submitSkew = 2 * time.Minute

// submittedThen says whether job, of identity now, is this backend's
// user's and was submitted while the submit of key waited for slurmrestd.
func (r *REST) submittedThen(job *apiJob, now jobIdentity, key string) bool {
	from, to, ok := r.rec.submitted(key)
	if !ok {
		return false
	}
	skew := int64(submitSkew / time.Second)
	if now.SubmitTime < from-skew || now.SubmitTime > to+skew {
		return false
	}
	owner, err := r.c.jobUser()
	return err == nil && owner.owns(job.UserID, job.UserName)
}

func (r *REST) getJob(ctx context.Context, handle string) (*apiJob, error) {
	var job *apiJob
	err := r.c.one(ctx, apiPath("job", handle), "jobs", func(raw json.RawMessage) error {
		var id struct {
			JobID int64 `json:"job_id"`
		}
		if err := json.Unmarshal(raw, &id); err != nil {
			return err
		}
		if job != nil || strconv.FormatInt(id.JobID, 10) != handle {
			return nil
		}
		job = new(apiJob)
		return json.Unmarshal(raw, job)
	})
	if err != nil {
		return nil, err
	}
	if job != nil {
		return job, nil
	}
	return nil, fmt.Errorf("GET job %s: the answer does not list the job", handle)
}

// Status asks slurmrestd for the job. A final state is kept in the state
// directory, since slurmctld forgets finished jobs (MinJobAge) and a
// cluster need not keep accounting. A job recorded as an attempt's is the
// attempt's only while it is the job first seen under the id (its user and
// submit time; before those are known, its name and comment: REST.ownsID);
// otherwise the id is another job's now, and the attempt's job reads as
// forgotten. An id with no record reads as not found unless its job is
// one this backend submits (anAttempts), as Cancel goes: its state is no
// attempt's.
func (r *REST) Status(ctx context.Context, handle string) (backend.Status, error) {
	ref, err := r.rec.parse(handle)
	if err != nil {
		return backend.Status{}, err
	}
	key := ref.key
	if key != "" {
		// A record that cannot be read is asked for again (and rewritten).
		if st, ok, err := r.rec.final(key); err == nil && ok {
			return st, nil
		}
	}
	job, err := r.getJob(ctx, ref.id)
	if err == nil && key != "" && !r.ownsID(job, key) {
		// slurmctld forgot the attempt's job and gave its id to another
		// job since (its id counter wrapped): the attempt's job is
		// forgotten, and the other job's state is not the attempt's, nor
		// is that job this backend's to cancel.
		err = errReusedID
	}
	if err == nil && key == "" && !r.anAttempts(job, handle) {
		// No record of the id, and the job is not one this backend
		// submits (another user's, or one no attempt runs): its state
		// is not reported as an attempt's.
		return backend.Status{}, fmt.Errorf("handle %q: %w (slurmrestd's job of that id is no attempt's of this backend's user)", handle, backend.ErrNotFound)
	}
	if hasSlurmError(err, errInvalidJobID) || errors.Is(err, errReusedID) {
		switch {
		case key == "":
			return backend.Status{}, fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
		case r.rec.cancelled(key):
			return backend.Status{State: backend.Cancelled, Reason: "cancelled"}, nil
		}
		return backend.Status{State: backend.Lost, Reason: "job no longer known to slurmctld"}, nil
	}
	if err != nil {
		return backend.Status{}, fmt.Errorf("slurm status %s: %w", handle, err)
	}
	code, sig := job.exitCode()
	st := job.status(code, sig)
	if st.State == backend.Running {
		down, err := r.downNode(ctx, job.nodeNames())
		if err != nil {
			return backend.Status{}, fmt.Errorf("slurm status %s: %w", handle, err)
		}
		if down != "" {
			st = backend.Status{State: backend.Lost, Reason: down}
		}
	}
	if st.State.Final() && key != "" {
		// Best effort: a status not kept is asked for again.
		r.rec.saveFinal(key, st) //nolint:errcheck
	}
	return st, nil
}

// downNode names the first of nodes that is down or failing, from node
// states at most NodeTTL old.
func (r *REST) downNode(ctx context.Context, nodes []string) (string, error) {
	if len(nodes) == 0 {
		return "", nil
	}
	select {
	case r.nodeSem <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("node states: %w", ctx.Err())
	}
	defer func() { <-r.nodeSem }()
	if r.nodesDown == nil || time.Since(r.nodesAt) > r.NodeTTL {
		var b downBuilder
		err := listOf(ctx, r.c, apiPath("nodes"), "nodes", func(n *downNodeJSON) error {
			down := strings.EqualFold(n.State, "down")
			if !down && !n.Flags.fail {
				return nil
			}
			if len(n.Name) > maxNodeText {
				return nil // longer than any host name: no node a job is on
			}
			state := strings.TrimSpace(n.State + " " + n.Flags.text)
			why := printable([]byte(strings.TrimSpace(state+" "+n.Reason)), maxNodeText)
			return b.add(n.Name, why, printable([]byte(state), maxNodeText), down)
		})
		if err != nil {
			return "", err
		}
		r.nodesDown, r.nodesAt = b.done(), time.Now()
	}
	for _, n := range nodes {
		if why, ok := r.nodesDown.lookup(n); ok {
			return fmt.Sprintf("node %s is %s", n, why), nil
		}
	}
	return "", nil
}

// downNodeJSON is what downNode reads of a node of GET nodes.
type downNodeJSON struct {
	Name   string    `json:"name"`
	State  string    `json:"state"`
	Flags  nodeFlags `json:"state_flags"`
	Reason string    `json:"reason"`
}

// nodeFlags is what downNode keeps of a node's state flags: whether FAIL
// is among them, and the start of their text (joined by "+"). A node's
// flags are the site's list, as long as an element's bound (maxBody) lets
// it be: decoded whole, a list of empty strings cost over ten times its
// size; it is read here one string at a time, in place.
type nodeFlags struct {
	fail bool
	text string
}

func (f *nodeFlags) UnmarshalJSON(data []byte) error {
	var b strings.Builder
	err := eachJSONString(data, func(flag []byte) {
		f.fail = f.fail || string(flag) == "FAIL"
		if b.Len() <= maxNodeText && len(flag) > 0 {
			if b.Len() > 0 {
				b.WriteByte('+')
			}
			b.Write(flag[:min(len(flag), maxNodeText+1)])
		}
	})
	f.text = b.String()
	if err != nil {
		return fmt.Errorf("state_flags: %w", err)
	}
	return nil
}

// jsonHas says whether list, a JSON list of strings (or null, or
// nothing), holds s. Such a list (a node's partitions, its state flags)
// is the site's, as long as an element's bound (maxBody) lets it be, and
// decoded into a slice cost over ten times that; it is read in place.
func jsonHas(list json.RawMessage, s string) (bool, error) {
	found := false
	err := eachJSONString(list, func(b []byte) { found = found || string(b) == s })
	return found, err
}

// eachJSONString hands each string of data, a JSON list of strings (or
// null), to yield, without allocating for those written without escapes.
// data is valid JSON (json.Unmarshal checks it before it hands it on).
func eachJSONString(data []byte, yield func([]byte)) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if len(data) < 2 || data[0] != '[' {
		return errors.New("want a list of strings")
	}
	for i := 1; i < len(data); i++ {
		switch data[i] {
		case ' ', '\t', '\n', '\r', ',':
			continue
		case ']':
			return nil
		case '"':
		default:
			return errors.New("want a list of strings")
		}
		j, escaped := i+1, false
		for ; j < len(data) && data[j] != '"'; j++ {
			if data[j] == '\\' {
				escaped = true
				j++
			}
		}
		if j >= len(data) {
			return errors.New("a string without its end")
		}
		if !escaped {
			yield(data[i+1 : j])
		} else {
			var s string
			if err := json.Unmarshal(data[i:j+1], &s); err != nil {
				return err
			}
			yield([]byte(s))
		}
		i = j
	}
	return errors.New("a list without its end")
}

// downNodes is what one fetch of the node list says of the nodes that are
// down or failing: their names, sorted, end to end in names (ends[i] is
// where the i-th ends), and what each is, whys[why[i]]. What it keeps is
// bounded (maxDownNodes names of maxDownNameBytes together, whys of
// maxDownWhyBytes together) whatever the list, which may be a gigabyte
// (maxListBody) of nodes, each named and said to be down as the site
// likes; a map of name to text cost about 40 MB at the bound on names
// alone.
type downNodes struct {
	names string
	ends  []uint32
	why   []uint16
	whys  []string
}

func (d *downNodes) name(i int) string {
	start := uint32(0)
	if i > 0 {
		start = d.ends[i-1]
	}
	return d.names[start:d.ends[i]]
}

// lookup says what node name is, if it is down or failing.
func (d *downNodes) lookup(name string) (string, bool) {
	i, found := sort.Find(len(d.ends), func(i int) int { return strings.Compare(name, d.name(i)) })
	if !found {
		return "", false
	}
	return d.whys[d.why[i]], true
}

// downBuilder gathers a downNodes from the node list, one node at a time.
type downBuilder struct {
	arena    []byte
	spans    []downSpan
	whyIndex map[string]uint16
	whys     []string
	whyBytes int
}

type downSpan struct {
	start, end uint32
	why        uint16
}

// Whys that every downNodes has: what a node is said to be once the
// distinct texts of others have used maxDownWhyBytes up.
const (
	whyDown    = 0 // "down"
	whyFailing = 1 // "failing"
)

// add notes that node name is down (else failing), why, or said shorter
// (its state alone) once the texts kept have used maxDownWhyBytes up. A
// list of more down nodes, or longer names, than the bounds is refused
// whole: a node left out would read as up, and its jobs as running.
func (b *downBuilder) add(name, why, short string, down bool) error {
	if len(b.spans) >= maxDownNodes {
		return fmt.Errorf("more than %d nodes down", maxDownNodes)
	}
	if len(b.arena)+len(name) > maxDownNameBytes {
		return fmt.Errorf("the names of the nodes down are more than %d bytes", maxDownNameBytes)
	}
	if b.whyIndex == nil {
		b.whys = []string{"down", "failing"}
		b.whyIndex = map[string]uint16{"down": whyDown, "failing": whyFailing}
	}
	// A quarter of the bytes is left to the states alone, so that a
	// list of reasons each its own does not leave the later nodes
	// without theirs.
	w, ok := b.keep(why, maxDownWhyBytes-maxDownWhyBytes/4)
	if !ok {
		w, ok = b.keep(short, maxDownWhyBytes)
	}
	if !ok {
		w = whyFailing
		if down {
			w = whyDown
		}
	}
	start := uint32(len(b.arena))
	b.arena = append(b.arena, name...)
	b.spans = append(b.spans, downSpan{start: start, end: uint32(len(b.arena)), why: w})
	return nil
}

// keep returns the index of text among the whys, adding it if there is
// room for it within limit bytes of whys; false if there is none.
func (b *downBuilder) keep(text string, limit int) (uint16, bool) {
	if w, ok := b.whyIndex[text]; ok {
		return w, true
	}
	if len(b.whys) >= maxDownWhys || b.whyBytes+len(text) > limit {
		return 0, false
	}
	text = strings.Clone(text)
	w := uint16(len(b.whys))
	b.whys = append(b.whys, text)
	b.whyIndex[text] = w
	b.whyBytes += len(text)
	return w, true
}

// done returns what was gathered, sorted by name; a name listed twice is
// kept once.
func (b *downBuilder) done() *downNodes {
	name := func(s downSpan) []byte { return b.arena[s.start:s.end] }
	slices.SortStableFunc(b.spans, func(x, y downSpan) int { return bytes.Compare(name(x), name(y)) })
	b.spans = slices.CompactFunc(b.spans, func(x, y downSpan) bool { return bytes.Equal(name(x), name(y)) })
	d := &downNodes{ends: make([]uint32, 0, len(b.spans)), why: make([]uint16, 0, len(b.spans)), whys: slices.Clip(b.whys)}
	if d.whys == nil {
		d.whys = []string{"down", "failing"}
	}
	var names strings.Builder
	names.Grow(len(b.arena))
	for _, s := range b.spans {
		names.Write(name(s))
		d.ends = append(d.ends, uint32(names.Len()))
		d.why = append(d.why, s.why)
	}
	d.names = names.String()
	return d
}

// Cancel asks slurmrestd to end the job; cancelling a finished job is not
// an error. Whether the job has ended is slurmctld's word, not Status's
// (which reads a job lost while it waits on a partition that is down, or
// runs on a node that is down, and keeps that): such a job was left to
// run, unwatched, beside the attempt that replaced it. A recorded id that
// slurmctld now knows as another job (Status) is not cancelled, nor is an
// id with no record whose job is not one this backend submits
// (anAttempts).
func (r *REST) Cancel(ctx context.Context, handle string) error {
	ref, err := r.rec.parse(handle)
	if err != nil {
		return err
	}
	key := ref.key
	job, err := r.getJob(ctx, ref.id)
	if hasSlurmError(err, errInvalidJobID) {
		if key == "" {
			return fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
		}
		return nil // forgotten: it ended long ago
	}
	if err != nil {
		return fmt.Errorf("slurm cancel %s: %w", handle, err)
	}
	if key != "" && !r.ownsID(job, key) {
		return nil // the id is another job's now
	}
	if key == "" && !r.anAttempts(job, handle) {
		// No record of the id, and the job is not one this backend
		// submits: left alone, whoever's it is.
		return fmt.Errorf("handle %q: %w (slurmrestd's job of that id is no attempt's of this backend's user)", handle, backend.ErrNotFound)
	}
	if slurmEnded(string(job.State)) {
		return nil
	}
	if key != "" {
		// Remembered for when slurmctld has forgotten the job.
		if err := r.rec.markCancelled(key); err != nil {
			return fmt.Errorf("slurm cancel %s: %w", handle, err)
		}
	}
	err = r.c.call(ctx, http.MethodDelete, apiPath("job", ref.id), nil, nil)
	if err != nil && !hasSlurmError(err, errInvalidJobID, errAlreadyDone) {
		return fmt.Errorf("slurm cancel %s: %w", handle, err)
	}
	return r.waitCancelled(ctx, handle, ref.id, key, string(job.State))
}

// waitCancelled is Slurm.waitCancelled through slurmrestd: it waits,
// within ctx, until slurmctld has ended the job of id that DELETE asked
// to end (slurmrestd answers once slurmctld took the request, while the
// job may still run until KillWait, its epilog or its node ends it:
// COMPLETING). The job has ended once slurmctld says so (a final state),
// forgets it, or knows the id as another job than the attempt key's
// (ownsID), or, for a handle with no record, as no attempt's of this
// backend (anAttempts). Where ctx ends first, the error names the state
// seen last, and the caller asks again.
func (r *REST) waitCancelled(ctx context.Context, handle, id, key, state string) error {
	return pollCancelled(ctx, handle, state, func(ctx context.Context) (bool, string, error) {
		job, err := r.getJob(ctx, id)
		if hasSlurmError(err, errInvalidJobID) {
			return true, "", nil
		}
		if err != nil {
			return false, "", err
		}
		ended := key != "" && !r.ownsID(job, key) || key == "" && !r.anAttempts(job, handle) || slurmEnded(string(job.State))
		return ended, string(job.State), nil
	})
}

// Logs fails with backend.ErrLogsUnavailable for a job it knows:
// slurmrestd serves no job output, and the backend reads no file of the
// cluster. The site's agent reports a job's output instead.
func (r *REST) Logs(ctx context.Context, handle string) (io.ReadCloser, error) {
	ref, err := r.rec.parse(handle)
	if err != nil {
		return nil, err
	}
	if ref.key == "" {
		_, err := r.getJob(ctx, ref.id)
		if hasSlurmError(err, errInvalidJobID) {
			return nil, fmt.Errorf("handle %q: %w", handle, backend.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("slurm logs %s: %w", handle, err)
		}
	}
	return nil, fmt.Errorf("slurm logs %s: slurmrestd serves no job output; the site's agent reports it: %w", handle, backend.ErrLogsUnavailable)
}

// Clean sweeps the scratch an attempt's agent could not wipe. The agent
// wipes its scratch when it ends; one killed with its node (lost), or
// cancelled or killed by a signal, leaves it, unsealed data included, on a
// disk only the cluster reaches. Clean then submits a small job to the
// attempt's partition that runs the attempt's command (a Meridian attempt's
// is the agent's, "AGENT agent", configured by its environment) with
// "sweep --wait NAME ROOT" added: it removes every scratch under ROOT
// whose agent no longer holds its lock, never a live one's (agent.Sweep),
// then waits for the lost attempt's own agent (NAME) to be gone, which on
// a node that comes back can take Slurm's KillWait, and removes its
// scratch. The job waits for the partition's nodes to return, and for the
// attempt's job to end when Slurm has not ended it yet (the controller
// ends an attempt as soon as it cancels it or finds its site lost, and is
// not asked again). One sweep per attempt; attempts that ended on their own
// need none. Once the job's final status is kept and is not lost (a job
// read as lost may still run on a node that stopped responding), its
// record is moved aside (records.retire): capacity polls list it no more.
func (r *REST) Clean(ctx context.Context, handle string) error {
	if err := r.clean(ctx, handle); err != nil {
		return err
	}
	ref, err := r.rec.parse(handle)
	if err != nil || ref.key == "" {
		return nil
	}
	key := ref.key
	if r.rec.liveKeyOf(ref.id) != key && !r.rec.liveLater(ref.id, key) {
		return nil
	}
	if st, ok, err := r.rec.final(key); err != nil || !ok || st.State == backend.Lost {
		return nil
	}
	if err := r.rec.retire(ref.id, key); err != nil {
		return fmt.Errorf("slurm clean %s: %w", handle, err)
	}
	return nil
}

func (r *REST) clean(ctx context.Context, handle string) error {
	ref, err := r.rec.parse(handle)
	if err != nil {
		return nil
	}
	key := ref.key
	if key == "" || r.rec.swept(key) {
		return nil
	}
	info, ok := r.rec.sweep(key)
	if !ok || len(info.Command) == 0 || !path.IsAbs(info.Root) {
		return nil // submitted before sweeps were recorded
	}
	// Under the attempt's lock, as Submit: two Cleans of the attempt at
	// once (its run ended and its earlier attempts asked again) each
	// found no sweep yet and each submitted one.
	unlock, err := r.rec.lockJob(ctx, key)
	if err != nil {
		return fmt.Errorf("slurm sweep after %s: %w", key, err)
	}
	defer unlock()
	if r.rec.swept(key) {
		return nil
	}
	st, err := r.Status(ctx, handle)
	if err != nil {
		return err
	}
	ended, after := "ended "+string(st.State), ""
	switch {
	case !st.State.Final():
		// Its job has not ended yet: the sweep waits for it, as it may
		// end as a killed agent would, leaving its scratch.
		ended, after = "ending", "afterany:"+ref.id
	case st.State == backend.Succeeded, st.State == backend.Failed && st.ExitCode < 128:
		return r.rec.markSwept(key, "none needed") // the agent ended and wiped
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Meridian: remove what dead agents left under " + info.Root + " (attempt " + key + " " + ended + ")\nexec")
	args := append(append([]string{}, info.Command...), "sweep")
	if info.Name != "" {
		args = append(args, "--wait", info.Name)
	}
	for _, a := range append(args, info.Root) {
		b.WriteString(" " + quote(a))
	}
	b.WriteString("\n")
	req := submitRequest{
		Script: b.String(),
		Job: submitJob{
			Name:        "meridian-sweep-" + key,
			Partition:   info.Partition,
			Cwd:         "/",
			Stdout:      path.Join(info.Root, "meridian-sweep-"+key+".out"),
			Environment: map[string]string{"PATH": defaultPath},
			TimeLimit:   10,
			Dependency:  after,
		},
	}
	if tok, ok := r.rec.sweepIntent(key); ok && tok != "" {
		// An earlier sweep submit's answer was lost (a timeout between
		// slurmrestd and slurmctld, a dropped connection): slurmctld
		// may have made its job, and each later Clean submitted another.
		// Its job bears the token of the intent; a record without one
		// (written before sweeps had one) tells no job for the sweep's.
		id, ok, err := r.findSweep(ctx, req.Job.Name, sweepComment(key, tok))
		if err != nil {
			return fmt.Errorf("slurm sweep after %s: %w", key, err)
		}
		if ok {
			return r.rec.markSwept(key, id)
		}
		// None listed: it made no job, or its job has run and been
		// forgotten; sweeping again does no harm.
	}
	tok, err := r.rec.markSweepIntent(key)
	if err != nil {
		return fmt.Errorf("slurm sweep after %s: %w", key, err)
	}
	req.Job.Comment = sweepComment(key, tok)
	var out struct {
		JobID int64 `json:"job_id"`
	}
	if err := r.c.call(ctx, http.MethodPost, apiPath("job", "submit"), req, &out); err != nil {
		if refusedOutright(err) {
			if cerr := r.rec.clearSweepIntent(key); cerr != nil {
				err = fmt.Errorf("%w (and the sweep's record stays: %v)", err, cerr)
			}
		}
		return fmt.Errorf("slurm sweep after %s: %w", key, err)
	}
	return r.rec.markSwept(key, strconv.FormatInt(out.JobID, 10))
}

// listOwnJobsNamed calls fn with each job slurmrestd lists that bears
// name and is this backend's user's. It returns the list's error and,
// apart, the error of telling whose the named jobs are (the user is
// known once the list's request has reached slurmrestd): a named job
// whose owner cannot be told is passed to no fn.
func (r *REST) listOwnJobsNamed(ctx context.Context, name string, fn func(restListedJob) error) (err, ownerErr error) {
	var owner *jobOwner
	err = listOf(ctx, r.c, apiPath("jobs"), "jobs", func(j *restListedJob) error {
		if j.Name != name {
			return nil
		}
		if owner == nil && ownerErr == nil {
			o, err := r.c.jobUser()
			owner, ownerErr = &o, err
		}
		if ownerErr != nil || !owner.owns(j.UserID, j.UserName) {
			return nil
		}
		return fn(*j)
	})
	return err, ownerErr
}

// sweepComment is the comment of the sweep job of key, tok the token of
// its intent record.
func sweepComment(key, tok string) string {
	return "meridian sweep after " + key + " " + tok
}

// findSweep looks for this backend's user's job of the given name and
// comment (a sweep's, whose comment carries the token of its intent
// record, which no other job of the user's can bear before the sweep's
// job shows it) among the jobs slurmrestd lists, the oldest if several.
// A job of the name without the comment is not the sweep's, whoever made
// it: it is passed over, and neither taken nor cancelled.
func (r *REST) findSweep(ctx context.Context, name, comment string) (string, bool, error) {
	var oldest int64
	err, ownerErr := r.listOwnJobsNamed(ctx, name, func(j restListedJob) error {
		if j.Comment != comment {
			return nil
		}
		if id := strconv.FormatInt(j.JobID, 10); j.JobID > 0 && isJobID(id) && (oldest == 0 || j.JobID < oldest) {
			oldest = j.JobID
		}
		return nil
	})
	if err == nil && oldest == 0 {
		// Whose the jobs of the name are cannot be told.
		err = ownerErr
	}
	if err != nil {
		return "", false, fmt.Errorf("find %s: %w", name, err)
	}
	if oldest == 0 {
		return "", false, nil
	}
	return strconv.FormatInt(oldest, 10), true, nil
}

// refusedOutright says whether err says that a submit made no job: it
// never left this process (notSent: the token file could not be read,
// slurmrestd could not be connected to), slurmrestd refused its
// credentials (HTTP 401 or 403, before it reads the request), or
// slurmrestd answered that the scheduler refused it: slurmctld's own
// refusals (ESLURM_*, 2000 to 2999) or slurmrestd's of the request itself
// (ESLURM_DATA_* and ESLURM_REST_*, 9000 to 9999), and nothing else in the
// answer. A communication error (1000 to 1999, 5000 to 5999: a timeout
// talking to slurmctld, which may have queued the job meanwhile), a lost
// connection, a proxy's 502, or an answer that is not Slurm's, leaves open
// whether a job was made.
func refusedOutright(err error) bool {
	if notSent(err) {
		return true
	}
	re, ok := asRESTError(err)
	if ok && (re.status == http.StatusUnauthorized || re.status == http.StatusForbidden) {
		return true
	}
	return ok && re.refusalsOnly([2]int{2000, 3000}, [2]int{9000, 10000})
}
