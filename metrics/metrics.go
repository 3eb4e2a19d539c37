// Package metrics is what a Meridian server tells Prometheus: runs by state
// and site, plan latency, law evaluations and denials by rule, bytes staged
// by route, site losses, migrations, audit appends, leadership and the
// API's requests. Counters are this server's own (each replica counts what
// it did); the run and audit figures are read from the shared store at
// scrape time, so every replica reports the same, cluster-wide.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/store"
)

// Sources are read at scrape time. Any may be nil.
type Sources struct {
	// RunCounts counts runs by state and site (the store's CountRuns).
	RunCounts func(ctx context.Context) ([]store.RunCount, error)
	// AuditHead is the audit chain's length (the store's AuditHead).
	AuditHead func(ctx context.Context) (int64, string, error)
	// Leading says whether this server leads the controller loop, and its
	// lease epoch.
	Leading func() (int64, bool)
	// Steps is what the controller loop's steps that ran past their
	// bound come to (run.Controller.StepCounts).
	Steps func() StepCounts
	// Now is the clock that spaces the store's reads (nil: time.Now).
	Now func() time.Time
	// Log, when set, is told of a scrape's errors (a store read that
	// failed, an answer that could not be written), at most once a
	// minute for each kind (logEvery). Without it, a store that did not
	// answer showed only as a scrape's error text, to the scraper.
	Log *slog.Logger
}

// StepCounts is what the controller loop's steps that ran past their
// bound come to on this server since it started: a site whose calls hang
// shows here before its runs show anything else.
type StepCounts struct {
	// Out is how many such steps are still out now.
	Out int64
	// Late is how many steps ran past their bound.
	Late int64
	// Held is how many times a tick left a run unstepped because its
	// site had as many steps out as it may.
	Held int64
}

// maxMigrationRoutes bounds the series of meridian_migrations_total: a
// label pair per old and new site would grow with the square of the sites.
// The first pairs seen keep their own series; later ones are counted under
// from="other", to="other".
const maxMigrationRoutes = 256

// otherRoute labels the migrations beyond maxMigrationRoutes, and the
// figures of every other vector beyond maxSeries.
const otherRoute = "other"

// maxSeries bounds the series of each figure labelled by a site, a
// country or a rule id. Those come from the operator's catalog and law,
// but a run's site is read back from the shared store, where whoever
// writes the database beside the server may put any number of them: each
// was a series kept for the server's life (a counter) or made at each
// scrape (the run counts). The first maxSeries label values (or pairs)
// keep their own series; later ones are counted under "other".
const maxSeries = 1024

// maxLabelBytes bounds a label value's length: a site name of a megabyte
// from the store was a megabyte in every scrape, for each series.
const maxLabelBytes = 128

// labelValue is v as a label's value: bytes that are not UTF-8 replaced
// (Prometheus refuses them: WithLabelValues panicked, which ended the
// controller's step or the plan that counted it), and cut to
// maxLabelBytes, on a character's boundary, with an ellipsis.
func labelValue(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) > maxLabelBytes {
		cut := maxLabelBytes - len("…")
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut] + "…"
	}
	return v
}

// bounded gives the labels to count under in a vector of at most max+1
// series: its own values while fewer than max tuples have a series,
// "other" for each once that many do.
type bounded struct {
	max  int
	mu   sync.Mutex
	seen map[[2]string]bool
}

