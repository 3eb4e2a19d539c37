package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/kubernetes"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/backend/slurm"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/fleet"
	"meridian.dev/meridian/internal/atomicfile"
	"meridian.dev/meridian/internal/plainfile"
	"meridian.dev/meridian/metrics"
	"meridian.dev/meridian/planner"
	"meridian.dev/meridian/rules"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/screen"
	"meridian.dev/meridian/statedir"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// serverOptions configure an embedded or standalone server.
type serverOptions struct {
	StateDir    string
	Listen      string
	CatalogDir  string
	Poll        time.Duration
	SiteTimeout time.Duration
	// AgentLease is run.Config.AgentLease: 0 is the default, below 0
	// agents never stop on their own.
	AgentLease time.Duration
	Log        io.Writer
	// LogFormat is text or json; LogLevel debug, info, warn (the default)
	// or error.
	LogFormat, LogLevel string
	// Store is where state lives: empty (SQLite in the state directory) or
	// a postgres:// URL, which several servers may share.
	Store string
	// Replica names this server among those sharing a store; LeaseTTL is
	// how long its controller lease lasts unrenewed.
	Replica  string
	LeaseTTL time.Duration
	// Advertise is the URL attempts' agents and the CLI reach this server
	// at (a load balancer in front of replicas); default the listener's.
	Advertise string
	// TLSCert and TLSKey serve HTTPS with the operator's certificate.
	// Without them a listener that is not on loopback gets a self-signed
	// certificate (kept in STATE/tls, shared by replicas), unless
	// InsecureHTTP allows plain HTTP there.
	TLSCert, TLSKey string
	InsecureHTTP    bool
	// SelfSigned serves HTTPS with the self-signed certificate even on
	// loopback (behind a local proxy that passes TLS through, and tests).
	SelfSigned bool
	// MetricsListen, when set, serves /metrics without a token on its own
	// address (for a Prometheus on a private network).
	MetricsListen string
	RateLimit     api.RateLimit
	// AuditedRateLimit is api.Options.AuditedRateLimit (its default when
	// nil).
	AuditedRateLimit *api.RateLimit
	// Streams bound the API's streams (api.DefaultStreams for zero fields).
	Streams api.Streams
	// MaxRuns is run.Config.MaxRuns (serve --max-runs); 0: no bound.
	MaxRuns int
	// TenantOutputLimit is run.Config.TenantLogLimit (serve
	// --tenant-output-limit, run.DefaultTenantLogLimit unless set); 0: no
	// bound.
	TenantOutputLimit int64
	// AnchorDir keeps the audit chain's signed anchor (default
	// STATE/anchor); put it on storage the database's writers cannot reach.
	AnchorDir string
	// AcceptBrokenAudit starts the server even though the audit chain does
	// not verify; the acceptance is written to the log first.
	AcceptBrokenAudit bool
	// AcceptAuditCut (serve --accept-audit-cut N), with AcceptBrokenAudit,
	// also accepts that the broken log's anchor does not hold (N as the
	// refused start prints it, Result.CutSeq); 0 accepts no cut.
	AcceptAuditCut int64
	// Sandbox is the workloads' confinement: uid, landlock, or "" to choose.
	Sandbox string
	// AgentCommand overrides the command sites run for each attempt (at
	// sites whose backend.agent is empty).
	AgentCommand []string
	Limits       api.Limits
	// RuleDirs are packs loaded on top of the built-in ones (serve --rules).
	RuleDirs []string
	// DatasetStores are the home stores tenants' datasets may name (serve
	// --dataset-stores); default the state directory's.
	DatasetStores []string
	// MoveMargin is how long before a known rule bites runs move.
	MoveMargin time.Duration
	// DrainGrace is how long a run that must leave gets to checkpoint.
	DrainGrace time.Duration
	// Now overrides the clock (tests that move through rule dates).
	Now func() time.Time

	// LocalSite, when set, is added to the catalog: the runnable site of a
	// fresh server (serve --local-country).
	LocalSite *catalog.Site
	// Quotas is a file of Quota documents (serve --quotas): tenants'
	// shares per accelerator family, in cohorts.
	Quotas string
}

// serverStore is what the server needs of its store beyond store.Store.
type serverStore interface {
	store.Store
	AuditHashAt(ctx context.Context, seq int64) (string, bool, error)
	RekeyResources(ctx context.Context, kind, format string, key store.RekeyKey) (store.RekeyReport, error)
}

// server is a running controller and API.
type server struct {
	URL         string
	Token       string
	Fingerprint string
	// MetricsAddr is the --metrics-listen listener's address, when there
	// is one.
	MetricsAddr string
	Store       store.Store
	Ctl         *run.Controller
	stop        func()
	done        chan struct{}
}

