package api

import (
	"math"
	"net/http"

	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/run"
)

// DefaultTop is how many placements a plan answer carries unless ?top=
// says otherwise (SCHEMA.md: plan -o json carries the first --top N).
const DefaultTop = 50

func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	top, ok := queryInt(w, r, "top", DefaultTop, 0, math.MaxInt64, "0 (all) or more")
	if !ok {
		return
	}
	brief, ok := queryFlag(w, r, "brief")
	if !ok {
		return
	}
	var req run.PlanRequest
	if !decodeDocuments(w, r, &req, "plan request") || !documentsValid(w, req.Documents) {
		return
	}
	start := s.now()
	p, err := s.c.Plan(r.Context(), tenantOf(r), req)
	if err != nil {
		fail(w, err)
		return
	}
	if s.opts.OnPlan != nil {
		s.opts.OnPlan(s.now().Sub(start), p)
	}
	if top > 0 && int64(len(p.Placements)) > top {
		p.Placements = p.Placements[:top]
	}
	if brief {
		briefPlan(p)
	}
	writePlan(w, http.StatusOK, p)
}

// briefPlan drops the message and source of every finding of the plan's
// placements and rejections, keeping each rule's id, kind, effect,
// confidence and code: an overview of thousands of sites (the console's
// map) is mostly the same rule texts repeated, and the whole story of one
// site is asked for with explain. The explanation keeps its findings whole.
// The findings are copied: the planner may share them between candidates.
func briefPlan(p *planner.Plan) {
	brief := func(fs []policy.Finding) []policy.Finding {
		if fs == nil {
			return nil
		}
		out := make([]policy.Finding, len(fs))
		for i, f := range fs {
			f.Message, f.Source = "", ""
			out[i] = f
		}
		return out
	}
	for i := range p.Placements {
		p.Placements[i].Obligations = brief(p.Placements[i].Obligations)
		p.Placements[i].Advisories = brief(p.Placements[i].Advisories)
	}
	for i := range p.Rejected {
		p.Rejected[i].Reasons = brief(p.Rejected[i].Reasons)
	}
}

func (s *Server) estimate(w http.ResponseWriter, r *http.Request) {
	var req run.EstimateRequest
	if !decodeDocuments(w, r, &req, "estimate request") || !documentsValid(w, req.Documents) {
		return
	}
	e, err := s.c.Estimate(r.Context(), tenantOf(r), req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) sites(w http.ResponseWriter, r *http.Request) {
	list, err := s.c.Sites()
	if err != nil {
		fail(w, err)
		return
	}
	// The list is the catalog's own: each tenant is shown a copy where
	// another tenant's organisation is not named (catalog.Site.ShownTo).
	shown := make([]*catalog.Site, len(list))
	for i, site := range list {
		shown[i] = site.ShownTo(tenantOf(r))
	}
	writeJSON(w, http.StatusOK, SiteList{Sites: shown})
}

func (s *Server) site(w http.ResponseWriter, r *http.Request) {
	site, err := s.c.Site(r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, site.ShownTo(tenantOf(r)))
}

func (s *Server) accelerators(w http.ResponseWriter, r *http.Request) {
	list, err := s.c.Accelerators()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AcceleratorList{Accelerators: list})
}

func (s *Server) countries(w http.ResponseWriter, r *http.Request) {
	list, err := s.c.Countries()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, CountryList{Countries: list})
}

func (s *Server) datasets(w http.ResponseWriter, r *http.Request) {
	list, err := s.c.Datasets(r.Context(), tenantOf(r))
	if err != nil {
		fail(w, err)
		return
	}
	if list == nil {
		list = []run.DatasetInfo{}
	}
	writeJSON(w, http.StatusOK, DatasetList{Datasets: list})
}

func (s *Server) stage(w http.ResponseWriter, r *http.Request) {
	var req run.StageRequest
	if !decodeBody(w, r, &req, "stage request") {
		return
	}
	// A staging, not a dry run, appends to the audit log.
	if !req.DryRun && !s.allowAudited(w, tenantOf(r), r.Pattern, 1) {
		return
	}
	res, err := s.c.StageDataset(r.Context(), tenantOf(r), r.PathValue("name"), req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) verifyDataset(w http.ResponseWriter, r *http.Request) {
	var req VerifyRequest
	if !decodeBody(w, r, &req, "verify request") {
		return
	}
	rep, err := s.c.VerifyDataset(r.Context(), tenantOf(r), r.PathValue("name"), req.Site)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// ledger answers a page of the tenant's transfer records (?after=, ?limit=
// as for the audit log) and the totals of its whole ledger.
func (s *Server) ledger(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := seqPage(w, r)
	if !ok {
		return
	}
	name, ok := queryName(w, r, "dataset", "a dataset's name")
	if !ok {
		return
	}
	page := run.LedgerPage{After: after, Limit: limit, MaxBytes: MaxAuditPageBytes}
	l, err := s.c.DatasetLedger(r.Context(), tenantOf(r), name, page)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.scrape == nil {
		writeErr(w, http.StatusNotFound, "not_found", "", "this server keeps no metrics")
		return
	}
	s.scrape.ServeHTTP(w, r)
}
