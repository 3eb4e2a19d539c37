package run

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/store"
)

// SiteRoot is the directory a state directory reserves for a site's
// backend state, on the controller's machine: what the backend learnt from
// the site's scheduler (job ids, final states), and, for a local site, its
// jobs. The site's own work directory (backend.workDir) is the backend's
// business; the controller never reads workload files.
func SiteRoot(stateDir string, site *catalog.Site) string {
	return filepath.Join(stateDir, "sites", site.Metadata.Name)
}

// SiteStore is the store a site receives data and checkpoints in: its
// spec.store, or, when it names none, a file:// store in the "store"
// directory of the site's root (which only sites on the controller's
// machine can reach: a remote site must name its store, RemoteProblems).
// Each tenant has its own prefix in it (DataPrefix, CheckpointPrefix).
func SiteStore(stateDir string, site *catalog.Site) string {
	if site.Spec.Store != "" {
		return site.Spec.Store
	}
	return "file://" + filepath.Join(SiteRoot(stateDir, site), "store")
}

// SiteRoot is the site's root under this controller's state directory.
func (c *Controller) SiteRoot(site *catalog.Site) string { return SiteRoot(c.cfg.StateDir, site) }

// SiteStore is the site's store as this controller reaches it.
func (c *Controller) SiteStore(site *catalog.Site) string { return SiteStore(c.cfg.StateDir, site) }

// DataPrefix is a tenant's part of a site's store for staged datasets;
// CheckpointPrefix its part for sealed checkpoints.
func DataPrefix(tenant string) string       { return "t/" + tenant + "/data/" }
func CheckpointPrefix(tenant string) string { return "t/" + tenant + "/ckpt/" }

func dataPrefix(tenant string) string       { return DataPrefix(tenant) }
func checkpointPrefix(tenant string) string { return CheckpointPrefix(tenant) }

// checkpointName is the sealed name pattern of attempt n's checkpoints.
// Each attempt names its own, so that an earlier attempt that outlives its
// lease at the same site cannot overwrite, under the same name, the
// checkpoint the run now resumes from.
func checkpointName(runID string, n int) string {
	return "ckpt-" + runID + "-a" + strconv.Itoa(n) + "-%d"
}

// legacyCheckpointName is the pattern of attempts begun by servers before
// checkpointName named the attempt: their agents still report under it.
func legacyCheckpointName(runID string) string { return "ckpt-" + runID + "-%d" }

// checkpointPattern is the name pattern attempt a seals under, and the
// only one its reports are taken under.
func checkpointPattern(runID string, a Attempt) string {
	if a.OwnCheckpointNames {
		return checkpointName(runID, a.N)
	}
	return legacyCheckpointName(runID)
}

func (c *Controller) backendFor(r *Run, siteName string) (backend.Backend, error) {
	_, site, err := c.worldSite(r, siteName)
	if err != nil {
		return nil, err
	}
	b, err := c.siteBackend(site)
	if err != nil {
		return nil, &backendError{site: siteName, err: err}
	}
	return b, nil
}

// backendError is a site's backend that could not be made: its settings
// refused, its state directory not usable. Its text names server paths,
// so a run's tenant is told only its class (backendReason).
type backendError struct {
	site string
	err  error
}

func (e *backendError) Error() string { return fmt.Sprintf("backend for site %s: %v", e.site, e.err) }
func (e *backendError) Unwrap() error { return e.err }

// backendReason is the text a run's tenant is given for err, backendFor's
// error: a backend that could not be made is a site fault (siteFault);
// any other error is the run's world's, which names only the tenant's own
// documents and the catalog.
func (c *Controller) backendReason(r *Run, err error) string {
	var be *backendError
	if errors.As(err, &be) {
		return c.siteFault(r, be.site, "the site's backend could not be started", be.err)
	}
	return err.Error()
}

// notifier is a backend that tells when an attempt's state may have
// changed (the kubernetes backend's watch), so the loop need not wait for
// its next tick.
type notifier interface {
	Notify(func(handle string))
}

// siteBackend returns the site's backend, made once per site root.
func (c *Controller) siteBackend(site *catalog.Site) (backend.Backend, error) {
	root := c.SiteRoot(site)
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.backends[root]; b != nil {
		return b, nil
	}
	b, err := c.cfg.Backends(site, root)
	if err != nil {
		return nil, err
	}
	if n, ok := b.(notifier); ok {
		n.Notify(func(string) { c.Nudge() })
	}
	c.backends[root] = b
	return b, nil
}