// planUnder is planner.Make under a law, each plan's latency and law
// figures told to m as via.
func planUnder(law planner.Law, m *metrics.Metrics, via string) run.PlanWith {
	return func(w *catalog.World, job *catalog.TrainingJob, opts planner.Options) (*planner.Plan, error) {
		opts.Rules = law
		start := time.Now()
		p, err := planner.Make(w, job, opts)
		m.ObservePlan(via, time.Since(start), p)
		return p, err
	}
}

// planner is a PlanWith as the controller's Planner.
func plannerOf(with run.PlanWith) run.Planner {
	return func(ctx context.Context, w *catalog.World, job *catalog.TrainingJob, asOf catalog.Date, exclude []string) (*planner.Plan, error) {
		return with(w, job, planner.Options{Context: ctx, AsOf: asOf, ExcludeSites: exclude})
	}
}

// lawNowOf is the controller's view of the law in force.
func lawNowOf(rs *rules.State, scr *screen.Screener) func() run.LawNow {
	return func() run.LawNow {
		cur := rs.Current()
		return run.LawNow{Rev: cur.Rev, Law: screenPlanLaw{planner.PolicyLaw(cur.Engine), scr}, Transfer: screenTransferLaw{cur.Engine, scr}, Dates: cur.Dates,
			Digest: "rules " + cur.Engine.Digest() + ", screening " + scr.Digest(), Behind: rs.Behind()}
	}
}

// repeatRefreshLog is how often refreshRules logs the same error again.
const repeatRefreshLog = time.Minute

// refreshRules makes a rules revision that another server applied (to the
// store they share) the law here too, and nudges the controller to re-check.
//
// A refresh that keeps failing the same way (a revision that does not load
// here, until an admin applies its correction) is logged once every
// repeatRefreshLog, not every second.
func refreshRules(ctx context.Context, rs *rules.State, ctl *run.Controller, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var said string
	var saidAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := rs.Current().Rev
		if err := rs.Refresh(ctx); err != nil {
			if ctx.Err() == nil && (err.Error() != said || time.Since(saidAt) >= repeatRefreshLog) {
				log.Error("refresh rules", "err", err)
				said, saidAt = err.Error(), time.Now()
			}
			continue
		}
		said = ""
		if after := rs.Current().Rev; after != before {
			log.Info("rules revision applied by another server", "revision", after, "was", before)
			ctl.Nudge()
		}
	}
}

// serverKeyRemedy ends a server's refusal of a keyring key that no sealed
// record names: a key written into its keyring outside Meridian, or one
// stored before keys were recorded.
const serverKeyRemedy = "send the key again (meridian dataset send-key NAME)"

// serverKeyrings are the tenants' keyrings in the state directory; the
// default tenant's is the one `meridian dataset add` fills when
// MERIDIAN_HOME is the same directory. Every key read from them (to stage,
// verify, or hand to an attempt) is confirmed against the latest sealed
// dataset-key record of its tenant and dataset in log, the server's store
// whichever it is (SQLite or PostgreSQL), sealed under chain: a key written
// into a keyring file outside Meridian (by whoever may write the state
// directory, or a backup restored over it) is refused, naming the dataset.
func serverKeyrings(stateDir string, log dataset.KeyLog, chain *audit.Chain) (dataset.TenantKeyrings, error) {
	k := dataset.TenantKeyrings{Root: stateDir,
		Witness: &dataset.KeyWitness{Log: log, Chain: chain, Remedy: serverKeyRemedy}}
	if p := os.Getenv("MERIDIAN_AGE_IDENTITY"); p != "" {
		// A regular file only: a server runs unattended, from a unit
		// file or a container's environment, where a FIFO in place of
		// the identity is someone else's doing.
		data, err := plainfile.Read(p, maxAgeIdentityBytes)
		if err != nil {
			return k, fmt.Errorf("MERIDIAN_AGE_IDENTITY: %w", err)
		}
		k.AgeIdentity = string(data)
	}
	return k, nil
}

// slurmRecordKeyFile is the key, in the server's own state directory, that
// a Slurm site's backend signs the records naming its jobs with on the
// command path: the site's directory (sites/NAME) is written by the
// cluster's nodes, where the site's workloads run as the cluster user.
const slurmRecordKeyFile = "slurm-record-key"

