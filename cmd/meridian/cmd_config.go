package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func init() { register(newConfigCmd) }

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and edit the CLI's contexts (server, token, default catalog), as kubeconfig does",
		Long: `The configuration file ($MERIDIAN_CONFIG, default meridian/config.yaml in
your configuration directory, mode 0600) holds named contexts, each a server,
its token (or a tokenFile) and a default catalog directory, and the context in
use. A token in a file (this one or a tokenFile) that others may read is
refused. Client verbs find their server and token from --server/--token, then
MERIDIAN_SERVER/MERIDIAN_TOKEN, then the context (--context NAME or the
current one), then the client.json that serve writes into $MERIDIAN_HOME.
Plain http:// to another machine needs --insecure-http on each command, or
set-context NAME --insecure-http, which records the consent in the context
for its server address alone: a request to any other address is refused as
before, and setting another --server drops the consent. A configuration file
that others may write, or that another user owns, consents to nothing, and
chooses no server, token, tokenFile or catalog: each is refused from it, and
set-context and use-context do not write it anew as yours. A tokenFile
another user owns, or in a directory another user owns, is refused. A
context's tokenFile and catalog are absolute paths (or start ~/):
set-context keeps a relative one given as its absolute path.
Plan, validate, catalog and dataset use the context's catalog when given no
--catalog. serve.localCountry sets serve's --local-country default.`,
		Example: `  meridian config set-context lab --server https://meridian.lab.example:7420 --token-file ~/.meridian/lab.token --catalog ~/lab-sites
  meridian config set-context lab-plain --server http://10.0.0.5:7420 --token-file ~/.meridian/lab.token --insecure-http
  meridian config use-context lab
  meridian config get-contexts
  meridian --context local get runs`,
	}
	cmd.AddCommand(newConfigViewCmd(), newConfigGetContextsCmd(), newConfigUseContextCmd(), newConfigSetContextCmd())
	return cmd
}

func newConfigViewCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the configuration, tokens hidden",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := loadConfig()
			if err != nil {
				return badInput(err)
			}
			shown := *cfg
			shown.Contexts = append([]cliContext(nil), cfg.Contexts...)
			for i := range shown.Contexts {
				if shown.Contexts[i].Token != "" {
					shown.Contexts[i].Token = "REDACTED"
				}
			}
			if out == "yaml" {
				// As the file reads it, as the table form is.
				b, err := configYAML(shown)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return render(cmd.OutOrStdout(), out, shown, func(w io.Writer) error {
				return writeConfigView(w, path, shown)
			})
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func newConfigGetContextsCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts; * marks the one in use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := loadConfig()
			if err != nil {
				return badInput(err)
			}
			cur, err := cfg.context()
			if err != nil {
				return badInput(err)
			}
			type row struct {
				Current bool   `json:"current"`
				Name    string `json:"name"`
				Server  string `json:"server"`
				Catalog string `json:"catalog,omitempty"`
				// InsecureHTTP: the context consents to plain HTTP to
				// its server.
				InsecureHTTP bool `json:"insecureHTTP"`
			}
			rows := []row{}
			for _, c := range cfg.Contexts {
				rows = append(rows, row{cur != nil && cur.Name == c.Name, c.Name, c.Server, c.Catalog, c.plainHTTPAllowed(c.Server)})
			}
			return render(cmd.OutOrStdout(), out, rows, func(w io.Writer) error {
				tw := newTab(w)
				tw.shrink = []int{3}
				fmt.Fprintln(tw, "CURRENT\tNAME\tSERVER\tCATALOG\tPLAIN-HTTP")
				for _, r := range rows {
					mark, plain := "", "-"
					if r.Current {
						mark = "*"
					}
					if r.InsecureHTTP {
						plain = "allowed"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark, r.Name, dash(r.Server), dash(r.Catalog), plain)
				}
				return tw.Flush()
			})
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func newConfigUseContextCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:               "use-context NAME",
		Short:             "Make a context the one in use",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := loadConfig()
			if err != nil {
				return badInput(err)
			}
			if err := cfg.rewritable(); err != nil {
				return badInput(err)
			}
			found := false
			for _, c := range cfg.Contexts {
				found = found || c.Name == args[0]
			}
			if !found {
				return badInput(fmt.Errorf("context %q: no such context (%v)", args[0], cfg.names()))
			}
			cfg.CurrentContext = args[0]
			if err := cfg.save(path); err != nil {
				return err
			}
			res := map[string]string{"currentContext": args[0], "file": path}
			return render(cmd.OutOrStdout(), out, res, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "using context %s\n", args[0])
				return err
			})
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func newConfigSetContextCmd() *cobra.Command {
	var c cliContext
	var out string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "set-context NAME [--server URL] [--token T | --token-file FILE] [--catalog DIR] [--insecure-http]",
		Short: "Add a context or change one's settings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := loadConfig()
			if err != nil {
				return badInput(err)
			}
			if err := cfg.rewritable(); err != nil {
				return badInput(err)
			}
			fl := cmd.Flags()
			// Text only: the file says no other string again.
			if err := textValue(args[0]); err != nil {
				return badInput(fmt.Errorf("the context's name: %w", err))
			}
			for _, name := range []string{"server", "token", "token-file", "catalog"} {
				if !fl.Changed(name) {
					continue
				}
				if err := textValue(fl.Lookup(name).Value.String()); err != nil {
					return badInput(fmt.Errorf("--%s: %w", name, err))
				}
			}
			if fl.Changed("token") && fl.Changed("token-file") {
				return badInput(errors.New("--token and --token-file: give one, not both"))
			}
			// Kept absolute: a relative path would be read from whatever
			// directory each later command runs in.
			if c.TokenFile, err = contextPath(c.TokenFile); err != nil {
				return badInput(fmt.Errorf("--token-file: %w", err))
			}
			if c.Catalog, err = contextPath(c.Catalog); err != nil {
				return badInput(fmt.Errorf("--catalog: %w", err))
			}
			var x *cliContext
			for i := range cfg.Contexts {
				if cfg.Contexts[i].Name == args[0] {
					x = &cfg.Contexts[i]
				}
			}
			if x == nil {
				cfg.Contexts = append(cfg.Contexts, cliContext{Name: args[0]})
				x = &cfg.Contexts[len(cfg.Contexts)-1]
			}
			if fl.Changed("server") {
				// Consent to plain HTTP was given for one address: another
				// one does not inherit it.
				if !sameServer(x.Server, c.Server) {
					x.InsecureHTTP = ""
				}
				x.Server = c.Server
			}
			if fl.Changed("insecure-http") {
				x.InsecureHTTP = ""
				if insecure {
					if _, remote := plainRemote(x.Server); !remote {
						return badInput(fmt.Errorf("--insecure-http: context %s's server %q is not a plain http:// address of another machine; there is nothing to allow (give --server http://HOST:PORT)", x.Name, redactedServer(x.Server)))
					}
					x.InsecureHTTP = x.Server
				}
			}
			if fl.Changed("token") {
				x.Token, x.TokenFile = c.Token, ""
			}
			if fl.Changed("token-file") {
				x.TokenFile, x.Token = c.TokenFile, ""
			}
			if fl.Changed("catalog") {
				x.Catalog = c.Catalog
			}
			if cfg.CurrentContext == "" {
				cfg.CurrentContext = x.Name
			}
			if err := cfg.save(path); err != nil {
				return err
			}
			// Saved anew: the file is this user's, mode 0600.
			x.file, x.perm, x.owner = path, 0o600, geteuid()
			// The token itself is not echoed: only whether one is kept.
			res := map[string]any{"context": x.Name, "server": x.Server, "catalog": x.Catalog, "tokenFile": x.TokenFile,
				"tokenKept": x.Token != "", "insecureHTTP": x.plainHTTPAllowed(x.Server), "current": cfg.CurrentContext == x.Name, "file": path}
			return render(cmd.OutOrStdout(), out, res, func(w io.Writer) error {
				if _, err := fmt.Fprintf(w, "context %s saved in %s\n", x.Name, path); err != nil {
					return err
				}
				if x.plainHTTPAllowed(x.Server) {
					_, err := fmt.Fprintf(w, "plain HTTP allowed to %s: its token crosses the network in clear\n", redactedServer(x.Server))
					return err
				}
				return nil
			})
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().StringVar(&c.Server, "server", "", "server address")
	cmd.Flags().StringVar(&c.Token, "token", "", "API token (kept in the file, mode 0600)")
	cmd.Flags().StringVar(&c.TokenFile, "token-file", "", "file holding the API token (mode 0600), read when used")
	cmd.Flags().StringVar(&c.Catalog, "catalog", "", "default --catalog directory for plan, validate, catalog and dataset")
	cmd.Flags().BoolVar(&insecure, "insecure-http", false, "record consent to send the token over plain HTTP to this context's http:// server, that address only (a changed --server drops it; --insecure-http=false withdraws it)")
	return cmd
}
