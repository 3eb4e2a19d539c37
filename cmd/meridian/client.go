package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/statedir"
)

// clientFile is written by `meridian serve` into the state directory so
// that the CLI on the same machine finds the server and its token.
const clientFile = statedir.ClientFile

type clientConfig = statedir.Client

type clientFlags struct {
	server, token, fingerprint string
	// insecureHTTP allows a plain http:// server that is not on this
	// machine: the token then crosses the network in clear.
	insecureHTTP bool
}

func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	cmd.Flags().StringVar(&f.server, "server", "", "server address (default $MERIDIAN_SERVER, else the config file's context, else $MERIDIAN_HOME/client.json)")
	cmd.Flags().StringVar(&f.token, "token", "", "API token (default $MERIDIAN_TOKEN, else the config file's context, else $MERIDIAN_HOME/client.json)")
	cmd.Flags().StringVar(&f.fingerprint, "tls-fingerprint", "", "SHA-256 fingerprint of a self-signed server certificate to trust (default $MERIDIAN_TLS_FINGERPRINT, else from client.json)")
	cmd.Flags().BoolVar(&f.insecureHTTP, "insecure-http", false, "send the token over plain HTTP to a server that is not on this machine (default $MERIDIAN_INSECURE_HTTP=1)")
}

// stateDir is $MERIDIAN_HOME, else ~/.meridian.
func stateDir() (string, error) {
	d, err := statedir.Default()
	return d.Path, err
}

// client resolves the server, token and certificate fingerprint: flags,
// then environment, then the configuration file's context (--context or its
// current one), then the state directory's client.json. A context's token
// and client.json's token and fingerprint count only for their own server:
// a --server or MERIDIAN_SERVER naming another one is never sent them.
func (f *clientFlags) client() (*api.Client, error) {
	server, token, fp := f.server, f.token, f.fingerprint
	if server == "" {
		server = os.Getenv("MERIDIAN_SERVER")
	}
	if token == "" {
		token = os.Getenv("MERIDIAN_TOKEN")
	}
	// ctx is the configuration's context, when it was read: its consent to
	// plain HTTP counts for its own server alone.
	var ctx *cliContext
	ctxRead := server == "" || token == ""
	if ctxRead {
		cfg, _, err := loadConfig()
		if err != nil {
			return nil, err
		}
		x, err := cfg.context()
		if err != nil {
			return nil, err
		}
		ctx = x
		if x != nil {
			if server == "" && x.Server != "" {
				if err := x.trusted("server"); err != nil {
					return nil, err
				}
				server = x.Server
			}
			if token == "" && (x.Server == "" || sameServer(server, x.Server)) {
				if token, err = x.token(); err != nil {
					return nil, err
				}
			}
		}
	}
	if fp == "" {
		fp = os.Getenv("MERIDIAN_TLS_FINGERPRINT")
	}
	// fromState: the server is the one client.json names, written by
	// `meridian serve` on this machine, whose own --insecure-http chose
	// plain HTTP for it.
	fromState := server == ""
	// statePath is client.json's path where the fingerprint came from it:
	// an error then names the file, not a flag never given.
	statePath, fpFromState := "", false
	if server == "" || token == "" || fp == "" {
		dir, err := statedir.Default()
		if err != nil {
			return nil, err
		}
		statePath = dir.Join(statedir.ClientFile)
		cfg, err := readClientConfig(dir.Path)
		switch {
		case err == nil:
			if fp == "" && (server == "" || sameServer(server, cfg.Server)) {
				fp, fpFromState = cfg.Fingerprint, cfg.Fingerprint != ""
			}
			if server == "" {
				if !serverAddress(cfg.Server) {
					return nil, badInput(fmt.Errorf("%s: field server: want the http:// or https:// address of a server (meridian serve writes it there), or pass --server", statePath))
				}
				server = cfg.Server
			}
			if token == "" && sameServer(server, cfg.Server) {
				token = cfg.Token
			}
		case server == "" || token == "":
			return nil, err
		case errors.Is(err, statedir.ErrExposed), errors.As(err, new(*unsafeStateDirError)):
			// Consulted for its fingerprint alone, and passed over: say
			// so, rather than leave a pin that failed unexplained and the
			// exposed token unnoticed.
			fmt.Fprintf(os.Stderr, "warning: %v; its certificate fingerprint is not used\n", err)
		}
	}
	if token == "" && fromState {
		return nil, badInput(fmt.Errorf("%s: field token is empty: pass --token or set MERIDIAN_TOKEN", statePath))
	}
	if token == "" {
		return nil, badInput(fmt.Errorf("--token: no token for server %s (a configured token is used only with its own server): pass --token or set MERIDIAN_TOKEN", redactedServer(server)))
	}
	if !fromState && !f.insecureHTTP && os.Getenv("MERIDIAN_INSECURE_HTTP") != "1" {
		host, ok := plainRemote(server)
		if ok && !ctxRead {
			// Server and token came from flags or the environment: the
			// context in use still consents for its own server. A file
			// that cannot be read consents to nothing.
			if cfg, _, err := loadConfig(); err == nil {
				ctx, _ = cfg.context()
			}
		}
		if ok && ctx.plainHTTPRecorded(server) && !ctx.plainHTTPAllowed(server) {
			return nil, badInput(fmt.Errorf("--server %s: plain HTTP to %s, which is not this machine, would send the token across the network in clear; context %s records consent to it, but a file others may have written consents to nothing: %s; use https://, or pass --insecure-http (MERIDIAN_INSECURE_HTTP=1) to send it anyway", redactedServer(server), host, ctx.Name, ctx.consentFileProblem()))
		}
		if ok && !ctx.plainHTTPAllowed(server) {
			return nil, badInput(fmt.Errorf("--server %s: plain HTTP to %s, which is not this machine, would send the token across the network in clear; use https://, or pass --insecure-http (MERIDIAN_INSECURE_HTTP=1) to send it anyway, or record that for a context's own server (meridian config set-context NAME --insecure-http)", redactedServer(server), host))
		}
	}
	c, err := api.NewPinnedClient(server, token, fp)
	if err != nil && fpFromState {
		return nil, badInput(fmt.Errorf("%s: field fingerprint: %w", statePath, err))
	}
	if err != nil {
		return nil, badInput(fmt.Errorf("--tls-fingerprint: %w", err))
	}
	return c, nil
}

