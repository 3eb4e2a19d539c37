package agent

import (
	"net/http"
	"net/url"
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

// TestAttackPlainHTTPToAnotherMachine: with no pin the agent took any
// http:// server address and sent the attempt's credential to it in the
// clear, through HTTP_PROXY where one was set. Plain HTTP is now taken
// only to this machine's loopback (where the server speaks it by
// default), never through a proxy; elsewhere only where the server
// says it was started with --insecure-http.
func TestAttackPlainHTTPToAnotherMachine(t *testing.T) {
	t.Setenv(EnvRun, "run-1")
	t.Setenv(EnvAttempt, "1")
	t.Setenv(EnvToken, "tok")
	t.Setenv(EnvServerFingerprint, "")
	t.Setenv(EnvInsecureHTTP, "")
	for _, server := range []string{"http://meridian.example:7420", "http://10.0.0.5:7420", "HTTP://meridian.example", "http://127.0.0.1.example.com", "ftp://127.0.0.1", "127.0.0.1:7420"} {
		t.Setenv(EnvServer, server)
		if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvServer) {
			t.Errorf("%s=%s with no pin: %v; want it refused, naming %s", EnvServer, server, err, EnvServer)
		}
	}
	for _, server := range []string{"http://127.0.0.1:7420", "http://[::1]:7420", "http://localhost:7420", "http://127.3.0.1", "https://meridian.example:7420"} {
		t.Setenv(EnvServer, server)
		if _, err := FromEnv(); err != nil {
			t.Errorf("%s=%s: %v", EnvServer, server, err)
		}
	}
	t.Setenv(EnvInsecureHTTP, "1")
	t.Setenv(EnvServer, "http://meridian.example:7420")
	if _, err := FromEnv(); err != nil {
		t.Errorf("plain HTTP to another machine with %s=1: %v", EnvInsecureHTTP, err)
	}
	// No proxy to loopback, whatever the environment says; the
	// environment's elsewhere. (Go reads the environment's proxy once a
	// process, and never proxies loopback itself: it is stood in for by
	// one that proxies everything.)
	proxy, _ := url.Parse("http://proxy.example:3128")
	old := envProxy
	t.Cleanup(func() { envProxy = old })
	envProxy = func(*http.Request) (*url.URL, error) { return proxy, nil }
	for _, u := range []string{"http://127.0.0.1:7420/x", "http://localhost:7420/x", "http://[::1]:7420/x", "http://127.3.0.1/x"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if p, err := agentProxy(req); p != nil || err != nil {
			t.Errorf("%s goes through proxy %v (%v); want none", u, p, err)
		}
	}
	for _, u := range []string{"http://meridian.example:7420/x", "https://10.0.0.5:7420/x", "http://127.0.0.1.example.com/x"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if p, err := agentProxy(req); p != proxy || err != nil {
			t.Errorf("%s goes through proxy %v (%v); want the environment's, %v", u, p, err, proxy)
		}
	}
}
