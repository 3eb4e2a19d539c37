package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigSetContextRefusesBytesNotUTF8: config set-context refuses a
// value that is not UTF-8 text, naming the flag, and writes nothing. It
// saved it: Go's quoting wrote each byte that is not UTF-8 as \xff, which
// the file's YAML reader reads back as another character (U+00FF), so the
// value changed at the next load (a catalog directory, a token, a server
// that were not the ones given).
func TestConfigSetContextRefusesBytesNotUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, what string
		args       []string
	}{
		{"server", "--server", []string{"lab", "--server", "https://lab.example:7420/\xff"}},
		{"token", "--token", []string{"lab", "--token", "t0123456789\xff"}},
		{"token file", "--token-file", []string{"lab", "--token-file", "/tmp/lab\xfe.token"}},
		{"catalog", "--catalog", []string{"lab", "--catalog", "sites\xff"}},
		{"name", "the context's name", []string{"lab\xc3", "--catalog", "sites"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			t.Setenv("MERIDIAN_CONFIG", path)
			t.Setenv("MERIDIAN_HOME", filepath.Join(dir, "home"))
			out, code := runRoot(t, append([]string{"config", "set-context"}, tc.args...)...)
			if code != exitBadInput {
				t.Fatalf("set-context with a value not UTF-8: exit %d, want %d\n%s", code, exitBadInput, out)
			}
			if !strings.Contains(out, tc.what) || !strings.Contains(out, "UTF-8") {
				t.Errorf("the refusal does not name %s and the problem:\n%s", tc.what, out)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the configuration file was written (%v)", err)
			}
		})
	}
}

// TestConfigEncodeRefusesBytesNotUTF8: a configuration holding a value
// that is not UTF-8 text is not written, and the error names its field:
// written, it read back as other characters.
func TestConfigEncodeRefusesBytesNotUTF8(t *testing.T) {
	for _, tc := range []struct {
		field string
		cfg   cliConfig
	}{
		{"contexts[1].catalog", cliConfig{Contexts: []cliContext{{Name: "a"}, {Name: "b", Catalog: "x\xff"}}}},
		{"contexts[0].name", cliConfig{Contexts: []cliContext{{Name: "a\xff"}}}},
		{"currentContext", cliConfig{CurrentContext: "a\xff", Contexts: []cliContext{{Name: "a\xff"}}}},
		{"serve.localCountry", cliConfig{Serve: serveConfig{LocalCountry: "D\xff"}}},
	} {
		if b, err := tc.cfg.encode(); err == nil || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("%s not UTF-8: encoded (%v):\n%s", tc.field, err, b)
		}
	}
}

// TestConfigFileNotUTF8RefusedAtLoad: a configuration file with a byte
// that is not UTF-8 text anywhere, a comment too, is refused whole at load,
// naming the file, the line and the byte: the YAML reader took such bytes
// into strings as other characters, which save then wrote back changed.
func TestConfigFileNotUTF8RefusedAtLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	t.Setenv("MERIDIAN_CONFIG", path)
	t.Setenv("MERIDIAN_HOME", filepath.Join(dir, "home"))
	// "café" in Latin-1: é is the single byte 0xe9.
	data := "currentContext: lab\n# the caf\xe9's cluster\ncontexts:\n- name: lab\n  server: https://lab.example:7420\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := loadConfig()
	if err == nil {
		t.Fatalf("a configuration file with a Latin-1 byte in a comment was read: %+v", cfg)
	}
	for _, want := range []string{path + ": ", "line 2", "0xe9", "UTF-8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
}
