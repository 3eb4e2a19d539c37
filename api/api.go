package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 4 << 20

// Controller is what the API needs from the run controller.
type Controller interface {
	Submit(ctx context.Context, tenant string, req run.SubmitRequest) (*run.Run, bool, error)
	Get(ctx context.Context, tenant, id string) (*run.Run, error)
	List(ctx context.Context, tenant string) ([]*run.Run, error)
	Events(ctx context.Context, tenant, id string) ([]store.Event, error)
	Cancel(ctx context.Context, tenant, id string) (*run.Run, error)
	Logs(ctx context.Context, tenant, id string) ([]byte, error)
	Apply(ctx context.Context, tenant string, docs []run.Document, update bool) ([]run.Resource, error)
	Resources(ctx context.Context, tenant string) ([]run.Resource, error)
	PutKey(ctx context.Context, tenant, dataset, key string) error
	// AgentHandler serves the attempts' agents, which authenticate with
	// their attempt credential rather than a tenant token.
	AgentHandler() http.Handler
}

// AuditReader reads and verifies the audit chain.
type AuditReader interface {
	AuditEntries(ctx context.Context, runID string) ([]audit.Entry, error)
	VerifyAudit(ctx context.Context) (audit.Result, error)
}

// Server serves the API.
type Server struct {
	c      Controller
	audit  AuditReader
	tokens *Tokens
	mux    *http.ServeMux
	agents http.Handler
	rules  RulesService
}

// New returns the API handler.
func New(c Controller, a AuditReader, tokens *Tokens) *Server {
	s := &Server{c: c, audit: a, tokens: tokens, mux: http.NewServeMux(), agents: c.AgentHandler()}
	s.mux.HandleFunc("GET /v1/healthz", s.health)
	s.mux.HandleFunc("POST /v1/resources", s.apply)
	s.mux.HandleFunc("GET /v1/resources", s.resources)
	s.mux.HandleFunc("PUT /v1/datasets/{name}/key", s.putKey)
	s.mux.HandleFunc("POST /v1/runs", s.submit)
	s.mux.HandleFunc("GET /v1/runs", s.list)
	s.mux.HandleFunc("GET /v1/runs/{id}", s.get)
	s.mux.HandleFunc("GET /v1/runs/{id}/events", s.events)
	s.mux.HandleFunc("GET /v1/runs/{id}/logs", s.logs)
	s.mux.HandleFunc("POST /v1/runs/{id}/cancel", s.cancel)
	s.mux.HandleFunc("GET /v1/audit", s.auditLog)
	s.mux.HandleFunc("GET /v1/audit/verify", s.verify)
	return s
}

type tenantKey struct{}

type adminKey struct{}

func isAdmin(r *http.Request) bool { a, _ := r.Context().Value(adminKey{}).(bool); return a }

// ServeHTTP authenticates every request before routing it: tenants with
// their bearer token, attempts' agents (under /v1/agent/) with their
// attempt credential. /healthz answers anyone, and says nothing but "ok".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1/agent/") {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		s.agents.ServeHTTP(w, r)
		return
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="meridian"`)
		writeErr(w, http.StatusUnauthorized, "unauthorized", "", "missing bearer token (Authorization: Bearer TOKEN)")
		return
	}
	who, ok := s.tokens.lookup(tok)
	tenant := who.Tenant
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="meridian", error="invalid_token"`)
		writeErr(w, http.StatusUnauthorized, "unauthorized", "", "token not recognised")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.noRoute(w, r)
		return
	}
	ctx := context.WithValue(r.Context(), tenantKey{}, tenant)
	ctx = context.WithValue(ctx, adminKey{}, who.Admin)
	s.mux.ServeHTTP(w, r.WithContext(ctx))
}

// noRoute answers 405 when the path exists under another method, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			writeErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "", fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
	}
	writeErr(w, http.StatusNotFound, "not_found", "", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
}

