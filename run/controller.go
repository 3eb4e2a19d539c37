package run

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// BackendFor returns the backend that runs jobs at site; root is a
// directory the controller reserves for that site.
type BackendFor func(site *catalog.Site, root string) (backend.Backend, error)

// Config wires a Controller.
type Config struct {
	Store store.Store
	// StateDir holds per-site working directories unless a site names its own.
	StateDir string
	// CatalogDir, when set, replaces the built-in sites (serve --catalog).
	CatalogDir string
	Plan       Planner
	Backends   BackendFor
	// Poll is how often active runs are checked (default 500ms).
	Poll time.Duration
	// SiteTimeout is how long a site may be unreachable before it counts as lost (default 30s).
	SiteTimeout time.Duration
	// ParseProgress reads one output line; the default is the backend
	// package's parser of "step=N loss=X tokens_per_s=Y".
	ParseProgress func(line string) (Progress, bool)
	Now           func() time.Time
	Logger        *slog.Logger
	// Workers is how many runs are stepped at once (default 8).
	Workers int
	// Stager stages the job's datasets to the attempt's site in the staging
	// state, before every submit (the first attempt and each one after a
	// migration), and its Keys deliver dataset keys to the attempt. Its
	// Ledger defaults to Store's audit log. Without a Stager a job whose
	// datasets have a spec.store fails; declared-only datasets need none.
	Stager *transfer.Stager
	// StageTimeout bounds one staging step (default 1h); a staging cut
	// short resumes at the next step without resending what arrived.
	StageTimeout time.Duration
}

// Controller drives runs through their lifecycle.
type Controller struct {
	cfg  Config
	wake chan struct{}

	catOnce sync.Once
	catSet  *catalog.Set
	catErr  error

	mu          sync.Mutex
	worlds      map[string]*catalog.World
	backends    map[string]backend.Backend
	unreachable map[string]time.Time
	lastSave    map[string]time.Time
	storeLocks  map[string]*sync.Mutex
}

