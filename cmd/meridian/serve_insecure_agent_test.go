package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	for _, c := range []struct {
		advertise string
		insecure  bool
	}{{"http://gw.example:7420", true}, {"http://127.0.0.1:7420", false}, {"http://127.0.0.1:7420", true}} {
		var got *run.Config
		configured = func(cfg run.Config) { got = &cfg }
		s, err := startServer(serverOptions{StateDir: filepath.Join(dir, fmt.Sprint("state-", c.insecure, len(c.advertise))), Listen: "127.0.0.1:0",
			Advertise: c.advertise, InsecureHTTP: c.insecure,
			Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard})
		if err != nil {
			t.Fatalf("--advertise %s --insecure-http=%v: %v", c.advertise, c.insecure, err)
		}
		s.Close()
		if got == nil {
			t.Fatalf("--advertise %s --insecure-http=%v: no controller was configured", c.advertise, c.insecure)
		}
		if got.ServerURL != c.advertise || got.AgentInsecureHTTP != c.insecure {
			t.Errorf("--advertise %s --insecure-http=%v: the controller got ServerURL %q, AgentInsecureHTTP %v; want the advertised address and %v", c.advertise, c.insecure, got.ServerURL, got.AgentInsecureHTTP, c.insecure)
		}
	}
}

// TestServeRefusesPlainHTTPAdvertisedOffLoopback: serve took --advertise
// http://gw.example:7420 without --insecure-http and started; every
// attempt's agent then refused that address at its start (it takes plain
// HTTP off loopback only with the operator's consent), so each run failed
// at each site. serve now refuses it at its own start, as bad input naming
// both flags, before the state directory is touched; it takes exactly
// the plain-HTTP addresses the agents take (agent.LoopbackHost).
func TestServeRefusesPlainHTTPAdvertisedOffLoopback(t *testing.T) {
	for _, adv := range []string{"http://gw.example:7420", "http://10.0.0.7:7420", "http://[fd00::1]:7420", "http://localhost.example"} {
		state := filepath.Join(t.TempDir(), "state")
		s, err := startServer(serverOptions{StateDir: state, Listen: "127.0.0.1:0", Advertise: adv,
			Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard})
		if err == nil {
			s.Close()
		}
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.HasPrefix(err.Error(), "--advertise") || !strings.Contains(err.Error(), "--insecure-http") {
			t.Errorf("--advertise %s without --insecure-http: %v; want bad input naming --advertise and --insecure-http", adv, err)
		}
		if _, err := os.Stat(state); err == nil {
			t.Errorf("--advertise %s: the state directory was made", adv)
		}
	}
	for _, adv := range []string{"http://localhost:7420", "http://LOCALHOST:7420", "http://127.0.0.2:7420", "http://[::1]:7420", "http://[::ffff:127.0.0.1]:7420"} {
		if err := checkAdvertise(adv, false); err != nil {
			t.Errorf("--advertise %s, this machine's loopback, which the agents take: %v", adv, err)
		}
	}
}
