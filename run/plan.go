package run

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/estimate"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// The API's planning questions: plan, estimate and the catalog, answered
// from the server's catalog (read once) and the tenant's registered
// resources, never by reading files per request.

// PlanRequest asks for a plan without running anything.
type PlanRequest struct {
	Documents []Document `json:"documents"`
	// Job names the TrainingJob when the documents hold several.
	Job string `json:"job,omitempty"`
	// AsOf is the date the law is evaluated on (YYYY-MM-DD); today when
	// empty. A plan is a question, so any date may be asked about.
	AsOf string `json:"asOf,omitempty"`
	// Explain names a site whose whole story the plan records.
	Explain string `json:"explain,omitempty"`
}

// PlanWith plans job in w with opts; `meridian serve` wires planner.Make
// with the server's law. Config.PlanWith, when set, answers API plans
// (Config.Plan answers the controller's).
type PlanWith func(w *catalog.World, job *catalog.TrainingJob, opts planner.Options) (*planner.Plan, error)

// Plan plans a tenant's job: the request's documents over the tenant's
// registered resources and the server's catalog. Registering nothing, it
// refuses a request whose copy of a registered resource differs.
func (c *Controller) Plan(ctx context.Context, tenant string, req PlanRequest) (*planner.Plan, error) {
	if len(req.Documents) == 0 {
		return nil, &InputError{"documents", errors.New("give at least one resource file")}
	}
	asOf := c.today()
	if req.AsOf != "" {
		d, err := catalog.ParseDate(req.AsOf)
		if err != nil {
			return nil, &InputError{"asOf", err}
		}
		asOf = d
	}
	w, job, err := c.requestJob(ctx, tenant, req.Documents, req.Job)
	if err != nil {
		return nil, err
	}
	if req.Explain != "" && w.Site(req.Explain) == nil {
		return nil, &InputError{"explain", fmt.Errorf("%q: no such site (%d sites in the catalog)", req.Explain, len(w.Sites))}
	}
	if c.cfg.PlanWith != nil {
		return c.cfg.PlanWith(w, job, planner.Options{Context: ctx, AsOf: asOf, Explain: req.Explain, Exports: c.exports()})
	}
	if req.Explain != "" {
		return nil, &InputError{"explain", errors.New("this server does not explain plans")}
	}
	return c.cfg.Plan(c.planCtx(ctx), w, job, asOf, nil)
}

// requestJob builds the world of a tenant's request and picks its job.
func (c *Controller) requestJob(ctx context.Context, tenant string, docs []Document, name string) (*catalog.World, *catalog.TrainingJob, error) {
	rq, err := decodeRequest(docs)
	if err != nil {
		return nil, nil, err
	}
	w, _, err := c.requestWorld(ctx, tenant, rq)
	if err != nil {
		return nil, nil, err
	}
	job, err := PickJob(w, name)
	if err != nil {
		return nil, nil, jobErr(name, err)
	}
	return w, job, nil
}

// EstimateRequest asks what a job costs on a number of one accelerator.
type EstimateRequest struct {
	Documents   []Document `json:"documents"`
	Job         string     `json:"job,omitempty"`
	Accelerator string     `json:"accelerator"`
	Count       int        `json:"count"`
	// Site, when set, prices the estimate at that site's pool of the
	// accelerator; PricePerHour prices it directly. Give one at most.
	Site         string   `json:"site,omitempty"`
	PricePerHour *float64 `json:"pricePerHour,omitempty"`
}

// Estimate is the answer to an EstimateRequest: the job and pool it is for,
// then the estimator's Result (SCHEMA.md's estimate output).
type Estimate struct {
	Job          string  `json:"job"`
	Accelerator  string  `json:"accelerator"`
	Count        int     `json:"count"`
	Site         string  `json:"site,omitempty"`
	PricePerHour float64 `json:"pricePerHour,omitempty"`
	estimate.Result
}

