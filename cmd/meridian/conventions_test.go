package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/internal/textfit"
)

// runRoot runs the command line in-process and returns its output and the
// exit status main would give.
func runRoot(t *testing.T, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		out.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), exitStatus(err)
}

// TestUsageErrorsExit2: the help promises exit 2 on bad input, but unknown
// verbs, flags and argument counts exited 1.
func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"plan", "--no-such-flag"},
		{"logs"},
		{"describe", "run"},
		{"get"},
		{"estimate", "--count", "many"},
		{"catalog", "sites", "a", "b"},
		{"version", "extra"},
		{"get", "runs", "--color", "purple"},
	} {
		out, code := runRoot(t, args...)
		if code != exitBadInput {
			t.Errorf("meridian %s: exit %d, want 2\n%s", strings.Join(args, " "), code, out)
		}
	}
	if _, code := runRoot(t, "catalog", "countries", "DE"); code != exitOK {
		t.Errorf("a good command: exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	out, code := runRoot(t, "version")
	if code != 0 || !strings.HasPrefix(out, "meridian dev (") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", code, out)
	}
	out, _ = runRoot(t, "--version")
	if !strings.HasPrefix(out, "meridian dev") {
		t.Errorf("--version: %q", out)
	}
	old := version
	version = "v9.9.9"
	defer func() { version = old }()
	out, _ = runRoot(t, "version", "-o", "json")
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil || b.Version != "v9.9.9" || b.Go == "" {
		t.Errorf("version -o json: %v %+v", err, b)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3 * time.Second: "3s", 90 * time.Second: "1m", 5 * time.Hour: "5h", 47 * time.Hour: "47h", 72 * time.Hour: "3d", -time.Second: "0s",
	} {
		if got := ageOf(d); got != want {
			t.Errorf("ageOf(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestConfigContexts: a kubeconfig-like file names servers, tokens and a
// default catalog; client.json in the state directory still works.
func TestConfigContexts(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	t.Setenv("MERIDIAN_CONFIG", cfgPath)
	t.Setenv("MERIDIAN_SERVER", "")
	t.Setenv("MERIDIAN_TOKEN", "")
	home := filepath.Join(dir, "home")
	os.MkdirAll(home, 0o700)
	t.Setenv("MERIDIAN_HOME", home)
	os.WriteFile(filepath.Join(home, clientFile), []byte(`{"server": "http://127.0.0.1:1", "token": "from-client-json"}`), 0o600)

	// Without a config file: client.json.
	c, err := (&clientFlags{}).client()
	if err != nil || c.Base != "http://127.0.0.1:1" {
		t.Fatalf("client.json: %v %+v", err, c)
	}
	tokenFile := filepath.Join(dir, "lab.token")
	os.WriteFile(tokenFile, []byte("lab-token\n"), 0o600)
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1))
	if out, code := runRoot(t, "config", "set-context", "lab", "--server", "https://lab.example:7420", "--token-file", tokenFile, "--catalog", sites); code != 0 {
		t.Fatalf("set-context: %s", out)
	}
	if out, code := runRoot(t, "config", "set-context", "other", "--server", "https://other.example", "--token", "secret-token"); code != 0 {
		t.Fatalf("set-context: %s", out)
	}
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", fi, err)
	}
	out, _ := runRoot(t, "config", "get-contexts")
	current := ""
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "*" {
			current = f[1]
		}
	}
	if current != "lab" {
		t.Errorf("current context %q, want the first one set, lab:\n%s", current, out)
	}
	if out, _ := runRoot(t, "config", "view"); strings.Contains(out, "secret-token") || !strings.Contains(out, "REDACTED") {
		t.Errorf("config view shows a token:\n%s", out)
	}
	c, err = (&clientFlags{}).client()
	if err != nil || c.Base != "https://lab.example:7420" {
		t.Fatalf("current context: %v %+v", err, c)
	}
	contextFlag = "other"
	c, err = (&clientFlags{}).client()
	contextFlag = ""
	if err != nil || c.Base != "https://other.example" {
		t.Fatalf("--context other: %v %+v", err, c)
	}
	// Flags and environment still win.
	t.Setenv("MERIDIAN_SERVER", "https://env.example")
	t.Setenv("MERIDIAN_TOKEN", "env-token")
	c, _ = (&clientFlags{}).client()
	if c.Base != "https://env.example" {
		t.Errorf("MERIDIAN_SERVER lost to the config file: %s", c.Base)
	}
	t.Setenv("MERIDIAN_TOKEN", "")
	// The context's catalog is plan's default --catalog.
	ok := writePlanFile(t, dir, "ok.yaml", planOrg+planJob)
	out, code, _ := runPlanCLI(t, "plan", "-f", ok, "--as-of", "2025-06-01")
	if code != exitOK || !strings.Contains(out, "us-test-1") || strings.Contains(out, "aws-us-east-1") {
		t.Errorf("plan with the context's catalog: exit %d\n%s", code, out)
	}
	if _, code := runRoot(t, "--context", "nowhere", "get", "runs"); code != exitBadInput {
		t.Errorf("unknown --context: exit %d", code)
	}
	os.WriteFile(cfgPath, []byte("contexts: [{name: a}]\ncolour: red\n"), 0o600)
	if _, _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field accepted: %v", err)
	}
}

