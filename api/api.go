package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/internal/faillimit"
	"meridian.dev/meridian/internal/faultid"
	"meridian.dev/meridian/internal/jsondup"
	"meridian.dev/meridian/internal/textfit"
	"meridian.dev/meridian/metrics"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// MaxBodyBytes bounds a request body unless its route says otherwise.
const MaxBodyBytes = 4 << 20

// Runs is what the API needs of the run controller for runs and
// registrations.
type Runs interface {
	Submit(ctx context.Context, tenant string, req run.SubmitRequest) (*run.Run, bool, error)
	Get(ctx context.Context, tenant, id string) (*run.Run, error)
	// Brief is Get without the run's documents: for the reads that ask
	// only its owner, state or attempts.
	Brief(ctx context.Context, tenant, id string) (*run.Run, error)
	List(ctx context.Context, tenant string) ([]*run.Run, error)
	// ListPage is at most limit of tenant's runs after run after (all
	// from the first when after is empty), oldest first.
	ListPage(ctx context.Context, tenant, after string, limit int) ([]*run.Run, error)
	Events(ctx context.Context, tenant, id string) ([]store.Event, error)
	// EventsAfter is the events of the run's timeline after seq after, at
	// most limit of them (0: all).
	EventsAfter(ctx context.Context, tenant, id string, after int64, limit int) ([]store.Event, error)
	Cancel(ctx context.Context, tenant, id string) (*run.Run, error)
	// OpenLogs opens at most limit bytes of a run's output from byte off
	// on, and returns the size of the whole output so far: the run is
	// read once, and its output as the reader is read.
	OpenLogs(ctx context.Context, tenant, id string, off, limit int64) (io.ReadCloser, int64, error)
	Apply(ctx context.Context, tenant string, docs []run.Document, update bool) ([]run.Resource, error)
	Resources(ctx context.Context, tenant string) ([]run.Resource, error)
	PutKey(ctx context.Context, tenant, dataset, key string) error
	// Queue lists the tenant's held runs in admission order, with why
	// each waits.
	QueuePage(ctx context.Context, tenant string, after, limit int) ([]run.QueueEntry, bool, error)
	// QueueAfter is the tenant's queue after the place key after names
	// (nil: from the first), with the key of the page's last entry: the
	// next page starts there however many runs were held or left the
	// queue ahead of it meanwhile.
	QueueAfter(ctx context.Context, tenant string, after *run.QueueKey, limit int) ([]run.QueueEntry, run.QueueKey, bool, error)
	// ReloadQuotas reads the server's quota file again and puts it in
	// force once it passes every check (admin; by is written to the audit
	// log).
	ReloadQuotas(ctx context.Context, by string) (*run.QuotaReload, error)
	// AgentHandler serves the attempts' agents, which authenticate with
	// their attempt credential rather than a tenant token.
	AgentHandler() http.Handler
}

// Planning answers plan, estimate and catalog questions from the server's
// cached catalog and law.
type Planning interface {
	Plan(ctx context.Context, tenant string, req run.PlanRequest) (*planner.Plan, error)
	Estimate(ctx context.Context, tenant string, req run.EstimateRequest) (*run.Estimate, error)
	Sites() ([]*catalog.Site, error)
	Site(name string) (*catalog.Site, error)
	Accelerators() ([]*catalog.Accelerator, error)
	Countries() ([]*catalog.Country, error)
}

// Data is a tenant's datasets through the server.
type Data interface {
	Datasets(ctx context.Context, tenant string) ([]run.DatasetInfo, error)
	StageDataset(ctx context.Context, tenant, name string, req run.StageRequest) (*run.StageResult, error)
	DatasetLedger(ctx context.Context, tenant, name string, page run.LedgerPage) (*run.Ledger, error)
	VerifyDataset(ctx context.Context, tenant, name, site string) (*dataset.VerifyReport, error)
}

// Controller is everything the API serves; *run.Controller is one.
type Controller interface {
	Runs
	Planning
	Data
}

// AuditReader reads and verifies the audit chain.
type AuditReader interface {
	AuditSelect(ctx context.Context, q store.AuditQuery) ([]audit.Entry, error)
	AuditSelectPage(ctx context.Context, q store.AuditQuery) ([]audit.Entry, int64, error)
	VerifyAudit(ctx context.Context) (audit.Result, error)
}

// Options configure a Server.
type Options struct {
	// Tokens keeps the API tokens (hashed); required.
	Tokens store.Tokens
	Audit  AuditReader
	// Metrics, when set, counts requests and serves GET /metrics (to admin
	// tokens; `serve --metrics-listen` serves it without a token elsewhere).
	Metrics *metrics.Metrics
	// Logger writes one line per request; nothing when nil.
	Logger *slog.Logger
	// RateLimit is each tenant's bucket; none when Rate is 0.
	RateLimit RateLimit
	// AuditedRateLimit is each tenant's bucket for the calls that append
	// permanent records to the audit log (Route.Audited), apart from and
	// on top of RateLimit: DefaultAuditedRateLimit when nil, none when its
	// Rate is 0.
	AuditedRateLimit *RateLimit
	// OnPlan, when set, is told each API plan's latency (for metrics).
	OnPlan func(d time.Duration, p *planner.Plan)
	// Streams bound the streams (DefaultStreams for zero fields).
	Streams Streams
}

// RunWatcher is a Controller that signals a run's changes (*run.Controller
// is one): an event stream waits for its signal, and without one reads its
// run every Streams.Poll.
type RunWatcher interface {
	// WatchRun returns a channel that receives a signal after a change to
	// run id, and a function that stops the watch. Signals may coalesce.
	WatchRun(id string) (<-chan struct{}, func())
}

