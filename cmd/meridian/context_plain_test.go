package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestContextRecordsPlainHTTPConsent: a context of a plain http:// server
// on another machine needed --insecure-http on every command, as nothing
// could record the consent. config set-context --insecure-http records it
// for the context's own server address: it allows that address alone,
// get-contexts shows it, another --server or MERIDIAN_SERVER is refused
// as before, a server set later (by set-context or by hand) drops it, and
// an https:// context has nothing to allow.
func TestContextRecordsPlainHTTPConsent(t *testing.T) {
	cfgPath := isolatedConfig(t)

	const lab = "http://lab.example:7420"
	refused := func(what string, f *clientFlags) {
		t.Helper()
		if _, err := f.client(); err == nil || !strings.Contains(err.Error(), "--insecure-http") || exitStatus(err) != exitBadInput {
			t.Errorf("%s: %v, want a refusal naming --insecure-http", what, err)
		}
	}
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", lab, "--token", "lab-token"); code != 0 {
		t.Fatalf("set-context: %s", out)
	}
	refused("a context without consent", &clientFlags{})

	out, code := runRoot(t, "config", "set-context", "lab", "--insecure-http")
	if code != 0 || !strings.Contains(out, "plain HTTP allowed to "+lab) {
		t.Fatalf("set-context --insecure-http: exit %d\n%s", code, out)
	}
	c, err := (&clientFlags{}).client()
	if err != nil || c.Base != lab || c.Token != "lab-token" {
		t.Fatalf("the context's own server after consent: %v", err)
	}
	// Its own address given again, by flag, with a token of the flag's.
	if _, err := (&clientFlags{server: lab + "/", token: "other"}).client(); err != nil {
		t.Errorf("--server of the context's own address: %v", err)
	}
	// Any other address: refused, whichever way it is given.
	refused("--server of another host", &clientFlags{server: "http://evil.example:7420", token: "lab-token"})
	refused("--server of another port", &clientFlags{server: "http://lab.example:80", token: "lab-token"})
	t.Setenv("MERIDIAN_SERVER", "http://evil.example:7420")
	t.Setenv("MERIDIAN_TOKEN", "lab-token")
	refused("MERIDIAN_SERVER of another host", &clientFlags{})
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")

	// The listing shows it; so do its JSON and the file.
	out, _ = runRoot(t, "config", "get-contexts")
	if !strings.Contains(out, "PLAIN-HTTP") || !strings.Contains(out, "allowed") {
		t.Errorf("get-contexts does not show the consent:\n%s", out)
	}
	js, _ := runRoot(t, "config", "get-contexts", "-o", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) != 1 || rows[0]["insecureHTTP"] != true {
		t.Errorf("get-contexts -o json: %v\n%s", err, js)
	}
	if b, _ := os.ReadFile(cfgPath); !strings.Contains(string(b), "insecureHTTP: "+lab) {
		t.Errorf("the file does not record the consent's address:\n%s", b)
	}

	// Another server, set by set-context: the consent is not carried over.
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", "http://lab2.example:7420"); code != 0 || strings.Contains(out, "plain HTTP allowed") {
		t.Fatalf("set-context --server: exit %d\n%s", code, out)
	}
	refused("a context whose server changed", &clientFlags{})
	if out, _ := runRoot(t, "config", "get-contexts"); strings.Contains(out, "allowed") {
		t.Errorf("get-contexts shows a consent the new server was never given:\n%s", out)
	}
	if b, _ := os.ReadFile(cfgPath); strings.Contains(string(b), "insecureHTTP") {
		t.Errorf("the file keeps a consent for the old address:\n%s", b)
	}

	// Changed by hand: the recorded address no longer the context's.
	hand := "currentContext: lab\ncontexts:\n  - name: lab\n    server: http://evil.example:7420\n    token: lab-token\n    insecureHTTP: " + lab + "\n"
	if err := os.WriteFile(cfgPath, []byte(hand), 0o600); err != nil {
		t.Fatal(err)
	}
	refused("a server edited by hand under a consent for another", &clientFlags{})
	if out, _ := runRoot(t, "config", "get-contexts"); strings.Contains(out, "allowed") {
		t.Errorf("get-contexts shows a consent for another address:\n%s", out)
	}

	// Withdrawn.
	runRoot(t, "config", "set-context", "lab", "--server", lab, "--insecure-http")
	if _, err := (&clientFlags{}).client(); err != nil {
		t.Fatalf("consent given with the server: %v", err)
	}
	runRoot(t, "config", "set-context", "lab", "--insecure-http=false")
	refused("a consent withdrawn", &clientFlags{})

	// Nothing to allow: https://, this machine, no server.
	for _, server := range []string{"https://lab.example:7420", "http://127.0.0.1:7420", ""} {
		runRoot(t, "config", "set-context", "x", "--server", server)
		if out, code := runRoot(t, "config", "set-context", "x", "--insecure-http"); code != exitBadInput || !strings.Contains(out, "--insecure-http") {
			t.Errorf("--insecure-http for server %q: exit %d\n%s", server, code, out)
		}
	}

	// A file written before the field reads as before; a field that is no
	// http:// address is refused, naming it.
	os.WriteFile(cfgPath, []byte("currentContext: lab\ncontexts:\n  - name: lab\n    server: "+lab+"\n    token: lab-token\n"), 0o600)
	refused("a file without the field", &clientFlags{})
	for _, bad := range []string{"yes", "https://lab.example:7420", "true"} {
		os.WriteFile(cfgPath, []byte("contexts:\n  - name: lab\n    server: "+lab+"\n    insecureHTTP: "+bad+"\n"), 0o600)
		if _, _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "insecureHTTP") {
			t.Errorf("insecureHTTP: %s: %v, want an error naming the field", bad, err)
		}
	}
}