// TestCompletion: dynamic values complete through cobra's __complete.
func TestCompletion(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "plan", "--explain", "my-joh"}, "my-johor-1"},
		{[]string{"__complete", "catalog", "sites", "--country", "M"}, "MY"},
		{[]string{"__complete", "estimate", "--accelerator", "huawei-"}, "huawei-ascend-910b"},
		{[]string{"__complete", "rules", "show", "cn-cbdf"}, "cn-cbdf-2024-assessment"},
		{[]string{"__complete", "dataset", "add", "x", "--origin", "E"}, "EU"},
		{[]string{"__complete", "get", ""}, "runs"},
	} {
		out, _ := runRoot(t, tc.args...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v: no %q in\n%s", tc.args, tc.want, out)
		}
	}
}

// TestColor: no colour when piped or with NO_COLOR; --color always forces it.
func TestColor(t *testing.T) {
	var b bytes.Buffer
	if colorOn(&b) {
		t.Error("colour into a buffer (a pipe)")
	}
	colorMode = "always"
	defer func() { colorMode = "auto" }()
	if !colorOn(&b) {
		t.Error("--color always ignored")
	}
	colorMode = "auto"
	t.Setenv("NO_COLOR", "1")
	if colorOn(os.Stdout) {
		t.Error("colour with NO_COLOR set")
	}
	if got := paint("failed  ", sgrRed); textfit.Width(strings.ReplaceAll(strings.ReplaceAll(got, "\x1b[31m", ""), "\x1b[0m", "")) != 8 || !strings.HasSuffix(got, "  ") {
		t.Errorf("paint changed the cell's width: %q", got)
	}
}

// TestValidateOutput: validate printed only prose; -o json gives the counts,
// or each problem with file, line, field and the accepted values (exit 2).
func TestValidateOutput(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	stdout := func(args ...string) (validateResult, int) {
		root := newRootCmd()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(args)
		err := root.Execute()
		var res validateResult
		if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
			t.Fatalf("%v: stdout is not JSON (%v):\n%s", args, jerr, out.String())
		}
		return res, exitStatus(err)
	}
	res, code := stdout("validate", "-f", filepath.Join("..", "..", "examples", "eu-personal.yaml"), "-o", "json")
	if code != 0 || !res.Valid || res.Organizations != 1 || res.Jobs != 1 || res.Sites == 0 || len(res.Problems) != 0 {
		t.Errorf("a valid file: exit %d, %+v", code, res)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: meridian.dev/v1alpha1\nkind: Organization\nmetadata: {name: x}\nspec:\n  headquarters: XX\n"), 0o644)
	res, code = stdout("validate", "-f", bad, "-o", "json")
	if code != exitBadInput || res.Valid || len(res.Problems) != 1 {
		t.Fatalf("a bad file: exit %d, %+v", code, res)
	}
	if p := res.Problems[0]; p.File != bad || p.Line != 5 || p.Field != "spec.headquarters" || !strings.Contains(p.Message, "not a known country") || !slices.Contains(p.Accepted, "DE") {
		t.Errorf("problem %+v", p)
	}
	if _, code := runRoot(t, "validate", "-f", bad, "-o", "xml"); code != exitBadInput {
		t.Errorf("-o xml: exit %d", code)
	}
}
