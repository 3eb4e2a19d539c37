package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientRefusesPlainHTTPToAnotherHost: a --server, MERIDIAN_SERVER or
// context address of plain http:// on another machine (a typo, or a
// configuration a man in the middle could exploit) would send the bearer
// token across the network in clear. The CLI refuses it, naming the flag
// that allows it, and sends nothing; this machine's addresses, https://,
// --insecure-http and MERIDIAN_INSECURE_HTTP=1 are as before, and so is
// client.json, which `meridian serve` wrote for its own listener.
func TestClientRefusesPlainHTTPToAnotherHost(t *testing.T) {
	dir := filepath.Dir(isolatedConfig(t))
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o700)
	t.Setenv("MERIDIAN_HOME", home)

	for _, server := range []string{"http://lab.example:7420", "HTTP://lab.example", "http://10.1.2.3:7420", "http://[2001:db8::1]:7420"} {
		_, err := (&clientFlags{server: server, token: "secret"}).client()
		if err == nil || !strings.Contains(err.Error(), "--insecure-http") || exitStatus(err) != exitBadInput {
			t.Errorf("%s: %v (exit %d), want a refusal naming --insecure-http", server, err, exitStatus(err))
		}
	}
	t.Setenv("MERIDIAN_SERVER", "http://lab.example:7420")
	t.Setenv("MERIDIAN_TOKEN", "secret")
	if _, err := (&clientFlags{}).client(); err == nil {
		t.Error("MERIDIAN_SERVER of plain HTTP to another host: accepted")
	}
	// Through a whole verb: refused before any request.
	if out, code := runRoot(t, "get", "runs"); code != exitBadInput || !strings.Contains(out, "--insecure-http") {
		t.Errorf("get runs: exit %d\n%s", code, out)
	}
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")

	for _, server := range []string{"http://127.0.0.1:7420", "http://localhost:7420", "http://[::1]:7420", "http://0.0.0.0:7420", "https://lab.example:7420"} {
		if c, err := (&clientFlags{server: server, token: "secret"}).client(); err != nil || c.Base != server {
			t.Errorf("%s: %v", server, err)
		}
	}
	if _, err := (&clientFlags{server: "http://lab.example:7420", token: "secret", insecureHTTP: true}).client(); err != nil {
		t.Errorf("--insecure-http: %v", err)
	}
	t.Setenv("MERIDIAN_INSECURE_HTTP", "1")
	if _, err := (&clientFlags{server: "http://lab.example:7420", token: "secret"}).client(); err != nil {
		t.Errorf("MERIDIAN_INSECURE_HTTP=1: %v", err)
	}
	t.Setenv("MERIDIAN_INSECURE_HTTP", "")

	os.WriteFile(filepath.Join(home, clientFile), []byte(`{"server": "http://lb.example:7420", "token": "from-client-json"}`), 0o600)
	if c, err := (&clientFlags{}).client(); err != nil || c.Base != "http://lb.example:7420" {
		t.Errorf("client.json's own server: %v", err)
	}
}