// New returns a Controller; call Run to start its loop.
func New(cfg Config) *Controller {
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.SiteTimeout <= 0 {
		cfg.SiteTimeout = 30 * time.Second
	}
	if cfg.ParseProgress == nil {
		cfg.ParseProgress = ParseProgress
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.StageTimeout <= 0 {
		cfg.StageTimeout = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Controller{cfg: cfg, wake: make(chan struct{}, 1), worlds: map[string]*catalog.World{},
		backends: map[string]backend.Backend{}, unreachable: map[string]time.Time{}, lastSave: map[string]time.Time{},
		storeLocks: map[string]*sync.Mutex{}}
}

// InputError is a submission the user must fix; Field names what is wrong.
type InputError struct {
	Field string
	Err   error
}

func (e *InputError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ErrNoPlacement is returned when the plan has no lawful, feasible placement.
var ErrNoPlacement = errors.New("no lawful, feasible placement")

// ErrNotFound is returned for a run that does not exist or that belongs to
// another tenant (the two are indistinguishable on purpose).
var ErrNotFound = errors.New("run not found")

// SubmitRequest asks for a new run.
type SubmitRequest struct {
	Documents []Document `json:"documents"`
	// Job names the TrainingJob when the documents hold several.
	Job string `json:"job,omitempty"`
	// Placement is the plan rank to use; 0 means 1.
	Placement int `json:"placement,omitempty"`
	// AsOf is the planning date (YYYY-MM-DD); empty means today.
	AsOf string `json:"asOf,omitempty"`
	// IdempotencyKey makes retries of one submission return one run.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "run-" + hex.EncodeToString(b)
}

func (c *Controller) today() catalog.Date {
	d, _ := catalog.ParseDate(c.cfg.Now().UTC().Format(catalog.DateLayout))
	return d
}

// Submit plans the job, records the plan and the chosen placement, and
// queues the run for the controller. Nothing is written on error.
func (c *Controller) Submit(ctx context.Context, tenant string, req SubmitRequest) (*Run, bool, error) {
	if len(req.Documents) == 0 {
		return nil, false, &InputError{"documents", errors.New("give at least one resource file")}
	}
	if len(req.IdempotencyKey) > 200 {
		return nil, false, &InputError{"idempotencyKey", errors.New("longer than 200 characters")}
	}
	asOf := c.today()
	if req.AsOf != "" {
		d, err := catalog.ParseDate(req.AsOf)
		if err != nil {
			return nil, false, &InputError{"asOf", err}
		}
		asOf = d
	}
	rank := req.Placement
	if rank == 0 {
		rank = 1
	}
	if rank < 0 {
		return nil, false, &InputError{"placement", fmt.Errorf("%d: want a rank of 1 or more", rank)}
	}
	w, err := c.buildWorld(req.Documents)
	if err != nil {
		return nil, false, &InputError{"documents", err}
	}
	job, err := pickJob(w, req.Job)
	if err != nil {
		return nil, false, &InputError{"job", err}
	}
	if len(job.Spec.Workload.Command) == 0 {
		return nil, false, &InputError{"spec.workload.command", fmt.Errorf("TrainingJob %s has nothing to run", job.Metadata.Name)}
	}
	plan, err := c.cfg.Plan(w, job, asOf, nil)
	if err != nil {
		return nil, false, fmt.Errorf("plan %s: %w", job.Metadata.Name, err)
	}
	if len(plan.Placements) == 0 {
		return nil, false, fmt.Errorf("%s as of %s: %w (%d candidates rejected)", job.Metadata.Name, asOf, ErrNoPlacement, len(plan.Rejected))
	}
	if rank > len(plan.Placements) {
		return nil, false, &InputError{"placement", fmt.Errorf("rank %d: the plan has %d placements", rank, len(plan.Placements))}
	}
	pl := plan.Placements[rank-1]
	id := newID()
	r := &Run{ID: id, Tenant: tenant, Job: job.Metadata.Name, State: Planned, Site: pl.Site,
		Data: Data{Documents: req.Documents, AsOf: asOf.String(), Rank: rank, Placement: pl}}
	var ch store.Change
	why := fmt.Sprintf("rank %d of %d by objective %s", rank, len(plan.Placements), job.Spec.ObjectiveOrDefault())
	if req.Placement > 1 {
		why = fmt.Sprintf("rank %d of %d chosen by the user", rank, len(plan.Placements))
	}
	if err := addPlan(&ch, id, "submitted", nil, plan, pl, why); err != nil {
		return nil, false, err
	}
	ch.Events = append(ch.Events, store.Event{Kind: "created", To: string(Planned),
		Reason: fmt.Sprintf("planned as of %s: %s, %d × %s at %s (%s)", asOf, why, pl.Count, pl.Accelerator, pl.Site, pl.Country)})
	if err := stateRecord(&ch, id, "", Planned, "submitted"); err != nil {
		return nil, false, err
	}
	row, err := toRow(r)
	if err != nil {
		return nil, false, err
	}
	got, created, err := c.cfg.Store.CreateRun(ctx, row, req.IdempotencyKey, ch)
	if err != nil {
		return nil, false, err
	}
	out, err := fromRow(got)
	if err != nil {
		return nil, false, err
	}
	if out.Tenant != tenant {
		return nil, false, ErrNotFound
	}
	c.Nudge()
	return out, created, nil
}

// addPlan appends the plan (with every rule id it cites) and the decision
// to ch's audit records.
func addPlan(ch *store.Change, runID, reason string, excluded []string, plan *planner.Plan, pl planner.Placement, why string) error {
	p, err := audit.NewRecord(audit.KindPlan, runID, map[string]any{
		"reason": reason, "excluded": excluded, "rules": ruleIDs(plan), "plan": plan,
	})
	if err != nil {
		return err
	}
	d, err := audit.NewRecord(audit.KindDecision, runID, map[string]any{
		"placement": pl, "why": why, "asOf": plan.AsOf,
		"lawful": "the placement passed the law checks of the plan as of its date, for the job's datasets and their transfer bases",
	})
	if err != nil {
		return err
	}
	ch.Audit = append(ch.Audit, p, d)
	return nil
}

func stateRecord(ch *store.Change, runID string, from, to State, reason string) error {
	rec, err := audit.NewRecord(audit.KindState, runID, map[string]string{"from": string(from), "to": string(to), "reason": reason})
	if err != nil {
		return err
	}
	ch.Audit = append(ch.Audit, rec)
	return nil
}

// transition moves r to state to, recording the event and the audit entry.
func transition(ch *store.Change, r *Run, to State, reason string) error {
	from := r.State
	r.State = to
	r.Reason = reason
	ch.Events = append(ch.Events, store.Event{Kind: "state", From: string(from), To: string(to), Reason: reason})
	return stateRecord(ch, r.ID, from, to, reason)
}

func toRow(r *Run) (*store.Run, error) {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return nil, err
	}
	return &store.Run{ID: r.ID, Tenant: r.Tenant, Job: r.Job, State: string(r.State), Site: r.Site,
		Attempt: r.Attempt, Handle: r.Handle, Data: data}, nil
}

// update applies fn to run id in one transaction.
func (c *Controller) update(ctx context.Context, id string, fn func(r *Run, ch *store.Change) error) (*Run, error) {
	var out *Run
	_, err := c.cfg.Store.UpdateRun(ctx, id, func(row *store.Run) (store.Change, error) {
		r, err := fromRow(row)
		if err != nil {
			return store.Change{}, err
		}
		var ch store.Change
		if err := fn(r, &ch); err != nil {
			return store.Change{}, err
		}
		nr, err := toRow(r)
		if err != nil {
			return store.Change{}, err
		}
		row.State, row.Site, row.Attempt, row.Handle, row.Data = nr.State, nr.Site, nr.Attempt, nr.Handle, nr.Data
		out = r
		return ch, nil
	})
	return out, err
}

// Get returns a run of tenant.
func (c *Controller) Get(ctx context.Context, tenant, id string) (*Run, error) {
	row, err := c.cfg.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if row.Tenant != tenant {
		return nil, ErrNotFound
	}
	return fromRow(row)
}

// List returns tenant's runs, oldest first.
func (c *Controller) List(ctx context.Context, tenant string) ([]*Run, error) {
	rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Tenant: tenant})
	if err != nil {
		return nil, err
	}
	out := make([]*Run, 0, len(rows))
	for _, row := range rows {
		r, err := fromRow(row)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Events returns the timeline of tenant's run id.
func (c *Controller) Events(ctx context.Context, tenant, id string) ([]store.Event, error) {
	if _, err := c.Get(ctx, tenant, id); err != nil {
		return nil, err
	}
	return c.cfg.Store.Events(ctx, id)
}

// Cancel asks the controller to stop tenant's run id.
func (c *Controller) Cancel(ctx context.Context, tenant, id string) (*Run, error) {
	if _, err := c.Get(ctx, tenant, id); err != nil {
		return nil, err
	}
	r, err := c.update(ctx, id, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.CancelRequested {
			return store.ErrNoChange
		}
		r.CancelRequested = true
		ch.Events = append(ch.Events, store.Event{Kind: "cancel-requested", Reason: "cancel requested by the user"})
		rec, err := audit.NewRecord(audit.KindDecision, r.ID, map[string]string{"decision": "cancel", "by": "tenant " + tenant, "state": string(r.State)})
		if err != nil {
			return err
		}
		ch.Audit = append(ch.Audit, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r == nil {
		return c.Get(ctx, tenant, id)
	}
	c.Nudge()
	return r, nil
}

// Logs returns the output of every attempt of tenant's run id, each after a
// header line.
func (c *Controller) Logs(ctx context.Context, tenant, id string) ([]byte, error) {
	r, err := c.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, a := range r.Attempts {
		out = append(out, fmt.Sprintf("=== attempt %d at %s ===\n", a.N, a.Site)...)
		if a.Handle == "" {
			continue
		}
		be, err := c.backendFor(r, a.Site)
		if err != nil {
			out = append(out, fmt.Sprintf("(logs unavailable: %v)\n", err)...)
			continue
		}
		rc, err := be.Logs(ctx, a.Handle)
		if err != nil {
			out = append(out, fmt.Sprintf("(logs unavailable: %v)\n", err)...)
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(rc, 16<<20))
		rc.Close()
		out = append(out, b...)
	}
	return out, nil
}

// Nudge makes the loop look at runs now rather than at the next tick.
func (c *Controller) Nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run drives every active run until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	for {
		c.Tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.wake:
		}
	}
}

// Tick steps every active run until it stops changing, several runs at a
// time (Config.Workers), each run by one goroutine.
func (c *Controller) Tick(ctx context.Context) {
	rows, err := c.cfg.Store.ListRuns(ctx, store.ListOptions{Active: true, Final: FinalStates})
	if err != nil {
		c.cfg.Logger.Error("list runs", "err", err)
		return
	}
	sem := make(chan struct{}, c.cfg.Workers)
	var wg sync.WaitGroup
	for _, row := range rows {
		sem <- struct{}{}
		wg.Add(1)
		go func(id string) {
			defer func() { <-sem; wg.Done() }()
			for i := 0; i < 8 && ctx.Err() == nil; i++ {
				changed, err := c.Step(ctx, id)
				if err != nil {
					c.cfg.Logger.Warn("step", "run", id, "err", err)
					return
				}
				if !changed {
					return
				}
			}
		}(row.ID)
	}
	wg.Wait()
}

// buildWorld builds a world from docs over the server's catalog, which is
// read once.
func (c *Controller) buildWorld(docs []Document) (*catalog.World, error) {
	c.catOnce.Do(func() {
		if c.cfg.CatalogDir != "" {
			c.catSet, c.catErr = catalog.LoadFiles(c.cfg.CatalogDir)
		}
	})
	if c.catErr != nil {
		return nil, fmt.Errorf("server catalog %s: %w", c.cfg.CatalogDir, c.catErr)
	}
	return buildWorld(c.catSet, docs)
}

// worldSite returns the run's world and one of its sites, which must exist.
func (c *Controller) worldSite(r *Run, siteName string) (*catalog.World, *catalog.Site, error) {
	w, err := c.world(r)
	if err != nil {
		return nil, nil, err
	}
	site := w.Site(siteName)
	if site == nil {
		return nil, nil, fmt.Errorf("site %q is no longer in the catalog", siteName)
	}
	return w, site, nil
}

// worldJob returns the run's world and its job, which must exist.
func (c *Controller) worldJob(r *Run) (*catalog.World, *catalog.TrainingJob, error) {
	w, err := c.world(r)
	if err != nil {
		return nil, nil, err
	}
	job := w.Job(r.Job)
	if job == nil {
		return nil, nil, fmt.Errorf("job %s is missing from the run's documents", r.Job)
	}
	return w, job, nil
}

func (c *Controller) world(r *Run) (*catalog.World, error) {
	c.mu.Lock()
	w := c.worlds[r.ID]
	c.mu.Unlock()
	if w != nil {
		return w, nil
	}
	w, err := c.buildWorld(r.Documents)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.worlds[r.ID] = w
	c.mu.Unlock()
	return w, nil
}

// SiteRoot is the directory Meridian uses for a site's work.
func (c *Controller) SiteRoot(site *catalog.Site) string {
	if site.Spec.Backend.WorkDir != "" {
		return site.Spec.Backend.WorkDir
	}
	return filepath.Join(c.cfg.StateDir, "sites", site.Metadata.Name)
}

func (c *Controller) backendFor(r *Run, siteName string) (backend.Backend, error) {
	_, site, err := c.worldSite(r, siteName)
	if err != nil {
		return nil, err
	}
	root := c.SiteRoot(site)
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.backends[root]; b != nil {
		return b, nil
	}
	b, err := c.cfg.Backends(site, root)
	if err != nil {
		return nil, fmt.Errorf("backend for site %s: %w", siteName, err)
	}
	c.backends[root] = b
	return b, nil
}

func (c *Controller) workDir(r *Run, siteName string) (string, error) {
	_, site, err := c.worldSite(r, siteName)
	if err != nil {
		return "", err
	}
	return filepath.Join(c.SiteRoot(site), "runs", r.ID), nil
}

// stepTimeout bounds one step, so that a hung scheduler command cannot
// stall the loop for every other run.
const stepTimeout = time.Minute

// Step moves run id one step. It reports whether the durable state changed.
func (c *Controller) Step(ctx context.Context, id string) (bool, error) {
	row, err := c.cfg.Store.GetRun(ctx, id)
	if err != nil {
		return false, err
	}
	r, err := fromRow(row)
	if err != nil {
		return false, err
	}
	if r.State == Staging && r.Staged != r.Attempt && !r.CancelRequested {
		sctx, cancel := context.WithTimeout(ctx, c.cfg.StageTimeout)
		defer cancel()
		return c.stageData(sctx, r)
	}
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	switch r.State {
	case Planned:
		return c.stage(ctx, r)
	case Staging:
		return c.submit(ctx, r)
	case Queued, Running, Checkpointed:
		return c.monitor(ctx, r)
	case Migrating:
		return c.migrate(ctx, r)
	}
	return false, nil
}

// stage records the intent to submit attempt 1 at the planned site.
func (c *Controller) stage(ctx context.Context, r *Run) (bool, error) {
	wd, err := c.workDir(r, r.Site)
	if err != nil {
		return c.fail(ctx, r, err.Error())
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Planned {
			return store.ErrNoChange
		}
		if r.CancelRequested {
			return transition(ch, r, Cancelled, "cancelled before it was submitted")
		}
		r.Attempt = 1
		r.WorkDir = wd
		r.Attempts = append(r.Attempts, Attempt{N: 1, Site: r.Site})
		return transition(ch, r, Staging, fmt.Sprintf("preparing attempt 1 at %s", r.Site))
	})
	return err == nil, err
}

func (c *Controller) fail(ctx context.Context, r *Run, reason string) (bool, error) {
	c.cleanAttempts(r, false)
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() {
			return store.ErrNoChange
		}
		return transition(ch, r, Failed, reason)
	})
	return err == nil, err
}