// Estimate estimates a tenant's job on req.Count of req.Accelerator.
func (c *Controller) Estimate(ctx context.Context, tenant string, req EstimateRequest) (*Estimate, error) {
	if req.Count < 1 || req.Count > 1<<20 {
		return nil, &InputError{"count", fmt.Errorf("%d: want a number of accelerators from 1 to %d", req.Count, 1<<20)}
	}
	if req.Site != "" && req.PricePerHour != nil {
		return nil, &InputError{"site", errors.New("give site or pricePerHour, not both")}
	}
	// Bounded as a site's price is: 1e300 gave costs near 1e304, and
	// 1e308 an overflow blamed on the job's parameters and tokens.
	if p := req.PricePerHour; p != nil && !(*p >= 0 && *p <= catalog.MaxPricePerHour) {
		return nil, &InputError{"pricePerHour", fmt.Errorf("%v: want USD per accelerator-hour from 0 to %v", *p, catalog.MaxPricePerHour)}
	}
	w, job, err := c.requestJob(ctx, tenant, req.Documents, req.Job)
	if err != nil {
		return nil, err
	}
	acc, ok := w.Accelerators[req.Accelerator]
	if !ok {
		return nil, &InputError{"accelerator", fmt.Errorf("%q: unknown; accepted: %s", req.Accelerator, strings.Join(w.AcceleratorIDs(), ", "))}
	}
	out := &Estimate{Job: job.Metadata.Name, Accelerator: acc.ID, Count: req.Count, Site: req.Site}
	if req.PricePerHour != nil {
		out.PricePerHour = *req.PricePerHour
	}
	if req.Site != "" {
		site := w.Site(req.Site)
		if site == nil {
			return nil, &InputError{"site", fmt.Errorf("%q: no such site (%d sites in the catalog)", req.Site, len(w.Sites))}
		}
		found := false
		var have []string
		for _, p := range site.Spec.Pools {
			if p.Accelerator == acc.ID && !found {
				out.PricePerHour, found = p.PricePerHour, true
			}
			have = append(have, p.Accelerator)
		}
		if !found {
			sort.Strings(have)
			return nil, &InputError{"site", fmt.Errorf("%q has no pool of %s; its pools: %s", req.Site, acc.ID, strings.Join(have, ", "))}
		}
	}
	r, err := estimate.Estimate(estimate.Input{Job: &job.Spec, Accelerator: acc, Count: req.Count, PricePerHour: out.PricePerHour})
	if err != nil {
		return nil, &InputError{"documents", fmt.Errorf("TrainingJob/%s: %w", job.Metadata.Name, err)}
	}
	if p, set := job.Spec.Assumptions["pricePerHour"]; set {
		out.PricePerHour = p
	}
	out.Result = r
	return out, nil
}

// baseWorld is the server's catalog (built-in accelerators, countries and
// rules' facts, the operator's sites), assembled once.
func (c *Controller) baseWorld() (*catalog.World, error) {
	c.baseOnce.Do(func() {
		cs, err := c.catalog()
		if err != nil {
			c.baseErr = err
			return
		}
		c.base, c.baseErr = catalog.Assemble(planner.AssumptionKeys(), cs)
	})
	return c.base, c.baseErr
}

// Sites returns the server's sites as tenants see them: what they offer,
// with the operator's backend settings and store reduced to the backend's
// type. Its extra sites (serve's local site) are among them: plans place
// runs there.
func (c *Controller) Sites() ([]*catalog.Site, error) {
	w, err := c.capacityWorld()
	if err != nil {
		return nil, err
	}
	out := make([]*catalog.Site, 0, len(w.Sites))
	for _, s := range w.Sites {
		out = append(out, publicSite(s))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out, nil
}

// Site returns one site as tenants see it, or ErrNotFound.
func (c *Controller) Site(name string) (*catalog.Site, error) {
	w, err := c.capacityWorld()
	if err != nil {
		return nil, err
	}
	s := w.Site(name)
	if s == nil {
		return nil, fmt.Errorf("site %q: %w", name, errNoSuch)
	}
	return publicSite(s), nil
}

// errNoSuch is a catalog entry that does not exist.
var errNoSuch = fmt.Errorf("not in the catalog: %w", store.ErrNotFound)

func publicSite(s *catalog.Site) *catalog.Site {
	cp := *s
	cp.Spec.Backend = catalog.BackendSpec{Type: s.Spec.Backend.Type}
	cp.Spec.Store = ""
	cp.Spec.Pools = append([]catalog.Pool(nil), s.Spec.Pools...)
	return &cp
}

// Accelerators returns the catalog's accelerators by id.
func (c *Controller) Accelerators() ([]*catalog.Accelerator, error) {
	w, err := c.baseWorld()
	if err != nil {
		return nil, err
	}
	out := make([]*catalog.Accelerator, 0, len(w.Accelerators))
	for _, id := range w.AcceleratorIDs() {
		out = append(out, w.Accelerators[id])
	}
	return out, nil
}

// Countries returns the catalog's countries by code.
func (c *Controller) Countries() ([]*catalog.Country, error) {
	w, err := c.baseWorld()
	if err != nil {
		return nil, err
	}
	out := make([]*catalog.Country, 0, len(w.Countries))
	for _, cc := range w.CountryCodes() {
		out = append(out, w.Countries[cc])
	}
	return out, nil
}

// jobErr is a job the request's documents do not hold, as the user's error.
func jobErr(name string, err error) error {
	if name != "" {
		return &InputError{"job", fmt.Errorf("%q: %w", name, err)}
	}
	return &InputError{"job", err}
}