// backendsFor returns a site's backend, as its settings name it (from
// siteBackends alone), keeping the backend's state under root. A Kubernetes
// site's attempts are lost once their node has not been Ready for the
// server's site timeout. A Slurm site's backend signs its records with the
// key in stateDir (slurmRecordKeyFile), made there on first use, and logs
// the records it refuses to logger; a local site's backend logs there what
// it carries on through (a filesystem clock it could not read).
func backendsFor(siteTimeout time.Duration, stateDir string, logger *slog.Logger) run.BackendFor {
	set := make(backend.Set, len(siteBackends))
	for t, f := range siteBackends {
		set[t] = f
	}
	set[catalog.BackendSlurm] = slurm.FactoryWith(slurm.RecordKeyFile(filepath.Join(stateDir, slurmRecordKeyFile)), slurm.WithLogger(logger))
	set[catalog.BackendLocal] = local.FactoryWith(local.WithLogger(logger))
	return func(site *catalog.Site, root string) (backend.Backend, error) {
		b, err := set.For(site.Spec.Backend, root)
		if err != nil {
			return nil, err
		}
		if kb, ok := b.(*kubernetes.Backend); ok && kb != nil && siteTimeout > 0 {
			kb.NodeLostAfter = siteTimeout
		}
		return b, nil
	}
}

// newLogger makes the server's structured logger.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	if w == nil {
		w = io.Discard
	}
	lv := slog.LevelWarn
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, badInput(fmt.Errorf("--log-level %q: want debug, info, warn or error", level))
		}
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, badInput(fmt.Errorf("--log-format %q: want text or json", format))
}

// openStore opens the SQLite database in the state directory, or the
// PostgreSQL database a postgres:// URL names.
func openStore(ctx context.Context, url string, dir statedir.Dir, opts store.Options) (serverStore, error) {
	switch {
	case url == "" || url == "sqlite":
		return store.OpenSQLite(ctx, dir.Database(), opts)
	case strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://"):
		return store.OpenPostgres(ctx, url, opts)
	}
	return nil, badInput(fmt.Errorf("--store %q: want sqlite (the default, in the state directory) or a postgres:// URL", redactedURL(url)))
}

// storePasswordWarning says, for a --store URL that holds a password, that
// every local user can read it in the server's command line
// (/proc/PID/cmdline is readable by all), and how to give it instead: pgx
// reads PGPASSWORD and the password file (~/.pgpass, PGPASSFILE) when the
// URL names none. "" for a URL without one.
func storePasswordWarning(u string) string {
	p, err := neturl.Parse(u)
	if err != nil {
		return ""
	}
	inUser := false
	if p.User != nil {
		_, inUser = p.User.Password()
	}
	if !inUser && !p.Query().Has("password") {
		return ""
	}
	return "--store names its password in the URL, which every local user can read in this process's command line; give it in PGPASSWORD or a password file (~/.pgpass, or PGPASSFILE) instead"
}

// redactedURL is u with any password in it replaced by xxxxx, for errors
// and logs; a u that does not parse is not shown at all.
func redactedURL(u string) string {
	p, err := neturl.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return p.Redacted()
}

// checkServeFiles refuses serve's catalog, rule packs and quota file when a
// local user other than the server's own (or root) may change them: they
// decide where runs go, under what law and with what share.
func checkServeFiles(w *permWalk, opts serverOptions) error {
	var paths [][2]string
	if opts.CatalogDir != "" {
		paths = append(paths, [2]string{"--catalog", opts.CatalogDir})
	}
	for _, d := range opts.RuleDirs {
		paths = append(paths, [2]string{"--rules", d})
	}
	if opts.Quotas != "" {
		paths = append(paths, [2]string{"--quotas", opts.Quotas})
	}
	for _, fp := range paths {
		if err := ownerWritesOnly(w, fp[0], fp[1]); err != nil {
			return err
		}
	}
	return nil
}

// ownerWritesOnly refuses path, given with flag, when a local user other
// than the server's own (or root) may change it or anything under it: the
// checks of checkTree.
func ownerWritesOnly(w *permWalk, flag, path string) error {
	return w.checkTree(secretFile{flag, path, true})
}

// checkDatasetStores refuses a --dataset-stores entry that names no
// store for certain. A relative directory (file://./data) is refused, not
// made absolute: it would be found from wherever the server is started,
// so a start from another directory (a service manager's, an operator's
// shell elsewhere) would silently let tenants' datasets name another
// directory of the machine and refuse the ones registered under the
// intended one; the server reads no store from its surroundings.
func checkDatasetStores(stores []string) error {
	for _, s := range stores {
		if abs, err := dataset.AbsoluteFile(s); err == nil && abs != s {
			return fmt.Errorf("--dataset-stores %q: a relative directory is found from wherever the server starts; write it absolute (%s, as it is from this directory)", s, abs)
		}
		if dataset.NotAbsoluteFile(s) || !dataset.Within(s, []string{s}) {
			return fmt.Errorf("--dataset-stores %q: want file:///dir or s3://bucket?parameters, with no path, user or fragment", s)
		}
	}
	return nil
}

