package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/api"
)

// TestMetricsListenLimits: the --metrics-listen server holds the limits of
// the API's listener: a kept-alive connection left idle is closed, and
// connections beyond the per-address cap are refused, so that idle sockets
// cannot use up the server's descriptors.
func TestMetricsListenLimits(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	// serve starts a server with the cap of 2 and the given idle limit and
	// returns its metrics address. The cap is checked on a server of its
	// own whose idle limit is a minute: under the 300 ms one, a loaded
	// machine could let a connection within the cap idle out before the
	// one over it came, which would then fit.
	serve := func(name string, idle time.Duration) string {
		t.Helper()
		limits := api.DefaultLimits
		limits.MaxConnsPerIP = 2
		limits.Idle = idle
		s, err := startServer(serverOptions{StateDir: filepath.Join(dir, name), Listen: "127.0.0.1:0",
			MetricsListen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard, Limits: limits})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if s.MetricsAddr == "" {
			t.Fatal("server reports no metrics address")
		}
		return s.MetricsAddr
	}
	// get asks for /metrics on c, keeping the connection alive.
	get := func(c net.Conn, rd *bufio.Reader) error {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	dial := func(addr string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}

	// An idle kept-alive connection is closed once Idle passes: by the
	// server, not by the read's deadline, which is far past it.
	c1, rd1 := dial(serve("idle", 300*time.Millisecond))
	if err := get(c1, rd1); err != nil {
		t.Fatal(err)
	}
	c1.SetReadDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	if _, err := rd1.ReadByte(); err != io.EOF {
		t.Fatalf("idle kept-alive connection: read %v after %v, want the server to close it", err, time.Since(start))
	}

	// Beyond the per-address cap a connection is closed unanswered.
	capped := serve("cap", time.Minute)
	c2, rd2 := dial(capped)
	c3, rd3 := dial(capped)
	for _, c := range []struct {
		c  net.Conn
		rd *bufio.Reader
	}{{c2, rd2}, {c3, rd3}} {
		if err := get(c.c, c.rd); err != nil {
			t.Fatalf("connection within the cap: %v", err)
		}
	}
	c4, rd4 := dial(capped)
	if err := get(c4, rd4); err == nil || !(err == io.EOF || strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF")) {
		t.Fatalf("connection over the cap of 2: %v, want it closed", err)
	}
}
