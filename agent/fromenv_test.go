package agent

import (
	"strings"
	"testing"
)

// TestFromEnvRefusesAPinnedPlainServer: a pinned server fingerprint with
// an http:// server address is refused at start, naming both variables:
// the agent would otherwise send its attempt credential in the clear, the
// pin checking nothing.
func TestFromEnvRefusesAPinnedPlainServer(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	t.Setenv(EnvRun, "run-1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv(EnvServerFingerprint, fp)
	for _, server := range []string{"http://meridian.example:7420", "meridian.example:7420", "HTTP://meridian.example"} {
		t.Setenv(EnvServer, server)
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvServer) || !strings.Contains(err.Error(), EnvServerFingerprint) {
			t.Errorf("%s=%s with a pin: %v; want an error naming both", EnvServer, server, err)
		}
	}
	t.Setenv(EnvServer, "https://meridian.example:7420")
	if cfg, err := FromEnv(); err != nil || cfg.HTTP == nil {
		t.Errorf("https with a pin: %v", err)
	}
	t.Setenv(EnvServerFingerprint, "")
	t.Setenv(EnvServer, "http://127.0.0.1:7420")
	if _, err := FromEnv(); err != nil {
		t.Errorf("plain HTTP without a pin (a loopback server): %v", err)
	}
}