func startServer(opts serverOptions) (*server, error) {
	// Before any job starts: what this process inherited from its parent
	// is not the jobs' to hold.
	if err := closeInheritedOnExec(); err != nil {
		return nil, err
	}
	closeUmask()
	// One walk for the start: what it has looked at once it need not
	// look at again.
	walk := newPermWalk()
	if err := checkServeFiles(walk, opts); err != nil {
		return nil, badInput(err)
	}
	if err := checkAdvertise(opts.Advertise, opts.InsecureHTTP); err != nil {
		return nil, badInput(err)
	}
	var extra []*catalog.Site
	if opts.LocalSite != nil {
		extra = append(extra, opts.LocalSite)
	}
	// The catalog is checked before anything starts: a site this program
	// cannot run, or a local site that clashes with it, stops the server.
	sites, err := checkServerCatalog(opts.CatalogDir, extra)
	if err != nil {
		return nil, badInput(err)
	}
	if err := checkDatasetStores(opts.DatasetStores); err != nil {
		return nil, badInput(err)
	}
	if err := atomicfile.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, err
	}
	// The directory as the CLI names it (openState): a site without
	// spec.store keeps its store under it, and the staging lease of that
	// store is named after the path, so both must spell it alike.
	canon, err := statedir.Canonical(opts.StateDir)
	if err != nil {
		return nil, err
	}
	opts.StateDir = canon
	dir := statedir.Dir{Path: opts.StateDir}
	shared := opts.Store != "" && opts.Store != "sqlite"
	var lock *os.File
	if !shared {
		// One server per SQLite state directory: a second would race the
		// first. The kernel drops the lock when the process dies, even by
		// SIGKILL. Servers on PostgreSQL share the directory and take
		// turns at the controller through the store's lease instead.
		var err error
		lock, err = openLockFile(dir.Join(statedir.ServeLock))
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			lock.Close()
			return nil, fmt.Errorf("state directory %s is in use by another meridian serve (several servers need --store postgres://…)", opts.StateDir)
		}
	}
	ok := false
	var closers []func()
	defer func() {
		if !ok {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
			if lock != nil {
				lock.Close()
			}
		}
	}()
	// Only after the lock: a second SQLite server, refused it, must not
	// have touched the mark first.
	if err := markSharedStore(dir, shared); err != nil {
		return nil, err
	}
	sandbox := opts.Sandbox
	if sandbox == "" {
		sandbox = agent.SandboxLandlock
		if os.Geteuid() == 0 {
			sandbox = agent.SandboxUID
		}
	}
	// Workloads run as other users must be able to pass through the state
	// directory to their sites' scratch; everything secret in it is 0600.
	mode := os.FileMode(0o700)
	if sandbox == agent.SandboxUID {
		mode = 0o711
	}
	if err := os.Chmod(opts.StateDir, mode); err != nil {
		return nil, err
	}
	if sandbox == agent.SandboxUID {
		if err := passableAbove(opts.StateDir); err != nil {
			return nil, badInput(err)
		}
	}
	anchorDir := opts.AnchorDir
	if anchorDir == "" {
		anchorDir = dir.Anchor()
	}
	walk.forget(opts.StateDir)
	if err := walk.checkSecrets(append(serveSecrets(opts, dir, anchorDir), siteSecrets(sites)...)); err != nil {
		return nil, badInput(err)
	}
	key, err := audit.LoadKey(opts.StateDir)
	if err != nil {
		return nil, err
	}
	agentKey, err := dir.Secret(statedir.AgentKey)
	if err != nil {
		return nil, err
	}
	anchors, err := audit.OpenAnchors(anchorDir)
	if err != nil {
		return nil, err
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	logger, err := newLogger(logw, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return nil, err
	}
	// Kubernetes sites' client logs go through the server's logger, in its
	// format, rather than as klog's own lines on standard error.
	kubernetes.RouteClientLogs(logger)
	anchorer := newAnchorer(anchors, logger)
	ctx := context.Background()
	if !shared {
		if err := checkStateDatabase(dir.Database()); err != nil {
			return nil, badInput(err)
		}
	}
	if w := storePasswordWarning(opts.Store); w != "" {
		logger.Warn(w)
	}
	st, err := openStore(ctx, opts.Store, dir, store.Options{AuditKey: key, OnAudit: anchorer.notify})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { st.Close() })
	anchorer.st = st
	// The CLI anchors a log that names no key as a start does (cliAnchor),
	// and replicas sharing the directory start together: one at a time,
	// so that only the first records the key and the others find it.
	unlockAudit, err := dir.LockAudit()
	if err != nil {
		return nil, err
	}
	// Replicas with state directories of their own (or sharing one on a
	// file system whose locks do not reach every machine) meet in the
	// store: a lease there lets one anchor at a time.
	actx, releaseAnchoring, err := leaseAnchoring(ctx, st, opts.Replica, logger)
	if err != nil {
		unlockAudit()
		return nil, err
	}
	// The key as the directory holds it now: a CLI command anchoring
	// beside this start may have given it a fresh key since it was opened
	// (see recordAnchorKey).
	err = anchors.Refresh(actx)
	if err == nil {
		err = checkAuditAtStart(actx, st, anchors, auditAccept{Broken: opts.AcceptBrokenAudit, Cut: opts.AcceptAuditCut}, logw)
	}
	releaseAnchoring()
	unlockAudit()
	if err != nil {
		return nil, anchorMovedHint(err, anchorDir, dir.Anchor())
	}
	go anchorer.run()
	closers = append(closers, anchorer.close)
	if err := rekeyDatasets(ctx, st, logger); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		// The error names the address, not the flag that gave it.
		return nil, fmt.Errorf("--listen: %w", err)
	}
	closers = append(closers, func() { ln.Close() })
	tlsCfg, fingerprint, err := serverTLS(opts, dir, ln.Addr())
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	url := listenURL(scheme, ln.Addr())
	if opts.Advertise != "" {
		url = strings.TrimRight(opts.Advertise, "/")
	}
	token, err := bootstrapTokens(ctx, st, dir, url, fingerprint, logger)
	if err != nil {
		return nil, err
	}

	var ctl *run.Controller
	m := metrics.New(metrics.Sources{RunCounts: st.CountRuns, AuditHead: st.AuditHead, Log: logger,
		Leading: func() (int64, bool) { return ctl.Leading() },
		Steps: func() metrics.StepCounts {
			out, late, held := ctl.StepCounts()
			return metrics.StepCounts{Out: out, Late: late, Held: held}
		}})
	// Each revision loaded from the store must be on the sealed record:
	// a row written into the database by hand is not the law. The log
	// must reach its anchor: a latest revision cut from its end with its
	// record is not the law either.
	rs, err := rules.OpenAnchored(ctx, st, opts.RuleDirs, audit.NewChain(key), st, anchors)
	if err != nil {
		return nil, fmt.Errorf("law: %w", err)
	}
	if err := rs.Behind(); err != nil {
		// A revision Meridian applied that this version's loader refuses
		// (an upgrade): the server starts, to take the corrected
		// revision, and plans, stages and places nothing meanwhile.
		logger.Error("law: the rules revision in force does not load; plans, stagings and placements are refused until an admin applies a corrected revision", "err", err)
	}
	keys, err := serverKeyrings(opts.StateDir, st, audit.NewChain(key))
	if err != nil {
		return nil, err
	}
	// Datasets move through the same law-gated, ledgered path as
	// `meridian dataset stage`, with the audit log as the transfer ledger,
	// under the law in force when each moves.
	// Organisations are screened against the list imported into the
	// state directory (meridian screen import), as the CLI's plan does.
	scr := &screen.Screener{Store: &screen.Store{Dir: dir.ScreeningDir()}}
	stager := &transfer.Stager{Law: screenTransferLaw{rs, scr}, Ledger: transfer.NewIndex(transfer.AuditLedger{Store: st}), Keys: keys, Now: opts.Now}
	planLaw := screenPlanLaw{rs.Law(), scr}
	quotas, quotaSum, err := loadQuotas(opts.Quotas)
	if err != nil {
		return nil, err
	}
	if msg := quotas.UnnamedWarning(); msg != "" {
		fmt.Fprintf(logw, "meridian serve: --quotas %s: %s\n", opts.Quotas, msg)
	}
	cfg := run.Config{Store: st, StateDir: opts.StateDir, CatalogDir: opts.CatalogDir, ExtraSites: extra, Quotas: quotas, QuotaFile: opts.Quotas, QuotaSHA256: quotaSum,
		// Each reload looks afresh: the file may have moved since.
		CheckQuotaFile: func(p string) error { return ownerWritesOnly(newPermWalk(), "--quotas", p) },
		Plan:           plannerOf(planUnder(planLaw, m, "controller")), PlanWith: planUnder(planLaw, m, "api"), LawNow: lawNowOf(rs, scr),
		AuditChain: audit.NewChain(key), Exports: transfer.AuditExports(st), MoveMargin: opts.MoveMargin, DrainGrace: opts.DrainGrace, Now: opts.Now,
		Backends: backendsFor(opts.SiteTimeout, opts.StateDir, logger), Poll: opts.Poll, SiteTimeout: opts.SiteTimeout, AgentLease: opts.AgentLease, MaxRuns: opts.MaxRuns, TenantLogLimit: opts.TenantOutputLimit, Stager: stager, DatasetStores: opts.DatasetStores, Logger: logger,
		ServerURL: url, AgentKey: agentKey, Sandbox: run.SandboxPolicy{Mode: sandbox},
		Replica: opts.Replica, LeaseTTL: opts.LeaseTTL, Observer: m, AgentFingerprint: fingerprint,
		// Agents may send their credential over plain HTTP off loopback
		// only with the operator's --insecure-http, not for any http://
		// --advertise.
		AgentInsecureHTTP: opts.InsecureHTTP}
	if cfg.Replica == "" && !shared {
		// One SQLite server per state directory (the lock above): a
		// restart after a crash is the same holder and need not wait for
		// its old lease to lapse.
		host, _ := os.Hostname()
		cfg.Replica = "sqlite:" + host + ":" + opts.StateDir
	}
	if len(opts.AgentCommand) > 0 {
		cmdline := opts.AgentCommand
		cfg.AgentCommand = func(*catalog.Site) []string { return cmdline }
	}
	configured(cfg)
	ctl = run.New(cfg)
	// Each site with a scheduler is checked against it before the API
	// opens: one whose settings fail is excluded from planning (the log
	// names the site and the setting) and checked again until it passes.
	for _, h := range ctl.CheckSites(ctx) {
		if !h.OK {
			fmt.Fprintf(logw, "meridian serve: site %s excluded from planning until it passes its check: %s\n", h.Site, h.Problem)
		}
	}
	// Sites whose backends report their free accelerators are asked once
	// now, so that the first placements see the sites' own figures.
	ctl.PollCapacity(ctx)
	limits := opts.Limits
	if limits.MaxConns == 0 {
		limits = api.DefaultLimits
	}
	raiseFileLimit()
	h := api.New(ctl, api.Options{Tokens: st, Audit: auditReader{st, anchors}, Metrics: m, Logger: logger, RateLimit: opts.RateLimit, AuditedRateLimit: opts.AuditedRateLimit, Streams: opts.Streams})
	h.SetRules(&rulesService{rs: rs, scr: scr, ctl: ctl, now: cfg.Now})
	hs, lln := api.NewHTTPServer(h, ln, limits)
	hs.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	if tlsCfg != nil {
		hs.TLSConfig = tlsCfg
	}
	var ms *http.Server
	var metricsAddr string
	if opts.MetricsListen != "" {
		mln, err := net.Listen("tcp", opts.MetricsListen)
		if err != nil {
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		// The metrics port holds the API's connection limits and
		// timeouts: a scraper's port is as reachable as the API's.
		var limited net.Listener
		ms, limited = api.NewHTTPServer(mux, mln, limits)
		ms.ErrorLog = hs.ErrorLog
		metricsAddr = mln.Addr().String()
		go ms.Serve(limited)
	}
	cctx, cancel := context.WithCancel(ctx)
	s := &server{URL: url, Token: token, Fingerprint: fingerprint, MetricsAddr: metricsAddr, Store: st, Ctl: ctl, done: make(chan struct{})}
	ctlDone := make(chan struct{})
	go func() { ctl.Run(cctx); close(ctlDone) }()
	// Other replicas' changes to runs wake this one's event streams.
	listenDone := make(chan struct{})
	go func() { ctl.ListenStore(cctx); close(listenDone) }()
	go refreshRules(cctx, rs, ctl, time.Second, logger)
	go func() {
		var err error
		if tlsCfg != nil {
			err = hs.ServeTLS(lln, "", "")
		} else {
			err = hs.Serve(lln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("serve", "err", err)
		}
	}()
	logger.Info("serving", "url", url, "store", storeKind(opts.Store), "replica", ctl.Replica(), "stateDir", opts.StateDir)
	s.stop = func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		hs.Shutdown(sctx)
		if ms != nil {
			ms.Shutdown(sctx)
		}
		cancel()
		<-ctlDone
		<-listenDone
		anchorer.close()
		st.Close()
		if lock != nil {
			lock.Close()
		}
		close(s.done)
	}
	ok = true
	return s, nil
}

