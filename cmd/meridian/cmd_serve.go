package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/agent"
	"meridian.dev/meridian/api"
	"meridian.dev/meridian/console"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/statedir"
)

func init() { register(newServeCmd) }

func newServeCmd() *cobra.Command {
	var opts serverOptions
	local := localSiteOptions{Name: defaultLocalSite, Accelerator: defaultLocalAccelerator, Count: defaultLocalCount}
	noLocal := false
	var rate, auditRate float64
	var auditBurst int
	var burst, maxStreams, maxRuns int
	cmd := &cobra.Command{
		Use:         "serve",
		Annotations: map[string]string{ownsSignals: "yes"},
		Short:       "Run the controller and the HTTP API on this machine",
		Long: `Serve keeps runs going: it submits them to their sites, follows progress and
checkpoints, moves a run when its site is lost, and answers the API. State
lives in SQLite in the state directory ($MERIDIAN_HOME, default ~/.meridian),
or, with --store postgres://…, in PostgreSQL, where any number of servers may
share it: all answer the API and the agents, and the one holding the
controller lease (renewed every second, lapsing after --lease-ttl) runs the
controller loop; when it stops, another takes over within about --lease-ttl.
Servers sharing a store share one state directory too (shared storage): it
holds the audit key (audit.key), the agents' key (agent.key), the audit
anchor, the TLS certificate, the run keys and the tenants' dataset keys.

Tokens live in the store, hashed. The first start makes an admin token for
tenant "default" and writes it, with the server's address, to client.json
(0600) for the CLI on this machine; manage tenants and tokens with
'meridian tenant add|list|revoke' (no restart). An old tokens.json is
imported on the first start and removed.

On loopback the API speaks plain HTTP. Elsewhere it speaks HTTPS: with
--tls-cert/--tls-key, or with a self-signed certificate made on the first
start (in STATE/tls) whose fingerprint is printed and written to client.json,
so that clients pin it (--tls-fingerprint, $MERIDIAN_TLS_FINGERPRINT) and
agents get it. --insecure-http allows plain HTTP there, explicitly.

GET /healthz answers load balancers without a token; /metrics serves
Prometheus metrics (to admin tokens, or without one on --metrics-listen).
Logs are structured (--log-format json for JSON lines), each line with its
run and tenant where there is one.

Every start verifies the whole audit chain against its signed anchor
(--audit-anchor) and refuses to serve a log that was edited or cut short,
or whose anchor was removed or replaced (the log records its anchor key),
unless --accept-broken-audit is given (which is itself recorded). A
broken log that was also cut short of its anchor (or whose anchor was
removed or replaced) is refused even then, as accepting the break would
anchor the log over the cut: --accept-audit-cut N (N as the refusal
prints it) accepts the cut too, and the acceptance records it. An
acceptance never makes a key the log does not name the log's: where the
anchor directory holds another (one replaced, or put there beside an
anchor that reads as cut or missing), the start gives the directory a
fresh key and keeps the old key and its anchor aside there
(anchor.key.aside-TIME, anchor.json.aside-TIME). So does the first
anchoring of a log that names no key (an upgrade's first start) when the
directory holds a key this start did not make. Keep the anchor directory on storage
that those who can write the state directory cannot roll back: an older
anchor put back, with the log cut to the entry it names, verifies.
Workloads
never run as the server: as root, each tenant's run as that tenant's own
unprivileged user, under Landlock where the kernel has it; otherwise under
Landlock, confined to their scratch directory.

Built-in sites are for planning: they have no backend, and runs skip them.
Out of the box (without --catalog) the server offers one runnable site,
"local", whose jobs run as local processes on this machine; its country
(--local-country, default US) decides the law of its runs, so set it to
where this machine is. A --catalog gives the sites that run jobs, each with
its backend (local, slurm, kubernetes). The catalog, --rules packs and the
--quotas file decide where runs go and under what law: one that other users
may write (o+w, or in a directory they may write, here or above, or where a
link in it leads) is refused. So is a secret (audit.key, agent.key, the
anchor key, the TLS key, client.json, tokens.json, the keyrings) that a
user other than the server's own or root owns, or that its group or others
may write or replace: the file, a link to it, or a directory on its path
(one with the sticky bit, like /tmp, excepted).`,
		Example: `  meridian serve
  MERIDIAN_HOME=/srv/meridian meridian serve --listen 127.0.0.1:7420 --catalog sites/
  MERIDIAN_HOME=/shared/meridian meridian serve --store postgres://meridian@db/meridian \
      --listen 0.0.0.0:7420 --advertise https://meridian.internal:7420 --log-format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// First, before the config file, the store's URL or any key
			// is read.
			if err := serveUndumpable(cmd.ErrOrStderr()); err != nil {
				return err
			}
			if err := checkServeDurations(opts); err != nil {
				return badInput(err)
			}
			if err := checkWorkloadSandbox(opts.Sandbox); err != nil {
				return badInput(err)
			}
			if err := checkAcceptAuditCut(opts); err != nil {
				return badInput(err)
			}
			if opts.AgentLease <= 0 {
				opts.AgentLease = -1 // --agent-lease 0: agents never stop on their own
			}
			// The local site: out of the box, or with --catalog when asked
			// for with --local-country; never with --no-local-site.
			fl := cmd.Flags()
			if !fl.Changed("local-country") {
				cfg, path, err := loadConfig()
				if err != nil {
					return badInput(err)
				}
				if cfg.Serve.LocalCountry != "" {
					// The law judges each transfer to or from the local
					// site by this country: a file another user may have
					// written chooses it no more than a context's server.
					if bad := cfg.read.consentFileProblem(); bad != "" {
						return badInput(fmt.Errorf("serve.localCountry: refused, as %s; a configuration file that another user may have written does not choose the local site's country, which the law judges transfers by: pass --local-country, or fix the file as said", bad))
					}
					local.Country, local.CountryFrom = cfg.Serve.LocalCountry, path
				}
			}
			if !noLocal && (opts.CatalogDir == "" || fl.Changed("local-country")) {
				from := "the default; set it with serve --local-country"
				switch {
				case fl.Changed("local-country"):
					from = "set by serve --local-country"
				case local.Country != "":
					from = "set by localCountry in " + local.CountryFrom
				default:
					local.Country = defaultLocalCountry
				}
				local.CountryFrom = from
				site, err := localSite(local)
				if err != nil {
					return badInput(err)
				}
				opts.LocalSite = site
			}
			if opts.StateDir == "" {
				d, err := statedir.Default()
				if err != nil {
					return badInput(err)
				}
				opts.StateDir = d.Path
			}
			if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
				return badInput(fmt.Errorf("--listen %q: %w", opts.Listen, err))
			}
			if opts.InsecureHTTP && !loopbackAddr(opts.Listen) && opts.TLSCert == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: --listen %s is reachable from other machines and --insecure-http serves it without TLS: tokens cross the network in clear\n", opts.Listen)
			}
			if rate < 0 || burst < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
				return badInput(fmt.Errorf("--rate-limit %v --rate-burst %d: want 0 or more (--rate-limit 0: no limit)", rate, burst))
			}
			opts.RateLimit = api.RateLimit{Rate: rate, Burst: burst}
			if auditRate < 0 || auditBurst < 0 || math.IsNaN(auditRate) || math.IsInf(auditRate, 0) {
				return badInput(fmt.Errorf("--audit-rate-limit %v --audit-rate-burst %d: want 0 or more (--audit-rate-limit 0: no limit)", auditRate, auditBurst))
			}
			opts.AuditedRateLimit = &api.RateLimit{Rate: auditRate, Burst: auditBurst}
			if opts.TenantOutputLimit < 0 {
				return badInput(fmt.Errorf("--tenant-output-limit %d: want 0 (no bound) or more bytes", opts.TenantOutputLimit))
			}
			if maxStreams < 1 {
				return badInput(fmt.Errorf("--max-streams %d: want 1 or more", maxStreams))
			}
			opts.Streams = api.Streams{PerTenant: maxStreams}
			if maxRuns < 1 {
				return badInput(fmt.Errorf("--max-runs %d: want 1 or more", maxRuns))
			}
			opts.MaxRuns = maxRuns
			opts.Log = cmd.ErrOrStderr()
			// SIGHUP is caught before the server answers: a quota reload
			// sent as soon as it does would otherwise find the default
			// action, which ends the process. SIGINT and SIGTERM keep
			// theirs until the server is up, so that a slow or hung start
			// can still be stopped, and each kind has its own channel, so
			// that a stop is never dropped behind a reload.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			s, err := startServer(opts)
			if err != nil {
				return err
			}
			stop := make(chan os.Signal, 1)
			signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(stop)
			fmt.Fprintf(cmd.OutOrStdout(), "meridian serving on %s (state in %s, store %s)\n", s.URL, opts.StateDir, storeKind(opts.Store))
			if s.Fingerprint != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "TLS certificate fingerprint (pin it: --tls-fingerprint or $MERIDIAN_TLS_FINGERPRINT): sha256:%s\n", s.Fingerprint)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "console: %s%s (sign in with an API token: %s holds this server's first)\n", s.URL, console.Prefix, statedir.Dir{Path: opts.StateDir}.Join(clientFile))
			if ls := opts.LocalSite; ls != nil {
				p := ls.Spec.Pools[0]
				fmt.Fprintf(cmd.OutOrStdout(), "runnable site %s: %d × %s as local processes on this machine, in %s (%s)\n",
					ls.Metadata.Name, p.Count, p.Accelerator, ls.Spec.Country, local.CountryFrom)
			}
			for stopped := false; !stopped; {
				select {
				case <-hup:
					// The quota file is read again and, once it passes
					// every check, put in force (audited either way).
					reloadOnSignal(cmd.ErrOrStderr(), s.Ctl)
				case <-stop:
					stopped = true
				}
			}
			s.Close()
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.StateDir, "state", "", "state directory (default $MERIDIAN_HOME or ~/.meridian)")
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:7420", "address to listen on")
	cmd.Flags().StringVar(&opts.CatalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	cmd.Flags().DurationVar(&opts.Poll, "poll", 500*time.Millisecond, "how often to check active runs")
	cmd.Flags().DurationVar(&opts.SiteTimeout, "site-timeout", 30*time.Second, "how long a site may be unreachable before its runs move")
	cmd.Flags().DurationVar(&opts.AgentLease, "agent-lease", run.DefaultAgentLease, "how long an attempt's agent runs its workload without an answer from this server before it stops it (at least twice the site timeout; 0: never)")
	cmd.Flags().StringVar(&opts.AnchorDir, "audit-anchor", "", "directory for the audit chain's signed anchor (default STATE/anchor; best on storage the database's writers cannot reach, and that writers of the state directory cannot roll back: an older anchor.json put back, with the log cut to the entry it names, verifies as intact)")
	cmd.Flags().BoolVar(&opts.AcceptBrokenAudit, "accept-broken-audit", false, "serve even though the audit log does not verify (the acceptance is recorded in the log)")
	cmd.Flags().Int64Var(&opts.AcceptAuditCut, "accept-audit-cut", 0, "`N`: with --accept-broken-audit, also accept that the broken log's anchor does not hold (the tail its anchor recorded cut, its anchored entry rewritten, the anchor removed, or replaced; N as the refused start prints it); without it such a log is refused, as accepting the break would anchor it over the cut. A key the log does not name is never kept: the start gives the anchor directory a fresh one, the old one kept aside")
	cmd.Flags().StringVar(&local.Country, "local-country", "", "country of the local site, the one site that runs jobs out of the box (as local processes on this machine); default serve.localCountry in the config file, else "+defaultLocalCountry)
	cmd.Flags().StringVar(&local.Name, "local-site", defaultLocalSite, "name of the local site")
	cmd.Flags().StringVar(&local.Accelerator, "local-accelerator", defaultLocalAccelerator, "accelerator the local site is planned as")
	cmd.Flags().IntVar(&local.Count, "local-count", defaultLocalCount, "accelerators the local site is planned with")
	cmd.Flags().BoolVar(&noLocal, "no-local-site", false, "offer no local site: jobs run only at the catalog's configured sites")
	cmd.Flags().StringArrayVar(&opts.DatasetStores, "dataset-stores", nil, "`URL` of a home store a tenant's Dataset may name in spec.store, read with this server's own access: a file:///absolute/dir (and what is under it) or an s3:// bucket with its parameters (and prefixes under its prefix); repeatable; default STATE/store, where `meridian dataset add` puts datasets on this machine")
	cmd.Flags().StringArrayVar(&opts.RuleDirs, "rules", nil, "`DIR` (a directory or a file) of rule packs loaded on top of the built-in ones (repeatable); packs applied with `rules apply` come on top")
	cmd.Flags().StringVar(&opts.Quotas, "quotas", "", "file of Quota documents: each tenant's nominal share and borrowing limit per accelerator family, in cohorts that lend unused quota (docs/fleet.md); read again on SIGHUP or POST /v1/quotas/reload, and put in force only when every check passes")
	cmd.Flags().DurationVar(&opts.MoveMargin, "move-margin", 24*time.Hour, "how long before a known rule makes a run's site unlawful the run is moved")
	cmd.Flags().StringVar(&opts.Store, "store", "", "where state lives: sqlite (default, in the state directory) or a postgres:// URL that several servers may share")
	cmd.Flags().StringVar(&opts.Replica, "replica", "", "this server's name among those sharing a store (default host/pid/random)")
	cmd.Flags().DurationVar(&opts.LeaseTTL, "lease-ttl", 0, "how long the controller lease lasts unrenewed; another server takes over about this long after the leader stops (default 3s)")
	cmd.Flags().StringVar(&opts.Advertise, "advertise", "", "URL agents and the CLI reach this server at (a load balancer in front of several; default the listener's)")
	cmd.Flags().StringVar(&opts.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with")
	cmd.Flags().StringVar(&opts.TLSKey, "tls-key", "", "PEM private key of --tls-cert (mode 0600)")
	cmd.Flags().BoolVar(&opts.SelfSigned, "tls-self-signed", false, "serve HTTPS with the self-signed certificate even on loopback")
	cmd.Flags().BoolVar(&opts.InsecureHTTP, "insecure-http", false, "serve plain HTTP on a listener that is not on loopback (tokens then cross the network in clear)")
	cmd.Flags().StringVar(&opts.MetricsListen, "metrics-listen", "", "also serve /metrics without a token on this address (a private network's Prometheus)")
	cmd.Flags().StringVar(&opts.LogFormat, "log-format", "text", "log lines as text or json")
	cmd.Flags().StringVar(&opts.LogLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().Float64Var(&rate, "rate-limit", api.DefaultRateLimit.Rate, "requests a second each tenant may make on average (0: no limit)")
	cmd.Flags().IntVar(&burst, "rate-burst", api.DefaultRateLimit.Burst, "requests each tenant may make at once")
	cmd.Flags().Float64Var(&auditRate, "audit-rate-limit", api.DefaultAuditedRateLimit.Rate, "calls that append to the audit log (keys, registrations, submissions, stagings, admin changes) each tenant may make a second on average, besides --rate-limit (0: no limit)")
	cmd.Flags().IntVar(&auditBurst, "audit-rate-burst", api.DefaultAuditedRateLimit.Burst, "calls that append to the audit log each tenant may make at once")
	cmd.Flags().IntVar(&maxRuns, "max-runs", run.DefaultMaxRuns, "runs each tenant may have that have not ended (waiting ones among them); one more submission is refused with 409 too_many_runs")
	cmd.Flags().Int64Var(&opts.TenantOutputLimit, "tenant-output-limit", run.DefaultTenantLogLimit, "bytes of attempts' output kept for each tenant across all its runs (each attempt keeps at most 16 MiB; the default, 4 GiB, the whole output of 256 attempts, assumes the state directory has room for that for every tenant); an append past it first removes the output of the tenant's oldest ended runs, each run's timeline saying so, and past that no more is kept, the attempt's timeline saying so; 0: no bound")
	cmd.Flags().IntVar(&maxStreams, "max-streams", api.DefaultStreams.PerTenant, "streams (followed logs and event streams) each tenant may hold open at once; one more is refused with 429")
	cmd.Flags().StringVar(&opts.Sandbox, "workload-sandbox", "", "how workloads are confined at sites on this machine: uid (each tenant's own user; needs root) or landlock; default uid as root, landlock otherwise (a site's backend.sandbox overrides it; remote sites default to landlock)")
	return cmd
}

// errUndumpableUnsupported is makeUndumpable's answer on a system where
// this build has no way to make a process undumpable.
var errUndumpableUnsupported = errors.New("not available on " + runtime.GOOS)

// serveUndumpable makes serve not dumpable. Dumpable, it let any process
// of its own user (a workload at the local site, which runs as that user
// under Landlock when serve is not root; another job or login of that
// user) read its environment in /proc/PID/environ and its memory in
// /proc/PID/mem (the store URL with its password, the tokens, the audit,
// agent, run and dataset keys), or trace it.
//
// Where the kernel has the flag and refuses it (a seccomp filter or a
// security module denying prctl: prctl itself does not fail so), serve
// refuses to start, as the agent does: it would serve with its keys open
// to every process of its user, and a warning alone is a line few read.
// Where the flag does not exist, serve says so and goes on: refusing
// there would refuse the system, not a fault of its setup.
//
// The flag is checked at each open and attach, not after: a process of
// serve's user that opened /proc/PID/mem or attached as a tracer between
// serve's exec and the prctl keeps what it opened. A tracer shows, and
// serve refuses to start while one is attached (checkNotTraced); there
// is no switch to allow one, since whoever can set serve's flags or
// environment can also start it under a tracer, and a debugger attached
// by root after the start is not refused. An open descriptor does not
// show: serve warns where its user could have opened one
// (warnDumpableFromExec).
func serveUndumpable(w io.Writer) error {
	wasDumpable, dumpErr := dumpableFromExec()
	err := makeUndumpable()
	switch {
	case err == nil:
	case errors.Is(err, errUndumpableUnsupported):
		fmt.Fprintf(w, "warning: serve cannot make itself undumpable (%v): processes of its user may read its memory and environment, its keys among them\n", err)
		return nil
	default:
		return fmt.Errorf("serve: cannot make itself undumpable (%w), so processes of its user could read its memory and environment, its keys among them; refused to start (a seccomp filter or security module denying prctl does this)", err)
	}
	if err := checkNotTraced(); err != nil {
		return err
	}
	warnDumpableFromExec(w, wasDumpable, dumpErr)
	return nil
}

// warnDumpableFromExec warns when serve was dumpable from its exec until
// it made itself undumpable, as it is whenever its user can read its
// executable: in that moment a process of its user could open
// /proc/PID/mem and read serve's memory through it afterwards, its keys
// among it. Only an executable its user cannot read (the kernel then
// starts the process undumpable), or a user that nothing else runs as,
// closes that. Root is not warned: its "same user" reads any process.
func warnDumpableFromExec(w io.Writer, wasDumpable bool, err error) {
	if os.Geteuid() == 0 || (err == nil && !wasDumpable) {
		return
	}
	exe, exeErr := os.Executable()
	if exeErr != nil {
		exe = "its executable"
	}
	if err != nil {
		fmt.Fprintf(w, "warning: serve cannot tell whether it was dumpable from its start (%v): a process of its user (uid %d) may have opened its memory before it made itself undumpable; install %s owned by root with mode 0711 (docs/control-plane.md)\n", err, os.Getuid(), exe)
		return
	}
	fmt.Fprintf(w, "warning: serve's user (uid %d) can read %s, so serve was dumpable from its start until it made itself undumpable: a process of that user that opened /proc/PID/mem in that moment reads serve's memory, its keys among it, for as long as it runs; install it owned by root with mode 0711, or run serve as a user nothing else runs as (docs/control-plane.md)\n", os.Getuid(), exe)
}

// minPoll is the shortest --poll: each check of active runs reads the
// store and asks their sites, so a shorter one only spins.
const minPoll = 10 * time.Millisecond

// minLeaseTTL is the shortest --lease-ttl: the holder renews it every
// third of that against the store.
const minLeaseTTL = 300 * time.Millisecond

// checkServeDurations refuses serve's durations out of their range, naming
// the flag. The controller takes 0 or less as "the default" for most of
// them, so that --move-margin 0 meant 24 hours and --poll -1s half a
// second, without a word; and a --site-timeout shorter than --poll
// counted every site lost between two checks, moving all its runs.
func checkServeDurations(o serverOptions) error {
	switch {
	case o.Poll < minPoll:
		return fmt.Errorf("--poll %s: want at least %s", o.Poll, minPoll)
	case o.SiteTimeout < 2*o.Poll:
		return fmt.Errorf("--site-timeout %s: want at least twice --poll (%s), so that a site is lost only after it missed two checks", o.SiteTimeout, o.Poll)
	case o.AgentLease < 0:
		return fmt.Errorf("--agent-lease %s: want 0 (agents never stop on their own) or more", o.AgentLease)
	case o.LeaseTTL < 0 || (o.LeaseTTL > 0 && o.LeaseTTL < minLeaseTTL):
		return fmt.Errorf("--lease-ttl %s: want 0 (the default, %s) or at least %s", o.LeaseTTL, run.DefaultLeaseTTL, minLeaseTTL)
	case o.MoveMargin <= 0:
		return fmt.Errorf("--move-margin %s: want more than 0 (a run leaves a site that long before a rule makes it unlawful)", o.MoveMargin)
	}
	return nil
}

// geteuid is os.Geteuid; tests stand in another user.
var geteuid = os.Geteuid

// checkWorkloadSandbox refuses a --workload-sandbox that the agents at
// this machine's sites would refuse, or that drops the confinement. serve
// took any word: each attempt then failed at its start ("sandbox mode …
// is not known", or uid without root), and "none" ran every tenant's
// workload as the server's own user, unconfined, beside its keys.
func checkWorkloadSandbox(mode string) error {
	switch mode {
	case "", agent.SandboxLandlock:
		return nil
	case agent.SandboxUID:
		if geteuid() != 0 {
			return fmt.Errorf("--workload-sandbox uid: workloads run as each tenant's own user, which needs serve to run as root; run it as root, or give landlock")
		}
		return nil
	case agent.SandboxNone:
		return fmt.Errorf("--workload-sandbox none: would run every workload at this machine's sites as the server's own user, unconfined; give uid or landlock (a site whose scheduler isolates each job says so itself, with backend.sandbox: none)")
	}
	return fmt.Errorf("--workload-sandbox %q: want uid or landlock", mode)
}

// reloadOnSignal re-reads the quota file on SIGHUP and says what came of
// it: the quotas now in force, or why the old ones stay.
func reloadOnSignal(w io.Writer, c *run.Controller) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.ReloadQuotas(ctx, fmt.Sprintf("SIGHUP to process %d", os.Getpid()))
	if err != nil {
		fmt.Fprintf(w, "SIGHUP: quotas not reloaded: %v\n", err)
		return
	}
	fmt.Fprintf(w, "SIGHUP: quotas reloaded from %s (sha256:%s, %d tenants, changed: %v)\n", res.File, res.SHA256, len(res.Tenants), res.Changed)
	if len(res.Unnamed) > 0 {
		fmt.Fprintf(w, "SIGHUP: warning: no quota names %s, so every tenant may use them up to capacity\n", strings.Join(res.Unnamed, ", "))
	}
}