// stage records the intent to submit attempt 1 at the planned site.
func (c *Controller) stage(ctx context.Context, r *Run) (bool, error) {
	if _, _, err := c.worldSite(r, r.Site); err != nil {
		return c.failJudged(ctx, r, err, err.Error())
	}
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Planned {
			return store.ErrNoChange
		}
		if r.CancelRequested {
			return transition(ch, r, Cancelled, "cancelled before it was submitted")
		}
		r.Attempt = 1
		r.Attempts = append(r.Attempts, Attempt{N: 1, Site: r.Site, Nonce: newNonce(), Count: r.Placement.Count, PricePerHour: r.Placement.PricePerHour, OwnCheckpointNames: true})
		return transition(ch, r, Staging, fmt.Sprintf("preparing attempt 1 at %s", r.Site))
	})
	return err == nil, err
}

// failJudged fails r for err with reason, unless err is a failure to read
// the store (notJudged): that says nothing about the run, the same read may
// work a moment later, and the step is tried again instead. Without it a
// store that did not answer once (a restart of PostgreSQL) ended every run
// whose world was read at that moment.
func (c *Controller) failJudged(ctx context.Context, r *Run, err error, reason string) (bool, error) {
	if notJudged(err) {
		return false, err
	}
	return c.fail(ctx, r, reason)
}

func (c *Controller) fail(ctx context.Context, r *Run, reason string) (bool, error) {
	c.endAttempt(ctx, r)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() {
			return store.ErrNoChange
		}
		return transition(ch, r, Failed, reason)
	})
	return err == nil, err
}

// credential is the secret an attempt's agent proves itself with: the
// attempt's nonce, a dot, and an HMAC, under the server's agent key, of the
// run, the attempt and that nonce. The controller can derive it again
// after a restart, so a submit repeated after a crash hands the same
// credential to the job it finds; and any server that holds the key can
// tell one it made from a forged one without reading the store
// (credentialMade), so that a valid credential is never held back by its
// address's failures and a forged one costs no read.
func (c *Controller) credential(runID string, a Attempt) string {
	return a.Nonce + "." + c.credentialMAC(runID, a.N, a.Nonce)
}

// credentialV1 is the credential of attempts begun by servers before
// credentials carried their nonce: the MAC alone. It still works for them,
// checked against the run in the store.
func (c *Controller) credentialV1(runID string, a Attempt) string {
	return c.credentialMAC(runID, a.N, a.Nonce)
}

func (c *Controller) credentialMAC(runID string, n int, nonce string) string {
	c.credentialMACs.Add(1)
	m := hmac.New(sha256.New, c.cfg.AgentKey)
	fmt.Fprintf(m, "meridian-attempt-v1\n%s\n%d\n%s\n", runID, n, nonce)
	return hex.EncodeToString(m.Sum(nil))
}

// maxNonce bounds the nonce a credential may carry (newNonce makes 32
// characters), so that checking a forged one costs little.
const maxNonce = 64

// credentialMade says whether tok is a credential this server's agent key
// made for attempt n of run runID, without asking the store whether that
// attempt has that nonce (it is the run's, read afterwards).
func (c *Controller) credentialMade(runID string, n int, tok string) bool {
	nonce, mac, ok := strings.Cut(tok, ".")
	if !ok || nonce == "" || len(nonce) > maxNonce || len(c.cfg.AgentKey) == 0 {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(c.credentialMAC(runID, n, nonce)))
}

// credentialOf says whether tok is attempt a's credential for run runID,
// in either form, computing the MAC at most once. A credential this server
// saw work for the attempt (known, checked then against knownNonce) is the
// attempt's while its nonce is the same; one whose MAC checked for the
// nonce it carries (made) is the attempt's when that nonce is the
// attempt's; any other is compared with both forms of the credential, made
// from one MAC.
func (c *Controller) credentialOf(tok, runID string, a Attempt, known bool, knownNonce string, made bool) bool {
	switch {
	case known:
		return subtle.ConstantTimeCompare([]byte(knownNonce), []byte(a.Nonce)) == 1
	case made:
		nonce, _, _ := strings.Cut(tok, ".")
		return subtle.ConstantTimeCompare([]byte(nonce), []byte(a.Nonce)) == 1
	}
	mac := c.credentialMAC(runID, a.N, a.Nonce)
	return subtle.ConstantTimeCompare([]byte(tok), []byte(a.Nonce+"."+mac)) == 1 ||
		subtle.ConstantTimeCompare([]byte(tok), []byte(mac)) == 1
}