// configured is called with the controller's configuration before the
// controller is made; a test replaces it to read what serve passed.
var configured = func(run.Config) {}

// listenURL is the server's address as client.json and the agents take
// it when no --advertise is given: scheme and the address listened on.
// net/url writes the host, so an IPv6 zone (--listen [fe80::1%eth0]:7420)
// has its % escaped as %25; put in as the listener spells it, the address
// was one Go's URL parser refuses, and every CLI command and agent failed
// at their first call.
func listenURL(scheme string, addr net.Addr) string {
	return (&neturl.URL{Scheme: scheme, Host: addr.String()}).String()
}

// checkAdvertise refuses an --advertise that agents and the CLI cannot
// use as the base of the API's addresses. Taken as given, a host:port
// without a scheme, or one with a query, started the server and wrote it
// to client.json and into every attempt's environment, and each attempt's
// agent failed at its first call; credentials in it went along too. An
// http:// address off this machine's loopback is refused unless insecure
// (--insecure-http): the agents refuse it without that consent (the same
// test, agent.LoopbackHost), so such a server started and then every
// attempt failed at its start.
func checkAdvertise(adv string, insecure bool) error {
	if adv == "" {
		return nil
	}
	u, err := neturl.Parse(adv)
	switch {
	case err != nil:
		return fmt.Errorf("--advertise: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("--advertise %q: want an http:// or https:// URL, such as https://meridian.example:7420", adv)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("--advertise %q: names no host", adv)
	case u.User != nil:
		return fmt.Errorf("--advertise %s: carries a user or password, which would go to every attempt's environment; give the address alone", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(adv, "?") || strings.HasSuffix(adv, "#"):
		return fmt.Errorf("--advertise %q: want no query or fragment: the API's paths are added to it", adv)
	case u.Scheme == "http" && !insecure && !agent.LoopbackHost(u.Hostname()):
		return fmt.Errorf("--advertise %q: plain HTTP to %s, which is not this machine's loopback, would send every attempt's credential and the CLI's token across the network in the clear, and the attempts' agents refuse it; "+
			"give an https:// address, or --insecure-http to consent", adv, u.Hostname())
	}
	return nil
}

// loadQuotas reads serve --quotas (nil for none), checked against the
// catalog's accelerators, with the file's SHA-256.
func loadQuotas(path string) (*fleet.Quotas, string, error) {
	if path == "" {
		return nil, "", nil
	}
	// A regular file only, though named on serve's command line: the
	// server reads it again on each reload (run.Quotas), where a pipe
	// would be read empty, and a FIFO left in its place would hold the
	// reload.
	data, err := plainfile.Read(path, catalog.MaxFileBytes)
	if err != nil {
		return nil, "", fmt.Errorf("--quotas: %w", err)
	}
	w, err := catalog.Assemble(planner.AssumptionKeys(), nil)
	if err != nil {
		return nil, "", err
	}
	q, err := fleet.ParseQuotas(path, data, w.Accelerators)
	if err != nil {
		return nil, "", fmt.Errorf("--quotas: %w", err)
	}
	sum := sha256.Sum256(data)
	return q, hex.EncodeToString(sum[:]), nil
}

// checkServerCatalog loads the server's catalog as its runs will see it
// (the built-in sites or catalogDir's, plus extra), refuses sites whose
// backend this program cannot run, and returns its sites.
func checkServerCatalog(catalogDir string, extra []*catalog.Site) ([]*catalog.Site, error) {
	var cs *catalog.Set
	if catalogDir != "" {
		var err error
		if cs, err = catalog.LoadFiles(catalogDir); err != nil {
			return nil, fmt.Errorf("--catalog: %w", err)
		}
	}
	w, err := catalog.Assemble(planner.AssumptionKeys(), cs, &catalog.Set{Sites: extra})
	if err != nil {
		return nil, err
	}
	return w.Sites, w.CheckBackends(siteBackends.Types())
}

// siteSecrets are the secrets the catalog's sites name (a Slurm site's
// backend.recordKeyFile, which signs its records): the backend checks the
// file itself, and serve the directories on its path, as for its own
// secrets, since whoever may replace one may forge the site's records.
func siteSecrets(sites []*catalog.Site) []secretFile {
	var fs []secretFile
	for _, s := range sites {
		if p := s.Spec.Backend.RecordKeyFile; p != "" {
			fs = append(fs, secretFile{fmt.Sprintf("site %s backend.recordKeyFile", s.Metadata.Name), p, false})
		}
	}
	return fs
}

func storeKind(url string) string {
	if url == "" || url == "sqlite" {
		return "sqlite"
	}
	return "postgres"
}

// Close stops the API, then the controller, then closes the store.
func (s *server) Close() { s.stop() }

// passableAbove refuses a state directory that workloads run as their
// tenant's own user cannot reach: every directory above it must let others
// pass through (o+x), or each run fails at its first exec with "permission
// denied" (root's home is 0700 on most systems).
func passableAbove(stateDir string) error {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("state directory %s: workloads run as their tenant's own user (the server runs as root) and cannot pass through %s (mode %04o): run chmod o+x %s, set MERIDIAN_HOME (or --state) under a directory others can pass through, or serve --workload-sandbox landlock",
				abs, d, fi.Mode().Perm(), d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// checkStateDatabase refuses a SQLite database in the state directory, or
// a journal of it, that is not a regular file. SQLite opens them creating
// what is missing and following links: a link planted as meridian.db (or
// its -wal or -shm) made the server create the database, or its journal,
// wherever the link pointed, and serve from it.
func checkStateDatabase(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("state database %s is %s; want a regular file in the state directory (remove it, or put the database itself there)", p, plainfile.Kind(fi.Mode()))
		}
	}
	return nil
}

// openLockFile opens the lock file at path in the state directory,
// creating it: a regular file there, never what a link in its place
// names. Opened as it was, following links, a link planted as serve.lock
// or client.lock made the server (root, often) create an empty file
// wherever the link pointed, or lock a file someone else locks; a FIFO or
// a device is no lock file either.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("lock file %s is a symbolic link; want a regular file (remove the link and start again)", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock file %s is %s; want a regular file (remove it and start again)", path, plainfile.Kind(fi.Mode()))
	}
	return f, nil
}