// submit hands the attempt recorded in Staging to the site's backend. The
// backend's Submit is idempotent by run id and attempt, so repeating this
// after a crash finds the job instead of starting a second one.
func (c *Controller) submit(ctx context.Context, r *Run) (bool, error) {
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		return c.fail(ctx, r, err.Error())
	}
	if r.CancelRequested {
		if f, ok := be.(backend.Finder); ok {
			if h, found, err := f.Find(ctx, r.ID, r.Attempt); err == nil && found {
				be.Cancel(ctx, h)
			}
		}
		c.cleanAttempts(r, false)
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
		return c.fail(ctx, r, err.Error())
	}
	ckDir := filepath.Join(r.WorkDir, "checkpoints")
	if err := os.MkdirAll(ckDir, 0o755); err != nil {
		return false, err
	}
	env := map[string]string{}
	for k, v := range job.Spec.Workload.Env {
		env[k] = v
	}
	env["MERIDIAN_RUN_ID"] = r.ID
	env["MERIDIAN_ATTEMPT"] = strconv.Itoa(r.Attempt)
	env["MERIDIAN_SITE"] = r.Site
	env["MERIDIAN_CHECKPOINT_DIR"] = ckDir
	if r.Checkpoint != nil && r.Checkpoint.Site == r.Site {
		env["MERIDIAN_RESUME_FROM"] = r.Checkpoint.Path
	}
	if err := c.deliverKeys(r, w, job, env); err != nil {
		return c.fail(ctx, r, fmt.Sprintf("deliver dataset keys for attempt %d at %s: %v", r.Attempt, r.Site, err))
	}
	spec := backend.Spec{RunID: r.ID, Attempt: r.Attempt, Command: job.Spec.Workload.Command, Env: env,
		WorkDir: r.WorkDir, Accelerators: r.Placement.Count}
	if s := w.Site(r.Site); s != nil {
		spec.Partition, spec.GresType = s.Spec.Backend.Partition, s.Spec.Backend.GresType
	}
	h, err := be.Submit(ctx, spec)
	if errors.Is(err, backend.ErrSiteDown) {
		return c.lose(ctx, r, fmt.Sprintf("site %s refused attempt %d: %v", r.Site, r.Attempt, err))
	}
	if err != nil {
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
		}
		return transition(ch, r, Queued, fmt.Sprintf("attempt %d submitted to %s as %s", r.Attempt, r.Site, h))
	})
	return err == nil, err
}