func (c *Controller) currentAttempt(r *Run) (Attempt, bool) {
	for _, a := range r.Attempts {
		if a.N == r.Attempt {
			return a, true
		}
	}
	return Attempt{}, false
}

// lawfulNow asks the law in force whether the run's placement is lawful
// now, on every day it is now somewhere on Earth (placementLawAt); checked
// is false when the controller has no law to ask.
func (c *Controller) lawfulNow(r *Run) (policy.Decision, bool, error) {
	dec, _, checked, err := c.lawfulNowOn(r)
	return dec, checked, err
}

// lawfulNowOn is lawfulNow that also answers the day whose decision it is
// (placementLawDayAt).
func (c *Controller) lawfulNowOn(r *Run) (policy.Decision, catalog.Date, bool, error) {
	ln := c.lawNow()
	if ln.Law == nil {
		return policy.Decision{Allowed: true}, c.today(), false, nil
	}
	w, job, err := c.worldJob(r)
	if err != nil {
		return policy.Decision{}, c.today(), false, err
	}
	dec, on, err := placementLawDayAt(w, job, w.Site(r.Site), r.Placement.Pool, c.cfg.Now(), ln)
	return dec, on, true, err
}

// submit hands the attempt recorded in Staging to the site's backend, after
// asking the law again as of today. The backend's Submit is idempotent by
// run id and attempt, so repeating this after a crash finds the job instead
// of starting a second one.
func (c *Controller) submit(ctx context.Context, r *Run) (bool, error) {
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		return c.failJudged(ctx, r, err, c.backendReason(r, err))
	}
	if r.CancelRequested {
		if f, ok := be.(backend.Finder); ok {
			// Within its own bound, so that a site that hangs is counted
			// unreachable (and lost past its timeout) and the cancel's
			// own bound still fits in the step's: the step's whole minute
			// spent here ended the step before unreachableFor was asked,
			// every time, and the run stayed staging for ever.
			fctx, fcancel := context.WithTimeout(ctx, cancelFindWait)
			h, found, err := f.Find(fctx, r.ID, r.Attempt)
			fcancel()
			if err != nil {
				// Whether the site took the attempt's job (a Submit
				// whose answer was lost) is not known: the job may run,
				// so the run is not cancelled; looked for again until
				// the site timeout loses the site (unreachableFor).
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				return c.unreachableFor(ctx, r, fmt.Errorf("cancel: looking for attempt %d's job: %w", r.Attempt, err))
			}
			if found {
				// Within its own bound, not the step's: a job still
				// ending is looked at again on a later tick, for as long
				// as the monitor's cancel would wait (stillStopping).
				// Any other answer but not found is no stop: the job
				// may run on, so the run is not cancelled; asked again
				// until the site timeout loses the site (unreachableFor).
				switch err := c.cancelJob(ctx, be, h); {
				case errors.Is(err, backend.ErrStopping):
					withHandle := *r
					withHandle.Handle = h
					return c.stillStopping(ctx, &withHandle, err)
				case errors.Is(err, backend.ErrNotFound):
					// The job the lookup just found, not found by its
					// cancel: gone only where its Status does not know it
					// either, as the monitor's cancel judges it.
					st, statusErr := be.Status(ctx, h)
					if why := statusNotGone(st, statusErr); why != "" {
						c.stoppedEnding(r)
						return c.unreachableFor(ctx, r, fmt.Errorf("cancel: %w", &stopError{err, why}))
					}
				case err != nil:
					c.stoppedEnding(r)
					return c.unreachableFor(ctx, r, fmt.Errorf("cancel: %w", err))
				}
			}
			c.stoppedEnding(r)
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		c.endAttempt(ctx, r)
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.State != Staging {
				return store.ErrNoChange
			}
			return transition(ch, r, Cancelled, "cancelled before the attempt started")
		})
		return err == nil, err
	}
	w, job, err := c.worldJob(r)
	if err != nil {
		return c.failJudged(ctx, r, err, err.Error())
	}
	// The plan was lawful on its date; the attempt starts today.
	if dec, on, checked, err := c.lawfulNowOn(r); err != nil {
		if notJudged(err) {
			// Not judged: the store could not be read. The step fails and
			// is tried again; nothing starts meanwhile.
			return false, err
		}
		return c.fail(ctx, r, fmt.Sprintf("law check before attempt %d at %s failed (failing closed): %v", r.Attempt, r.Site, err))
	} else if checked && !dec.Allowed {
		return c.leaveForLawOn(ctx, r, dec, c.lawNow().Rev, catalog.Date{}, on)
	}
	a, ok := c.currentAttempt(r)
	if !ok || a.Nonce == "" {
		return c.fail(ctx, r, fmt.Sprintf("attempt %d has no record", r.Attempt))
	}
	site := w.Site(r.Site)
	env := map[string]string{
		agent.EnvServer:  c.cfg.ServerURL,
		agent.EnvRun:     r.ID,
		agent.EnvAttempt: strconv.Itoa(r.Attempt),
		// The agent waits for its manifest as long as this server would
		// take to count the site lost, so that a site cut off from it
		// for a while is lost, not the run failed (agentPatience).
		agent.EnvPatience: c.agentPatience().String(),
	}
	// The credential is kept out of what the site shows of the job (a
	// Kubernetes Job's spec is readable by more users than its Secrets).
	secret := map[string]string{agent.EnvToken: c.credential(r.ID, a)}
	if c.cfg.AgentFingerprint != "" {
		env[agent.EnvServerFingerprint] = c.cfg.AgentFingerprint
	}
	// Plain HTTP off loopback is the operator's choice only when serve
	// was given --insecure-http (AgentInsecureHTTP): an http:// address
	// alone is not (a controller configured by hand may carry one; serve
	// refuses such an --advertise without it). Only then is the agent told it
	// may send its credential so; otherwise it refuses plain HTTP to any
	// host but its own loopback.
	if c.cfg.AgentInsecureHTTP && plainHTTPOffLoopback(c.cfg.ServerURL) {
		env[agent.EnvInsecureHTTP] = "1"
	}
	spec := backend.Spec{RunID: r.ID, Attempt: r.Attempt, Command: c.agentCommand(site), Env: env, Secret: secret,
		Accelerators: r.Placement.Count, Image: job.Spec.Workload.Image}
	spec.Partition, spec.GresType = site.Spec.Backend.Partition, site.Spec.Backend.GresType
	// Starting the attempt is outside the store, where no fence reaches:
	// ask the lease right before. A leader that lost it stops here; one
	// frozen between this check and Submit submits the attempt the new
	// leader would (Submit is idempotent per run and attempt, and the new
	// leader finds it), and an attempt the run has moved past gets no
	// manifest from its agent's first call.
	if err := c.stillLeading(ctx); err != nil {
		return false, err
	}
	submitted := c.cfg.Now()
	h, err := be.Submit(ctx, spec)
	switch {
	case errors.Is(err, backend.ErrSiteDown), errors.Is(err, backend.ErrAttemptUnknown):
		return c.lose(ctx, r, c.siteFault(r, r.Site, fmt.Sprintf("the site's scheduler refused the submission of attempt %d", r.Attempt), err))
	case permanentSubmit(err):
		return c.fail(ctx, r, c.siteFault(r, r.Site, fmt.Sprintf("the site's scheduler cannot take attempt %d", r.Attempt), err))
	case err != nil:
		return c.unreachableFor(ctx, r, fmt.Errorf("submit: %w", err))
	}
	c.reachable(r.ID)
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Staging {
			return store.ErrNoChange
		}
		r.Handle = h
		if n := len(r.Attempts); n > 0 && r.Attempts[n-1].N == r.Attempt {
			r.Attempts[n-1].Handle = h
			r.Attempts[n-1].Submitted = submitted
		}
		return transition(ch, r, Queued, fmt.Sprintf("attempt %d submitted to %s as %s", r.Attempt, r.Site, h))
	})
	return err == nil, err
}

