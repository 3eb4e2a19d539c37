package api

import (
	"fmt"
	"net/http"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/console"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
)

// Access says who may call a route.
type Access int

const (
	// Tenant routes need a tenant's token and act for that tenant only.
	Tenant Access = iota
	// Admin routes need an admin token.
	Admin
	// Public routes need no token and reveal nothing of any tenant.
	Public
)

func (a Access) String() string {
	return [...]string{"tenant", "admin", "public"}[a]
}

// Route is one API route: how it is served, and what the OpenAPI document
// says of it. The document is generated from the routes, and a test checks
// every route's real answers against it.
type Route struct {
	Method, Path string
	Summary      string
	Access       Access
	// Timeout bounds the request (DefaultTimeout when zero); Streaming
	// routes have none but MaxStream, and each write moves the write
	// deadline on (Streams.WriteWait) instead of the server's write
	// timeout. A Follow route streams when asked with follow=1 or Accept:
	// text/event-stream, and otherwise answers within its Timeout. Every
	// stream takes one of its tenant's Streams.PerTenant.
	Timeout   time.Duration
	Streaming bool
	Follow    bool
	// StreamEvents names the server-sent events of a Follow route's
	// stream and gives a value of each one's data type (for the OpenAPI
	// document).
	StreamEvents map[string]any
	// MaxBody bounds the request body (MaxBodyBytes when zero).
	MaxBody int64
	// Cost is what a call takes from the tenant's rate limit (1 when zero).
	Cost int
	// Audited marks a route each of whose calls may append permanent
	// records to the audit log: it takes one from its tenant's
	// Options.AuditedRateLimit as well. (A staging takes one in its
	// handler, when it is not a dry run, and a registration one a
	// document it updates; a cancel writes at most one record a run, and
	// is never refused for it.)
	Audited bool
	// Long marks a route whose call may take an hour of the server's
	// work and of a site store's reads (a staging, a verification of
	// every chunk): each call holds one of its tenant's MaxLongCalls for as
	// long as it runs, so that a tenant's rate limit (which a call pays
	// once) is not all that bounds how many run at once.
	Long bool
	// Plans marks a route whose call plans (a plan, a submission, an
	// estimate), compiles the law (a rules diff) or reads documents as a
	// plan does (a registration): the work goes on until it is done, past
	// the route's deadline and its client's leaving, on the server's
	// processors. Each
	// call holds one of its tenant's MaxPlanCalls for as long as it runs,
	// so that one tenant's plans, which its rate limit lets it start ten a
	// second, cannot take every processor from the others.
	Plans bool
	// LogReads marks a route whose call reads a page of the audit log
	// (the audit, the ledger): up to MaxAuditPageBytes of entries, every
	// tenant's with all=1, whose payloads the page then leaves out. Each
	// call holds one of its tenant's MaxLogReads while it runs: bounded by
	// the rate alone, one tenant's burst of 100 pages over 16 MiB of
	// another's entries held 2.1 GB of the server's heap.
	LogReads bool
	// OutputReads marks a route whose call, unless it streams (which
	// holds one of the tenant's Streams.PerTenant instead), reads a page
	// of a run's output: where the attempt's agent sent none, the site's
	// scheduler's output of it, read whole when the site tells no size (a
	// running pod's log, up to 16 MiB). Each call holds one of its
	// tenant's MaxOutputReads while it runs: bounded by the rate alone, a
	// tenant's slow readers in their thousands each held a read of the
	// site and its output.
	OutputReads bool
	// Query lists the query parameters: the only ones the route takes
	// (queryValid answers 400 to any other).
	Query []Param
	// Request and Response are values of the JSON body types (nil: none);
	// Status is the success status (200 when zero). ResponseType is the
	// content type of a non-JSON answer.
	Request      any
	Response     any
	ResponseType string
	Status       int
	// Errors lists the error statuses the route answers besides those every
	// route may (400 for a query or header it would misread, 401, 403,
	// 413, 415 for a body that is not JSON but on a GET, 429, 5xx).
	Errors []int
	// CrossTenant marks an admin route whose answer covers every tenant's
	// runs (what a rules change would move): the operator's view, which no
	// other route gives.
	CrossTenant bool
	Handler     http.HandlerFunc
}

// Param is a query parameter.
type Param struct {
	Name, Description, Type string
}

// DefaultTimeout bounds a request whose route names no timeout; MaxStream
// bounds a stream.
const (
	DefaultTimeout = 30 * time.Second
	MaxStream      = 6 * time.Hour
)

func (r *Route) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Route) maxBody() int64 {
	if r.MaxBody > 0 {
		return r.MaxBody
	}
	return MaxBodyBytes
}

func (r *Route) cost() int {
	if r.Cost > 0 {
		return r.Cost
	}
	return 1
}

