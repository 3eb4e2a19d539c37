package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// proxyVars are the environment variables Go's client takes its proxy
// from.
var proxyVars = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"}

// freshProxyFromEnvironment makes plainRemote read the proxy settings
// afresh, in net/http's order (the upper-case name first), for a test that
// sets them as it goes: http.ProxyFromEnvironment reads them once per
// process.
func freshProxyFromEnvironment(t *testing.T) {
	t.Helper()
	old := proxyFromEnvironment
	t.Cleanup(func() { proxyFromEnvironment = old })
	get := func(upper, lower string) string {
		if v := os.Getenv(upper); v != "" {
			return v
		}
		return os.Getenv(lower)
	}
	proxyFromEnvironment = func(r *http.Request) (*url.URL, error) {
		c := &httpproxy.Config{HTTPProxy: get("HTTP_PROXY", "http_proxy"), HTTPSProxy: get("HTTPS_PROXY", "https_proxy"),
			NoProxy: get("NO_PROXY", "no_proxy"), CGI: os.Getenv("REQUEST_METHOD") != ""}
		return c.ProxyFunc()(r.URL)
	}
}

// proxyChildEnv marks the run of TestPlainRemoteProxyMixedCaseEnvironment
// in a child process, with the environment it is to judge.
const proxyChildEnv = "MERIDIAN_TEST_PROXY_CHILD"

// proxyRouteEnv tells the child the route its environment sends the
// request: "proxy" (through HTTP_PROXY) or "direct".
const proxyRouteEnv = "MERIDIAN_TEST_PROXY_ROUTE"

// TestPlainRemoteProxyMixedCaseEnvironment: plainRemote judged whether a
// request for 0.0.0.0 goes through a proxy with x/net's
// httpproxy.FromEnvironment, which prefers http_proxy and no_proxy to
// HTTP_PROXY and NO_PROXY, while the client sends it by
// http.ProxyFromEnvironment, which prefers the upper case: with
// HTTP_PROXY set, NO_PROXY naming another host and no_proxy=*, it said
// this machine, and the token went through the proxy in clear with no
// consent. Each environment is judged in a process of its own (the
// client reads it once per process): plainRemote must say "through a
// proxy" exactly when a request the client sends to that address reaches
// the proxy.
func TestPlainRemoteProxyMixedCaseEnvironment(t *testing.T) {
	if os.Getenv(proxyChildEnv) != "" {
		proxyJudgedAsSent(t)
		return
	}
	// Each with the route net/http's client takes (the upper-case name
	// first, the lower-case one where it is unset): the child asserts the
	// request went that way, so that plainRemote and the client agreeing
	// on the wrong route fails too.
	for _, c := range []struct {
		env   []string
		route string
	}{
		{[]string{"NO_PROXY=example.invalid", "no_proxy=*"}, "proxy"},
		{[]string{"NO_PROXY=*", "no_proxy=example.invalid"}, "direct"},
		{[]string{"NO_PROXY=example.invalid"}, "proxy"},
		{[]string{"no_proxy=*"}, "direct"},
		{nil, "proxy"},
	} {
		env := append([]string{proxyRouteEnv + "=" + c.route}, c.env...)
		cmd := exec.Command(os.Args[0], "-test.run=^TestPlainRemoteProxyMixedCaseEnvironment$", "-test.count=1")
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			drop := name == proxyChildEnv || name == proxyRouteEnv
			for _, v := range proxyVars {
				drop = drop || name == v
			}
			if !drop {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(append(cmd.Env, proxyChildEnv+"=1"), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("HTTP_PROXY set, %s: %v\n%s", strings.Join(env, " "), err, out)
		}
	}
}

// proxyJudgedAsSent is the child's part: a proxy and a server of this
// machine's, HTTP_PROXY naming the proxy; a request for the server's port
// at 0.0.0.0 goes to one of them, and plainRemote must say which.
func proxyJudgedAsSent(t *testing.T) {
	var proxied, direct atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer proxy.Close()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		direct.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	// Set before the client first reads it, which it does once.
	os.Setenv("HTTP_PROXY", proxy.URL)
	server := "http://0.0.0.0:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	host, remote := plainRemote(server)
	resp, err := (&http.Client{}).Get(server + "/v1/health")
	if err != nil {
		t.Fatalf("GET %s: %v", server, err)
	}
	resp.Body.Close()
	if proxied.Load()+direct.Load() != 1 {
		t.Fatalf("GET %s: %d requests at the proxy, %d at the server; want one in all", server, proxied.Load(), direct.Load())
	}
	through := proxied.Load() == 1
	switch want := os.Getenv(proxyRouteEnv); {
	case want != "proxy" && want != "direct":
		t.Fatalf("%s=%q: want proxy or direct", proxyRouteEnv, want)
	case through != (want == "proxy"):
		t.Errorf("GET %s went through the proxy: %v; want the route %s for this environment", server, through, want)
	}
	if remote != through {
		t.Errorf("plainRemote(%s) = %q, %v (another machine's, through a proxy), but the client sent the request through the proxy: %v", server, host, remote, through)
	}
}