// permanentSubmit reports a submit error that no retry can fix: the job
// itself is unacceptable (too large an argument list, an invalid spec).
func permanentSubmit(err error) bool {
	return err != nil && (errors.Is(err, syscall.E2BIG) || errors.Is(err, backend.ErrInvalid) ||
		strings.Contains(err.Error(), "argument list too long"))
}

func (c *Controller) reachable(id string) {
	c.mu.Lock()
	delete(c.unreachable, id)
	c.mu.Unlock()
}

// unreachableFor counts the time a site has not answered; past the site
// timeout the site is lost.
func (c *Controller) unreachableFor(ctx context.Context, r *Run, cause error) (bool, error) {
	now := time.Now() // elapsed time, not the law's date (Config.Now)
	since := c.failingSince(c.unreachable, r.ID, now)
	if now.Sub(since) < c.cfg.SiteTimeout {
		return false, cause
	}
	if ctx.Err() != nil {
		// No update on a context that ended: the count stands, and the
		// next step loses the site.
		return false, cause
	}
	done, err := c.lose(ctx, r, c.siteFault(r, r.Site, fmt.Sprintf("the site was unreachable for %s", now.Sub(since).Round(time.Second)), cause))
	if err == nil {
		c.reachable(r.ID)
	}
	return done, err
}