func (r *Route) status() int {
	if r.Status > 0 {
		return r.Status
	}
	return http.StatusOK
}

// Response bodies with a wrapper object.
type (
	// Health is GET /v1/healthz.
	Health struct {
		Status string `json:"status"`
		Tenant string `json:"tenant"`
		Admin  bool   `json:"admin,omitempty"`
	}
	// RunList is GET /v1/runs.
	RunList struct {
		Runs []*run.Run `json:"runs"`
		// Next is the after of the next page; absent on the last page
		// (and in the runs stream, whose list is whole).
		Next string `json:"next,omitempty"`
	}
	// RunShownList is GET /v1/runs as its schema says: RunList, each run
	// marked when it was changed outside Meridian (RunShown). A RunList
	// reads it.
	RunShownList struct {
		Runs []*RunShown `json:"runs"`
		Next string      `json:"next,omitempty"`
	}
	// QueueList is GET /v1/queue.
	// Next, when set, is the after= of the next page: the position of
	// the page's last entry. The queue moves between pages (runs are
	// admitted, others held), so pages read one after another are each the
	// order as of their own request.
	// Cursor, set with Next, is the cursor= of the next page: where the
	// page's last entry stands in the order, which runs held or leaving
	// the queue meanwhile do not move (a position does).
	QueueList struct {
		Queue  []run.QueueEntry `json:"queue"`
		Next   string           `json:"next,omitempty"`
		Cursor string           `json:"cursor,omitempty"`
	}
	// EventList is GET /v1/runs/{id}/events: a page of the timeline.
	// Next, when set, is the after= of the next page.
	EventList struct {
		Events []store.Event `json:"events"`
		Next   int64         `json:"next,omitempty"`
	}
	// AuditList is GET /v1/audit: a page of entries. Next, when set, is
	// the after= of the next page; a page without it is the last.
	AuditList struct {
		Entries []audit.Entry `json:"entries"`
		Next    int64         `json:"next,omitempty"`
	}
	// ResourceList is the answer of /v1/resources.
	ResourceList struct {
		Resources []run.Resource `json:"resources"`
	}
	// KeyStored is PUT /v1/datasets/{name}/key.
	KeyStored struct {
		Dataset string `json:"dataset"`
		Status  string `json:"status"`
	}
	// SiteList is GET /v1/catalog/sites.
	SiteList struct {
		Sites []*catalog.Site `json:"sites"`
	}
	// AcceleratorList is GET /v1/catalog/accelerators.
	AcceleratorList struct {
		Accelerators []*catalog.Accelerator `json:"accelerators"`
	}
	// CountryList is GET /v1/catalog/countries.
	CountryList struct {
		Countries []*catalog.Country `json:"countries"`
	}
	// DatasetList is GET /v1/datasets.
	DatasetList struct {
		Datasets []run.DatasetInfo `json:"datasets"`
	}
	// VerifyRequest asks to verify a staged dataset at a site.
	VerifyRequest struct {
		Site string `json:"site"`
	}
)

