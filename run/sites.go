package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
)

// A site whose settings do not work against its scheduler (a kubeconfig
// that is missing, a namespace the user may not use, no node offering the
// GPU resource, a slurmrestd that refuses the token) is excluded from
// planning, with the check's error as the reason, and checked again every
// Config.SiteRecheck until it passes. It does not stop the server: runs at
// other sites go on, and runs already at that site are followed as before
// (their attempts move if the site stays unreachable past the site timeout).

// SiteHealth is the last check of one site against its scheduler.
type SiteHealth struct {
	Site    string    `json:"site"`
	Backend string    `json:"backend"`
	OK      bool      `json:"ok"`
	Problem string    `json:"problem,omitempty"`
	Checked time.Time `json:"checked"`
}

// siteCheckTimeout bounds one site's check.
const siteCheckTimeout = 15 * time.Second

// Checked reports whether the server checks site against its scheduler:
// every site with a Slurm or Kubernetes backend. Local sites run on the
// server's machine and have nothing to check.
func Checked(site *catalog.Site) bool {
	t := site.Spec.Backend.Type
	return t == catalog.BackendSlurm || t == catalog.BackendKubernetes
}

// RemoteProblems lists what a remote site (catalog.BackendSpec.Remote)
// needs beyond the catalog's own checks for Meridian to run there: a store
// of its own, which is the only way the controller reaches its files, and
// for Slurm through slurmrestd a work directory on the cluster.
func RemoteProblems(site *catalog.Site) []string {
	b := site.Spec.Backend
	if !b.Remote() {
		return nil
	}
	var out []string
	if site.Spec.Store == "" {
		out = append(out, fmt.Sprintf("spec.store: required for a remote site (backend type %s%s): its agents read staged data and write checkpoints there, and the controller reaches the site's files only through it",
			b.Type, map[bool]string{true: " through restURL"}[b.RestURL != ""]))
	}
	if b.Type == catalog.BackendSlurm && b.RestURL != "" && b.WorkDir == "" {
		out = append(out, "backend.workDir: required for Slurm through restURL: an absolute directory on the cluster that the site's jobs may write (each run's attempts work in WORKDIR/RUN)")
	}
	return out
}

// CheckSite checks one site's settings: RemoteProblems, then, when be can,
// against the scheduler itself (backend.Checker). The error names the site
// and the setting.
func CheckSite(ctx context.Context, site *catalog.Site, be backend.Backend) error {
	if ps := RemoteProblems(site); len(ps) > 0 {
		return siteError(site, errors.New(strings.Join(ps, "; ")))
	}
	ch, ok := be.(backend.Checker)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, siteCheckTimeout)
	defer cancel()
	if err := ch.Check(ctx); err != nil {
		return siteError(site, err)
	}
	return nil
}

func siteError(site *catalog.Site, err error) error {
	where := ""
	if site.Pos.File != "" {
		where = " (" + site.Pos.String() + ")"
	}
	return fmt.Errorf("site %s%s: %w", site.Metadata.Name, where, err)
}

// catalogSites is the operator's sites, assembled once.
func (c *Controller) catalogSites() ([]*catalog.Site, error) {
	c.sitesOnce.Do(func() {
		cs, err := c.catalog()
		if err != nil {
			c.sitesErr = err
			return
		}
		w, err := catalog.Assemble(planner.AssumptionKeys(), cs)
		if err != nil {
			c.sitesErr = err
			return
		}
		c.sites = w.Sites
	})
	return c.sites, c.sitesErr
}

// CheckSites checks every site the server runs on (Checked), at most a few
// at once, records the outcome for planning and logs each change: a site
// that fails is excluded from planning until a later check passes. It
// returns every checked site's health, sorted by name.
func (c *Controller) CheckSites(ctx context.Context) []SiteHealth {
	sites, err := c.catalogSites()
	if err != nil {
		c.cfg.Logger.Error("site check: server catalog", "err", err)
		return nil
	}
	var (
		mu  sync.Mutex
		out []SiteHealth
		wg  sync.WaitGroup
		sem = make(chan struct{}, 8)
	)
	for _, s := range sites {
		if !Checked(s) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(s *catalog.Site) {
			defer func() { <-sem; wg.Done() }()
			err := c.checkSite(ctx, s)
			h := SiteHealth{Site: s.Metadata.Name, Backend: backendKind(s), OK: err == nil, Checked: time.Now().UTC()}
			if err != nil {
				h.Problem = err.Error()
			}
			c.recordHealth(s.Metadata.Name, err)
			mu.Lock()
			out = append(out, h)
			mu.Unlock()
		}(s)
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	c.mu.Lock()
	c.lastSiteCheck = time.Now()
	c.mu.Unlock()
	return out
}

// backendKind names a site's backend for people: local, slurm, slurm
// (slurmrestd), kubernetes.
func backendKind(s *catalog.Site) string {
	b := s.Spec.Backend
	switch {
	case b.Type == "":
		return catalog.BackendLocal
	case b.Type == catalog.BackendSlurm && b.RestURL != "":
		return "slurm (slurmrestd)"
	}
	return b.Type
}

func (c *Controller) checkSite(ctx context.Context, s *catalog.Site) error {
	if ps := RemoteProblems(s); len(ps) > 0 {
		return siteError(s, errors.New(strings.Join(ps, "; ")))
	}
	be, err := c.siteBackend(s)
	if err != nil {
		return siteError(s, err)
	}
	return CheckSite(ctx, s, be)
}

// recordHealth keeps a site's last check and logs a change.
func (c *Controller) recordHealth(site string, err error) {
	c.mu.Lock()
	prev, seen := c.siteDown[site]
	if err != nil {
		c.siteDown[site] = err
	} else {
		delete(c.siteDown, site)
	}
	first := c.lastSiteCheck.IsZero()
	c.mu.Unlock()
	switch {
	case first:
		// The first check's outcome is the caller's to report (serve prints it).
	case err != nil && (!seen || prev.Error() != err.Error()):
		c.cfg.Logger.Warn("site excluded from planning", "site", site, "reason", err.Error())
	case err == nil && seen:
		c.cfg.Logger.Warn("site passes its check again; planning uses it", "site", site)
	}
}

// SiteProblems reports the sites whose last check failed, with why.
func (c *Controller) SiteProblems() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.siteDown))
	for s, err := range c.siteDown {
		out[s] = err.Error()
	}
	return out
}

