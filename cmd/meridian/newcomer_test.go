package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"meridian.dev/meridian/catalog"
)

// TestStagingOnBuiltinSite walks the README's staging example on a built-in
// site, which has no spec.store (it failed: "site my-johor-1 has no
// spec.store"), and its key delivery: `dataset key … > key.age` wrote a
// 0644 file that unseal then refused.
func TestStagingOnBuiltinSite(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	t.Setenv("MERIDIAN_DATASET_KEY", "")
	t.Setenv("MERIDIAN_AGE_IDENTITY", "")
	dir := t.TempDir()
	src := filepath.Join(dir, "data")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte(strings.Repeat("ticket\n", 5000)), 0o644)
	if _, err := runCLI(t, "dataset", "add", "chat-logs", "--from", src, "--origin", "CN", "--classification", "personal",
		"--subjects", "120000", "--basis", "cn-standard-contract"); err != nil {
		t.Fatal(err)
	}
	// Without the organisation the CN rules cannot tell whether they apply
	// and fail closed; the refusal names each rule and its source once.
	_, err := runCLI(t, "dataset", "stage", "chat-logs", "--to", "my-johor-1")
	if err == nil || !strings.Contains(err.Error(), "rule cn-cbdf-2024-contract") {
		t.Fatalf("stage without an organisation: %v", err)
	}
	for _, l := range strings.Split(err.Error(), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "rule" && (strings.Count(l, f[1]) > 1 || strings.Count(l, "(source:") > 1) {
			t.Errorf("repeated rule id or source: %s", l)
		}
	}
	out, err := runCLI(t, "dataset", "stage", "chat-logs", "--to", "my-johor-1", "-f", filepath.Join("..", "..", "examples", "qwen-offshore.yaml"), "--org", "example-lab")
	if err != nil {
		t.Fatalf("stage to a built-in site: %v\n%s", err, out)
	}
	// An obligation line names its rule and its source once each.
	for _, l := range strings.Split(out, "\n") {
		if strings.Count(l, "cn-pipl-39-consent") > 1 || strings.Count(l, "(source:") > 1 {
			t.Errorf("repeated rule id or source: %s", l)
		}
	}
	if out, err := runCLI(t, "dataset", "verify", "chat-logs", "--at", "my-johor-1"); err != nil || !strings.Contains(out, "chunks good") {
		t.Fatalf("verify at a built-in site: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(home, "sites", "my-johor-1", "store")); err != nil {
		t.Errorf("the built-in site's file:// store is not under the state directory: %v", err)
	}

	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(dir, "id")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	// As a shell redirection writes it: 0644.
	wrapped, err := runCLI(t, "dataset", "key", "chat-logs", "--age-recipient", id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.age")
	os.WriteFile(keyFile, []byte(wrapped), 0o644)
	if _, err := runCLI(t, "dataset", "unseal", "chat-logs", "--at", "my-johor-1", "--key-file", keyFile,
		"--age-identity", idFile, "--to", filepath.Join(dir, "out")); err != nil {
		t.Fatalf("unseal with an age-wrapped 0644 key file: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out", "a.txt")); len(got) != 5000*7 {
		t.Errorf("unsealed %d bytes", len(got))
	}
	// A key in clear in a 0644 file is still refused; --out writes 0600.
	plain := filepath.Join(dir, "key")
	if _, err := runCLI(t, "dataset", "key", "chat-logs", "--plain", "--out", plain); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(plain); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--out: %v %v", fi, err)
	}
	os.Chmod(plain, 0o644)
	_, err = runCLI(t, "dataset", "unseal", "chat-logs", "--at", "my-johor-1", "--key-file", plain, "--to", filepath.Join(dir, "out2"))
	var ce *codeError
	if !errors.As(err, &ce) || ce.code != exitBadInput || !strings.Contains(err.Error(), "in clear") {
		t.Errorf("a plain key readable by others: %v", err)
	}
}

// TestUnsealHelpFlags: a backquoted phrase in a flag's usage became its
// value name, so unseal --help showed "--age-identity dataset key
// --age-recipient".
func TestUnsealHelpFlags(t *testing.T) {
	out, _ := runCLI(t, "dataset", "unseal", "--help")
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.HasPrefix(f[0], "--") && strings.HasPrefix(f[1], "dataset") {
			t.Errorf("garbled flag: %s", l)
		}
	}
	if !strings.Contains(out, "--age-identity FILE") {
		t.Errorf("--age-identity lacks its FILE value name:\n%s", out)
	}
}