func (c *Controller) reachable(id string) {
	c.mu.Lock()
	delete(c.unreachable, id)
	c.mu.Unlock()
}

// unreachableFor counts the time a site has not answered; past the site
// timeout the site is lost.
func (c *Controller) unreachableFor(ctx context.Context, r *Run, cause error) (bool, error) {
	now := c.cfg.Now()
	c.mu.Lock()
	since, ok := c.unreachable[r.ID]
	if !ok {
		c.unreachable[r.ID] = now
		since = now
	}
	c.mu.Unlock()
	if now.Sub(since) < c.cfg.SiteTimeout {
		return false, cause
	}
	c.reachable(r.ID)
	return c.lose(ctx, r, fmt.Sprintf("site %s unreachable for %s: %v", r.Site, now.Sub(since).Round(time.Second), cause))
}

// lose records that the run's site is lost and that a migration begins.
func (c *Controller) lose(ctx context.Context, r *Run, reason string) (bool, error) {
	now := c.cfg.Now()
	_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State.Final() || r.State == Migrating {
			return store.ErrNoChange
		}
		r.Excluded = appendUnique(r.Excluded, r.Site)
		r.Migration = &Migration{From: r.Site, Reason: reason, LostAt: now}
		ch.Events = append(ch.Events, store.Event{Kind: "site-lost", Reason: reason})
		return transition(ch, r, Migrating, "site "+r.Site+" lost: "+reason)
	})
	return err == nil, err
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	out := append(list, s)
	sort.Strings(out)
	return out
}