// labels returns a and b as labels (labelValue), or "other" for both.
func (l *bounded) labels(a, b string) (string, string) {
	k := [2]string{labelValue(a), labelValue(b)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[k] {
		return k[0], k[1]
	}
	if len(l.seen) >= l.max {
		return otherRoute, otherRoute
	}
	if l.seen == nil {
		l.seen = map[[2]string]bool{}
	}
	l.seen[k] = true
	return k[0], k[1]
}

// storeEvery is how often a scrape may read the store: /metrics answers
// anyone who reaches --metrics-listen, as often as they ask, and the store
// is every replica's; a scrape in between reads the last figures (or the
// last error).
const storeEvery = time.Second

// storeDue says whether a scrape at t may read the store again, its last
// read having ended at tried (zero: none yet); a clock set back counts as
// due, so that a step back does not freeze the figures.
func storeDue(t, tried time.Time) bool {
	return tried.IsZero() || t.Sub(tried) >= storeEvery || t.Before(tried)
}

// Metrics holds a server's collectors in their own registry.
type Metrics struct {
	reg *prometheus.Registry

	planSeconds    *prometheus.HistogramVec
	lawEvaluations *prometheus.CounterVec
	lawDenials     *prometheus.CounterVec
	stagedBytes    *prometheus.CounterVec
	siteLosses     *prometheus.CounterVec
	migrations     *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	httpSeconds    *prometheus.HistogramVec
	rateLimited    *prometheus.CounterVec

	// errs logs the scrapes' errors (Sources.Log).
	errs *errorLog

	// The label values (or pairs) that have a series of their own.
	ruleLabels, stagedLabels, siteLabels, routeLabels bounded
}

// New registers the collectors, the Go runtime's and the process's.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), ruleLabels: bounded{max: maxSeries}, stagedLabels: bounded{max: maxSeries},
		siteLabels: bounded{max: maxSeries}, routeLabels: bounded{max: maxMigrationRoutes}}
	now := src.Now
	if now == nil {
		now = time.Now
	}
	m.errs = &errorLog{log: src.Log, now: now}
	m.planSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "meridian_plan_seconds", Help: "Time to plan one job, by what asked (api, submit, replan).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"via"})
	m.lawEvaluations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_law_evaluations_total", Help: "Placement candidates the law judged, by what asked.",
	}, []string{"via"})
	m.lawDenials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_law_denials_total", Help: "Placement candidates the law denied, by denying rule (beyond the first 1024 rules, \"other\").",
	}, []string{"rule"})
	m.stagedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_staged_bytes_total", Help: "Sealed dataset bytes sent to sites, by route (origin country to site country; beyond the first 1024 pairs, from and to \"other\").",
	}, []string{"from", "to"})
	m.siteLosses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_site_losses_total", Help: "Runs that lost their site, by site (beyond the first 1024 sites, \"other\").",
	}, []string{"site"})
	m.migrations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_migrations_total", Help: "Runs moved to another site, by old and new site (beyond the first 256 pairs, from and to \"other\").",
	}, []string{"from", "to"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_http_requests_total", Help: "API requests answered, by route and status code.",
	}, []string{"route", "code"})
	m.httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "meridian_http_request_seconds", Help: "Time to answer an API request, by route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meridian_http_rate_limited_total", Help: "API requests refused by a tenant's rate limit, by route.",
	}, []string{"route"})
	m.reg.MustRegister(m.planSeconds, m.lawEvaluations, m.lawDenials, m.stagedBytes, m.siteLosses, m.migrations,
		m.httpRequests, m.httpSeconds, m.rateLimited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.RunCounts != nil {
		m.reg.MustRegister(&runCollector{count: src.RunCounts, now: now,
			desc: prometheus.NewDesc("meridian_runs", "Runs by state and site, read from the store (beyond the first 1024 pairs, state and site \"other\").", []string{"state", "site"}, nil)})
	}
	if src.AuditHead != nil {
		// A counter that reads 0 when the store does not answer would go
		// down and up again, which Prometheus takes for two resets: the
		// whole chain counted again as appended at once. The last length
		// read stands in for one that cannot be read.
		var mu sync.Mutex
		var last int64
		var tried time.Time
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meridian_audit_appends_total", Help: "Entries appended to the audit chain, by every server (its length).",
		}, func() float64 {
			mu.Lock()
			defer mu.Unlock()
			if storeDue(now(), tried) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				seq, _, err := src.AuditHead(ctx)
				cancel()
				if err == nil && seq > last {
					last = seq
				}
				if err != nil {
					m.errs.note("reading the audit chain's length", err.Error())
				}
				tried = now()
			}
			return float64(last)
		}))
	}
	if src.Leading != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meridian_leader", Help: "1 while this server leads the controller loop.",
		}, func() float64 {
			if _, ok := src.Leading(); ok {
				return 1
			}
			return 0
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meridian_lease_epoch", Help: "The controller lease's epoch while this server leads, else 0.",
		}, func() float64 {
			e, ok := src.Leading()
			if !ok {
				return 0
			}
			return float64(e)
		}))
	}
	if src.Steps != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meridian_steps_out", Help: "Controller steps still out past their bound (a site's calls hang), on this server.",
		}, func() float64 { return float64(src.Steps().Out) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "meridian_steps_late_total", Help: "Controller steps that ran past their bound, on this server.",
			}, func() float64 { return float64(src.Steps().Late) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "meridian_steps_held_total", Help: "Runs a tick left unstepped because their site had as many steps out past their bound as it may, on this server.",
			}, func() float64 { return float64(src.Steps().Held) }))
	}
	return m
}