func tenantOf(r *http.Request) string { return r.Context().Value(tenantKey{}).(string) }

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func writeErr(w http.ResponseWriter, status int, code, field, msg string) {
	writeJSON(w, status, map[string]Error{"error": {Code: code, Field: field, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// fail maps an error to its status.
func fail(w http.ResponseWriter, err error) {
	var ie *run.InputError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeErr(w, http.StatusRequestEntityTooLarge, "too_large", "", fmt.Sprintf("request body over %d bytes", mbe.Limit))
	case errors.As(err, &ie) && errors.Is(err, run.ErrConflict):
		writeErr(w, http.StatusConflict, "conflict", ie.Field, ie.Err.Error())
	case errors.As(err, &ie):
		writeErr(w, http.StatusBadRequest, "invalid", ie.Field, ie.Err.Error())
	case errors.Is(err, run.ErrNotFound):
		writeErr(w, http.StatusNotFound, "not_found", "", err.Error())
	case errors.Is(err, run.ErrNoPlacement):
		writeErr(w, http.StatusUnprocessableEntity, "no_placement", "", err.Error())
	default:
		writeErr(w, http.StatusInternalServerError, "internal", "", err.Error())
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "tenant": tenantOf(r)})
}

// decodeBody reads one JSON object into v, refusing unknown fields and
// anything after the object; it answers the error itself.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, err)
			return false
		}
		writeErr(w, http.StatusBadRequest, "malformed", "", "request body is not a valid "+what+": "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeErr(w, http.StatusBadRequest, "malformed", "", "request body has data after the JSON object")
		return false
	}
	return true
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req run.SubmitRequest
	if !decodeBody(w, r, &req, "submission") {
		return
	}
	if k := r.Header.Get("Idempotency-Key"); k != "" && req.IdempotencyKey == "" {
		req.IdempotencyKey = k
	}
	got, created, err := s.c.Submit(r.Context(), tenantOf(r), req)
	if err != nil {
		fail(w, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, got)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	runs, err := s.c.List(r.Context(), tenantOf(r))
	if err != nil {
		fail(w, err)
		return
	}
	if runs == nil {
		runs = []*run.Run{}
	}
	for _, x := range runs {
		x.Documents = nil // the list stays small; GET /v1/runs/{id} has them
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Get(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	evs, err := s.c.Events(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	if evs == nil {
		evs = []store.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	var off int64
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeErr(w, http.StatusBadRequest, "invalid", "offset", fmt.Sprintf("%q: want a byte offset of 0 or more", v))
			return
		}
		off = n
	}
	b, err := s.c.Logs(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Log-Size", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b[off:])
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Cancel(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, got)
}

// ApplyRequest registers or updates a tenant's Organization and Dataset
// documents.
type ApplyRequest struct {
	Documents []run.Document `json:"documents"`
	Update    bool           `json:"update,omitempty"`
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req ApplyRequest
	if !decodeBody(w, r, &req, "apply request") {
		return
	}
	got, err := s.c.Apply(r.Context(), tenantOf(r), req.Documents, req.Update)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": got})
}

func (s *Server) resources(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Resources(r.Context(), tenantOf(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": got})
}

// KeyRequest hands the server the key of a dataset the tenant registered.
type KeyRequest struct {
	Key string `json:"key"`
}

func (s *Server) putKey(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if !decodeBody(w, r, &req, "key request") {
		return
	}
	if err := s.c.PutKey(r.Context(), tenantOf(r), r.PathValue("name"), req.Key); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"dataset": r.PathValue("name"), "status": "key stored"})
}

// auditLog returns the tenant's entries (of one run with ?run=ID). With
// ?all=1 it returns the whole chain, other tenants' entries as hashes only,
// so that a tenant can check the chain it is part of.
func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	tenant := tenantOf(r)
	id := r.URL.Query().Get("run")
	all := r.URL.Query().Get("all") == "1"
	owned := map[string]bool{}
	if id != "" {
		if _, err := s.c.Get(r.Context(), tenant, id); err != nil {
			fail(w, err)
			return
		}
		owned[id] = true
	} else {
		runs, err := s.c.List(r.Context(), tenant)
		if err != nil {
			fail(w, err)
			return
		}
		for _, x := range runs {
			owned[x.ID] = true
		}
	}
	entries, err := s.audit.AuditEntries(r.Context(), id)
	if err != nil {
		fail(w, err)
		return
	}
	out := []audit.Entry{}
	for _, e := range entries {
		mine := e.Tenant == tenant || e.Tenant == "" && e.RunID != "" && owned[e.RunID]
		// The server's own entries (rules revisions, law checks) belong to no
		// tenant and name other tenants' runs: the admin reads them in full.
		system := e.Tenant == "" && e.RunID == "" && isAdmin(r)
		switch {
		case mine, system && all && id == "":
			out = append(out, e)
		case all && id == "":
			out = append(out, e.Redact())
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	res, err := s.audit.VerifyAudit(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
