package main

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesDurationsOutOfRange: serve took --move-margin 0 as 24
// hours and --poll or --site-timeout of 0 or less as their defaults,
// without a word; a --poll of a nanosecond spun the controller against
// the store, and a --site-timeout under --poll counted every site lost
// between two checks. Each is refused as bad input naming its flag,
// before anything starts (the --listen given here is refused after them).
func TestServeRefusesDurationsOutOfRange(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	state := filepath.Join(t.TempDir(), "state")
	for _, tc := range []struct {
		flag string
		args []string
	}{
		{"--poll", []string{"--poll", "0"}},
		{"--poll", []string{"--poll", "-1s"}},
		{"--poll", []string{"--poll", "1ns"}},
		{"--site-timeout", []string{"--site-timeout", "0"}},
		{"--site-timeout", []string{"--site-timeout", "-5s"}},
		{"--site-timeout", []string{"--poll", "10s", "--site-timeout", "5s"}},
		{"--agent-lease", []string{"--agent-lease", "-1m"}},
		{"--lease-ttl", []string{"--lease-ttl", "-3s"}},
		{"--lease-ttl", []string{"--lease-ttl", "1ms"}},
		{"--move-margin", []string{"--move-margin", "0"}},
		{"--move-margin", []string{"--move-margin", "-24h"}},
	} {
		args := append([]string{"serve", "--state", state, "--listen", "no-port"}, tc.args...)
		_, err := runCLI(t, args...)
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.HasPrefix(err.Error(), tc.flag+" ") {
			t.Errorf("serve %v: %v, want bad input naming %s", tc.args, err, tc.flag)
		}
	}
	// In range, the durations pass and --listen is what is refused.
	_, err := runCLI(t, "serve", "--state", state, "--listen", "no-port", "--poll", "50ms", "--site-timeout", "3s", "--agent-lease", "0", "--lease-ttl", "0", "--move-margin", "1h")
	if err == nil || !strings.HasPrefix(err.Error(), "--listen") {
		t.Errorf("serve with durations in range: %v, want the --listen refusal", err)
	}
}

// TestServeRefusesUnknownSandbox: serve took any --workload-sandbox: a
// misspelt mode, or uid without root, failed every attempt at its start
// long after serve said it was serving, and none ran every tenant's
// workload as the server's own user, unconfined, beside its keys. Each is
// refused as bad input naming the flag, before anything starts.
func TestServeRefusesUnknownSandbox(t *testing.T) {
	t.Setenv("MERIDIAN_HOME", t.TempDir())
	state := filepath.Join(t.TempDir(), "state")
	defer func(f func() int) { geteuid = f }(geteuid)
	for _, tc := range []struct {
		mode string
		euid int
	}{{"landlok", 0}, {"none", 0}, {"uid", 1000}} {
		geteuid = func() int { return tc.euid }
		_, err := runCLI(t, "serve", "--state", state, "--listen", "no-port", "--workload-sandbox", tc.mode)
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.HasPrefix(err.Error(), "--workload-sandbox ") {
			t.Errorf("--workload-sandbox %q as uid %d: %v, want bad input naming the flag", tc.mode, tc.euid, err)
		}
	}
	for _, tc := range []struct {
		mode string
		euid int
	}{{"landlock", 1000}, {"uid", 0}} {
		geteuid = func() int { return tc.euid }
		_, err := runCLI(t, "serve", "--state", state, "--listen", "no-port", "--workload-sandbox", tc.mode)
		if err == nil || !strings.HasPrefix(err.Error(), "--listen") {
			t.Errorf("--workload-sandbox %s as uid %d: %v, want the --listen refusal", tc.mode, tc.euid, err)
		}
	}
}

// TestServeRefusesUnusableAdvertise: serve took any --advertise, wrote it
// to client.json and into every attempt's environment, and each agent
// failed at its first call (a host:port without a scheme, a query the API's
// paths were appended to); a password in it went to every site. Each is
// refused as bad input naming the flag, before the state directory is
// touched.
func TestServeRefusesUnusableAdvertise(t *testing.T) {
	for _, adv := range []string{"meridian.internal:7420", "ftp://meridian.internal", "http://", "https://:7420", "https://ops:hunter2@lb.example", "https://lb.example/?x=1", "https://lb.example#top"} {
		state := filepath.Join(t.TempDir(), "state")
		opts := serverOptions{StateDir: state, Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard, Advertise: adv, Sandbox: "landlock"}
		s, err := startServer(opts)
		if err == nil {
			s.Close()
		}
		var ce *codeError
		if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.HasPrefix(err.Error(), "--advertise") {
			t.Errorf("--advertise %q: %v, want bad input naming the flag", adv, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("--advertise: the refusal shows the password: %v", err)
		}
		if _, err := os.Stat(state); err == nil {
			t.Errorf("--advertise %q: the state directory was made", adv)
		}
	}
	// A usable one is taken.
	opts := serverOptions{StateDir: filepath.Join(t.TempDir(), "state"), Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard, Advertise: "http://127.0.0.1:7420/", Sandbox: "landlock"}
	s, err := startServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestServeListenErrorNamesFlag: a --listen address already taken
// stopped serve with "listen tcp …: bind: address already in use", which
// names neither --listen nor --metrics-listen; now it names the flag.
func TestServeListenErrorNamesFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	opts := serverOptions{StateDir: filepath.Join(t.TempDir(), "state"), Listen: taken.Addr().String(), Poll: 100 * time.Millisecond, SiteTimeout: 5 * time.Second, Log: io.Discard, Sandbox: "landlock"}
	s, err := startServer(opts)
	if err == nil {
		s.Close()
	}
	if err == nil || !strings.HasPrefix(err.Error(), "--listen: ") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("--listen %s already taken: %v, want an error naming the flag and the address", taken.Addr(), err)
	}
}
