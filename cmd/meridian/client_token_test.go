package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientTokenOnlyForItsServer: a --server or MERIDIAN_SERVER naming
// another server than the configuration's context or client.json (a
// colleague's server, a typo, a host someone else runs) took the token
// from there all the same, and sent the local admin token to whoever
// answered. A configured token now goes only to its own server; for
// another the CLI asks for --token and sends nothing.
func TestClientTokenOnlyForItsServer(t *testing.T) {
	dir := filepath.Dir(isolatedConfig(t))
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o700)
	t.Setenv("MERIDIAN_HOME", home)
	os.WriteFile(filepath.Join(home, clientFile), []byte(`{"server": "http://127.0.0.1:1", "token": "from-client-json"}`), 0o600)

	refused := func(what string, f *clientFlags) {
		t.Helper()
		c, err := f.client()
		if err == nil {
			t.Errorf("%s: a client for %s with token %q", what, c.Base, c.Token)
			return
		}
		if !strings.Contains(err.Error(), "--token") || strings.Contains(err.Error(), "from-") || exitStatus(err) != exitBadInput {
			t.Errorf("%s: %v (exit %d)", what, err, exitStatus(err))
		}
	}
	uses := func(what string, f *clientFlags, token string) {
		t.Helper()
		if c, err := f.client(); err != nil || c.Token != token {
			t.Errorf("%s: %v, want token %q", what, err, token)
		}
	}
	refused("--server elsewhere, client.json's token", &clientFlags{server: "https://other.example"})
	uses("client.json's own server", &clientFlags{}, "from-client-json")
	uses("--server client.json's", &clientFlags{server: "http://127.0.0.1:1/"}, "from-client-json")
	uses("--server elsewhere with --token", &clientFlags{server: "https://other.example", token: "mine"}, "mine")

	if out, code := runRoot(t, "config", "set-context", "lab", "--server", "https://lab.example:7420", "--token", "from-context"); code != 0 {
		t.Fatalf("set-context: %s", out)
	}
	uses("the context", &clientFlags{}, "from-context")
	uses("--server the context's", &clientFlags{server: "https://lab.example:7420"}, "from-context")
	refused("--server elsewhere, the context's token", &clientFlags{server: "https://other.example"})
	t.Setenv("MERIDIAN_SERVER", "https://other.example")
	refused("MERIDIAN_SERVER elsewhere, the context's token", &clientFlags{})
	t.Setenv("MERIDIAN_TOKEN", "env-token")
	uses("MERIDIAN_SERVER elsewhere with MERIDIAN_TOKEN", &clientFlags{}, "env-token")

	// A password written into the address is not printed in the refusal.
	t.Setenv("MERIDIAN_TOKEN", "")
	for _, f := range []*clientFlags{{server: "https://user:hunter2@other.example"}, {server: "http://user:hunter2@other.example", token: "mine"}} {
		if _, err := f.client(); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", f.server, err)
		}
	}
}