// stillEndingSince is since when a cancelled run's site has said its job
// is still ending, and whether the run's timeline says so.
type stillEndingSince struct {
	since    time.Time
	reported bool
}

// stillEndingLimit is how many site timeouts a cancelled run's job may
// stay ending, its site answering so at each step, before the site is
// counted unreachable (unreachableFor): a job that never ends kept its
// run cancelling for ever, with nothing said of it.
const stillEndingLimit = 4

// stillStopping takes the answer of r's site that r's job, asked to end,
// is still ending (cause, backend.ErrStopping): the site is reachable,
// and the run stays cancelling. Past the site timeout since its first
// such answer, a warning is logged and one event added to the run's
// timeline; past stillEndingLimit site timeouts, the site is counted
// unreachable from then (unreachableFor), and lost one site timeout
// later if the job still has not ended.
func (c *Controller) stillStopping(ctx context.Context, r *Run, cause error) (bool, error) {
	k := attemptKey(r.ID, r.Attempt)
	now := c.cancelClock()
	c.mu.Lock()
	if c.stillEnding == nil {
		c.stillEnding = map[string]*stillEndingSince{}
	}
	s := c.stillEnding[k]
	if s == nil {
		s = &stillEndingSince{since: now}
		c.stillEnding[k] = s
	}
	since, ending := s.since, now.Sub(s.since)
	report := !s.reported && ending >= c.cfg.SiteTimeout
	if report {
		s.reported = true
	}
	c.mu.Unlock()
	if ending >= stillEndingLimit*c.cfg.SiteTimeout {
		done, err := c.unreachableFor(ctx, r, fmt.Errorf("cancel: the job has been ending for %s, more than %d site timeouts: %w", ending.Round(time.Second), stillEndingLimit, cause))
		if done {
			c.stoppedEnding(r)
		}
		return done, err
	}
	c.reachable(r.ID)
	if !report {
		return false, nil
	}
	why := fmt.Sprintf("site %s took the cancel of attempt %d's job %s, but the job has been ending for %s, past the site timeout (%s); past %s the site is counted unreachable", r.Site, r.Attempt, r.Handle, ending.Round(time.Second), c.cfg.SiteTimeout, stillEndingLimit*c.cfg.SiteTimeout)
	c.cfg.Logger.Warn("a cancelled run's job is still ending past the site timeout", "run", r.ID, "tenant", r.Tenant, "site", r.Site, "attempt", r.Attempt, "handle", r.Handle, "since", since, "err", cause)
	attempt := r.Attempt
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.Attempt != attempt {
			return store.ErrNoChange
		}
		ch.Events = append(ch.Events, store.Event{Kind: "cancel-still-ending", Reason: reasonText(why)})
		return nil
	})
	if err != nil {
		// Said at a later step.
		c.mu.Lock()
		s.reported = false
		c.mu.Unlock()
	}
	return false, err
}

// stoppedEnding forgets that r's site said r's job was still ending: its
// cancel had another answer.
func (c *Controller) stoppedEnding(r *Run) {
	c.mu.Lock()
	delete(c.stillEnding, attemptKey(r.ID, r.Attempt))
	c.mu.Unlock()
}

