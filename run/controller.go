package run

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/internal/faillimit"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/policy"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// BackendFor returns the backend that runs jobs at site; root is a
// directory the controller reserves for that site's backend state.
type BackendFor func(site *catalog.Site, root string) (backend.Backend, error)

// Config wires a Controller.
type Config struct {
	Store store.Store
	// StateDir holds the backends' state per site, run keys, the attempts'
	// logs and tenants' keyrings.
	StateDir string
	// CatalogDir, when set, replaces the built-in sites (serve --catalog).
	CatalogDir string
	// ExtraSites are added to the catalog, such as serve's local site.
	ExtraSites []*catalog.Site
	Plan       Planner
	// PlanWith, when set, answers the API's plans (with an explanation
	// when asked); Plan does otherwise.
	PlanWith PlanWith
	// Law, when set, is asked whether a run's placement is still lawful
	// today before each attempt starts; without it the run is re-planned.
	Law      planner.Law
	Backends BackendFor
	// Poll is how often active runs are checked (default 500ms).
	Poll time.Duration
	// SiteTimeout is how long a site (or an attempt's agent) may be silent
	// before it counts as lost (default 30s).
	SiteTimeout time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	// Workers is how many runs are stepped at once (default 8).
	Workers int
	// Stager stages the job's datasets to the attempt's site and moves
	// checkpoints between sites, law-gated and through its Ledger (the audit
	// log by default). Its Keys are the tenants' dataset keys.
	Stager *transfer.Stager
	// StageTimeout bounds one staging step (default 1h); a staging cut
	// short resumes at the next step without resending what arrived.
	StageTimeout time.Duration
	// DatasetStores are the home stores a tenant's Dataset may name in
	// spec.store, which the server then reads with its own access (see
	// dataset.Within); default the state directory's home store, the one
	// `meridian dataset add` writes on this machine. A dataset naming any
	// other store is refused when registered and never staged.
	DatasetStores []string

	// ServerURL is where attempts' agents reach the server's agent API.
	ServerURL string
	// AgentCommand is the command a site's scheduler runs for an attempt
	// at a site whose backend.agent is empty: Meridian's agent (default:
	// this executable with "agent" at sites on this machine, "meridian
	// agent" at remote sites).
	AgentCommand func(site *catalog.Site) []string
	// AgentKey derives the attempts' credentials; at least 16 bytes.
	// Servers sharing a store must share it (the state directory's
	// agent.key), so that an agent may report to any of them.
	AgentKey []byte
	// AgentFingerprint, for a server with a self-signed certificate, is
	// handed to agents so that they trust exactly that certificate.
	AgentFingerprint string
	// AgentInsecureHTTP is the operator's consent (serve --insecure-http)
	// to agents sending their credential over plain HTTP: only with it is
	// an http:// ServerURL off loopback handed to agents as one they may
	// use. Without it such an address is handed as it is, and the agent
	// refuses it rather than send the credential in clear.
	AgentInsecureHTTP bool
	// Heartbeat is how often agents report (default 2s).
	Heartbeat time.Duration
	// AgentLease is how long an attempt's agent runs its workload without
	// an answer from the server before it stops it (the manifest's
	// lease): it bounds how long a site cut off from the server runs on
	// after its run was moved. It is at least twice the silence limit
	// (see silenceLimit); 0 means DefaultAgentLease; below 0, agents never
	// stop on their own.
	AgentLease time.Duration
	// MaxRuns is the most runs a tenant may have that have not ended (held
	// and waiting ones among them): a submission past it is refused with
	// ErrTooManyRuns. 0 sets no bound (serve sets DefaultMaxRuns unless
	// told otherwise).
	MaxRuns int
	// Sandbox says how workloads are confined at sites on this machine; a
	// site's backend.sandbox overrides it, and remote sites default to
	// landlock.
	Sandbox SandboxPolicy
	// SiteRecheck is how often the sites are checked against their
	// schedulers again after CheckSites (default 30s).
	SiteRecheck time.Duration
	// LogLimit bounds the output kept per attempt (default 16 MiB).
	LogLimit int64
	// TenantLogLimit bounds the output kept for all of one tenant's
	// attempts together (serve --tenant-output-limit, DefaultTenantLogLimit
	// unless told otherwise; 0, Config's default: no bound): an append
	// past it first removes the output of the tenant's oldest ended runs,
	// and past that no more of the tenant's output is kept.
	TenantLogLimit int64

	// Replica names this server among those sharing the store (the
	// controller lease's holder); NewReplicaID() when empty.
	Replica string
	// LeaseTTL is how long the controller lease lasts unrenewed (default
	// DefaultLeaseTTL); it is renewed every third of that.
	LeaseTTL time.Duration
	// Observer, when set, is told of site losses, migrations and staged
	// bytes (the server's metrics).
	Observer Observer
	// LawNow, when set, is the law in force (a rules.State): the controller
	// re-checks every live run and staged copy on each new revision and on
	// each day the law changes, and keeps runs lawful. Without it, Law and
	// the stager's law are used as they are.
	LawNow func() LawNow
	// MoveMargin is how long before a known rule bites a run is moved
	// (default 24h).
	MoveMargin time.Duration
	// DrainGrace is how long a running attempt that must leave gets to
	// checkpoint and stop before it is stopped (default 30s).
	DrainGrace time.Duration
	// HoldRetry is a held run's first retry interval, doubling to 10 min
	// (default 5s).
	HoldRetry time.Duration
	// LostSiteBackoff is how long a site a run lost stays out of that
	// run's plans (default 10 min), doubling with each loss of the same
	// site to at most maxLostSiteBackoff. A site is lost for a while, not
	// for good: a run whose every lawful site was lost once, a network
	// blip past the silence limit at its only Slurm site, waited held for
	// ever, even after the sites were back.
	LostSiteBackoff time.Duration
	// Exports is what the law counts of earlier exports (the transfer
	// ledger), for yearly volume thresholds; nil: only the job's own moves.
	Exports policy.Exports
	// Quotas, when set, bound what each tenant's runs hold per accelerator
	// family (fleet.Quotas); without them only the pools' capacity does.
	Quotas *fleet.Quotas
	// QuotaFile is the file Quotas were read from (serve --quotas), which
	// ReloadQuotas reads again; empty: none. QuotaSHA256 is the digest of
	// the file as it was read.
	QuotaFile   string
	QuotaSHA256 string
	// CheckQuotaFile, when set, judges the quota file before each reload
	// reads it (serve: that no other local user may write it), as the
	// server's start did; an error refuses the reload.
	CheckQuotaFile func(path string) error
	// AuditChain, when set, is the audit log's chain under its key: a
	// tenant's registered resource is used only when the latest sealed
	// register record of it names the hash on its row (resourceWitness).
	// Without it only the row's own hash is checked.
	AuditChain *audit.Chain
}