// table is the API. Rules (issue 11: POST /v1/rules, GET /v1/rules/history,
// GET /v1/rules/diff, what-if) join it as Admin routes (reading the rules:
// Tenant) through Server.Add.
func (s *Server) table() []Route {
	runPath := "/v1/runs/{id}"
	long := 2 * time.Minute
	return []Route{
		{Method: "GET", Path: "/v1/healthz", Summary: "Check the token: who it speaks for", Response: Health{}, Handler: s.health},
		{Method: "GET", Path: "/v1/openapi.json", Summary: "This API's OpenAPI 3.1 document", Access: Public, Response: map[string]any{}, Handler: s.openapi},

		{Method: "POST", Path: "/v1/runs", Summary: "Submit a run: plan as of today and queue the best placement", Cost: 5, Timeout: long, Plans: true, Audited: true,
			Request: run.SubmitRequest{}, Response: run.Run{}, Status: http.StatusCreated, Errors: []int{400, 409, 422}, Handler: s.submit},
		{Method: "GET", Path: "/v1/runs", Summary: "List the tenant's runs, oldest first, a page at a time; with follow=1 (or Accept: text/event-stream), server-sent events: the list, then each run as it changes",
			Query: []Param{{"follow", "1: stream server-sent events (as does Accept: text/event-stream)", "string"},
				{"after", "runs after this run (the next of the page before)", "string"},
				{"limit", fmt.Sprintf("runs per page (at most %d; a page ends early, naming next, before its runs pass %d bytes); without it, all the runs, refused when there are more than one page holds", MaxRunPage, MaxRunPageBytes), "integer"},
				{"pages", fmt.Sprintf("with follow: 1, the stream's list is its first page (%d runs, ending early before %d bytes of them) with next, the after of the rest; without it, the whole list, refused when there are more than %d runs or %d bytes of them", RunPage, MaxRunPageBytes, MaxRunPage, MaxRunPageBytes), "string"}},
			Follow: true, StreamEvents: map[string]any{"runs": RunShownList{}, "run": RunShown{}, "error": ErrorBody{}},
			Response: RunShownList{}, Errors: []int{400}, Handler: s.list},
		{Method: "GET", Path: "/v1/queue", Summary: "The tenant's held runs in admission order: who waits for capacity, quota or the law, and why; a page at a time",
			Query: []Param{{"limit", fmt.Sprintf("held runs per page, 1 to %d (a page ends early, naming next and cursor, before its entries pass %d bytes); without it, the whole queue when it fits in %d runs and %d bytes and a 400 when it does not", MaxRunPage, MaxQueuePageBytes, MaxRunPage, MaxQueuePageBytes), "integer"},
				{"after", "the position after which the page starts: the next of the page before", "integer"},
				{"cursor", "the page starts after the place this names in the order (the cursor of the page before): a run held or leaving the queue meanwhile shifts no other across it, as it does a position", "string"}},
			Response: QueueList{}, Errors: []int{400}, Handler: s.queue},
		{Method: "GET", Path: runPath, Summary: "Describe a run", Response: RunShown{}, Errors: []int{404}, Handler: s.get},
		{Method: "GET", Path: runPath + "/events", Summary: "A page of a run's timeline; with follow=1 (or Accept: text/event-stream), server-sent events of its timeline and state until the run ends",
			Query: []Param{{"follow", "1: stream server-sent events (as does Accept: text/event-stream)", "string"},
				{"after", "timeline events after this seq (the next of the page before; with follow, as the Last-Event-ID header does, and the header wins)", "integer"},
				{"limit", fmt.Sprintf("without follow: events per page (default %d, at most %d; a page ends early, naming next, before its events pass %d bytes)", EventPage, MaxEventPage, MaxEventPageBytes), "integer"}},
			Follow: true, StreamEvents: map[string]any{"event": store.Event{}, "run": RunShown{}, "end": StreamEnd{}, "error": ErrorBody{}},
			Response: EventList{}, Errors: []int{400, 404}, Handler: s.events},
		{Method: "GET", Path: runPath + "/logs", Summary: "A run's output; with follow=1, streamed until the run ends",
			Query: []Param{{"offset", "byte offset to start from", "integer"},
				{"limit", fmt.Sprintf("at most this many bytes (1 to %d); without it, an output of more than that from offset is refused", MaxLogPage), "integer"},
				{"follow", "1: keep streaming until the run ends", "string"}},
			Follow: true, OutputReads: true, Timeout: long, ResponseType: "text/plain", Errors: []int{400, 404}, Handler: s.logs},
		{Method: "POST", Path: runPath + "/cancel", Summary: "Ask for a run to stop", Response: run.Run{}, Status: http.StatusAccepted, Errors: []int{404}, Handler: s.cancel},

		{Method: "POST", Path: "/v1/plans", Summary: "Plan a job without running it (the plan JSON of plan -o json)", Cost: 5, Timeout: long, Plans: true,
			Query: []Param{{"top", "placements to include (default 50; 0 for all); summary.placements is always the total", "integer"},
				{"brief", "1: findings without their message and source (rule ids, kinds, effects), for an overview of many sites; the request's explain site keeps its whole story", "string"}},
			Request: run.PlanRequest{}, Response: planner.Plan{}, Errors: []int{400, 409}, Handler: s.plan},
		{Method: "POST", Path: "/v1/estimates", Summary: "Estimate a job on a number of one accelerator", Cost: 2, Plans: true,
			Request: run.EstimateRequest{}, Response: run.Estimate{}, Errors: []int{400, 409}, Handler: s.estimate},
		{Method: "GET", Path: "/v1/catalog/sites", Summary: "The server's sites", Response: SiteList{}, Handler: s.sites},
		{Method: "GET", Path: "/v1/catalog/sites/{name}", Summary: "One site", Response: catalog.Site{}, Errors: []int{404}, Handler: s.site},
		{Method: "GET", Path: "/v1/catalog/accelerators", Summary: "The accelerators the server knows", Response: AcceleratorList{}, Handler: s.accelerators},
		{Method: "GET", Path: "/v1/catalog/countries", Summary: "The countries the server knows", Response: CountryList{}, Handler: s.countries},

		// A registration reads its documents as a plan does (up to 4 MiB
		// of YAML, tens of thousands of resources, checked against the
		// catalog), which costs some 25 times the body: it holds one of
		// the tenant's MaxPlanCalls as a plan does.
		{Method: "POST", Path: "/v1/resources", Summary: "Register (or update) the tenant's Organizations and Datasets", Plans: true,
			Request: ApplyRequest{}, Response: ResourceList{}, Errors: []int{400, 409}, Handler: s.apply},
		{Method: "GET", Path: "/v1/resources", Summary: "The tenant's registered resources", Response: ResourceList{}, Handler: s.resources},
		{Method: "GET", Path: "/v1/datasets", Summary: "The tenant's registered datasets, and whether the server holds their keys", Response: DatasetList{}, Handler: s.datasets},
		{Method: "PUT", Path: "/v1/datasets/{name}/key", Summary: "Hand the server a registered dataset's key", MaxBody: 64 << 10, Audited: true,
			Request: KeyRequest{}, Response: KeyStored{}, Errors: []int{400, 404}, Handler: s.putKey},
		{Method: "POST", Path: "/v1/datasets/{name}/stage", Summary: "Stage a dataset to a site if the law allows today (dryRun: ask only)", Cost: 5, Timeout: 2 * time.Hour, Long: true,
			Request: run.StageRequest{}, Response: run.StageResult{}, Errors: []int{400, 404, 422}, Handler: s.stage},
		{Method: "POST", Path: "/v1/datasets/{name}/verify", Summary: "Authenticate every chunk of a dataset staged at a site", Cost: 5, Timeout: time.Hour, Long: true,
			Request: VerifyRequest{}, Response: dataset.VerifyReport{}, Errors: []int{400, 404}, Handler: s.verifyDataset},
		{Method: "GET", Path: "/v1/ledger", Summary: "A page of the tenant's transfer records, and the confirmed totals of its whole ledger",
			Query: []Param{{"dataset", "only this dataset", "string"},
				{"after", "records after this seq (the next of the page before)", "integer"},
				{"limit", fmt.Sprintf("records per page (default %d, at most %d)", AuditPage, MaxAuditPage), "integer"}},
			// Cost 5: each page counts the audit log over the range it
			// reads (the gap check of a tenant's records of a kind),
			// which grows with the log, not with the page.
			Cost: 5, LogReads: true,
			Response: run.Ledger{}, Errors: []int{400}, Handler: s.ledger},

		{Method: "GET", Path: "/v1/audit", Summary: "The tenant's audit entries (all=1: the whole chain, others' as hashes)",
			Query: []Param{{"run", "only this run's entries", "string"}, {"all", "1: the whole chain, other tenants' entries redacted", "string"},
				{"after", "entries after this seq (the next of the page before)", "integer"},
				{"limit", fmt.Sprintf("entries per page (default %d, at most %d)", AuditPage, MaxAuditPage), "integer"}},
			LogReads: true, Response: AuditList{}, Errors: []int{400, 404, 409}, Handler: s.auditLog},
		{Method: "GET", Path: "/v1/audit/verify", Summary: "Verify the whole audit chain against its anchor", Timeout: long, Cost: 5, Response: audit.Result{}, Handler: s.verify},

		{Method: "GET", Path: "/v1/tenants", Summary: "Tenants and their tokens (ids, never secrets), by name, a page at a time", Access: Admin,
			Query: []Param{{"after", "tenants after this one (the next of the page before)", "string"},
				{"limit", fmt.Sprintf("tenants per page, 1 to %d (a page ends early, naming next, before its tokens pass %d); without it, all the tenants, refused when there are more than one page holds", MaxTenantPage, MaxTenantPageTokens), "integer"}},
			Response: TenantList{}, Errors: []int{400}, Handler: s.tenants},
		{Method: "POST", Path: "/v1/tenants", Summary: "Add a token for a tenant (a new tenant with its first); the secret is shown once", Access: Admin, Audited: true,
			Request: TenantRequest{}, Response: NewTenantToken{}, Status: http.StatusCreated, Errors: []int{400}, Handler: s.addTenant},
		{Method: "DELETE", Path: "/v1/tenants/{tenant}", Summary: "Revoke a tenant's tokens (token=ID: one of them)", Access: Admin, Audited: true,
			Query: []Param{{"token", "revoke only this token id", "string"}}, Response: Revoked{}, Errors: []int{400, 404, 409}, Handler: s.revokeTenant},
		{Method: "POST", Path: "/v1/quotas/reload", Summary: "Read the server's quota file (serve --quotas) again and put it in force once every check passes; a bad file leaves the quotas in force (409: no quota file; 422: the file's error, naming file, document and field)",
			Access: Admin, Audited: true, Response: run.QuotaReload{}, Errors: []int{409, 422}, Handler: s.reloadQuotas},
		// The console's files are public (they hold no tenant's data); every
		// page fetches its data from the routes above with the user's token.
		{Method: "GET", Path: console.Prefix, Summary: "The web console: its page, script and styles (public; the data comes from the API with the user's token)",
			Access: Public, ResponseType: "text/html", Errors: []int{404}, Handler: console.Handler().ServeHTTP},
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics", Access: Admin, ResponseType: "text/plain", Errors: []int{404}, Handler: s.metrics},
	}
}
