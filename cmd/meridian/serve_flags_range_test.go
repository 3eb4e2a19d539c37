package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
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