// Observer is told what the controller did, after it is recorded.
// Implementations must not block.
type Observer interface {
	SiteLost(site string)
	Migrated(from, to string)
	Staged(fromCountry, toCountry string, bytes int64)
}

type noObserver struct{}

func (noObserver) SiteLost(string)              {}
func (noObserver) Migrated(string, string)      {}
func (noObserver) Staged(string, string, int64) {}

// SandboxPolicy says how workloads are kept from the server and each other.
type SandboxPolicy struct {
	// Mode is "uid", "landlock" or "none"; empty chooses: uid when the
	// server runs as root, landlock otherwise.
	Mode string
	// UIDBase is the first user id given to a tenant's workloads in uid
	// mode (default 3,000,000).
	UIDBase int
	// ReadOnly lists extra paths every workload may read.
	ReadOnly []string
}

// Controller drives runs through their lifecycle.
type Controller struct {
	cfg Config
	// logHolds counts the sites' output that readers of runs' output
	// hold, by tenant (OpenLogs).
	logHolds outputHolds
	// resWitness confirms registered resources against the audit log.
	resWitness *resourceWitness
	// runWitness confirms runs' documents against the audit log.
	runWitness *runWitness
	// runSpans keeps where each run's records begin in the audit log.
	runSpans runSpans
	wake     chan struct{}
	start    time.Time

	catOnce sync.Once
	catSet  *catalog.Set
	catErr  error

	// regs keeps tenants' registered resources decoded (registry).
	regs registryCache

	sitesOnce sync.Once
	sites     []*catalog.Site
	sitesErr  error

	baseOnce sync.Once
	base     *catalog.World
	baseErr  error

	capOnce  sync.Once
	capWorld *catalog.World
	capErr   error

	term leadership

	// factScan is the last day lawTick looked for the days staged copies'
	// own facts change (copyFactDay), so that it reads them once a day.
	factScan catalog.Date
	// lawFails counts the law checks that failed in a row, and lawRetry
	// is when the next may start unless the revision moves on from
	// lawRetryRev; lawClock tells the time for that (time.Now but in
	// tests). lawDone is what failed tries did since the last recorded
	// check (carryOver). All of them are lawTick's loop's only.
	lawFails    int
	lawRetry    time.Time
	lawRetryRev int64
	lawClock    func() time.Time
	lawDone     *CheckResult
	// docSeq is the last audit seq docUpdates read, docRead whether it
	// has read the log once in this term; docDue says which registered
	// document an owner updated since the last recorded check, "" when
	// none. lawTick's loop's only.
	docSeq  int64
	docRead bool
	docDue  string
	// docDueSeq is the audit seq of the update docDue names.
	docDueSeq int64
	// factsSeq is the audit seq of the latest owner's update of a
	// registered document docUpdates read: a sweep that could not judge a
	// left site judges it again once it moves (sweepKey).
	factsSeq atomic.Int64
	// sweepKeySeen is the sweepKey the loop's last scan of ended runs
	// for sites to sweep was made under (sweepEnded).
	sweepKeySeen string
	// sweepRescan says the scan under way starts over once it ends: the
	// sweepKey changed while it read.
	sweepRescan bool
	// checkedLaw is the digest of the law the last recorded check judged
	// by (lawDigest), as the first read of a term found it or this term's
	// check recorded it; "" when the record names none (an older
	// version's). lawTick's loop's only.
	checkedLaw string
	// lawThrough is the last check this server recorded, and the day it
	// judged the law through. lawTick's loop's only.
	lawThrough lawThrough
	// catDigest is the digest of the catalog the law reads (catalogDigest).
	catDigestOnce sync.Once
	catDigest     string
	// copyIndex is the ledger's copies at sites as of the last read
	// (stagedCopies), which reads the entries appended since.
	copyIndex copyIndex
	// long holds the long steps in flight, by run id (under mu).
	long map[string]longRun
	// stepsOut holds the steps Tick stopped waiting for (boundedStep),
	// by run and by site (under mu).
	stepsOut stepsOut
	// deferred holds the copies a law check found unlawful but could not
	// withdraw yet (under mu; without their organisation); nil when not
	// known in this term of leadership (retryWithdrawals).
	deferred    map[stagedCopy]bool
	deferredTry time.Time
	// deferredFails counts the retries of deferred withdrawals in a row
	// that could not read the ledger (under mu): each doubles the wait
	// before the next (retryWithdrawals). deferredBackoff holds, per copy
	// whose withdrawal failed otherwise than for a staging holding its
	// store (its site's store failing), when it may be tried again.
	deferredFails   int
	deferredBackoff map[stagedCopy]copyBackoff
	// resumeRuns are the runs with a checkpoint copy deferred because
	// the run resumes from it (under mu): a write of such a run after
	// which it no longer does makes the copy due at once
	// (wakeResumeWaits).
	resumeRuns map[string]bool
	// slowStores are the site stores whose withdrawal ran out of time,
	// with when: their other copies wait for a later pass of the law
	// check's withdrawals, or, for a sweep of a run's left site, which
	// comes in no pass, until the mark is older than slowFor (withdraw).
	slowStores map[string]time.Time
	// sweepWait holds, per run whose sweep of a left site's checkpoints
	// failed (its store, or the ledger), when it may be tried again
	// (under mu; sweepCheckpoints).
	sweepWait map[string]copyBackoff
	// sweepScanAfter is where the loop's scan of ended runs for sites
	// still to sweep goes on from (a page a tick, sweepEnded), and
	// sweepScanned says it has read them all in this term. The loop's
	// goroutine's alone.
	sweepScanAfter string
	sweepScanned   bool
	// sweepOwed is the loop's read of the audit log for runs whose sealed
	// records say a sweep is owed, whatever their rows list (sweepOwedRead).
	// The loop's goroutine's alone.
	sweepOwed owedScan
	// searched holds the waiting runs the admission passes made a fleet
	// search for since the searches last went round the queue (admitRuns):
	// a pass that spends its searches (maxSearches) goes on from them at
	// the next. The loop's goroutine's alone.
	searched map[string]bool
	// tried holds the waiting runs the admission passes planned again
	// since the passes last went through the whole queue: a pass that
	// reaches maxTries goes on, at the next, past them (admitRuns). The
	// loop's goroutine's alone.
	tried map[string]bool
	// preemptTried holds the waiting runs for which the admission passes
	// planned a preemption since they last went through every run left
	// waiting: a pass that spends its preemption plans
	// (maxPreemptPlans) goes on, at the next, past them. The loop's
	// goroutine's alone.
	preemptTried map[string]bool

	// watch signals the API's event streams when a run changes.
	watch watchers

	mu     sync.Mutex
	worlds map[string]*catalog.World
	// worldsGen counts forgetWorlds' calls: a world built from registered
	// resources read before one is not cached (world).
	worldsGen   uint64
	decoded     map[string]*Run // by run id, at its row's version (decodeRow)
	briefs      map[string]*Run // by run id, at its row's version, without documents (Brief)
	backends    map[string]backend.Backend
	unreachable map[string]time.Time
	heartbeats  map[string]time.Time
	// drainFails is, by attempt (attemptKey), when a draining attempt's
	// site first failed its Cancel (drainRefused): the drain's own count,
	// apart from the monitor's unreachable, which a Status that failed
	// before the drain began had set, and which would have ended the drain
	// at its first failed Cancel.
	drainFails map[string]time.Time
	// stillEnding is, by attempt (attemptKey), since when a cancelled
	// run's site has answered its Cancel that the job is still ending
	// (backend.ErrStopping), and whether that was reported (stillStopping).
	stillEnding map[string]*stillEndingSince
	// leftStops is, by attempt (attemptKey), where the stop a re-plan
	// (or a moving run's cancel) sends the site a run leaves stands
	// (stopLeft, stopForCancel): what it stops, when it is asked again
	// (retryLeftStops; never once the site confirmed it or the site
	// timeout passed), and whether a try is in flight. Active runs only
	// (prune).
	leftStops map[string]*leftStop
	// leftStopping is, by site, how many of those tries are in flight
	// beside the loop.
	leftStopping map[string]int
	// changedWarned is, by run, the digest of the last step refusal of a
	// run changed outside Meridian that the loop logged (stepWarn): the
	// same refusal again is not logged at every tick. Active runs only
	// (prune).
	changedWarned map[string][sha256.Size]byte
	// cancelRetries holds, by run, the retries of a cancel its site
	// refused (cancelRefused): each waits longer than the last.
	cancelRetries cancelRetries
	// agents is what the agent API remembers of each attempt's agent,
	// by attempt (agentMemo).
	agents     map[string]*agentMemo
	agentOrder *list.List // of *agentMemo, the most recently used first
	// endedAgents holds, by run, the attempts found ended for good (every
	// attempt the run moved past, and its last once it finished), in
	// endedOrder (of *endedAttempts, the latest found first).
	endedAgents map[string]*list.Element
	endedOrder  *list.List
	// endedKeys holds attempts found ended for good, by run and attempt,
	// in fixed memory, past the runs endedAgents remembers.
	endedKeys  endedSet
	agentFails *faillimit.Limiter
	// credentialMACs counts the MACs computed to check attempt
	// credentials: an agent's steady requests should cost none.
	credentialMACs atomic.Int64
	// cleanWait bounds endAttempt's waits for a site's cleanup
	// (cleanTimeout when zero).
	cleanWait time.Duration
	// cancelWait bounds a step's wait for its site's cancel of a job
	// (cancelTimeout when zero).
	cancelWait time.Duration
	storeLocks map[string]*sync.Mutex
	// outputs counts, per tenant, the bytes of output kept for its
	// attempts (tenantOutputs); outputMu guards the map only.
	outputMu sync.Mutex
	outputs  map[string]*tenantOutput
	// removedSwept empties logs/.removed once (sweepRemoved).
	removedSwept sync.Once
	// life is the context of Run while it runs (lifeContext): work
	// started for a request that must outlast it ends with it.
	life atomic.Pointer[context.Context]
	// siteDown holds the sites whose last check failed, with the error;
	// lastSiteCheck is when CheckSites last finished.
	siteDown      map[string]error
	lastSiteCheck time.Time
	checking      bool
	// reported is each pool's capacity as its site last reported it.
	reported map[poolKey]reported
	// quotaSet is the quotas in force (Config.Quotas until SetQuotas);
	// quotaMu serialises reloads, quotaSum is the file's digest in force.
	quotaSet atomic.Pointer[fleet.Quotas]
	quotaMu  sync.Mutex
	quotaSum string

	// orderWrites counts this controller's writes that can move the
	// admission order (a run created, a held run or a run's hold changed,
	// the quotas loaded), and whose places each can move; queue is the
	// admission order GET /v1/queue last read (heldOrder).
	orderWrites orderWrites
	queue       queueMemo
}

