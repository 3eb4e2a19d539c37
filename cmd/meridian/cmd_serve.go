package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(newServeCmd) }

func newServeCmd() *cobra.Command {
	var opts serverOptions
	local := localSiteOptions{Name: defaultLocalSite, Accelerator: defaultLocalAccelerator, Count: defaultLocalCount}
	noLocal := false
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the controller and the HTTP API on this machine",
		Long: `Serve keeps runs going: it submits them to their sites, follows progress and
checkpoints, moves a run when its site is lost, and answers the API on
localhost. State lives in SQLite in the state directory ($MERIDIAN_HOME,
default ~/.meridian), with the audit key (audit.key), the API tokens
(tokens.json) and the CLI's address and token (client.json), all mode 0600.

tokens.json maps bearer tokens to tenants; the first start creates one token
for tenant "default". Add {"tenant": NAME, "token": 64 hex characters} entries
and restart to admit more tenants; each sees only its own runs, datasets and
keys.

Every start verifies the whole audit chain against its signed anchor
(--audit-anchor) and refuses to serve a log that was edited or cut short,
unless --accept-broken-audit is given (which is itself recorded). Workloads
never run as the server: as root, each tenant's run as that tenant's own
unprivileged user, under Landlock where the kernel has it; otherwise under
Landlock, confined to their scratch directory.

Built-in sites are for planning: they have no backend, and runs skip them.
Out of the box (without --catalog) the server offers one runnable site,
"local", whose jobs run as local processes on this machine; its country
(--local-country, default US) decides the law of its runs, so set it to
where this machine is. A --catalog gives the sites that run jobs, each with
its backend (local, slurm, kubernetes).`,
		Example: `  meridian serve
  MERIDIAN_HOME=/srv/meridian meridian serve --listen 127.0.0.1:7420 --catalog sites/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The local site: out of the box, or with --catalog when asked
			// for with --local-country; never with --no-local-site.
			fl := cmd.Flags()
			if !fl.Changed("local-country") {
				cfg, path, err := loadConfig()
				if err != nil {
					return badInput(err)
				}
				if cfg.Serve.LocalCountry != "" {
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
				d, err := stateDir()
				if err != nil {
					return badInput(err)
				}
				opts.StateDir = d
			}
			host, _, err := net.SplitHostPort(opts.Listen)
			if err != nil {
				return badInput(fmt.Errorf("--listen %q: %w", opts.Listen, err))
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: --listen %s is reachable from other machines; the API has no TLS\n", opts.Listen)
			}
			if opts.AgentURL != "" {
				u, err := url.Parse(opts.AgentURL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
					return badInput(fmt.Errorf("--agent-url %q: want http(s)://host:port[/prefix], the server as the sites' agents reach it", opts.AgentURL))
				}
				opts.AgentURL = strings.TrimSuffix(opts.AgentURL, "/")
			}
			opts.Log = cmd.ErrOrStderr()
			s, err := startServer(opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "meridian serving on %s (state in %s)\n", s.URL, opts.StateDir)
			if ls := opts.LocalSite; ls != nil {
				p := ls.Spec.Pools[0]
				fmt.Fprintf(cmd.OutOrStdout(), "runnable site %s: %d × %s as local processes on this machine, in %s (%s)\n",
					ls.Metadata.Name, p.Count, p.Accelerator, ls.Spec.Country, local.CountryFrom)
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			<-sig
			s.Close()
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.StateDir, "state", "", "state directory (default $MERIDIAN_HOME or ~/.meridian)")
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:7420", "address to listen on")
	cmd.Flags().StringVar(&opts.CatalogDir, "catalog", "", "directory of Site files that replace the built-in sites")
	cmd.Flags().DurationVar(&opts.Poll, "poll", 500*time.Millisecond, "how often to check active runs")
	cmd.Flags().DurationVar(&opts.SiteTimeout, "site-timeout", 30*time.Second, "how long a site may be unreachable before its runs move")
	cmd.Flags().StringVar(&opts.AnchorDir, "audit-anchor", "", "directory for the audit chain's signed anchor (default STATE/anchor; best on storage the database's writers cannot reach)")
	cmd.Flags().BoolVar(&opts.AcceptBrokenAudit, "accept-broken-audit", false, "serve even though the audit log does not verify (the acceptance is recorded in the log)")
	cmd.Flags().StringVar(&local.Country, "local-country", "", "country of the local site, the one site that runs jobs out of the box (as local processes on this machine); default serve.localCountry in the config file, else "+defaultLocalCountry)
	cmd.Flags().StringVar(&local.Name, "local-site", defaultLocalSite, "name of the local site")
	cmd.Flags().StringVar(&local.Accelerator, "local-accelerator", defaultLocalAccelerator, "accelerator the local site is planned as")
	cmd.Flags().IntVar(&local.Count, "local-count", defaultLocalCount, "accelerators the local site is planned with")
	cmd.Flags().BoolVar(&noLocal, "no-local-site", false, "offer no local site: jobs run only at the catalog's configured sites")
	cmd.Flags().StringArrayVar(&opts.RuleDirs, "rules", nil, "directory (or file) of rule packs loaded on top of the built-in ones (repeatable); packs applied with `rules apply` come on top")
	cmd.Flags().DurationVar(&opts.MoveMargin, "move-margin", 24*time.Hour, "how long before a known rule makes a run's site unlawful the run is moved")
	cmd.Flags().StringVar(&opts.AgentURL, "agent-url", "", "the server's URL as the sites' agents reach it (default: http:// and the --listen address)")
	cmd.Flags().StringVar(&opts.Sandbox, "workload-sandbox", "", "how workloads are confined at sites on this machine: uid (each tenant's own user; needs root) or landlock; default uid as root, landlock otherwise (a site's backend.sandbox overrides it; remote sites default to landlock)")
	return cmd
}