// TenantWatcher is a Controller that tells of changes to any of a
// tenant's runs, new ones included, and which (*run.Controller is one):
// the runs stream reads those runs on its signal, and without one reads
// the whole list every Streams.ListPoll.
type TenantWatcher interface {
	WatchTenant(tenant string) (*run.TenantWatch, func())
}

// LiveLister is a Controller that lists a tenant's runs that have not
// ended (*run.Controller is one): the runs stream's periodic read is of
// those, not of the tenant's whole history.
type LiveLister interface {
	ListLive(ctx context.Context, tenant string) ([]*run.Run, error)
}

// VersionLister is a Controller that lists the row version of each of a
// tenant's runs without reading them (*run.Controller is one), at most
// limit of them after run after (from the first when after is empty),
// oldest first: the runs stream's periodic check for changes it missed
// reads them a page at a time, and then only the runs whose version is
// not the one it sent, not the tenant's whole history.
type VersionLister interface {
	ListVersions(ctx context.Context, tenant, after string, limit int) ([]store.RunVersion, error)
}

// Server serves the API.
type Server struct {
	c      Controller
	opts   Options
	auth   *Auth
	limit  *limiter
	fails  *faillimit.Limiter
	mux    *http.ServeMux
	agents http.Handler
	routes []*Route
	byPat  map[string]*Route
	now    func() time.Time
	rules  RulesService
	// scrape is the admin's /metrics handler (nil without metrics), made
	// once so that its bound on the scrapes in flight holds.
	scrape http.Handler
	// agentTimeout bounds an agent's request (DefaultTimeout when zero).
	agentTimeout time.Duration
	streams      streams
	long         *tenantSlots // the Long calls under way, by tenant
	plans        *tenantSlots // the Plans calls under way, by tenant
	logReads     *tenantSlots // the LogReads calls under way, by tenant
	outputReads  *tenantSlots // the OutputReads calls under way, by tenant

	// audited is each tenant's bucket for the calls that append to the
	// audit log (Options.AuditedRateLimit).
	audited *limiter

	// verifying is the verification of the audit chain under way (nil
	// when none is), which GET /v1/audit/verify requests share.
	verifyMu  sync.Mutex
	verifying *verifyCall
	// verifyNext is when each tenant whose verification ended lately may
	// start its next one (Server.verify).
	verifyNext map[string]time.Time
	// verifyRestFor, when set, replaces the package's (tests).
	verifyRestFor func(took time.Duration) time.Duration
}

// New returns the API handler.
func New(c Controller, opts Options) *Server {
	opts.Streams = opts.Streams.withDefaults()
	s := &Server{c: c, opts: opts, auth: NewAuth(opts.Tokens), limit: newLimiter(opts.RateLimit), fails: faillimit.New(failRate, failBurst),
		mux: http.NewServeMux(), agents: c.AgentHandler(), byPat: map[string]*Route{}, now: time.Now,
		streams: streams{done: make(chan struct{})}}
	s.long, s.plans, s.logReads = newCallSlots()
	s.outputReads = newOutputReadSlots()
	al := DefaultAuditedRateLimit
	if opts.AuditedRateLimit != nil {
		al = *opts.AuditedRateLimit
	}
	s.audited = newLimiter(al)
	if opts.Metrics != nil {
		s.scrape = opts.Metrics.Handler()
	}
	for _, r := range s.table() {
		s.Add(r)
	}
	return s
}

// allowAudited takes cost from tenant's bucket of calls that append to
// the audit log; when it cannot, it answers 429 naming the limit, with the
// wait in Retry-After, and is false. route labels the refusal's metric.
func (s *Server) allowAudited(w http.ResponseWriter, tenant, route string, cost int) bool {
	ok, wait := s.audited.allow(tenant, cost, s.now())
	if ok {
		return true
	}
	s.opts.Metrics.RateLimited(route)
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
	writeErr(w, http.StatusTooManyRequests, "rate_limited", "", fmt.Sprintf("tenant %s is over its limit of changes written to the audit log (submissions, registrations, dataset keys, stagings, token and rules changes: %s); retry in %s", tenant, s.audited.l, wait))
	return false
}

// Add registers a route (issue 11's rules routes join here). It must be
// called before the server serves.
func (s *Server) Add(r Route) {
	rt := r
	s.routes = append(s.routes, &rt)
	pat := rt.Method + " " + rt.Path
	s.byPat[pat] = &rt
	// The path's values are checked once the mux has set them (PathValue).
	s.mux.HandleFunc(pat, func(w http.ResponseWriter, r *http.Request) {
		if pathValid(w, r, &rt) {
			rt.Handler(w, r)
		}
	})
}

// Routes returns the registered routes, in order.
func (s *Server) Routes() []Route {
	out := make([]Route, len(s.routes))
	for i, r := range s.routes {
		out[i] = *r
	}
	return out
}

