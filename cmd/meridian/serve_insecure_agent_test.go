package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meridian.dev/meridian/run"
)

// TestServeInsecureHTTPReachesTheAgents: serve's --insecure-http is the
// operator's consent to plain HTTP, and the controller tells agents they
// may send their credential so only with it. serve did not pass it: the
// controller told agents so for any http:// address, and --listen
// 127.0.0.1:7420 --advertise http://gw.example:7420, taken without
// --insecure-http, had them send it across the network in clear.
func TestServeInsecureHTTPReachesTheAgents(t *testing.T) {
	old := configured
	t.Cleanup(func() { configured = old })
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o711) // workloads run as another user pass through
	}
	for _, insecure := range []bool{false, true} {
		var got *run.Config
		configured = func(cfg run.Config) { got = &cfg }
		s, err := startServer(serverOptions{StateDir: filepath.Join(dir, fmt.Sprint("state-", insecure)), Listen: "127.0.0.1:0",
			Advertise: "http://gw.example:7420", InsecureHTTP: insecure,
			Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard})
		if err != nil {
			t.Fatalf("--insecure-http=%v: %v", insecure, err)
		}
		s.Close()
		if got == nil {
			t.Fatalf("--insecure-http=%v: no controller was configured", insecure)
		}
		if got.ServerURL != "http://gw.example:7420" || got.AgentInsecureHTTP != insecure {
			t.Errorf("--insecure-http=%v: the controller got ServerURL %q, AgentInsecureHTTP %v; want the advertised address and %v", insecure, got.ServerURL, got.AgentInsecureHTTP, insecure)
		}
	}
}
