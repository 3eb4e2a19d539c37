package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseConfig feeds arbitrary bytes to the CLI configuration file's
// reader. It must not panic or hang (the test's timeout catches that), and
// every error must start with the file's name. A configuration it accepts must read
// back the same from what save writes and from what config view prints
// (tokens shown as REDACTED), since both are meant to be read again as the
// file.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("currentContext: lab\ncontexts:\n- name: lab\n  server: https://lab.example:7420\n  tokenFile: ~/lab.token\n  catalog: sites\n"))
	f.Add([]byte("contexts:\n- name: a\n  token: t0123456789\n  server: http://10.0.0.1:7420\n  insecureHTTP: http://10.0.0.1:7420\nserve:\n  localCountry: DE\n"))
	f.Add([]byte("contexts:\n- name: a\n- name: a\n"))
	f.Add([]byte("contexts: &x\n- name: a\n  catalog: *x\n"))
	f.Add([]byte("{}"))
	const path = "/home/u/.config/meridian/config.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig(path, data, 0o600, 1000)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Fatalf("error does not name the file: %q", err)
			}
			return
		}
		saved, err := cfg.encode()
		if err != nil {
			t.Fatalf("an accepted configuration does not encode: %v", err)
		}
		back, err := parseConfig(path, saved, 0o600, 1000)
		if err != nil {
			t.Fatalf("what save writes does not read back: %v\n%s", err, saved)
		}
		if !sameConfig(cfg, back) {
			t.Fatalf("what save writes reads back different:\nread  %+v\nsaved %+v\n%s", cfg, back, saved)
		}
		shown := *cfg
		shown.Contexts = append([]cliContext(nil), cfg.Contexts...)
		for i := range shown.Contexts {
			if shown.Contexts[i].Token != "" {
				shown.Contexts[i].Token = "REDACTED"
			}
		}
		var view bytes.Buffer
		if err := writeConfigView(&view, path, shown); err != nil {
			t.Fatalf("config view of an accepted configuration: %v", err)
		}
		viewed, err := parseConfig(path, view.Bytes(), 0o600, 1000)
		if err != nil {
			t.Fatalf("what config view prints does not read back: %v\n%s", err, view.Bytes())
		}
		if !sameConfig(&shown, viewed) {
			t.Fatalf("what config view prints reads back different:\nshown %+v\nread  %+v\n%s", shown, viewed, view.Bytes())
		}
	})
}

// sameConfig reports whether a and b hold the same configuration: the same
// JSON (config view -o json), where an empty list and none are one.
func sameConfig(a, b *cliConfig) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
