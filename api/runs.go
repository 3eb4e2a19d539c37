package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/run"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	p := PrincipalOf(r)
	writeJSON(w, http.StatusOK, Health{Status: "ok", Tenant: p.Tenant, Admin: p.Admin})
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
	if followed(r) {
		s.followRuns(w, r)
		return
	}
	runs, err := s.listRuns(r.Context(), tenantOf(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, RunList{Runs: runs})
}

// listRuns is the list GET /v1/runs answers.
func (s *Server) listRuns(ctx context.Context, tenant string) ([]*run.Run, error) {
	runs, err := s.c.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if runs == nil {
		runs = []*run.Run{}
	}
	for _, x := range runs {
		x.Documents = nil // the list stays small; GET /v1/runs/{id} has them
	}
	return runs, nil
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	q, err := s.c.Queue(r.Context(), tenantOf(r))
	if err != nil {
		fail(w, err)
		return
	}
	if q == nil {
		q = []run.QueueEntry{}
	}
	writeJSON(w, http.StatusOK, QueueList{Queue: q})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Get(r.Context(), tenantOf(r), r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

// followPoll is how often a followed log is read again.
const followPoll = 500 * time.Millisecond

// logs answers a run's output from ?offset= on. With ?follow=1 it streams
// what arrives until the run is final (and its output read to the end),
// the client goes, the server shuts down or MaxStream passes; each write
// has Streams.WriteWait, not the server's write timeout.
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
	follow := followed(r) // as ServeHTTP decided: a stream, or a read within the route's deadline
	tenant, id := tenantOf(r), r.PathValue("id")
	b, err := s.c.Logs(r.Context(), tenant, id)
	if err != nil {
		fail(w, err)
		return
	}
	off = min(off, int64(len(b)))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !follow {
		w.Header().Set("X-Log-Size", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[off:])
		return
	}
	w.WriteHeader(http.StatusOK)
	// Each write moves the write deadline on (a followed log outlives the
	// server's write timeout) and is flushed.
	sw := s.streamWriter(w)
	sw.extend()
	if sw.rc.Flush() != nil { // the headers, before any output
		return
	}
	for {
		if int64(len(b)) > off {
			if _, err := sw.Write(b[off:]); err != nil {
				return
			}
			off = int64(len(b))
		}
		got, err := s.c.Get(r.Context(), tenant, id)
		if err != nil || got.State.Final() {
			// One last read: output that arrived with the end.
			if b, err = s.c.Logs(r.Context(), tenant, id); err == nil && int64(len(b)) > off {
				sw.Write(b[off:])
			}
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(followPoll):
		}
		if b, err = s.c.Logs(r.Context(), tenant, id); err != nil {
			return
		}
	}
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
	if got == nil {
		got = []run.Resource{}
	}
	writeJSON(w, http.StatusOK, ResourceList{Resources: got})
}

func (s *Server) resources(w http.ResponseWriter, r *http.Request) {
	got, err := s.c.Resources(r.Context(), tenantOf(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ResourceList{Resources: got})
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
	writeJSON(w, http.StatusOK, KeyStored{Dataset: r.PathValue("name"), Status: "key stored"})
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
	entries, err := s.opts.Audit.AuditEntries(r.Context(), id)
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
	writeJSON(w, http.StatusOK, AuditList{Entries: out})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	res, err := s.opts.Audit.VerifyAudit(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