// ServeHTTP authenticates every request before routing it: tenants with
// their bearer token, attempts' agents (under /v1/agent/) with their
// attempt credential. /healthz and the OpenAPI document answer anyone.
// Then the route's access (admin routes), the tenant's rate limit, the
// route's body limit and deadline apply.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1/agent/") {
		// An agent's request has a deadline as a route's has: it had
		// none but its client's leaving, so that a request the store
		// did not answer held its goroutine and connection for as long
		// as the site's agent, or whoever holds its credential, waited.
		d := s.agentTimeout
		if d <= 0 {
			d = DefaultTimeout
		}
		http.NewResponseController(w).SetWriteDeadline(s.now().Add(d + 5*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		s.agents.ServeHTTP(w, r)
		return
	}
	rw := &recorder{ResponseWriter: w, client: r.Context()}
	_, pattern := s.mux.Handler(r)
	rt := s.byPat[pattern]
	label := pattern
	if rt == nil {
		label = "unmatched"
	}
	defer func() {
		d := s.now().Sub(start)
		s.opts.Metrics.ObserveRequest(label, rw.code(), d)
		if s.opts.Logger != nil {
			p := PrincipalOf(r)
			attrs := []any{"method", r.Method, "route", label, "status", rw.code(), "ms", d.Milliseconds(), "remote", r.RemoteAddr}
			if p.Tenant != "" {
				attrs = append(attrs, "tenant", p.Tenant)
			}
			if id := r.PathValue("id"); id != "" {
				attrs = append(attrs, "run", id)
			}
			if rw.gone {
				attrs = append(attrs, "canceled", "the client went away before the answer")
			}
			if rw.cause != nil {
				attrs = append(attrs, "fault", rw.fault, "err", rw.cause.Error())
				s.opts.Logger.Error("request", attrs...)
				return
			}
			s.opts.Logger.Info("request", attrs...)
		}
	}()
	// A header that holds one value, given twice, is refused before it
	// is read: the server would act on the first and a proxy in front
	// of it, that checked or logged the request, may have on the last.
	for _, name := range singletonHeaders {
		if n := len(r.Header.Values(name)); n > 1 {
			writeErr(rw, http.StatusBadRequest, "invalid", name, fmt.Sprintf("the %s header given %d times: give it once", name, n))
			return
		}
	}
	// The token is hashed once, here: the cache, the address's failures
	// and the store are each asked about its hash.
	tok, h := bearer(r), ""
	p, ok := Principal{}, rt != nil && rt.Access == Public
	if !ok && tok != "" {
		h = s.auth.hashOf(tok)
		p, ok = s.auth.cachedHash(h)
	}
	if !ok {
		// A token the cache does not vouch for costs a read of the store
		// before any tenant's rate limit applies: past its failures, an
		// address waits, unless the token is one the store said was live
		// lately (a client behind the same load balancer or NAT as the
		// one failing). A request without a token costs none.
		src := faillimit.Source(r.RemoteAddr)
		if tok != "" && s.fails.Blocked(src, start) && !s.auth.seenHash(h) {
			rw.Header().Set("Retry-After", "1")
			writeErr(rw, http.StatusTooManyRequests, "rate_limited", "", "too many requests with tokens that are not recognised from this address; retry in 1s")
			return
		}
		var err error
		if tok != "" {
			p, ok, err = s.auth.principalHash(r.Context(), h)
		}
		if err == nil && !ok && tok != "" {
			s.fails.Failed(src, start)
		}
		if err != nil {
			// The caller has shown no valid token yet: the store's error
			// (on PostgreSQL it names the database's host, user and
			// database) goes to the server's log, not to it.
			if s.opts.Logger != nil {
				s.opts.Logger.Error("token check", "route", label, "remote", r.RemoteAddr, "err", err)
			}
			rw.Header().Set("Retry-After", "5")
			writeErr(rw, http.StatusServiceUnavailable, "unavailable", "", "cannot check the token now (the server's token store did not answer); try again")
			return
		}
		if !ok {
			unauthorized(rw, r)
			return
		}
	}
	ctx := context.WithValue(r.Context(), principalKey{}, p)
	r = r.WithContext(ctx)
	if rt == nil {
		s.noRoute(rw, r)
		return
	}
	if rt.Access != Public {
		// An answer to a token is its tenant's (a run's output, the
		// metrics): no browser or proxy cache may keep it for the next
		// user of the machine, and no browser may read it as another type
		// than it says (a workload's output as HTML). JSON answers set the
		// same; this covers the rest (text, streams, the metrics).
		rw.Header().Set("Cache-Control", "no-store")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
	}
	if rt.Access == Admin && !p.Admin {
		writeErr(rw, http.StatusForbidden, "forbidden", "", fmt.Sprintf("%s %s needs an admin token", r.Method, rt.Path))
		return
	}
	if !queryValid(rw, r, rt) {
		return
	}
	// A GET route answers HEAD too (the mux's rule), and HEAD of a stream
	// ran the stream: its writes went nowhere, so it never met the write
	// deadline, and it held one of the tenant's stream slots, a goroutine
	// and a read of the store each poll until the run ended or MaxStream
	// passed, while the client, which has its whole answer once the
	// headers came, left the connection to a stream that never ends (a
	// proxy's next request on it waited for ever). A stream has no HEAD.
	stream := rt.Streaming || rt.Follow && followed(r)
	if r.Method == http.MethodHead && stream {
		rw.Header().Set("Allow", http.MethodGet)
		writeErr(rw, http.StatusMethodNotAllowed, "method_not_allowed", "", fmt.Sprintf("HEAD of a stream (%s with follow) is not served: GET it", rt.Path))
		return
	}
	// The slots of calls under way are taken before the rate is charged:
	// a call turned away for want of one did no work, and charged, each of
	// a client's retries of it would drain the tenant's rate as a plan.
	// The releases run from one defer, last taken first: a defer inside
	// the loop was a defer record made and run by the runtime's slow path
	// on every call that holds a slot.
	var releases [4]func()
	held := 0
	defer func() {
		for i := held - 1; i >= 0; i-- {
			releases[i]()
		}
	}()
	for _, c := range [...]struct {
		on    bool
		slots *tenantSlots
	}{{rt.Long, s.long}, {rt.Plans, s.plans}, {rt.LogReads, s.logReads},
		{rt.OutputReads && !stream, s.outputReads}} {
		if !c.on {
			continue
		}
		release, ok := c.slots.take(rw, p.Tenant)
		if !ok {
			return
		}
		releases[held] = release
		held++
	}
	if rt.Access != Public {
		if ok, wait := s.limit.allow(p.Tenant, rt.cost(), s.now()); !ok {
			s.opts.Metrics.RateLimited(label)
			rw.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
			writeErr(rw, http.StatusTooManyRequests, "rate_limited", "", fmt.Sprintf("tenant %s is over its rate limit; retry in %s", p.Tenant, wait))
			return
		}
	}
	if rt.Audited && !s.allowAudited(rw, p.Tenant, label, 1) {
		return
	}
	if !bodyValid(rw, r, rt) || !contentTypeValid(rw, r) {
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, rt.maxBody())
	rc := http.NewResponseController(rw)
	if stream {
		// A stream ends when its source does, the client goes or the
		// server shuts down, not at the server's write timeout: each of
		// its writes moves the write deadline on (streamWriter).
		select {
		case <-s.streams.done:
			writeErr(rw, http.StatusServiceUnavailable, "shutting_down", "", "the server is shutting down; try again (another replica, or this one once it is back)")
			return
		default:
		}
		release, ok := s.streams.acquire(p.Tenant, s.opts.Streams.PerTenant)
		if !ok {
			rw.Header().Set("Retry-After", "5")
			writeErr(rw, http.StatusTooManyRequests, "too_many_streams", "", fmt.Sprintf("tenant %s has %d streams open on this server, the most it may; close one first", p.Tenant, s.opts.Streams.PerTenant))
			return
		}
		defer release()
		rc.SetWriteDeadline(s.now().Add(s.opts.Streams.WriteWait))
		ctx, cancel := s.streamContext(ctx)
		defer cancel()
		if rt.Access != Public {
			go s.keepAuthorized(ctx, cancel, h, p.Tenant)
		}
		r = r.WithContext(ctx)
	} else {
		d := rt.timeout()
		rc.SetWriteDeadline(s.now().Add(d + 5*time.Second))
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		r = r.WithContext(ctx)
	}
	s.mux.ServeHTTP(rw, r)
}