// maxScrapesInFlight bounds the scrapes one handler gathers at once; one
// more is answered 503 at once, at no cost. --metrics-listen answers
// whoever reaches it and its listener admits 1,024 connections, so that
// the scrapes in flight were bounded by those alone, each allocating
// about 3 MB and holding 1 MB of figures while a full exposition is
// gathered and written (BenchmarkScrapeFull). A Prometheus asks one
// scrape at a time, a pair of them two.
const maxScrapesInFlight = 4

// scrapeTimeout bounds a scrape's gathering (Prometheus' own default
// scrape timeout: a later answer is one no scraper waits for). It also
// makes the handler write its answer from a buffer once gathered, after
// the scrape has left its place among the maxScrapesInFlight: a client
// that reads slowly, or not at all, held its place for as long as the
// write deadline (two minutes), so that maxScrapesInFlight such clients
// would have kept every other scraper out.
const scrapeTimeout = 10 * time.Second

// Handler serves the metrics in Prometheus' text format. Each handler it
// returns has its own maxScrapesInFlight: serve makes one for
// --metrics-listen, and an admin's scrapes through the API are not
// turned away by those that reach that port.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapesInFlight, Timeout: scrapeTimeout, ErrorLog: m.errs})
}

// Registry is the metrics' registry (for tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObservePlan records one plan's latency and its law figures.
func (m *Metrics) ObservePlan(via string, d time.Duration, p *planner.Plan) {
	if m == nil {
		return
	}
	m.planSeconds.WithLabelValues(via).Observe(d.Seconds())
	if p == nil {
		return
	}
	m.lawEvaluations.WithLabelValues(via).Add(float64(p.Summary.Candidates))
	for rule, n := range p.Summary.RejectedByRule {
		rule, _ := m.ruleLabels.labels(rule, "")
		m.lawDenials.WithLabelValues(rule).Add(float64(n))
	}
}

// SiteLost counts a run that lost its site.
func (m *Metrics) SiteLost(site string) {
	if m != nil {
		site, _ := m.siteLabels.labels(site, "")
		m.siteLosses.WithLabelValues(site).Inc()
	}
}

// Migrated counts a run moved from one site to another.
func (m *Metrics) Migrated(from, to string) {
	if m != nil {
		m.migrations.WithLabelValues(m.routeLabels.labels(from, to)).Inc()
	}
}

// Staged counts sealed bytes sent from a dataset's origin country to a
// site's country.
func (m *Metrics) Staged(from, to string, bytes int64) {
	if m != nil && bytes > 0 {
		m.stagedBytes.WithLabelValues(m.stagedLabels.labels(from, to)).Add(float64(bytes))
	}
}

// ObserveRequest counts one answered API request.
func (m *Metrics) ObserveRequest(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpSeconds.WithLabelValues(route).Observe(d.Seconds())
}

// RateLimited counts a request refused by a rate limit.
func (m *Metrics) RateLimited(route string) {
	if m != nil {
		m.rateLimited.WithLabelValues(route).Inc()
	}
}

// runCollector reads run counts from the store at most once a second,
// whether the last read answered or failed.
type runCollector struct {
	count func(ctx context.Context) ([]store.RunCount, error)
	desc  *prometheus.Desc
	now   func() time.Time

	mu    sync.Mutex
	tried time.Time // the last read's end
	last  []store.RunCount
	err   error // the last read's error
}

func (c *runCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *runCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if storeDue(c.now(), c.tried) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		counts, err := c.count(ctx)
		cancel()
		c.err, c.tried = err, c.now()
		if err == nil {
			c.last = counts
		}
	}
	if c.err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, c.err)
		return
	}
	// The store's labels are made labels (labelValue), and the first
	// maxSeries pairs keep a series of their own, the rest summed under
	// "other": counts that make the same labels are summed, as two
	// series of the same labels fail the scrape. A label Prometheus
	// still refused would be that series' error alone: a panic here
	// ended the collection, so that every count after it went
	// unreported.
	sums := map[[2]string]int64{}
	var order [][2]string
	for _, rc := range c.last {
		k := [2]string{labelValue(rc.State), labelValue(rc.Site)}
		if _, ok := sums[k]; !ok {
			if len(order) >= maxSeries {
				k = [2]string{otherRoute, otherRoute}
			}
			if _, ok := sums[k]; !ok {
				order = append(order, k)
			}
		}
		sums[k] += rc.N
	}
	for _, k := range order {
		m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, float64(sums[k]), k[0], k[1])
		if err != nil {
			m = prometheus.NewInvalidMetric(c.desc, err)
		}
		ch <- m
	}
}