// markSharedStore marks dir as one whose servers keep their state in
// PostgreSQL (statedir.SharedStore), for a server on PostgreSQL. A server
// on the directory's own database refuses a directory so marked and leaves
// the mark alone: started there by mistake, it removed the mark, and the
// CLI then wrote a ledger of its own beside the servers' until one of them
// restarted. Only the operator knows that no server uses PostgreSQL there
// any more, and removes the mark.
func markSharedStore(dir statedir.Dir, shared bool) error {
	path := dir.Join(statedir.SharedStore)
	if !shared {
		if _, err := os.Lstat(path); err == nil {
			return badInput(fmt.Errorf("state directory %s is marked as one whose servers keep their state in PostgreSQL (%s): serve it with --store postgres://…, or, if no server keeps its state in PostgreSQL there any more, remove %s and start again", dir.Path, statedir.SharedStore, path))
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return atomicfile.WriteFile(path, []byte("the servers on this state directory keep their state in PostgreSQL (serve --store postgres://…); remove this file only when none does any more\n"), 0o644)
}

// rekeyDatasets moves each registered dataset to the store key a
// registration of it writes today, before the server serves: a row
// registered under an earlier key format (another spelling of its store)
// would otherwise let a second tenant register the same data under
// today's key, and then refuse its owner's update. Rows that would share
// a key (one store registered by two tenants under two spellings) keep
// theirs, and are named here for the operator: which owns the data is
// theirs to decide, never the server's.
func rekeyDatasets(ctx context.Context, st serverStore, logger *slog.Logger) error {
	rep, err := st.RekeyResources(ctx, catalog.KindDataset, run.DatasetStoreKeyFormat, run.DatasetStoreKey)
	if err != nil {
		return err
	}
	if rep.Changed > 0 {
		logger.Info("datasets re-keyed to their stores' canonical keys", "rows", rep.Rows, "changed", rep.Changed)
	}
	for _, c := range rep.Clashes {
		args := []any{"key", c.Key}
		for i, r := range c.Rows {
			args = append(args, fmt.Sprintf("tenant%d", i+1), r.Tenant, fmt.Sprintf("dataset%d", i+1), r.Name, fmt.Sprintf("key%d", i+1), r.Key)
		}
		logger.Warn("datasets: registrations of one store by different spellings keep their old keys; decide which owns the data and withdraw the others", args...)
	}
	if n := rep.ClashCount - len(rep.Clashes); n > 0 {
		logger.Warn("datasets: more registrations of one store by different spellings than shown", "more", n)
	}
	for _, u := range rep.Unread {
		if strings.HasPrefix(u.Err, run.ErrRelativeStore.Error()) {
			logger.Warn("datasets: a dataset registered with a relative file store keeps the key its registration gave it, and is refused at staging; its tenant must register it again with spec.store an absolute directory (file:///dir)",
				"tenant", u.Tenant, "dataset", u.Name, "key", u.Key, "err", u.Err)
			continue
		}
		logger.Warn("datasets: a registered dataset's document gives no store key; it keeps its old key", "tenant", u.Tenant, "dataset", u.Name, "key", u.Key, "err", u.Err)
	}
	if n := rep.UnreadCount - len(rep.Unread); n > 0 {
		logger.Warn("datasets: more registered datasets whose documents give no store key than shown", "more", n)
	}
	return nil
}
