package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShortHashesFromServerDoNotCrash: apply and audit log print the first
// 12 digits of each hash the server returns. A server (hostile, or one
// that answers in another form) that returns a shorter one crashed the CLI
// with an index out of range; a kind, name, run or payload with control
// characters in it went to the terminal as they came. The hash is shown as
// it is, and everything as text; so are tenant list's, rules history's
// and what-if's fields.
func TestShortHashesFromServerDoNotCrash(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/resources":
			w.Write([]byte(`{"resources":[{"kind":"Dataset\u001b[2J","name":"d\u009b31m","version":1,"sha256":"ab"}]}`))
		case "/v1/audit":
			w.Write([]byte(`{"entries":[{"seq":1,"time":"2026-12-04T00:00:00Z","kind":"state\u001b]0;x\u0007","runId":"r\u009b1","payload":{"reason":"\u009b2J"},"hash":"cd"},{"seq":2,"time":"2026-12-04T00:00:00Z","hash":"","redacted":true}]}`))
		case "/v1/tenants":
			w.Write([]byte(`{"tenants":[{"tenant":"t\u009b1","liveTokens":1,"tokens":[{"id":"i\u001b]0;x\u0007","note":"n\u001b[2J","createdAt":"2026-12-04T00:00:00Z"}]}]}`))
		case "/v1/rules/revisions":
			w.Write([]byte(`{"revisions":[{"revision":1,"sha256":"ef","by":"b\u009b1","reason":"r\u001b[2J","time":"2026-12-04T00:00:00Z","files":["f\u001b]52;c;x\u0007"]}]}`))
		case "/v1/rules/what-if":
			w.Write([]byte(`{"asOf":"2026-12-04","runs":[{"run":"r\u009b1","tenant":"t\u001b[2J","state":"running","site":"s\u001b]0;x\u0007","outcome":"unlawful","rule":"x\u009b2J","reason":"y\u001b[2J","affected":true,"moveTo":"m\u001b[1A","moveToCountry":"MY"}],"copies":[]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	doc := filepath.Join(t.TempDir(), "org.yaml")
	os.WriteFile(doc, []byte("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: o}\nspec: {headquarters: SG}\n"), 0o644)
	flags := []string{"--server", srv.URL, "--token", strings.Repeat("a", 40)}
	clean := func(what, out string) {
		t.Helper()
		if strings.ContainsFunc(strings.ReplaceAll(out, "\n", ""), isControl) {
			t.Errorf("%s: control characters reach the terminal: %q", what, out)
		}
	}
	out, code := runRoot(t, append([]string{"apply", "-f", doc}, flags...)...)
	if code != 0 || !strings.Contains(out, "ab") {
		t.Errorf("apply: exit %d\n%s", code, out)
	}
	clean("apply", out)
	out, code = runRoot(t, append([]string{"audit", "log"}, flags...)...)
	if code != 0 || !strings.Contains(out, "cd") {
		t.Errorf("audit log: exit %d\n%s", code, out)
	}
	clean("audit log", out)
	for _, args := range [][]string{{"tenant", "list"}, {"rules", "history"}, {"what-if", "--rules", "../../examples/rules/org-policy.yaml"}} {
		out, code = runRoot(t, append(args, flags...)...)
		if code != 0 && code != exitNoPlacement {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
		clean(strings.Join(args, " "), out)
	}
}
