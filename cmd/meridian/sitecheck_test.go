package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"meridian.dev/meridian/run"
)

// TestSiteChecks: sites whose settings fail against their real schedulers
// (the Kubernetes test cluster's API server, the test Slurm's slurmrestd)
// are named with the setting to fix, by `meridian catalog check` and by
// serve when it loads them; serve still starts and plans around them: the
// bad sites are the cheapest, yet a run goes to the one good site.
func TestSiteChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	if os.Getenv("MERIDIAN_TEST_KUBE") != "1" || os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("needs the Kubernetes and Slurm test clusters (MERIDIAN_TEST_KUBE=1, MERIDIAN_TEST_SLURM=1; scripts/test.sh starts them)")
	}
	kc, sock := os.Getenv("MERIDIAN_KUBECONFIG"), os.Getenv("MERIDIAN_SLURMREST_SOCKET")
	if kc == "" || sock == "" {
		t.Fatal("MERIDIAN_KUBECONFIG or MERIDIAN_SLURMREST_SOCKET is unset (source the env.sh of scripts/kube-up.sh and scripts/slurm-up.sh)")
	}
	dir := t.TempDir()
	// A kubeconfig whose user the API server knows but lets do nothing.
	raw, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range raw.AuthInfos {
		u.Token = os.Getenv("MERIDIAN_KUBE_TENANT_TOKEN")
	}
	tenant := filepath.Join(dir, "tenant.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, tenant); err != nil {
		t.Fatal(err)
	}
	store := "file://" + filepath.Join(dir, "store")
	kube := func(extra string) string {
		return fmt.Sprintf("{type: kubernetes, kubeconfig: %q, namespace: site-b, image: img, nodeSelector: {meridian.dev/site: site-b}%s}", kc, extra)
	}
	rest := func(extra string) string {
		return fmt.Sprintf("{type: slurm, restURL: %q, partition: site-b, workDir: /tmp/meridian-check%s}", "unix://"+sock, extra)
	}
	// Each bad site, with what its error must name.
	bad := []struct{ site, backend, store, want string }{
		{"missing-kubeconfig", fmt.Sprintf("{type: kubernetes, kubeconfig: %q, namespace: site-b, image: img}", filepath.Join(dir, "none")), store, "backend.kubeconfig"},
		{"unknown-context", kube(", context: elsewhere"), store, "backend.context"},
		{"missing-namespace", strings.Replace(kube(""), "namespace: site-b", "namespace: no-such-namespace", 1), store, `backend.namespace: namespace "no-such-namespace" does not exist`},
		{"forbidden-namespace", strings.Replace(kube(""), kc, tenant, 1), store, `backend.namespace "site-b": the kubeconfig's user may not create jobs`},
		{"no-gpu-resource", kube(", gpuResource: example.com/tpu"), store, "backend.gpuResource"},
		{"kube-without-store", kube(""), "", "spec.store: required for a remote site"},
		{"rest-no-gres", rest(`, gres: "gpu:tpu"`), store, "backend.gres: no node of partition site-b has GRES gpu:tpu"},
		{"rest-no-partition", strings.Replace(rest(""), "partition: site-b", "partition: atlantis", 1), store, `backend.partition: slurmrestd at unix://` + sock + ` knows no partition "atlantis"`},
		{"rest-without-workdir", strings.Replace(rest(""), ", workDir: /tmp/meridian-check", "", 1), store, "backend.workDir: required"},
	}
	var b strings.Builder
	for _, s := range bad {
		b.WriteString(siteYAML(s.site, "SG", "nvidia-h100-sxm", 0.5, s.store, s.backend))
	}
	b.WriteString(siteYAML("good", "SG", "nvidia-h100-sxm", 3, "", "{type: local}"))
	cat := writeCatalog(t, strings.ReplaceAll(b.String(), "  store: \"\"\n", ""))

	// catalog check: exit 1, one row per checked site, each bad one named
	// with its setting; the local site has nothing to check.
	bin := binary(t)
	out, err := exec.Command(bin, "catalog", "check", "--catalog", cat, "-o", "json").Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("catalog check: %v, want exit 1\n%s", err, out)
	}
	var res []run.SiteHealth
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("catalog check -o json: %v\n%s", err, out)
	}
	got := map[string]run.SiteHealth{}
	for _, h := range res {
		got[h.Site] = h
	}
	if len(got) != len(bad) {
		t.Errorf("catalog check reported %d sites, want the %d with a scheduler: %s", len(got), len(bad), out)
	}
	for _, s := range bad {
		h := got[s.site]
		if h.OK || !strings.Contains(h.Problem, "site "+s.site) || !strings.Contains(h.Problem, s.want) {
			t.Errorf("catalog check of %s: %+v, want a failure naming the site and %q", s.site, h, s.want)
		}
	}
	// The same settings fixed pass: the check is not against everything.
	okCat := writeCatalog(t, siteYAML("kube-ok", "SG", "nvidia-h100-sxm", 1, store, kube(""))+
		siteYAML("rest-ok", "SG", "nvidia-h100-sxm", 1, store, rest(`, gres: "gpu:h20"`)))
	if out, err := exec.Command(bin, "catalog", "check", "--catalog", okCat).CombinedOutput(); err != nil {
		t.Fatalf("catalog check of good settings: %v\n%s", err, out)
	}

	// serve starts, names each excluded site and its setting, and plans
	// around them.
	p := newServeProc(t)
	p.cat = cat
	p.start()
	defer p.stop()
	var excluded []string
	for _, s := range bad {
		excluded = append(excluded, "site "+s.site+" excluded from planning")
	}
	logs := p.output(excluded...)
	for _, s := range bad {
		if !strings.Contains(logs, "site "+s.site+" excluded from planning") || !strings.Contains(logs, s.want) {
			t.Errorf("serve's log does not exclude %s naming %q:\n%s", s.site, s.want, logs)
		}
	}
	job := demoJob(t, p.bin, p.state, 40, 20, "5ms")
	r, err := p.c.Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "good" {
		t.Fatalf("run planned at %s, want good: the cheaper sites fail their checks", r.Site)
	}
	if r = waitRun(t, p.c, r.ID); r.State != run.Succeeded {
		t.Errorf("run at the good site ended %s: %s", r.State, r.Reason)
	}
}