// monitor polls the backend, follows progress and checkpoints and reacts to
// the job's end or its site's loss.
func (c *Controller) monitor(ctx context.Context, r *Run) (bool, error) {
	be, err := c.backendFor(r, r.Site)
	if err != nil {
		return c.fail(ctx, r, err.Error())
	}
	if r.CancelRequested {
		if err := be.Cancel(ctx, r.Handle); err != nil {
			return c.unreachableFor(ctx, r, fmt.Errorf("cancel: %w", err))
		}
		c.cleanAttempts(r, false)
		_, err := c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.State.Final() {
				return store.ErrNoChange
			}
			return transition(ch, r, Cancelled, "cancelled by the user")
		})
		return err == nil, err
	}
	st, err := be.Status(ctx, r.Handle)
	if err != nil {
		return c.unreachableFor(ctx, r, fmt.Errorf("status: %w", err))
	}
	c.reachable(r.ID)
	if st.State == backend.Lost {
		return c.lose(ctx, r, st.Reason)
	}
	prog := c.progress(ctx, be, r.Handle)
	ck := c.latestCheckpoint(r)
	if ck != nil && r.Checkpoint != nil && ck.Step <= r.Checkpoint.Step && ck.Site == r.Checkpoint.Site {
		ck = nil
	}
	now := c.cfg.Now()
	c.mu.Lock()
	saveProgress := prog != nil && (r.Progress == nil || prog.Step != r.Progress.Step) && now.Sub(c.lastSave[r.ID]) > time.Second
	c.mu.Unlock()
	var to State
	var reason string
	switch st.State {
	case backend.Running:
		if r.State == Queued {
			to, reason = Running, fmt.Sprintf("attempt %d running at %s", r.Attempt, r.Site)
		}
	case backend.Succeeded:
		to, reason = Succeeded, fmt.Sprintf("attempt %d at %s finished", r.Attempt, r.Site)
	case backend.Failed:
		to, reason = Failed, fmt.Sprintf("attempt %d at %s failed: %s", r.Attempt, r.Site, st.Reason)
	case backend.Cancelled:
		to, reason = Cancelled, fmt.Sprintf("attempt %d at %s cancelled by the site: %s", r.Attempt, r.Site, st.Reason)
	}
	if to == "" && ck == nil && !saveProgress {
		return false, nil
	}
	if to.Final() {
		// The attempt has ended: its key files and plaintext go before the
		// end is recorded, so a crash in between repeats the removal.
		c.cleanAttempts(r, false)
	}
	to0, reason0 := to, reason
	changed := false
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		to, reason := to0, reason0
		if r.State != Queued && r.State != Running && r.State != Checkpointed {
			return store.ErrNoChange
		}
		if prog != nil {
			r.Progress = prog
		}
		newCk := ck != nil && (r.Checkpoint == nil || ck.Step > r.Checkpoint.Step || ck.Site != r.Checkpoint.Site)
		if newCk {
			r.Checkpoint = ck
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint", Reason: fmt.Sprintf("checkpoint at step %d written at %s", ck.Step, ck.Site)})
		}
		if to != "" {
			if err := transition(ch, r, to, reason); err != nil {
				return err
			}
			changed = true
		}
		// A running attempt with its first checkpoint is checkpointed, also
		// when both are seen in one poll.
		if newCk && (r.State == Queued || r.State == Running) {
			changed = true
			if err := transition(ch, r, Checkpointed, fmt.Sprintf("first checkpoint of attempt %d (step %d)", r.Attempt, ck.Step)); err != nil {
				return err
			}
		}
		if r.Migration != nil && (r.State == Running || r.State == Checkpointed) {
			r.RecoveredIn = catalog.Duration(now.Sub(r.Migration.LostAt))
			ch.Events = append(ch.Events, store.Event{Kind: "recovered", Reason: fmt.Sprintf("running at %s %s after %s was lost",
				r.Site, now.Sub(r.Migration.LostAt).Round(time.Millisecond), r.Migration.From)})
			r.Migration = nil
		}
		return nil
	})
	if err == nil {
		c.mu.Lock()
		c.lastSave[r.ID] = now
		c.mu.Unlock()
	}
	return err == nil && changed, err
}