// recheckSites checks the sites again in the background once
// Config.SiteRecheck has passed since the last check.
func (c *Controller) recheckSites(ctx context.Context) {
	c.mu.Lock()
	due := !c.checking && !c.lastSiteCheck.IsZero() && time.Since(c.lastSiteCheck) >= c.cfg.SiteRecheck
	if due {
		c.checking = true
	}
	c.mu.Unlock()
	if !due {
		return
	}
	go func() {
		c.CheckSites(ctx)
		c.pollCapacity(ctx)
		c.mu.Lock()
		c.checking = false
		c.mu.Unlock()
	}()
}

// plan plans the job without the excluded sites and without the sites
// whose last check failed; each of those appears among the rejections with
// the check's error, as not-now (the run may wait for it). A placement the
// run would have to leave as soon as it got there is rejected too
// (dropLeftAtOnce), and so is one that another day it now is somewhere
// on Earth refuses (dropUnlawfulElsewhere).
func (c *Controller) plan(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
	plan, err := c.planSites(c.planCtx(ctx), w, job, asOf, exclude)
	if err != nil {
		return nil, ledgerNotJudged(err)
	}
	if err := c.dropLeftAtOnce(w, job, asOf, plan); err != nil {
		return nil, err
	}
	if err := c.dropUnlawfulElsewhere(w, job, asOf, plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// planSites is plan without dropLeftAtOnce.
func (c *Controller) planSites(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
	c.mu.Lock()
	var down []string
	why := map[string]string{}
	for s, err := range c.siteDown {
		if w.Site(s) != nil && !slices.Contains(exclude, s) {
			down = append(down, s)
			// Its class only: the check's error names the server's paths
			// and the scheduler's internals, and a plan is the tenant's
			// to read (recordHealth logs the whole error).
			why[s] = faultClass(err)
		}
	}
	c.mu.Unlock()
	if len(down) == 0 {
		return c.cfg.Plan(ctx, w, job, asOf, exclude)
	}
	sort.Strings(down)
	plan, err := c.cfg.Plan(ctx, w, job, asOf, append(append([]string(nil), exclude...), down...))
	if err != nil {
		return nil, err
	}
	if plan.Summary.RejectedByKind == nil {
		plan.Summary.RejectedByKind = map[string]int{}
	}
	for _, name := range down {
		s := w.Site(name)
		for i, p := range s.Spec.Pools {
			plan.Rejected = append(plan.Rejected, planner.Rejection{Site: name, Country: s.Spec.Country, Accelerator: p.Accelerator,
				Kind: planner.KindSite, Resolution: planner.NotNow, Candidates: 1,
				Reasons: []policy.Finding{{Rule: planner.CodeSiteDown, Kind: string(planner.KindSite), Code: policy.CodeNotNow,
					Message: "the site's scheduler fails the server's check (" + why[name] + ")",
					Source:  fmt.Sprintf("%s Site/%s spec.backend (pool %d)", s.Pos, name, i)}}})
			plan.Summary.RejectedByKind[string(planner.KindSite)]++
		}
	}
	return plan, nil
}

// siteSandbox is how the agent confines workloads at site: the site's
// backend.sandbox, else the server's mode for sites on its machine and
// landlock for remote sites, whose jobs may not run as root.
func (c *Controller) siteSandbox(site *catalog.Site) string {
	if m := site.Spec.Backend.Sandbox; m != "" {
		return m
	}
	if site.Spec.Backend.Remote() {
		return agent.SandboxLandlock
	}
	return c.cfg.Sandbox.Mode
}

// agentCommand is the command the site's scheduler runs for an attempt:
// the site's backend.agent when it names one, else Config.AgentCommand.
func (c *Controller) agentCommand(site *catalog.Site) []string {
	if a := site.Spec.Backend.Agent; a != "" {
		return []string{a, "agent"}
	}
	return c.cfg.AgentCommand(site)
}

// defaultAgentCommand is this executable for sites on this machine and
// "meridian" on the job's PATH for remote ones.
func defaultAgentCommand(site *catalog.Site) []string {
	if site.Spec.Backend.Remote() {
		return []string{"meridian", "agent"}
	}
	exe, _ := os.Executable()
	return []string{exe, "agent"}
}