// cancelJob asks be to cancel the job of handle within c's cancel bound
// (cancelTimeout), a part of the step's: a site's Cancel waits for the
// job to end, and a job that traps SIGTERM to write its last checkpoint,
// or whose node is slow to answer, would hold the step's worker for the
// whole step. A job still ending is backend.ErrStopping, asked again at
// a later step.
func (c *Controller) cancelJob(ctx context.Context, be backend.Backend, handle string) error {
	wait := c.cancelWait
	if wait <= 0 {
		wait = cancelTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return be.Cancel(cctx, handle)
}

// cancelFindWait bounds the lookup of a job a cancel before the start
// makes (backend.Finder): with the cancel's own bound (cancelTimeout) it
// fits in a step's. A variable: the tests lower it.
var cancelFindWait = 15 * time.Second

// cancelTimeout is how long a step waits for its site's cancel of a job
// to end it (cancelJob): a drain's bound for the same Cancel
// (drainCancelWait), above a local site's worst case (its grace, then its
// tree wait twice: 23 s at its defaults). At 15 s a local Cancel was cut
// inside it, before its SIGKILL, and read as a site that did not answer.
const cancelTimeout = drainCancelWait

// failingSince is when m (a map of c's, by key, of when something first
// failed) first saw key fail, now where it had not.
func (c *Controller) failingSince(m map[string]time.Time, key string, now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	since, ok := m[key]
	if !ok {
		m[key] = now
		since = now
	}
	return since
}

// endAttempt asks the current attempt's site to remove what the attempt
// left (its scratch: plaintext data and checkpoints), through the site's
// backend when it can; best effort, since a lost site may not answer. The
// attempt's credential already stops working once the run moves on.
//
// The attempts before it are asked again, in case their site was lost
// when they ended and is back (a site's Clean does nothing to a job it
// still runs, and says so by no error, so no answer marks an attempt
// done). They are asked site by site at once, each site's in turn, all
// within one wait as long as the current attempt's: a run that has left a
// now-hanging site many times still gets on with its step (each wait used
// to be the current attempt's, and seven of them spent the step's whole
// minute, every time), and a site that hangs does not keep another's
// attempts from being asked.
func (c *Controller) endAttempt(ctx context.Context, r *Run) {
	wait := c.cleanWait
	if wait <= 0 {
		wait = cleanTimeout
	}
	clean := func(ctx context.Context, a Attempt) {
		be, err := c.backendFor(r, a.Site)
		if err != nil {
			return
		}
		if cl, ok := be.(backend.Cleaner); ok {
			if err := cl.Clean(ctx, a.Handle); err != nil {
				c.cfg.Logger.Warn("clean attempt", "run", r.ID, "tenant", r.Tenant, "attempt", a.N, "err", err)
			}
		}
	}
	earlier := map[string][]Attempt{}
	var current *Attempt
	for i, a := range r.Attempts {
		switch {
		case a.Handle == "":
		case a.N == r.Attempt:
			current = &r.Attempts[i]
		default:
			earlier[a.Site] = append(earlier[a.Site], a)
		}
	}
	var wg sync.WaitGroup
	// pctx bounds the earlier attempts' cleans: done once they are, or
	// once their wait (within the step's own bound) is over.
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if len(earlier) > 0 {
		for _, as := range earlier {
			wg.Add(1)
			go func(as []Attempt) {
				defer wg.Done()
				for _, a := range as {
					if pctx.Err() != nil {
						return // asked again at the run's next end
					}
					clean(pctx, a)
				}
			}(as)
		}
	}
	if current != nil {
		cctx, cancel := context.WithTimeout(ctx, wait)
		clean(cctx, *current)
		cancel()
	}
	// A site that hangs past every context (a state directory on a file
	// server that stopped answering) holds its Clean in the kernel: the
	// step waits for the earlier attempts' cleans at most their wait, so
	// that a hung site does not hold a step of a run now at a healthy
	// site, and the rest end on their own, best effort.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-pctx.Done():
		select {
		case <-done:
		default:
			c.cfg.Logger.Warn("clean earlier attempts: a site did not answer within the wait; left to end on its own", "run", r.ID, "tenant", r.Tenant, "wait", wait)
		}
	}
}

// cleanTimeout is how long endAttempt waits for a site to remove the
// current attempt's scratch, and for all the attempts before it.
const cleanTimeout = 10 * time.Second

// plainHTTPOffLoopback reports whether server is an http:// address of a
// host that is not this machine's loopback (localhost, 127.0.0.0/8, ::1).
func plainHTTPOffLoopback(server string) bool {
	u, err := url.Parse(server)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.Unmap().IsLoopback()
}
