package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSendKeyPlainHTTPNeedsItsOwnFlag: dataset send-key sent the dataset
// key over plain HTTP to another machine under the consent given for the
// token (MERIDIAN_INSECURE_HTTP, a context's insecureHTTP): a token can be
// revoked, but whoever reads the key on the way reads the dataset for
// good. Plain HTTP to a host that is not this machine now needs send-key's
// own --insecure-http; nothing is sent without it. This machine's loopback
// and https:// are as before.
func TestSendKeyPlainHTTPNeedsItsOwnFlag(t *testing.T) {
	isolatedConfig(t)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	// An address of this machine that is not loopback: plain HTTP to it
	// is taken for another machine's. Only the key sent with send-key's
	// own flag needs one; the refusals are of an address of TEST-NET-1,
	// which nothing answers (a key sent there would fail to connect).
	var ip string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP.String()
			break
		}
	}
	const unreachable = "http://192.0.2.1:1"
	var puts atomic.Int32
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/v1/datasets/logs/key" {
			puts.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	remote := unreachable
	if ip != "" {
		remote = "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	}
	local := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCLIStderr(t, "dataset", "add", "logs", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatalf("dataset add: %v\n%s", err, stderr)
	}

	refused := func(what string, args ...string) {
		t.Helper()
		before := puts.Load()
		out, code := runRoot(t, append([]string{"dataset", "send-key", "logs"}, args...)...)
		if code != exitBadInput || !strings.Contains(out, "key of dataset logs") || !strings.Contains(out, "--insecure-http to send-key") {
			t.Errorf("%s: exit %d, want %d, a refusal naming the key and send-key's --insecure-http\n%s", what, code, exitBadInput, out)
		}
		if n := puts.Load() - before; n != 0 {
			t.Errorf("%s: the key was sent in clear (%d requests)", what, n)
		}
	}
	sent := func(what string, args ...string) {
		t.Helper()
		before := puts.Load()
		if out, code := runRoot(t, append([]string{"dataset", "send-key", "logs"}, args...)...); code != 0 {
			t.Errorf("%s: exit %d\n%s", what, code, out)
		}
		if n := puts.Load() - before; n != 1 {
			t.Errorf("%s: %d requests, want the key sent once", what, n)
		}
	}

	t.Setenv("MERIDIAN_INSECURE_HTTP", "1")
	refused("MERIDIAN_INSECURE_HTTP=1", "--server", unreachable, "--token", "t")
	t.Setenv("MERIDIAN_INSECURE_HTTP", "")
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", unreachable, "--token", "t", "--insecure-http"); code != 0 {
		t.Fatalf("set-context: %s", out)
	}
	refused("a context consenting to plain HTTP for its server")
	sent("plain HTTP to this machine's loopback", "--server", local, "--token", "t")
	if ip == "" {
		t.Skip("no address of this machine but loopback, to send a key to with send-key --insecure-http")
	}
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", remote); code != 0 {
		t.Fatalf("set-context: %s", out)
	}
	sent("send-key --insecure-http", "--insecure-http")
}

// TestSendKeyLocalAddressThroughProxyRefused: plain HTTP to 0.0.0.0, [::]
// or LOCALHOST was taken for this machine's, and sent the token and a
// dataset key without any consent to plain HTTP; but Go's client sends a
// request for those through the proxy HTTP_PROXY names (only "localhost"
// and loopback addresses go to none), so both crossed the network to the
// proxy in clear. An address the environment sends through a proxy is now
// another machine's: the token needs consent to plain HTTP, and the key
// send-key's own --insecure-http. Without a proxy, and for loopback with
// one, nothing changes.
func TestSendKeyLocalAddressThroughProxyRefused(t *testing.T) {
	isolatedConfig(t)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer proxy.Close()
	for _, k := range proxyVars {
		t.Setenv(k, "")
	}
	freshProxyFromEnvironment(t)

	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCLIStderr(t, "dataset", "add", "logs", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatalf("dataset add: %v\n%s", err, stderr)
	}

	locals := []string{"http://0.0.0.0:1", "http://[::]:1", "http://LOCALHOST:1"}
	for _, server := range locals {
		if _, ok := plainRemote(server); ok {
			t.Errorf("%s without a proxy: taken for another machine's", server)
		}
	}
	t.Setenv("HTTP_PROXY", proxy.URL)
	for _, server := range locals {
		if host, ok := plainRemote(server); !ok || !strings.Contains(host, "proxy") {
			t.Errorf("%s with HTTP_PROXY set: plainRemote %q %v, want it another machine's, through the proxy", server, host, ok)
		}
		if _, err := (&clientFlags{server: server, token: "t"}).client(); err == nil || !isCode(err, exitBadInput) || !strings.Contains(err.Error(), "proxy") {
			t.Errorf("a client of %s with HTTP_PROXY set: %v, want the token refused plain HTTP through the proxy", server, err)
		}
		before := proxied.Load()
		// The token's consent given, the key still needs send-key's own.
		t.Setenv("MERIDIAN_INSECURE_HTTP", "1")
		out, code := runRoot(t, "dataset", "send-key", "logs", "--server", server, "--token", "t")
		t.Setenv("MERIDIAN_INSECURE_HTTP", "")
		if code != exitBadInput || !strings.Contains(out, "key of dataset logs") || !strings.Contains(out, "proxy") {
			t.Errorf("send-key to %s with HTTP_PROXY set: exit %d, want %d, the key refused plain HTTP through the proxy\n%s", server, code, exitBadInput, out)
		}
		if n := proxied.Load() - before; n != 0 {
			t.Errorf("send-key to %s: %d requests reached the proxy", server, n)
		}
	}
	for _, server := range []string{"http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"} {
		if host, ok := plainRemote(server); ok {
			t.Errorf("%s with HTTP_PROXY set, which Go sends to no proxy: taken for another machine's (%s)", server, host)
		}
	}
}