// New returns a Controller; call Run to start its loop.
func New(cfg Config) *Controller {
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.SiteTimeout <= 0 {
		cfg.SiteTimeout = 30 * time.Second
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
	if cfg.DatasetStores == nil {
		cfg.DatasetStores = []string{statedir.Dir{Path: cfg.StateDir}.HomeStore()}
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 2 * time.Second
	}
	if cfg.LogLimit <= 0 {
		cfg.LogLimit = 16 << 20
	}
	if cfg.MoveMargin <= 0 {
		cfg.MoveMargin = 24 * time.Hour
	}
	if cfg.DrainGrace <= 0 {
		cfg.DrainGrace = 30 * time.Second
	}
	if cfg.HoldRetry <= 0 {
		cfg.HoldRetry = 5 * time.Second
	}
	if cfg.LostSiteBackoff <= 0 {
		cfg.LostSiteBackoff = 10 * time.Minute
	}
	if cfg.Sandbox.UIDBase <= 0 {
		cfg.Sandbox.UIDBase = 3000000
	}
	if cfg.Sandbox.Mode == "" {
		cfg.Sandbox.Mode = "landlock"
		if os.Geteuid() == 0 {
			cfg.Sandbox.Mode = "uid"
		}
	}
	if cfg.AgentCommand == nil {
		cfg.AgentCommand = defaultAgentCommand
	}
	if cfg.SiteRecheck <= 0 {
		cfg.SiteRecheck = 30 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.Replica == "" {
		cfg.Replica = NewReplicaID()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{cfg: cfg, wake: make(chan struct{}, 1), start: cfg.Now(), worlds: map[string]*catalog.World{}, decoded: map[string]*Run{},
		backends: map[string]backend.Backend{}, unreachable: map[string]time.Time{}, heartbeats: map[string]time.Time{}, drainFails: map[string]time.Time{},
		briefs: map[string]*Run{}, storeLocks: map[string]*sync.Mutex{}, agentFails: faillimit.New(agentFailRate, agentFailBurst), long: map[string]longRun{}, siteDown: map[string]error{},
		reported: map[poolKey]reported{}, lawClock: time.Now}
	c.quotaSet.Store(cfg.Quotas)
	c.quotaSum = cfg.QuotaSHA256
	c.resWitness = &resourceWitness{chain: cfg.AuditChain}
	c.runWitness = &runWitness{chain: cfg.AuditChain, log: cfg.Logger}
	return c
}

// quotas are the tenants' quotas in force (nil: none).
func (c *Controller) quotas() *fleet.Quotas { return c.quotaSet.Load() }

// SetQuotas puts q (nil: none) in force from the next decision on. Holds
// already taken stay: a run over a lowered quota keeps what it holds until
// its attempt ends, and runs wait until the tenant is under it again.
func (c *Controller) SetQuotas(q *fleet.Quotas) {
	c.quotaSet.Store(q)
	c.orderWrites.wrote("") // every tenant's shares
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

func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "run-" + hex.EncodeToString(b)
}

func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Controller) today() catalog.Date { return transfer.Today(c.cfg.Now()) }

// runKeys is the keyring of the runs' checkpoint keys.
func (c *Controller) runKeys() dataset.Keyring {
	return dataset.Keyring{Dir: filepath.Join(c.cfg.StateDir, "runkeys")}
}

// Nudge makes the loop look at runs now rather than at the next tick.
func (c *Controller) Nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Replica is this controller's name as a lease holder.
func (c *Controller) Replica() string { return c.cfg.Replica }
