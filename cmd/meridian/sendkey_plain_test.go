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
	// is taken for another machine's.
	var ip string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP.String()
			break
		}
	}
	if ip == "" {
		t.Skip("no address of this machine but loopback")
	}
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
	remote := "http://" + net.JoinHostPort(ip, strconv.Itoa(port))
	local := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("line\n"), 0o644)
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
	refused("MERIDIAN_INSECURE_HTTP=1", "--server", remote, "--token", "t")
	t.Setenv("MERIDIAN_INSECURE_HTTP", "")
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", remote, "--token", "t", "--insecure-http"); code != 0 {
		t.Fatalf("set-context: %s", out)
	}
	refused("a context consenting to plain HTTP for its server")
	sent("send-key --insecure-http", "--insecure-http")
	sent("plain HTTP to this machine's loopback", "--server", local, "--token", "t")
}
