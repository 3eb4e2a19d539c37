package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigViewAsTheFile: config view prints the configuration with the
// keys the file holds (currentContext, tokenFile), so that what it shows
// can be read, and copied, as a configuration file; -o json has the same
// keys. It printed Go's field names (CurrentContext, TokenFile) and an
// empty Token for every context, which the file's strict reader refuses as
// unknown fields.
func TestConfigViewAsTheFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(dir, "config.yaml"))
	t.Setenv("MERIDIAN_HOME", filepath.Join(dir, "home"))
	tokenFile := filepath.Join(dir, "lab.token")
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", "https://lab.example:7420", "--token-file", tokenFile, "--catalog", "sites"); code != 0 {
		t.Fatalf("set-context: %d %s", code, out)
	}
	if out, code := runRoot(t, "config", "use-context", "lab"); code != 0 {
		t.Fatalf("use-context: %d %s", code, out)
	}
	out, code := runRoot(t, "config", "view")
	if code != 0 {
		t.Fatalf("view: %d %s", code, out)
	}
	for _, want := range []string{"currentContext: lab", "tokenFile: " + tokenFile, "server: https://lab.example:7420"} {
		if !strings.Contains(out, want) {
			t.Errorf("view does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "token: ") || strings.Contains(out, "Token") {
		t.Errorf("view shows a token key for a context that has none:\n%s", out)
	}
	// What view printed reads back as a configuration file, the same.
	copyPath := filepath.Join(dir, "copy.yaml")
	if err := os.WriteFile(copyPath, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MERIDIAN_CONFIG", copyPath)
	cfg, _, err := loadConfig()
	if err != nil {
		t.Fatalf("view's output as a configuration file: %v\n%s", err, out)
	}
	// set-context keeps a relative --catalog as its absolute path.
	sites, _ := filepath.Abs("sites")
	if x, err := cfg.context(); err != nil || x == nil || x.Name != "lab" || x.TokenFile != tokenFile || x.Catalog != sites {
		t.Errorf("view's output read back: %+v, %v", x, err)
	}
	js, _ := runRoot(t, "config", "view", "-o", "json")
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil || m["currentContext"] != "lab" {
		t.Errorf("view -o json: %v\n%s", err, js)
	}
}