// TestBackendNotRunnable: a site whose backend this binary cannot run
// passed validation, ranked first, then the run failed ("kubernetes is not
// available"). validate and plan refuse it with file, line and field, and
// serve does not start with it. The program here is built without the
// kubernetes backend (this binary links it; a smaller build might not).
func TestBackendNotRunnable(t *testing.T) {
	kube := siteBackends[catalog.BackendKubernetes]
	if kube == nil {
		t.Fatal("this program does not run kubernetes sites")
	}
	delete(siteBackends, catalog.BackendKubernetes)
	defer func() { siteBackends[catalog.BackendKubernetes] = kube }()
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	os.Mkdir(sites, 0o755)
	writePlanFile(t, sites, "site.yaml", strings.Replace(planSite, "%AVAIL%", "64", 1)+"  backend: {type: kubernetes, namespace: training, image: \"registry.example/train:1\"}\n")
	ok := writePlanFile(t, dir, "ok.yaml", planOrg+planJob)
	for _, args := range [][]string{
		{"validate", "-f", ok, "--catalog", sites},
		{"plan", "-f", ok, "--catalog", sites, "--as-of", "2025-06-01"},
	} {
		out, code, err := runPlanCLI(t, args...)
		if code != exitBadInput || err == nil || !strings.Contains(err.Error(), "site.yaml:11") ||
			!strings.Contains(err.Error(), "spec.backend.type") || !strings.Contains(err.Error(), "cannot run") {
			t.Errorf("%s: exit %d, %v\n%s", args[0], code, err, out)
		}
	}
	if _, err := checkServerCatalog(sites, nil); err == nil || !strings.Contains(err.Error(), "cannot run") {
		t.Errorf("serve with a kubernetes site: %v", err)
	}
	siteBackends[catalog.BackendKubernetes] = kube
	if _, err := checkServerCatalog(sites, nil); err != nil {
		t.Errorf("serve with a kubernetes site, kubernetes linked in: %v", err)
	}
}

// TestLocalSite: a fresh server offers one runnable site, local processes
// on this machine, whose country is stated in its source; it must fit the
// built-in catalog and clash with a catalog that names its own "local".
func TestLocalSite(t *testing.T) {
	s, err := localSite(localSiteOptions{Name: "local", Country: "DE", Accelerator: "nvidia-h100-sxm", Count: 8, CountryFrom: "set by serve --local-country"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Runnable() || s.Spec.Country != "DE" || !strings.Contains(s.Spec.Source, "DE is set by serve --local-country") {
		t.Errorf("local site %+v", s.Spec)
	}
	if _, err := checkServerCatalog("", []*catalog.Site{s}); err != nil {
		t.Errorf("built-in catalog with the local site: %v", err)
	}
	bad, _ := localSite(localSiteOptions{Name: "local", Country: "XX", Accelerator: "nvidia-h100-sxm", Count: 8})
	if _, err := checkServerCatalog("", []*catalog.Site{bad}); err == nil || !strings.Contains(err.Error(), `"XX" is not a known country`) {
		t.Errorf("local site in XX: %v", err)
	}
	if _, err := localSite(localSiteOptions{Name: "local", Country: "DE", Accelerator: "nvidia-h100-sxm", Count: 0}); err == nil {
		t.Error("a local site of 0 accelerators")
	}
}

// TestPassableAbove: served as root from a home of mode 0700, every run
// failed at its first exec with "permission denied" (workloads run as
// their tenant's user); the server now refuses such a state directory and
// says how to fix it.
func TestPassableAbove(t *testing.T) {
	top := t.TempDir()
	closed := filepath.Join(top, "home")
	open := filepath.Join(top, "srv")
	for d, mode := range map[string]os.FileMode{closed: 0o700, open: 0o711} {
		if err := os.MkdirAll(filepath.Join(d, ".meridian"), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, mode)
	}
	os.Chmod(top, 0o711)
	os.Chmod(filepath.Dir(top), 0o711)
	err := passableAbove(filepath.Join(closed, ".meridian"))
	if err == nil || !strings.Contains(err.Error(), "cannot pass through "+closed+" (mode 0700)") || !strings.Contains(err.Error(), "chmod o+x "+closed) {
		t.Errorf("state under a 0700 directory: %v", err)
	}
	if err := passableAbove(filepath.Join(open, ".meridian")); err != nil {
		t.Errorf("state under 0711 directories: %v", err)
	}
}