// TestPlainHTTPConsentOnlyFromOwnFile: a context's consent to plain HTTP
// counts only in a configuration file that its user alone could have
// written. Before, a file others may write (a shared MERIDIAN_CONFIG, a
// group-writable one) or one another user owns could record the consent,
// and a token given by flag or MERIDIAN_TOKEN was sent in clear to the
// server named with it, where without the file it is refused.
func TestPlainHTTPConsentOnlyFromOwnFile(t *testing.T) {
	cfgPath := isolatedConfig(t)
	defer func(f func() int) { geteuid = f }(geteuid)

	const lab = "http://lab.example:7420"
	consent := "currentContext: lab\ncontexts:\n  - name: lab\n    server: " + lab + "\n    tokenFile: " + filepath.Join(filepath.Dir(cfgPath), "none") + "\n    insecureHTTP: " + lab + "\n"
	write := func(mode os.FileMode) {
		t.Helper()
		os.Remove(cfgPath)
		if err := os.WriteFile(cfgPath, []byte(consent), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(cfgPath, mode); err != nil {
			t.Fatal(err)
		}
	}
	flags := &clientFlags{server: lab, token: "my-token"}
	write(0o600)
	if _, err := flags.client(); err != nil {
		t.Fatalf("consent in the user's own file: %v", err)
	}
	for _, mode := range []os.FileMode{0o666, 0o620, 0o602} {
		write(mode)
		_, err := flags.client()
		if err == nil || !strings.Contains(err.Error(), "--insecure-http") || !strings.Contains(err.Error(), "write") {
			t.Errorf("consent in a file of mode %o that others may write: %v, want a refusal saying so", mode, err)
		}
		if out, _ := runRoot(t, "config", "get-contexts"); strings.Contains(out, "allowed") {
			t.Errorf("get-contexts shows a consent a file of mode %o gives:\n%s", mode, out)
		}
	}
	// Another user's file: chown it where this test may, else stand in
	// another user for this one.
	write(0o600)
	if os.Geteuid() == 0 {
		if err := os.Chown(cfgPath, 4242, 4242); err != nil {
			t.Fatal(err)
		}
	} else {
		me := os.Geteuid()
		geteuid = func() int { return me + 1 }
	}
	if _, err := flags.client(); err == nil || !strings.Contains(err.Error(), "--insecure-http") || !strings.Contains(err.Error(), "user") {
		t.Errorf("consent in another user's file: %v, want a refusal saying so", err)
	}
}

// isolatedConfig points the CLI at a configuration file of its own in a
// test directory (returned; not yet written), with no server, token,
// fingerprint or consent from the environment and no context chosen.
func isolatedConfig(t *testing.T) string {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	t.Setenv("MERIDIAN_CONFIG", cfgPath)
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")
	t.Setenv("MERIDIAN_TLS_FINGERPRINT", "")
	t.Setenv("MERIDIAN_INSECURE_HTTP", "")
	t.Setenv("MERIDIAN_HOME", filepath.Join(dir, "home"))
	contextFlag = ""
	t.Cleanup(func() { contextFlag = "" })
	return cfgPath
}