// serverAddress reports whether s reads as a server's address: http:// or
// https:// and a host.
func serverAddress(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// redactedServer is a server address as an error may show it: a password
// written into it (https://user:secret@host) as xxxxx.
func redactedServer(server string) string {
	if u, err := url.Parse(server); err == nil && u.User != nil {
		return u.Redacted()
	}
	return server
}

// sameServer reports whether two server addresses are the same, a
// trailing slash aside.
func sameServer(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// plainRemote reports whether server is a plain http:// address of a host
// other than this machine, and names the host. Loopback, "localhost" and
// the unspecified address (which a connection reaches on this machine) are
// this machine, unless the environment's proxy settings (HTTP_PROXY,
// NO_PROXY) send a request for it through a proxy: the token and a dataset
// key would then cross the network to the proxy in clear, and the address
// is as remote as the proxy is. (Go sends "localhost" and loopback
// addresses to no proxy, but 0.0.0.0, [::] and LOCALHOST it does.)
func plainRemote(server string) (string, bool) {
	u, err := url.Parse(server)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return "", false
	}
	host := u.Hostname()
	// Judged by the client's own function, not a copy: x/net's
	// httpproxy.FromEnvironment prefers http_proxy and no_proxy to
	// HTTP_PROXY and NO_PROXY, net/http the other way round, and with
	// both cases set the copy said "no proxy" of a request the client
	// sent through one. An error in the settings is a proxy the request
	// may go to.
	if proxy, err := proxyFromEnvironment(&http.Request{URL: u}); err != nil || proxy != nil {
		return host + " (through the proxy of HTTP_PROXY)", true
	}
	if strings.EqualFold(host, "localhost") {
		return "", false
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return "", false
	}
	return host, true
}

// proxyFromEnvironment is the proxy the API client sends a request to:
// http.ProxyFromEnvironment, its transport's (http.DefaultTransport's, and
// its clones'). It reads the environment once per process; tests that
// change it in between replace this.
var proxyFromEnvironment = http.ProxyFromEnvironment

func readClientConfig(dir string) (clientConfig, error) {
	// Whoever may replace client.json's directory chose the server the
	// token goes to and the certificate trusted there.
	if err := checkStateDir(dir); err != nil {
		return clientConfig{}, err
	}
	d := statedir.Dir{Path: dir}
	removeStaleStateTemps(d)
	cfg, err := d.ReadClient()
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, fmt.Errorf("no server configured: start `meridian serve`, or set --server/--token or MERIDIAN_SERVER/MERIDIAN_TOKEN (looked for %s)", d.Join(statedir.ClientFile))
	}
	return cfg, err
}