// queryValid answers 400 (and is false) for a query the routes would
// misread: one that does not parse (a ';' in it, more parameters than
// MaxQueryParams, a bad escape), whose parameters url.Values.Get leaves
// out without a word, or one that gives a parameter of the route twice.
// Before, GET /v1/audit?run=ID;x answered the tenant's whole log as if it
// were the run's, and a query of more than 10,000 parameters was read as
// none at all: follow, limit and filters alike dropped.
func queryValid(w http.ResponseWriter, r *http.Request, rt *Route) bool {
	if r.URL.RawQuery == "" {
		return true
	}
	if n := strings.Count(r.URL.RawQuery, "&") + 1; n > MaxQueryParams {
		writeErr(w, http.StatusBadRequest, "invalid", "query", fmt.Sprintf("%d query parameters, more than the %d a request may have", n, MaxQueryParams))
		return false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid", "query", fmt.Sprintf("the query does not parse (%v): separate parameters with '&' and escape the rest", err))
		return false
	}
	for _, p := range rt.Query {
		if len(q[p.Name]) > 1 {
			writeErr(w, http.StatusBadRequest, "invalid", p.Name, fmt.Sprintf("given %d times: give it once", len(q[p.Name])))
			return false
		}
	}
	// A parameter the route does not take is refused, as an unknown field
	// of a document is: a typo (GET /v1/audit?rn=ID) was dropped without
	// a word and answered the tenant's whole log as if the run's.
	if !rt.takesAll(q) {
		names := make([]string, 0, len(q))
		for k := range q {
			if !rt.takes(k) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		// A parameter without a name ("?=1") is named by the field
		// "query": an error's field is never empty.
		field := names[0]
		if field == "" {
			field = "query"
		}
		writeErr(w, http.StatusBadRequest, "invalid", field, unknownParam(names[0], rt))
		return false
	}
	return true
}

// takes reports whether the route takes query parameter name.
func (r *Route) takes(name string) bool {
	for _, p := range r.Query {
		if p.Name == name {
			return true
		}
	}
	return false
}

// takesAll reports whether the route takes every parameter of q.
func (r *Route) takesAll(q url.Values) bool {
	for k := range q {
		if !r.takes(k) {
			return false
		}
	}
	return true
}

// pathValid answers 400 (and is false) for a path value that is no name
// (a run's id, a dataset's or site's name, a tenant): its form says
// nothing of whose it is, so the owner and any other tenant get the same
// answer. Before, GET /v1/runs/{a space, a NUL, 300 bytes} answered 404
// as for a run of another tenant, and the dataset and site routes echoed
// the value, however long, in their answer.
func pathValid(w http.ResponseWriter, r *http.Request, rt *Route) bool {
	for rest := rt.Path; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return true
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return true
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		rest = rest[i+j+1:]
		v := r.PathValue(name)
		if name == "tenant" {
			if !ValidTenant(v) {
				writeErr(w, http.StatusBadRequest, "invalid", name, fmt.Sprintf("%s: not a tenant name (a DNS label: lowercase letters, digits and '-', at most 63)", clip(v)))
				return false
			}
			continue
		}
		if !catalog.ValidName(v) {
			writeErr(w, http.StatusBadRequest, "invalid", name, fmt.Sprintf("the path's %s %s is not a name: lowercase letters, digits, '-' and '.', at most 253", name, clip(v)))
			return false
		}
	}
}

// clip quotes what a request sent for an error's message, cut to 64 bytes.
func clip(v string) string {
	if len(v) > 64 {
		return strconv.Quote(v[:64]) + fmt.Sprintf("... (%d bytes)", len(v))
	}
	return strconv.Quote(v)
}

// bodyValid answers 413 (and is false) for a body over the route's bound
// that its handler would not read to find out: one whose Content-Length
// says so, and, on a route that takes no body, one sent without a length
// (chunked), which is read up to the bound and dropped. Before, a route
// that takes no body (a cancel, a revocation) took any body, of any size,
// without a word, and the bound the document gives it held for nothing.
func bodyValid(w http.ResponseWriter, r *http.Request, rt *Route) bool {
	limit := rt.maxBody()
	over := r.ContentLength > limit
	if !over && rt.Request == nil && r.ContentLength < 0 && r.Body != nil {
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, limit+1))
		over = n > limit
	}
	if over {
		writeErr(w, http.StatusRequestEntityTooLarge, "too_large", "body", tooLarge(limit))
		return false
	}
	return true
}