// progress returns the last progress line in the job's output.
func (c *Controller) progress(ctx context.Context, be backend.Backend, handle string) *Progress {
	rc, err := be.Logs(ctx, handle)
	if err != nil {
		return nil
	}
	defer rc.Close()
	if s, ok := rc.(io.Seeker); ok {
		if end, err := s.Seek(0, io.SeekEnd); err == nil && end > 64<<10 {
			s.Seek(end-64<<10, io.SeekStart)
		} else {
			s.Seek(0, io.SeekStart)
		}
	}
	var last *Progress
	sc := bufio.NewScanner(io.LimitReader(rc, 64<<10))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if p, ok := c.cfg.ParseProgress(sc.Text()); ok {
			p := p
			last = &p
		}
	}
	return last
}

// ParseProgress reads one progress line ("step=N … loss=X
// tokens_per_s=Y") with the backend package's parser.
func ParseProgress(line string) (Progress, bool) {
	p, ok := backend.ParseProgress(line)
	if !ok {
		return Progress{}, false
	}
	return Progress{Step: p.Step, Loss: p.Loss, TokensPerS: p.TokensPerSec}, true
}

var stepInName = regexp.MustCompile(`(\d+)`)

// latestCheckpoint returns the newest complete checkpoint in the run's
// checkpoint directory: the file whose name carries the highest number.
// Temporary files (leading dot, or .tmp/.partial suffix) are skipped.
func (c *Controller) latestCheckpoint(r *Run) *Checkpoint {
	dir := filepath.Join(r.WorkDir, "checkpoints")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var best *Checkpoint
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".partial") {
			continue
		}
		ms := stepInName.FindAllString(name, -1)
		if len(ms) == 0 {
			continue
		}
		step, err := strconv.ParseInt(ms[len(ms)-1], 10, 64)
		if err != nil {
			continue
		}
		if best == nil || step > best.Step {
			info, _ := e.Info()
			var size int64
			if info != nil {
				size = info.Size()
			}
			best = &Checkpoint{Step: step, Path: filepath.Join(dir, name), Site: r.Site, Bytes: size}
		}
	}
	return best
}

