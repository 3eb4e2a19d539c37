package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/statedir"
)

// TestClientFileExposed: a client.json others may read is refused, naming
// it and the chmod that fixes it, when the CLI needs its server or token;
// consulted for its fingerprint alone (--server and --token given), it is
// passed over with a warning on stderr, its pin unused.
func TestClientFileExposed(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(home, "no-config.yaml"))
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")
	t.Setenv("MERIDIAN_TLS_FINGERPRINT", "")
	path := filepath.Join(home, clientFile)
	const fp = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99"
	if err := (statedir.Dir{Path: home}).WriteClient(statedir.Client{Server: "https://127.0.0.1:1", Token: "from-client-json", Fingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := (&clientFlags{}).client(); !errors.Is(err, statedir.ErrExposed) || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("client.json readable by others: %+v %v, want a refusal naming it and the chmod", c, err)
	}

	stderr, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = stderr
	c, err := (&clientFlags{server: "https://127.0.0.1:1", token: "from-flag"}).client()
	os.Stderr = saved
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "from-flag" {
		t.Errorf("token %q, want the flag's", c.Token)
	}
	got, _ := os.ReadFile(stderr.Name())
	if !strings.Contains(string(got), "warning: "+path+": ") || !strings.Contains(string(got), "chmod 600 "+path) {
		t.Errorf("stderr %q: want a warning naming %s and the chmod", got, path)
	}
}