// BodyType is the media type of every request body the API takes: each
// route that reads a body reads one JSON object (documents such as YAML
// travel inside it as strings).
const BodyType = "application/json"

// contentTypeValid answers 415 (and is false) for a request with a body
// whose Content-Type is not BodyType (with at most a charset of utf-8): a
// body without one, or of another type, was decoded as JSON all the same,
// so a text/plain, form or YAML POST was served as if it had said JSON,
// while a proxy or filter in front of the server that inspects JSON
// bodies by their type passed it by unread. A GET or HEAD is not held to
// it: no route reads its body.
func contentTypeValid(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		writeErr(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type", fmt.Sprintf("the request has a body but no Content-Type header: send Content-Type: %s (the only type the API takes)", BodyType))
		return false
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		writeErr(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type", fmt.Sprintf("the Content-Type header %s does not parse (%v): send Content-Type: %s", clip(ct), err, BodyType))
		return false
	}
	if mt != BodyType {
		writeErr(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type", fmt.Sprintf("the Content-Type header is %s: the API takes only %s bodies (YAML documents go inside them as strings)", clip(mt), BodyType))
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			writeErr(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type", fmt.Sprintf("the Content-Type header's parameter %s=%s is not taken: a body is %s, with at most charset=utf-8", clip(k), clip(v), BodyType))
			return false
		}
	}
	return true
}

// tooLarge is the message refusing a body over limit bytes.
func tooLarge(limit int64) string {
	return fmt.Sprintf("request body over %d bytes, the most this route takes", limit)
}

// unknownParam is the message refusing parameter name on route rt: what
// the route takes instead.
func unknownParam(name string, rt *Route) string {
	if len(rt.Query) == 0 {
		return fmt.Sprintf("unknown query parameter %q: %s %s takes none", name, rt.Method, rt.Path)
	}
	takes := make([]string, len(rt.Query))
	for i, p := range rt.Query {
		takes[i] = p.Name
	}
	return fmt.Sprintf("unknown query parameter %q: %s %s takes %s", name, rt.Method, rt.Path, strings.Join(takes, ", "))
}

// MaxQueryParams is the most parameters a request's query may have: the
// routes take a few each.
const MaxQueryParams = 64

// singletonHeaders are the request headers the API reads that hold one
// value each.
var singletonHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"}

// bearer is the request's bearer token, or "".
func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

// MaxLongCalls is the most Long calls (stagings and verifications) one
// tenant may have under way on one server.
const MaxLongCalls = 4

// MaxPlanCalls is the most Plans calls (plans, submissions, estimates,
// rules diffs) one tenant may have under way on one server: a plan over
// thousands of sites, or the law compiled for a diff, keeps a processor
// busy for a while, and a client that leaves does not stop it.
const MaxPlanCalls = 4

// MaxLogReads is the most LogReads calls (pages of the audit log and of
// the ledger) one tenant may have under way on one server: each reads up
// to MaxAuditPageBytes of entries.
const MaxLogReads = 4

// MaxOutputReads is the most pages of runs' output (GET
// /v1/runs/{id}/logs without follow) one tenant may have being read on
// one server: each may read up to 16 MiB of a site's output, and hold
// some of it (run.OpenLogs) for as long as its client takes to read it.
const MaxOutputReads = 4

// failRate and failBurst bound the failed authentications of one address
// (faillimit): a client whose token was revoked, or that guesses, is held
// to twenty store reads a second after a burst of sixty.
const (
	failRate  = 20
	failBurst = 60
)

func unauthorized(w http.ResponseWriter, r *http.Request) {
	if _, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="meridian", error="invalid_token"`)
		writeErr(w, http.StatusUnauthorized, "unauthorized", "", "token not recognised")
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="meridian"`)
	writeErr(w, http.StatusUnauthorized, "unauthorized", "", "missing bearer token (Authorization: Bearer TOKEN)")
}

// noRoute answers 405 when the path exists under another method, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			writeErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "", fmt.Sprintf("%s is not allowed on %s", r.Method, clip(r.URL.Path)))
			return
		}
	}
	// The path is quoted, and cut (clip), as a path's value is: it is
	// whatever the client sent, up to the header bound.
	writeErr(w, http.StatusNotFound, "not_found", "", fmt.Sprintf("no route %s %s", r.Method, clip(r.URL.Path)))
}