// migrate re-plans as of now without the lost sites, then moves the latest
// checkpoint and records the next attempt. Each half is its own durable
// step, so a crash between them redoes only the unfinished half.
func (c *Controller) migrate(ctx context.Context, r *Run) (bool, error) {
	if r.Migration == nil {
		r.Migration = &Migration{From: r.Site, Reason: "unknown", LostAt: c.cfg.Now()}
	}
	// The lost attempt's key files and plaintext go first (best effort; the
	// site may be unreachable). Repeated on every step of the migration.
	c.cleanAttempts(r, false)
	if r.Migration.Target == nil {
		// Stop the old attempt in case the site comes back; best effort,
		// and only after the loss is on record, so that a crash here cannot
		// turn the loss into a cancellation.
		if be, err := c.backendFor(r, r.Site); err == nil && r.Handle != "" {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			be.Cancel(cctx, r.Handle)
			cancel()
		}
		w, job, err := c.worldJob(r)
		if err != nil {
			return c.fail(ctx, r, err.Error())
		}
		asOf := c.today()
		plan, err := c.cfg.Plan(w, job, asOf, r.Excluded)
		if err != nil {
			return c.fail(ctx, r, fmt.Sprintf("re-plan after losing %s: %v", r.Migration.From, err))
		}
		if len(plan.Placements) == 0 {
			return c.fail(ctx, r, fmt.Sprintf("re-plan after losing %s as of %s: no lawful, feasible placement left (excluded %v)", r.Migration.From, asOf, r.Excluded))
		}
		pl := plan.Placements[0]
		_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
			if r.State != Migrating || (r.Migration != nil && r.Migration.Target != nil) {
				return store.ErrNoChange
			}
			if r.Migration == nil {
				r.Migration = &Migration{From: r.Site, LostAt: c.cfg.Now()}
			}
			r.Migration.Target = &pl
			r.Migration.AsOf = asOf.String()
			why := fmt.Sprintf("rank 1 of %d as of %s, excluding %v", len(plan.Placements), asOf, r.Excluded)
			ch.Events = append(ch.Events, store.Event{Kind: "replanned", Reason: fmt.Sprintf("moving to %s (%s): %s", pl.Site, pl.Country, why)})
			return addPlan(ch, r.ID, "site "+r.Migration.From+" lost", r.Excluded, plan, pl, why)
		})
		return err == nil, err
	}
	target := *r.Migration.Target
	wd, err := c.workDir(r, target.Site)
	if err != nil {
		return c.fail(ctx, r, err.Error())
	}
	var moved *Checkpoint
	var moveErr error
	if r.Checkpoint != nil {
		moved, moveErr = moveCheckpoint(r.Checkpoint, filepath.Join(wd, "checkpoints"), target.Site)
	}
	_, err = c.update(ctx, r.ID, func(r *Run, ch *store.Change) error {
		if r.State != Migrating || r.Migration == nil || r.Migration.Target == nil {
			return store.ErrNoChange
		}
		from := r.Site
		if moved != nil {
			rec, err := audit.NewRecord(audit.KindCheckpoint, r.ID, map[string]any{
				"step": moved.Step, "bytes": moved.Bytes, "sha256": moved.SHA256,
				"fromSite": from, "fromPath": r.Checkpoint.Path, "toSite": target.Site, "toCountry": target.Country, "toPath": moved.Path,
				"lawfulBy":  fmt.Sprintf("destination is placement rank 1 of the plan as of %s, which passed the law checks for the job's datasets", r.Migration.AsOf),
				"dataMoves": target.DataMoves,
			})
			if err != nil {
				return err
			}
			ch.Audit = append(ch.Audit, rec)
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-moved", Reason: fmt.Sprintf("checkpoint at step %d copied from %s to %s (%s), sha256 %s",
				moved.Step, from, target.Site, target.Country, moved.SHA256[:12])})
			r.Checkpoint = moved
		} else {
			reason := "no checkpoint yet; the run restarts from the beginning"
			if moveErr != nil {
				reason = "checkpoint could not be moved (" + moveErr.Error() + "); the run restarts from the beginning"
				r.Checkpoint = nil
			}
			ch.Events = append(ch.Events, store.Event{Kind: "checkpoint-moved", Reason: reason})
		}
		r.Site = target.Site
		r.Placement = target
		r.Attempt++
		r.Handle = ""
		r.WorkDir = wd
		r.Attempts = append(r.Attempts, Attempt{N: r.Attempt, Site: target.Site})
		r.Migration.Target = nil
		return transition(ch, r, Staging, fmt.Sprintf("preparing attempt %d at %s after losing %s", r.Attempt, target.Site, from))
	})
	return err == nil, err
}

// moveCheckpoint copies ck into dir atomically (temporary file, fsync,
// rename) and returns the copy with its SHA-256. A copy already in place
// with the same hash is kept.
func moveCheckpoint(ck *Checkpoint, dir, site string) (*Checkpoint, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	src, err := os.Open(ck.Path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst := filepath.Join(dir, filepath.Base(ck.Path))
	tmp, err := os.CreateTemp(dir, ".move-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("copy checkpoint %s: %w", ck.Path, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return nil, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return &Checkpoint{Step: ck.Step, Path: dst, Site: site, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
