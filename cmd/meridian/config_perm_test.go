package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigTokenInLooseFile: a configuration file that holds a token and
// that others may read is refused when its token would be used, as a
// tokenFile, tokens.json and the state directory's keys are: the CLI does
// not go on using a secret that every local user can copy.
func TestConfigTokenInLooseFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	t.Setenv("MERIDIAN_CONFIG", cfgPath)
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")
	t.Setenv("MERIDIAN_HOME", filepath.Join(dir, "home"))
	body := "currentContext: lab\ncontexts:\n- name: lab\n  server: https://lab.example:7420\n  token: secret-token\n"
	if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(cfgPath, 0o644)
	_, err := (&clientFlags{}).client()
	if err == nil || !strings.Contains(err.Error(), "lets others read") || !strings.Contains(err.Error(), cfgPath) {
		t.Fatalf("a token in a config file of mode 0644: %v, want a refusal naming the file", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("the refusal shows the token: %v", err)
	}
	// A token given otherwise does not read the file's.
	t.Setenv("MERIDIAN_TOKEN", "env-token")
	if c, err := (&clientFlags{}).client(); err != nil || c.Token != "env-token" || c.Base != "https://lab.example:7420" {
		t.Errorf("token from the environment beside a loose file: %v %+v", err, c)
	}
	t.Setenv("MERIDIAN_TOKEN", "")
	os.Chmod(cfgPath, 0o600)
	if c, err := (&clientFlags{}).client(); err != nil || c.Token != "secret-token" {
		t.Errorf("mode 0600: %v %+v", err, c)
	}
}
