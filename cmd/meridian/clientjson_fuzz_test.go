package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meridian.dev/meridian/statedir"
)

// FuzzClientJSON reads arbitrary client.json files as the CLI does when no
// flag, environment variable or context names the server or the token:
// through clientFlags.client. A client it makes goes to the server the
// file names (an http:// or https:// address), with its token, and the
// file read, written again as serve writes it, reads back the same; a file
// it refuses is named in the error, as the place to fix.
func FuzzClientJSON(f *testing.F) {
	f.Add([]byte(`{"server":"http://127.0.0.1:7420","token":"` + strings.Repeat("a1", 32) + `"}`))
	f.Add([]byte("{\n  \"server\": \"https://lab.example:7420/\",\n  \"token\": \"t\",\n  \"fingerprint\": \"" + strings.Repeat("ab", 32) + "\"\n}\n"))
	f.Add([]byte(`{"server":"https://lab.example:7420","token":"t","fingerprint":"sha256:AB:CD"}`))
	f.Add([]byte(`{"server":"https://u:p@lab.example","token":""}`))
	f.Add([]byte(`{"server":"http://10.0.0.1:7420","token":"t","Server":"http://evil.example"}`))
	f.Add([]byte(`{"server":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"token":"t"}`))
	f.Add([]byte(`{"server":"lab.example:7420","token":"t"}`))
	dir := f.TempDir()
	home := filepath.Join(dir, "home")
	back := statedir.Dir{Path: filepath.Join(dir, "back")}
	if err := os.MkdirAll(home, 0o700); err != nil {
		f.Fatal(err)
	}
	f.Setenv("MERIDIAN_CONFIG", filepath.Join(dir, "config.yaml"))
	f.Setenv("MERIDIAN_HOME", home)
	for _, k := range []string{"MERIDIAN_SERVER", "MERIDIAN_TOKEN", "MERIDIAN_TLS_FINGERPRINT", "MERIDIAN_INSECURE_HTTP"} {
		f.Setenv(k, "")
	}
	contextFlag = ""
	path := filepath.Join(home, clientFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := (&clientFlags{}).client()
		cfg, rerr := statedir.Dir{Path: home}.ReadClient()
		if rerr != nil {
			if err == nil {
				t.Fatalf("a client from a client.json its reader refuses (%v)", rerr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("the error does not name %s: %v", path, err)
			}
			return
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("client.json %q refused, the error not naming it: %v", data, err)
			}
			return
		}
		if c.Base != strings.TrimRight(cfg.Server, "/") || c.Token != cfg.Token {
			t.Fatalf("client.json %q: a client for %q with token %q", data, c.Base, c.Token)
		}
		if u, err := url.Parse(c.Base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("client.json %q: a client for %q, which is no server's address", data, c.Base)
		}
		if err := back.WriteClient(cfg); err != nil {
			t.Fatal(err)
		}
		again, err := back.ReadClient()
		if err != nil || again != cfg {
			t.Fatalf("client.json %q written again reads back %+v, %v; read %+v", data, again, err, cfg)
		}
	})
}
