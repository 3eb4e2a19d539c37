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
	limits := api.DefaultLimits
	limits.MaxConnsPerIP = 2
	limits.Idle = 300 * time.Millisecond
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	s, err := startServer(serverOptions{StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:0",
		MetricsListen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.MetricsAddr == "" {
		t.Fatal("server reports no metrics address")
	}
	// get asks for /metrics on c, keeping the connection alive.
	get := func(c net.Conn, rd *bufio.Reader) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
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
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", s.MetricsAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}

	// An idle kept-alive connection is closed once Idle passes.
	c1, rd1 := dial()
	if err := get(c1, rd1); err != nil {
		t.Fatal(err)
	}
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := rd1.ReadByte(); err != io.EOF {
		t.Fatalf("idle kept-alive connection: read %v after %v, want the server to close it", err, time.Since(start))
	}

	// Beyond the per-address cap a connection is closed unanswered.
	c2, rd2 := dial()
	c3, rd3 := dial()
	for _, c := range []struct {
		c  net.Conn
		rd *bufio.Reader
	}{{c2, rd2}, {c3, rd3}} {
		if err := get(c.c, c.rd); err != nil {
			t.Fatalf("connection within the cap: %v", err)
		}
	}
	c4, rd4 := dial()
	if err := get(c4, rd4); err == nil || !(err == io.EOF || strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF")) {
		t.Fatalf("connection over the cap of %d: %v, want it closed", limits.MaxConnsPerIP, err)
	}
}
