package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientJSONFieldsNamed: a client.json the CLI cannot use is refused
// naming the file and its field. One without a token blamed --token, and
// one with a malformed fingerprint --tls-fingerprint, neither given; one
// whose server is no http(s) address (empty, or host:port alone) made a
// client that failed at its first request with Go's "unsupported protocol
// scheme", naming neither the file nor the field.
func TestClientJSONFieldsNamed(t *testing.T) {
	home := filepath.Join(filepath.Dir(isolatedConfig(t)), "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, clientFile)
	for _, c := range []struct{ file, field string }{
		{`{"server":"https://lab.example:7420","token":""}`, "field token"},
		{`{"server":"https://lab.example:7420","token":"t","fingerprint":"abcd"}`, "field fingerprint"},
		{`{"token":"t"}`, "field server"},
		{`{"server":"lab.example:7420","token":"t"}`, "field server"},
	} {
		if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
			t.Fatal(err)
		}
		cl, err := (&clientFlags{}).client()
		if err == nil {
			t.Errorf("%s: a client for %q", c.file, cl.Base)
			continue
		}
		if !strings.HasPrefix(err.Error(), path+": "+c.field) || exitStatus(err) != exitBadInput {
			t.Errorf("%s: %v (exit %d), want %s: %s", c.file, err, exitStatus(err), path, c.field)
		}
	}
	// Flags still name themselves.
	if err := os.WriteFile(path, []byte(`{"server":"https://lab.example:7420","token":"t"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&clientFlags{fingerprint: "abcd"}).client(); err == nil || !strings.HasPrefix(err.Error(), "--tls-fingerprint: ") {
		t.Errorf("--tls-fingerprint abcd: %v", err)
	}
}