// recorder remembers the status written, for metrics and the request log.
type recorder struct {
	http.ResponseWriter
	status int
	// cause is the error an internal failure's answer left out, and fault
	// the id the answer gave it (logCause).
	cause error
	fault string
	// client is the request's own context, which net/http cancels when
	// the client closes the connection or resets its stream; gone says
	// an answer was cut short by that (clientGone).
	client context.Context
	gone   bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush sends what was written so far (streams).
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FlushError is Flush with its error, for http.ResponseController: a
// stream learns that its reader is gone (or too slow) from it.
func (r *recorder) FlushError() error {
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Error is the body of every error response.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ErrorBody is an error response: {"error": {...}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

func writeErr(w http.ResponseWriter, status int, code, field, msg string) {
	writeJSON(w, status, ErrorBody{boundError(Error{Code: code, Field: field, Message: msg})})
}

// boundError is e with its field and message cut to MaxErrorField and
// MaxErrorMessage: every error answer carries one, whether writeErr
// writes it or it goes beside other parts (a denial's result, a rules
// change's problems).
func boundError(e Error) Error {
	e.Field = cutMiddle(e.Field, MaxErrorField)
	e.Message = cutMiddle(e.Message, MaxErrorMessage)
	return e
}

// MaxErrorMessage and MaxErrorField bound an error answer's message and
// field. Refusals from deeper down quote the request's values whole (a
// stage's organization, a plan's asOf, a body's key: up to the 4 MiB a
// body holds, six times that once escaped); the client shows 1 KiB of a
// message and the console reads 64 KiB of an answer.
const (
	MaxErrorMessage = 16 << 10
	MaxErrorField   = 256
)

// cutMiddle is s when it is at most n bytes, else its start and its end
// (where a refusal says what it wants) around a note of what was cut,
// each cut on a character's boundary; the result is at most n bytes and
// a few dozen more.
func cutMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	tail := n / 8
	head := textfit.Prefix(s, n-tail)
	i := len(s) - tail
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return fmt.Sprintf("%s… (%d bytes cut; %d in all) …%s", head, i-len(head), len(s), s[i:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONHeader(w, status)
	// Compact: answers such as a plan over thousands of sites run to
	// megabytes, and indenting them costs as much as encoding them.
	json.NewEncoder(w).Encode(v)
}

// writeJSONHeader writes the header of a JSON answer with status: what
// writeJSON, writePlan and writePage each send before the body.
func writeJSONHeader(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// writePlan writes a plan as writeJSON would, with the planner's own
// encoder: a plan carries every rejection, megabytes whose reasons repeat,
// and encoding/json took as long as planning (31 ms against 4 ms for the
// 2,000-site cn plan, planner.BenchmarkWriteJSON).
func writePlan(w http.ResponseWriter, status int, p *planner.Plan) {
	writeJSONHeader(w, status)
	p.WriteJSON(w)
}

// fail maps an error to its status.
func fail(w http.ResponseWriter, err error) {
	var ie *run.InputError
	var mbe *http.MaxBytesError
	var denied *run.DeniedError
	var behind *rules.BehindError
	switch {
	case errors.As(err, &mbe):
		writeErr(w, http.StatusRequestEntityTooLarge, "too_large", "body", tooLarge(mbe.Limit))
	case errors.As(err, &ie) && errors.Is(err, run.ErrConflict):
		writeErr(w, http.StatusConflict, "conflict", ie.Field, ie.Err.Error())
	case errors.As(err, &ie):
		writeErr(w, http.StatusBadRequest, "invalid", ie.Field, ie.Err.Error())
	case errors.As(err, &denied):
		writeJSON(w, http.StatusUnprocessableEntity, DeniedBody{Error: boundError(Error{Code: "denied", Message: denied.Error()}), Result: denied.Result})
	case errors.Is(err, run.ErrNotFound), errors.Is(err, store.ErrNotFound):
		writeErr(w, http.StatusNotFound, "not_found", "", err.Error())
	case errors.Is(err, store.ErrNotText):
		// Text from the request that no store keeps (a NUL): the client's
		// to mend, as the store's error names the field it was for.
		writeErr(w, http.StatusBadRequest, "invalid", "", err.Error())
	case errors.Is(err, store.ErrNoTenant):
		// A read for a principal that names no tenant: the store refuses
		// it rather than answer with every tenant's rows.
		writeErr(w, http.StatusForbidden, "forbidden", "", "this token names no tenant")
	case errors.Is(err, run.ErrRunChanged):
		// The run's row is not what Meridian wrote (a database written
		// without the audit key): the tenant's to know, and the
		// operator's to restore; not a passing fault of the server's.
		writeErr(w, http.StatusConflict, "conflict", "", err.Error())
	case errors.Is(err, run.ErrTooManyRuns):
		// Not a passing rate: the tenant's own runs must end first, so
		// the client is not asked to come back at once (a 429 is).
		writeErr(w, http.StatusConflict, "too_many_runs", "", err.Error())
	case errors.Is(err, store.ErrTooMany):
		// More rows than the store reads at once (a tenant's runs,
		// resources, a run's timeline, the tokens): the state's, not a
		// passing fault, and the error names the read and the bound.
		writeErr(w, http.StatusConflict, "too_many", "", err.Error())
	case errors.Is(err, run.ErrNoPlacement):
		writeErr(w, http.StatusUnprocessableEntity, "no_placement", "", err.Error())
	case errors.Is(err, store.ErrConflict):
		// A race lost to another request (two applies of one resource,
		// say): trying again reads what the other wrote. The store's text
		// (the database's, on PostgreSQL) goes to the log.
		logCause(w, err)
		writeErr(w, http.StatusConflict, "conflict", "", "another request changed the same thing first; read it again and retry")
	case errors.Is(err, planner.ErrLedgerUnread):
		// The rules that count earlier exports judged nothing: the
		// ledger's store failed, a passing fault of the server's whose
		// text (the database's) goes to the log. Nothing was decided nor
		// written, so the client may ask again.
		id := logCause(w, err)
		w.Header().Set("Retry-After", "5")
		writeErr(w, http.StatusServiceUnavailable, "ledger_unavailable", "", "the transfer ledger could not be read, so the rules that count earlier exports judged no placement and nothing was decided; try again (fault "+id+" in the server's log)")
	case errors.Is(err, run.ErrRulesChanging):
		w.Header().Set("Retry-After", "1")
		writeErr(w, http.StatusServiceUnavailable, "rules_changing", "", "rules revisions kept landing while the request was planned, so nothing was decided; try again")
	case errors.As(err, &behind):
		// Not the request's fault, nor a passing one of the server's: a
		// newer rules revision does not load here (a rolling upgrade, a
		// rules directory that differs). The revision is no secret; why it
		// does not load (paths, rule files) goes to the log.
		logCause(w, err)
		w.Header().Set("Retry-After", "30")
		if behind.NoLaw {
			// It started on a revision its loader refuses (an upgrade
			// stricter than the version that stored it): no server of
			// this version will plan until an admin mends it.
			writeErr(w, http.StatusServiceUnavailable, "law_unavailable", "", fmt.Sprintf("this server cannot load rules revision %d, the law in force, and applies no law: it plans and stages nothing until an admin applies the corrected rule files (meridian rules apply -f FILE --reason TEXT); the server's log names the rule", behind.Rev))
			break
		}
		writeErr(w, http.StatusServiceUnavailable, "law_unavailable", "", fmt.Sprintf("this server cannot apply rules revision %d, the law in force (it applies %d), and plans and stages nothing until it can; try again later or on another server", behind.Rev, behind.Applies))
	case errors.Is(err, context.Canceled) && clientGone(w):
		// The client closed the connection (or reset its stream) before
		// the answer: no fault of the server's, and nothing to log as one.
		// Nobody reads the answer, but it is written as net/http's own
		// TimeoutHandler would answer a request it gave up on (503):
		// writing to a closed connection costs nothing, and the request's
		// log line and metrics then count a request that ended unanswered,
		// not a success (200, had nothing been written) nor the server's
		// fault (500). 499, which some proxies log, is no HTTP status.
		writeErr(w, http.StatusServiceUnavailable, "canceled", "", "the request was cancelled before the server answered")
	case errors.Is(err, context.DeadlineExceeded):
		// The error may be the database driver's, which wraps the
		// deadline: its text stays in the server's log (internal).
		id := logCause(w, err)
		writeErr(w, http.StatusServiceUnavailable, "timeout", "", "the request ran past its route's deadline; try again (fault "+id+" in the server's log)")
	default:
		// A fault of the server's (its database, its disk), not of the
		// request: its text names what the tenant must not see, such as
		// the database's host, user and name, or the server's paths, so
		// it goes to the server's request log and the answer says so.
		id := logCause(w, err)
		writeErr(w, http.StatusInternalServerError, "internal", "", "the server could not answer (a fault on its side, which its log records as fault "+id+"); try again later, or give the operator the fault's id")
	}
}

// clientGone reports whether the client of the request w answers went
// away (its context, which only the client ends while the route runs, is
// cancelled), and marks the request's log line so. A cancellation the
// client did not cause is a fault of the server's.
func clientGone(w http.ResponseWriter) bool {
	for {
		switch rw := w.(type) {
		case *recorder:
			if rw.client == nil || !errors.Is(rw.client.Err(), context.Canceled) {
				return false
			}
			rw.gone = true
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = rw.Unwrap()
		default:
			return false
		}
	}
}

// logCause gives the request's log line the error an answer did not
// show, under a fault id it returns for the answer, so that a tenant can
// point the operator at the line; w is the ResponseWriter ServeHTTP
// handed the route.
func logCause(w http.ResponseWriter, err error) string {
	id := faultid.New()
	for {
		switch rw := w.(type) {
		case *recorder:
			rw.cause, rw.fault = err, id
			return id
		case interface{ Unwrap() http.ResponseWriter }:
			w = rw.Unwrap()
		default:
			return id
		}
	}
}

// decodeCursor reads a page's cursor (the JSON the server made, which
// the client may have made up) into v as a body is read: a key given
// twice, naming a field in another case or naming none is an error.
func decodeCursor(b []byte, v any) error {
	if p := jsondup.Check(b, reflect.TypeOf(v)); p.Kind != 0 {
		return fmt.Errorf("key %q", p.Path)
	}
	return json.Unmarshal(b, v)
}

// DeniedBody answers a staging the law refused: the error and the decision.
type DeniedBody struct {
	Error  Error            `json:"error"`
	Result *run.StageResult `json:"result"`
}

// decodeBody reads one JSON object into v, refusing unknown fields, a key
// given twice in one object, a key naming a field in another case and
// anything after the object; it answers the error itself.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	body, ok := readJSONBody(w, r, v, what)
	return ok && unmarshalBody(w, body, v, what)
}

// decodeDocuments is decodeBody for a request that carries documents
// (a submission, a plan, an estimate, an apply): a body whose documents
// list more than MaxRequestDocuments files is refused before it is
// decoded. Decoded first, a body of 4 MiB of empty files ({}, three bytes
// each) made 1.4 million of them, 270 MB allocated and over a second of
// a processor's time, before the controller refused the 65th file.
func decodeDocuments(w http.ResponseWriter, r *http.Request, v any, what string) bool {
	body, ok := readJSONBody(w, r, v, what)
	if !ok {
		return false
	}
	// A body that is no JSON is refused by its decoding, as ever, not
	// for what the count made of it.
	if arrayOver(body, "documents", MaxRequestDocuments) && json.Valid(body) {
		writeErr(w, http.StatusBadRequest, "invalid", "documents", fmt.Sprintf("more than %d files: a request holds at most %d (split it)", MaxRequestDocuments, MaxRequestDocuments))
		return false
	}
	return unmarshalBody(w, body, v, what)
}

// MaxRequestDocuments is the most files a request's documents may list:
// the controller's own bound (run.MaxDocuments), which it checks only
// once the files are decoded.
const MaxRequestDocuments = run.MaxDocuments

// arrayOver reports whether the array that key holds in the top-level
// object of body has more than max elements, counting no further. body
// is read as JSON without being decoded (nothing is allocated but an
// escaped key's text); a key is compared as decoded, so that
// "docum\u0065nts" is "documents", as the decoder and jsondup read it.
// On a body that is not JSON the answer means nothing.
func arrayOver(body []byte, key string, max int) bool {
	depth, commas := 0, 0
	keyNext := false   // at depth 1, the next string is a key
	valueNext := false // key was just read: its value comes next
	inArray := false   // within key's array
	for i := 0; i < len(body); i++ {
		c := body[i]
		if valueNext && c != ':' && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			valueNext, inArray = false, c == '['
		}
		switch c {
		case '"':
			j := i + 1
			for ; j < len(body) && body[j] != '"'; j++ {
				if body[j] == '\\' {
					j++
				}
			}
			if depth == 1 && keyNext {
				keyNext = false
				valueNext = j < len(body) && jsonKeyIs(body[i:j+1], key)
			}
			i = j
		case '{', '[':
			depth++
			keyNext = depth == 1 && c == '{'
		case '}', ']':
			if depth--; inArray && depth == 1 {
				return false
			}
		case ',':
			keyNext = depth == 1
			if inArray && depth == 2 {
				if commas++; commas >= max {
					return true
				}
			}
		}
	}
	return false
}

// jsonKeyIs reports whether the JSON string raw (quotes included) is key
// once its escapes are read.
func jsonKeyIs(raw []byte, key string) bool {
	if !bytes.ContainsRune(raw, '\\') {
		return string(raw[1:len(raw)-1]) == key
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == key
}

// readJSONBody reads the request's body for v (decodeBody) and looks
// through its keys; it answers a refusal itself, and ok is false.
func readJSONBody(w http.ResponseWriter, r *http.Request, v any, what string) (body []byte, ok bool) {
	// The body is bounded (the route's MaxBody) and read whole into one
	// buffer, looked through once for keys before it is decoded, and
	// decoded from that buffer (a json.Decoder would read it into a
	// second copy of its own). Its memory grows with the bytes that
	// arrive, never with what Content-Length claims: a client that claims
	// 4 MiB and sends nothing holds nothing.
	body, err := readBody(r.Body, r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, err)
			return nil, false
		}
		writeErr(w, http.StatusBadRequest, "malformed", "", "request body could not be read: "+err.Error())
		return nil, false
	}
	// Keys are read as v's type reads them, with their case: the decoder
	// would fill a field with a key in any case ({"Site": ...} fills
	// "site"), which a proxy or a log in front of the server reads as a
	// key it does not know.
	switch p := jsondup.Check(body, reflect.TypeOf(v)); p.Kind {
	case jsondup.Twice:
		writeErr(w, http.StatusBadRequest, "malformed", p.Path, fmt.Sprintf("request body is not a valid %s: key %q given twice in one object (keys differing only in case are one field); give it once", what, p.Path))
		return nil, false
	case jsondup.Case:
		writeErr(w, http.StatusBadRequest, "malformed", p.Path, fmt.Sprintf("request body is not a valid %s: key %q: the field is spelled %q (keys are case-sensitive)", what, p.Path, p.Want))
		return nil, false
	case jsondup.Unknown:
		writeErr(w, http.StatusBadRequest, "malformed", p.Path, fmt.Sprintf("request body is not a valid %s: unknown field %q", what, p.Path))
		return nil, false
	}
	return body, true
}

// unmarshalBody decodes body, which readJSONBody read and looked through,
// into v; it answers a refusal itself.
func unmarshalBody(w http.ResponseWriter, body []byte, v any, what string) bool {
	// Unknown fields were refused by the look (as the decoder's
	// DisallowUnknownFields would: jsondup names a struct's fields by
	// encoding/json's rules); Unmarshal refuses data after the value.
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && strings.Contains(se.Error(), "after top-level value") {
			writeErr(w, http.StatusBadRequest, "malformed", "", "request body has data after the JSON object")
			return false
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field, msg := typeErrorText(body, te)
			writeErr(w, http.StatusBadRequest, "malformed", field, "request body is not a valid "+what+": "+msg)
			return false
		}
		writeErr(w, http.StatusBadRequest, "malformed", "", "request body is not a valid "+what+": "+err.Error())
		return false
	}
	return true
}

// MaxDocumentName bounds the name of a document a request carries: a
// file's base name, as the CLI sends it, is at most 255 bytes (NAME_MAX).
const MaxDocumentName = 255

// documentsValid answers 400 (and is false) for a document whose name is
// longer than MaxDocumentName, naming the document and quoting at most 64
// bytes of the name. The name heads every problem the loader reports in
// its document, one for each resource: a name of 10 KB over 4,000
// one-line resources (a request of 66 KB) made a refusal of 40 MB, and a
// body's 4 MiB split between the two, one of hundreds of gigabytes built
// in the server's memory.
func documentsValid(w http.ResponseWriter, docs []run.Document) bool {
	for i, d := range docs {
		if len(d.Name) > MaxDocumentName {
			writeErr(w, http.StatusBadRequest, "invalid", fmt.Sprintf("documents[%d].name", i),
				fmt.Sprintf("%s: a name of %d bytes, more than the %d a document's name may have (a file's base name)", clip(d.Name), len(d.Name), MaxDocumentName))
			return false
		}
	}
	return true
}

// readBody reads body to its end into one buffer, which doubles as bytes
// arrive (io.ReadAll grows a quarter at a time: about 20 MiB of buffers
// for 4 MiB) up to size, the Content-Length, when that is known and the
// buffer is not yet as long; so a body that sends what it claims ends in a
// buffer of its length, and one that claims more than it sends holds at
// most twice what it sent.
func readBody(body io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, 512)
	var probe [512]byte
	for {
		if len(b) < cap(b) {
			n, err := body.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if err == io.EOF {
				return b, nil
			}
			if err != nil {
				return b, err
			}
			continue
		}
		// Full: read aside first, so that a body that ends here does not
		// grow the buffer.
		n, err := body.Read(probe[:])
		if n > 0 {
			c := 2 * cap(b)
			if size >= int64(len(b)+n) && size < int64(c) {
				c = int(size)
			}
			c = max(c, len(b)+n)
			grown := make([]byte, len(b), c)
			copy(grown, b)
			b = append(grown, probe[:n]...)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
