package main

// The attacks of the trust review, each reproduced against the built binary
// and a fresh state directory: a tenant with an ordinary token, a workload
// that tries to read the server's secrets, a site operator who damages the
// store, someone who edits the database. `go test ./... -run Attack` runs
// them all.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// tenants is a server with two tenants besides the default one.
type tenants struct {
	p           *serveProc
	alpha, beta *api.Client
	tokA, tokB  string
	// home is the directory of home stores the server reads tenants'
	// datasets from (serve --dataset-stores).
	home string
}

func newTenants(t *testing.T, serveArgs ...string) *tenants {
	t.Helper()
	return newTenantsInheriting(t, nil, serveArgs...)
}

// newTenantsInheriting is newTenants with serve started holding files
// open from its parent (fd 3 on).
func newTenantsInheriting(t *testing.T, files []*os.File, serveArgs ...string) *tenants {
	t.Helper()
	return newTenantsPrepared(t, func(p *serveProc) { p.files = files }, serveArgs...)
}

// newTenantsPrepared is newTenants with prepare run on the server's
// process before it starts.
func newTenantsPrepared(t *testing.T, prepare func(*serveProc), serveArgs ...string) *tenants {
	t.Helper()
	p := newServeProc(t)
	prepare(p)
	if err := os.MkdirAll(p.state, 0o700); err != nil {
		t.Fatal(err)
	}
	tv := &tenants{p: p, tokA: api.NewToken(), tokB: api.NewToken(), home: t.TempDir()}
	b, _ := json.Marshal(map[string]any{"tokens": []api.Token{
		{Tenant: "default", Token: api.NewToken()}, {Tenant: "alpha-lab", Token: tv.tokA}, {Tenant: "beta-lab", Token: tv.tokB}}})
	if err := os.WriteFile(filepath.Join(p.state, api.TokensFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	p.extra = append([]string{"--dataset-stores", "file://" + tv.home}, serveArgs...)
	p.start()
	t.Cleanup(p.stop)
	tv.alpha = api.NewClient("http://"+p.addr, tv.tokA)
	tv.beta = api.NewClient("http://"+p.addr, tv.tokB)
	return tv
}

// personalData seals a small corpus into a home store under dir, its key in
// keyring, and returns a Dataset document for it.
func personalData(t *testing.T, dir, name, origin string, subjects int, bases ...string) (doc string, key seal.Key) {
	t.Helper()
	src := filepath.Join(dir, "src-"+name)
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "people.txt"), []byte(strings.Repeat("name,phone,address\n", 2000)), 0o644)
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := seal.New(key, name)
	home := "file://" + filepath.Join(dir, "home-"+name)
	b, err := dataset.OpenStore(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := dataset.Add(context.Background(), dataset.AddOptions{Name: name, Root: src, Store: b, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	basis := ""
	if len(bases) > 0 {
		basis = "\n  transferBases: [" + strings.Join(bases, ", ") + "]"
	}
	return fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Dataset
metadata: {name: %s}
spec:
  origin: %s
  sizeBytes: 1.0e5
  classification: personal
  subjects: %d%s
  store: %q
`, name, origin, subjects, basis, home), key
}

// programData seals the directory src (a tenant's program) into a home
// store under dir, and returns a public Dataset document for it and its
// key.
func programData(t *testing.T, dir, name, src string) (doc string, key seal.Key) {
	t.Helper()
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(key, name)
	if err != nil {
		t.Fatal(err)
	}
	home := "file://" + filepath.Join(dir, "home-"+name)
	b, err := dataset.OpenStore(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := dataset.Add(context.Background(), dataset.AddOptions{Name: name, Root: src, Store: b, Sealer: s}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: %s}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e8, store: %q}\n", name, home), key
}

func jobFor(org, hq string, datasets []string, command string) string {
	return fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Organization
metadata: {name: %s}
spec: {headquarters: %s}
---
apiVersion: meridian.dev/v1alpha1
kind: TrainingJob
metadata: {name: attack-job}
spec:
  organization: %s
  datasets: [%s]
  model: {parameters: 1.0e6}
  method: pretrain
  tokens: 1.0e6
  workload:
    command: [/bin/sh, -c, %q]
`, org, hq, org, strings.Join(datasets, ", "), command)
}

func statusOf(err error) int {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// TestAttackBackdating: a run or a transfer happens today. Asking for 2015
// does not move two million Chinese people's data to Singapore.
func TestAttackBackdating(t *testing.T) {
	tv := newTenants(t)
	ctx := context.Background()
	data, key := personalData(t, tv.home, "cn-users", "CN", 2000000, "cn-standard-contract")
	docs := []run.Document{{Name: "data.yaml", Content: data}, {Name: "job.yaml", Content: jobFor("cn-lab", "CN", []string{"cn-users"}, "sleep 1")}}
	if _, err := tv.alpha.Apply(ctx, docs[:1], false); err != nil {
		t.Fatal(err)
	}
	if err := tv.alpha.PutKey(ctx, "cn-users", key.String()); err != nil {
		t.Fatal(err)
	}
	_, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: docs, AsOf: "2015-01-01"})
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Err.Field != "asOf" {
		t.Fatalf("backdated run: %v, want 400 on asOf", err)
	}
	// Today the law refuses every site outside China for this data.
	if _, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: docs}); statusOf(err) != http.StatusUnprocessableEntity {
		t.Fatalf("run today: %v, want 422 (no lawful placement)", err)
	}
	// The CLI refuses a backdated staging, and a dry run moves nothing.
	cmd := exec.Command(tv.p.bin, "dataset", "stage", "cn-users", "--to", "sg-jurong-1", "--as-of", "2015-01-01", "-f", filepath.Join("..", "..", "examples", "demo", "sites"))
	cmd.Env = append(os.Environ(), "MERIDIAN_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); exitCode(err) != exitBadInput || !strings.Contains(string(out), "--as-of") {
		t.Errorf("backdated dataset stage: exit %d\n%s", exitCode(err), out)
	}
	if runs, _ := tv.alpha.List(ctx); len(runs) != 0 {
		t.Errorf("%d runs created", len(runs))
	}
	if _, err := os.Stat(filepath.Join(tv.p.state, "sites", "sg-jurong-1", "store")); err == nil {
		t.Error("a site store was written")
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestAttackLyingMetadata: once a dataset is registered as personal, a
// request that calls it public is refused, and only the owner's audited
// update changes it.
func TestAttackLyingMetadata(t *testing.T) {
	tv := newTenants(t)
	ctx := context.Background()
	data, _ := personalData(t, tv.home, "cn-users", "CN", 2000000, "cn-standard-contract")
	if _, err := tv.alpha.Apply(ctx, []run.Document{{Name: "d.yaml", Content: data}}, false); err != nil {
		t.Fatal(err)
	}
	lie := strings.Replace(strings.Replace(data, "classification: personal", "classification: public", 1), "  subjects: 2000000\n", "", 1)
	_, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "d.yaml", Content: lie},
		{Name: "job.yaml", Content: jobFor("cn-lab", "CN", []string{"cn-users"}, "sleep 1")}}})
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "differs from the copy registered") {
		t.Fatalf("lying copy: %v, want 409", err)
	}
	if _, err := tv.alpha.Apply(ctx, []run.Document{{Name: "d.yaml", Content: lie}}, false); statusOf(err) != http.StatusConflict {
		t.Fatalf("apply without --update: %v, want 409", err)
	}
	// Names are per tenant: beta's own cn-users is another dataset.
	if _, err := tv.beta.Apply(ctx, []run.Document{{Name: "d.yaml", Content: strings.Replace(lie, "home-cn-users", "beta-home", 1)}}, false); err != nil {
		t.Fatalf("beta registering its own dataset of the same name: %v", err)
	}
	res, err := tv.alpha.Resources(ctx)
	var reg struct {
		Spec struct{ Classification string } `json:"spec"`
	}
	if err == nil && len(res) == 1 {
		err = json.Unmarshal(res[0].Spec, &reg)
	}
	if err != nil || len(res) != 1 || reg.Spec.Classification != "personal" || res[0].Version != 1 {
		t.Fatalf("alpha's registration changed: %d resources, %+v, %v", len(res), reg, err)
	}
	up, err := tv.alpha.Apply(ctx, []run.Document{{Name: "d.yaml", Content: strings.Replace(data, "subjects: 2000000", "subjects: 2000001", 1)}}, true)
	if err != nil || len(up) != 1 || up[0].Version != 2 {
		t.Fatalf("owner's update: %+v %v", up, err)
	}
	es, _ := tv.alpha.AuditAll(ctx)
	updates := 0
	for _, e := range es {
		var pl struct{ Action string }
		json.Unmarshal(e.Payload, &pl)
		if e.Kind == run.KindRegister && pl.Action == "updated" && e.Tenant == "alpha-lab" {
			updates++
		}
		if !e.Redacted && e.Tenant != "alpha-lab" {
			t.Errorf("alpha sees another tenant's entry in full: %+v", e)
		}
	}
	if updates != 1 {
		t.Errorf("%d audited updates, want 1", updates)
	}
}

// TestAttackCrossTenantKeys: beta names alpha's dataset and store to get
// alpha's key and plaintext; the store belongs to alpha, and keys are found
// by tenant.
func TestAttackCrossTenantKeys(t *testing.T) {
	tv := newTenants(t)
	ctx := context.Background()
	dir := tv.home
	data, key := personalData(t, dir, "sg-users", "SG", 1000, "consent")
	if _, err := tv.alpha.Apply(ctx, []run.Document{{Name: "d.yaml", Content: data}}, false); err != nil {
		t.Fatal(err)
	}
	if err := tv.alpha.PutKey(ctx, "sg-users", key.String()); err != nil {
		t.Fatal(err)
	}
	steal := []run.Document{{Name: "d.yaml", Content: data}, {Name: "job.yaml", Content: jobFor("thief", "SG", []string{"sg-users"}, `ls -R "$MERIDIAN_DATA_DIR"`)}}
	if _, err := tv.beta.Submit(ctx, run.SubmitRequest{Documents: steal}); statusOf(err) != http.StatusConflict {
		t.Fatalf("beta registering alpha's store: %v, want 409", err)
	}
	if err := tv.beta.PutKey(ctx, "sg-users", key.String()); statusOf(err) != http.StatusNotFound {
		t.Errorf("beta storing a key for a dataset it never registered: %v; want 404, as its staging", err)
	}
	// beta registers a dataset of the same name in its own (empty) store:
	// its run cannot get alpha's key, so nothing of alpha's is unsealed.
	own := strings.Replace(data, "home-sg-users", "beta-empty-store", 1)
	r, err := tv.beta.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "d.yaml", Content: own}, steal[1]}})
	if err != nil {
		t.Fatal(err)
	}
	// Holding no key of its own dataset, the run waits held for one (a
	// key sent later lets it go on), its reason naming the dataset.
	r = waitRunState(t, tv.beta, r.ID, run.Held)
	if !strings.Contains(r.Reason, "sg-users") {
		t.Fatalf("beta's run held: %s", r.Reason)
	}
	logs, _, _ := tv.beta.Logs(ctx, r.ID, 0)
	if bytes.Contains(logs, []byte("people.txt")) {
		t.Fatalf("beta's job saw alpha's data:\n%s", logs)
	}
	if _, err := tv.beta.Get(ctx, "run-000000000000"); statusOf(err) != http.StatusNotFound {
		t.Errorf("unknown run: %v", err)
	}
}

// TestAttackDatasetStore: the server reads a dataset's home store with its
// own access, so a tenant may not point spec.store at the server's state
// directory, another directory of the machine, or an endpoint of its
// choosing; only the stores the operator gave (--dataset-stores) are read.
func TestAttackDatasetStore(t *testing.T) {
	tv := newTenants(t)
	ctx := context.Background()
	probe := filepath.Join(t.TempDir(), "made-by-the-server")
	for _, url := range []string{"file://" + probe, "file://" + tv.p.state, "file://" + tv.home + "/../elsewhere",
		"s3://metadata?endpoint=http://169.254.169.254&use_path_style=true&disable_https=true"} {
		doc := fmt.Sprintf("apiVersion: meridian.dev/v1alpha1\nkind: Dataset\nmetadata: {name: probe}\nspec: {origin: SG, classification: public, sizeBytes: 1.0e5, store: %q}\n", url)
		_, err := tv.alpha.Apply(ctx, []run.Document{{Name: "d.yaml", Content: doc}}, false)
		var se *api.StatusError
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Err.Field != "spec.store" || strings.Contains(strings.ReplaceAll(se.Err.Message, url, ""), tv.home) {
			t.Errorf("dataset in %s: %v, want 400 naming spec.store and not the server's stores", url, err)
		}
	}
	if _, err := os.Stat(probe); err == nil {
		t.Error("the server created the tenant's directory")
	}
	if rs, err := tv.alpha.Resources(ctx); err != nil || len(rs) != 0 {
		t.Errorf("registered after refusals: %v %v", rs, err)
	}
	// The operator's list is checked before the server starts.
	cmd := exec.Command(binary(t), "serve", "--state", t.TempDir(), "--listen", "127.0.0.1:0", "--dataset-stores", "https://lab.example/data")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitBadInput || !bytes.Contains(out, []byte("--dataset-stores")) {
		t.Errorf("serve with a bad --dataset-stores: %v\n%s", err, out)
	}
}

// waitRun waits for a run to end.
func waitRun(t *testing.T, c *api.Client, id string) *run.Run {
	t.Helper()
	return waitRunState(t, c, id)
}

// waitRunState waits for a run to end or reach one of the states in, and
// fails the test when it ends elsewhere.
func waitRunState(t *testing.T, c *api.Client, id string, in ...run.State) *run.Run {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(in, r.State) {
			return r
		}
		if r.State.Final() {
			if len(in) > 0 {
				t.Fatalf("run %s ended %s (%s); want %v", id, r.State, r.Reason, in)
			}
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not end: %s %s", id, r.State, r.Reason)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAttackSiteOverride: a tenant's Site document never replaces a catalog
// site (which would divert other tenants' data to the tenant's store).
func TestAttackSiteOverride(t *testing.T) {
	tv := newTenants(t)
	site := `apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: sg-jurong-1}
spec:
  country: SG
  location: {lat: 1.3, lon: 103.7}
  operator: {name: evil, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 16, available: 8, pricePerHour: 0.01}]
  network: {egressPerGB: 0, gbps: 10}
  store: file:///tmp/attacker-store
  backend: {type: local, workDir: /tmp/attacker-work}
`
	_, err := tv.alpha.Submit(context.Background(), run.SubmitRequest{Documents: []run.Document{{Name: "site.yaml", Content: site},
		{Name: "job.yaml", Content: jobFor("lab", "SG", nil, "sleep 1")}}})
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest || !strings.Contains(se.Err.Message, "operator's catalog") {
		t.Fatalf("site override: %v, want 400", err)
	}
	if _, err := os.Stat("/tmp/attacker-work"); err == nil {
		t.Error("the tenant's work directory was used")
	}
}

// eachSandbox runs test once for each workload sandbox a server offers:
// uid (which needs root) and landlock.
func eachSandbox(t *testing.T, test func(t *testing.T, mode string)) {
	for _, mode := range []string{"uid", "landlock"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "uid" && os.Geteuid() != 0 {
				t.Skip("the uid sandbox needs root")
			}
			test(t, mode)
		})
	}
}

// sandboxedRun submits job as alpha-lab on tv's server, waits for the run's
// end and returns its output, which must hold ran (the workload got that
// far).
func sandboxedRun(t *testing.T, tv *tenants, job, ran string) []byte {
	t.Helper()
	ctx := context.Background()
	r, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
	if err != nil {
		t.Fatal(err)
	}
	r = waitRun(t, tv.alpha, r.ID)
	logs, _, _ := tv.alpha.Logs(ctx, r.ID, 0)
	if !bytes.Contains(logs, []byte(ran)) {
		t.Fatalf("the workload did not run (%s: %s):\n%s", r.State, r.Reason, logs)
	}
	return logs
}

// TestAttackWorkloadReadsSecrets: a workload tries the server's secrets,
// its state directory, the server's and its agent's environment; under
// either sandbox it reads none of them.
func TestAttackWorkloadReadsSecrets(t *testing.T) {
	eachSandbox(t, func(t *testing.T, mode string) {
		tv := newTenants(t, "--workload-sandbox", mode)
		state := tv.p.state
		// Files are read (a path's existence is no secret); directories
		// are listed.
		files := []string{"tokens.json", "audit.key", "agent.key", "client.json", "meridian.db", "meridian.db-wal", "anchor/anchor.key", "anchor/anchor.json"}
		dirs := []string{".", "keyring", "runkeys", "sites", "logs", "anchor"}
		var script strings.Builder
		for _, f := range files {
			p := filepath.Join(state, f)
			fmt.Fprintf(&script, "if head -c 1 %q >/dev/null 2>&1; then echo READ %s; else echo DENIED %s; fi; ", p, f, f)
		}
		for _, d := range dirs {
			p := filepath.Join(state, d)
			fmt.Fprintf(&script, "if ls %q >/dev/null 2>&1; then echo READ dir %s; else echo DENIED dir %s; fi; ", p, d, d)
		}
		// Its parent is the reaper, and the agent the reaper's parent.
		script.WriteString(`a=$(awk '{print $4}' /proc/$PPID/stat 2>/dev/null); `)
		script.WriteString(`for p in /proc/` + strconv.Itoa(tv.p.cmd.Process.Pid) + `/environ /proc/$PPID/environ /proc/${a:-unknown}/environ; do if tr '\0' '\n' < $p >/dev/null 2>&1; then echo READ $p; else echo DENIED $p; fi; done; `)
		script.WriteString(`if kill -0 ` + strconv.Itoa(tv.p.cmd.Process.Pid) + ` 2>/dev/null; then echo READ signal; else echo DENIED signal; fi; `)
		// The workload's parent is its reaper, which ends what the
		// workload leaves running: the workload may not end it first.
		script.WriteString(`if kill -0 $PPID 2>/dev/null; then echo READ signal-reaper; else echo DENIED signal-reaper; fi; `)
		// What it is given it may use: Meridian's executable runs.
		script.WriteString(`if "$MERIDIAN_EXE" --help >/dev/null 2>&1; then echo exe-runs; fi; echo done-probing`)
		logs := sandboxedRun(t, tv, jobFor("lab", "SG", nil, script.String()), "done-probing")
		if !bytes.Contains(logs, []byte("exe-runs")) {
			t.Errorf("the workload cannot run $MERIDIAN_EXE:\n%s", logs)
		}
		for _, line := range strings.Split(string(logs), "\n") {
			if strings.HasPrefix(line, "READ ") {
				t.Errorf("workload could %s", line)
			}
		}
		for _, tok := range []string{tv.tokA, tv.tokB} {
			if bytes.Contains(logs, []byte(tok)) {
				t.Error("a token appears in the workload's output")
			}
		}
	})
}

// TestAttackPreloadBeforeSandbox: a job whose environment names a library
// to preload (LD_PRELOAD) has it loaded into its workload, confined, and
// never into the agent's helper that confines the workload: the helper
// started with the job's environment, so the dynamic loader ran the
// library's constructor before any confinement, as root (uid mode) or as
// the server's user, and it could write anywhere they could.
func TestAttackPreloadBeforeSandbox(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Fatal("a C compiler is needed to build the library (apt-get install gcc)")
	}
	eachSandbox(t, func(t *testing.T, mode string) {
		dir := t.TempDir()
		os.Chmod(dir, 0o755) // the library is readable by the server and the tenant's user
		marker := filepath.Join(dir, "marker")
		src := filepath.Join(dir, "evil.c")
		lib := filepath.Join(dir, "evil.so")
		code := `#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
	FILE *f = fopen("` + marker + `", "a");
	if (f) { fprintf(f, "uid %d\n", (int)getuid()); fclose(f); }
}
`
		if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
			t.Fatalf("cc: %v\n%s", err, out)
		}
		os.Chmod(lib, 0o755)
		tv := newTenants(t, "--workload-sandbox", mode)
		job := jobFor("lab", "SG", nil, "echo workload-ran") + "    env: {LD_PRELOAD: " + lib + "}\n"
		sandboxedRun(t, tv, job, "workload-ran")
		if got, err := os.ReadFile(marker); err == nil {
			t.Errorf("the preloaded library ran outside the sandbox (%s)", strings.TrimSpace(string(got)))
		}
	})
}

// TestAttackWorkloadReplacesPackHelper: the workload swaps the executable
// it is given ($MERIDIAN_EXE, which in uid mode is a link in its own
// scratch) for a program of its own, then writes a checkpoint. The agent
// ran its pack helper by that path, so the workload's program ran in its
// place and decided what was sealed as the checkpoint (or sent zeros for
// ever). The helper the agent runs is the file it opened before the
// workload started, whatever the path names by then.
func TestAttackWorkloadReplacesPackHelper(t *testing.T) {
	eachSandbox(t, func(t *testing.T, mode string) {
		tv := newTenants(t, "--workload-sandbox", mode)
		script := `f="$MERIDIAN_EXE"
if rm -f "$f" 2>/dev/null && printf '#!/bin/sh\necho HELPER-REPLACED >&2\nexit 1\n' > "$f" && chmod 755 "$f"; then echo exe-replaced; fi
cd "$MERIDIAN_CHECKPOINT_DIR" && echo state > .tmp && mv .tmp step-7 && sleep 1 && echo workload-ran`
		ctx := context.Background()
		r, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobFor("lab", "SG", nil, script)}}})
		if err != nil {
			t.Fatal(err)
		}
		r = waitRun(t, tv.alpha, r.ID)
		logs, _, _ := tv.alpha.Logs(ctx, r.ID, 0)
		if !bytes.Contains(logs, []byte("workload-ran")) {
			t.Fatalf("the workload did not run (%s: %s):\n%s", r.State, r.Reason, logs)
		}
		if bytes.Contains(logs, []byte("HELPER-REPLACED")) {
			t.Errorf("the agent ran the workload's program as its pack helper:\n%s", logs)
		}
		if r.Checkpoint == nil || r.Checkpoint.Step != 7 {
			t.Errorf("the run's checkpoint is %+v; want step 7, sealed by the agent's own helper:\n%s", r.Checkpoint, logs)
		}
	})
}

// TestAttackWorkloadOutlivesAttempt: a workload starts processes in
// sessions of their own (setsid, and a double-forked daemon), which the
// agent's kill of the workload's process group did not reach: they ran on
// after the attempt, as the tenant's user, with its GPU and scratch. Now
// they are gone once the attempt ends, whether the workload ends by
// itself or is cancelled and ignores SIGTERM (the backend then kills the
// agent, SIGKILL). The workload cannot signal the reaper that ends them
// (TestAttackWorkloadReadsSecrets).
func TestAttackWorkloadOutlivesAttempt(t *testing.T) {
	eachSandbox(t, func(t *testing.T, mode string) {
		tv := newTenants(t, "--workload-sandbox", mode)
		ctx := context.Background()
		for _, cancel := range []bool{false, true} {
			// The agent expands $$ to $: the shell's $$ is $$$$ here.
			script := `setsid sh -c 'echo $$$$ > p1; exec sleep 1000' </dev/null >/dev/null 2>&1 &
( setsid sh -c 'echo $$$$ > p2; exec sleep 1000' </dev/null >/dev/null 2>&1 & )
while [ ! -s p1 ] || [ ! -s p2 ]; do sleep 0.01; done
echo ESCAPEE $(cat p1); echo ESCAPEE $(cat p2)
`
			if cancel {
				script += "trap '' TERM; while :; do sleep 0.05; done"
			}
			r, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobFor("lab", "SG", nil, script)}}})
			if err != nil {
				t.Fatal(err)
			}
			var pids []int
			for deadline := time.Now().Add(60 * time.Second); len(pids) < 2; time.Sleep(50 * time.Millisecond) {
				logs, _, _ := tv.alpha.Logs(ctx, r.ID, 0)
				pids = pids[:0]
				for _, line := range strings.Split(string(logs), "\n") {
					if f, ok := strings.CutPrefix(line, "ESCAPEE "); ok {
						if pid, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && pid > 1 {
							pids = append(pids, pid)
						}
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("the workload did not start its escapees:\n%s", logs)
				}
			}
			for _, pid := range pids {
				t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			}
			if cancel {
				if _, err := tv.alpha.Cancel(ctx, r.ID); err != nil {
					t.Fatal(err)
				}
			}
			end := waitRun(t, tv.alpha, r.ID)
			// The local backend kills the agent 5 s after a SIGTERM it
			// ignored; the reaper needs far less.
			deadline := time.Now().Add(15 * time.Second)
			for _, pid := range pids {
				for alive(pid) {
					if time.Now().After(deadline) {
						st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
						t.Errorf("cancelled %v: pid %d, started by the workload in a session of its own, runs on after the run ended (%s): %s", cancel, pid, end.State, st)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	})
}

// alive reports whether pid runs: it exists and is no zombie.
func alive(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	return i < 0 || !bytes.HasPrefix(st[i:], []byte(") Z"))
}

// TestAttackLedgerUnderKill: `dataset stage` killed with SIGKILL at random
// points, 100 times, then resumed; for every site, the bytes the ledger
// confirms are the bytes at the site, and no intent stays open.
func TestAttackLedgerUnderKill(t *testing.T) {
	bin := binary(t)
	home := t.TempDir()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	for i := 0; i < 4; i++ {
		b := make([]byte, 6<<20)
		rand.Read(b)
		os.WriteFile(filepath.Join(src, fmt.Sprintf("part-%d", i)), b, 0o644)
	}
	// Many sites, each with its own store: when a staging completes before
	// its kill, the next one goes to a fresh site, so kills keep landing in
	// the middle of copies. One more site (the last) times a whole staging
	// first.
	const nSites = 60
	var sites strings.Builder
	for i := 0; i <= nSites; i++ {
		fmt.Fprintf(&sites, `---
apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: site-%d}
spec:
  country: MY
  location: {lat: 1.5, lon: 103.7}
  operator: {name: dc, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2}]
  network: {egressPerGB: 0.08, gbps: 10}
  store: file://%s
`, i, filepath.Join(dir, fmt.Sprintf("store-%d", i)))
	}
	siteFile := filepath.Join(dir, "sites.yaml")
	os.WriteFile(siteFile, []byte(sites.String()), 0o644)
	cli := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "MERIDIAN_HOME="+home)
		return c
	}
	if out, err := cli("dataset", "add", "crawl", "--from", src, "--origin", "SG", "--classification", "public").CombinedOutput(); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	seed := time.Now().UnixNano()
	rng := mrand.New(mrand.NewSource(seed))
	t.Logf("seed %d", seed)
	stage := func(site int) []string {
		return []string{"dataset", "stage", "crawl", "--to", fmt.Sprintf("site-%d", site), "-f", siteFile, "--batch", "3", "--workers", "2"}
	}
	// Kills land at a random point of a whole staging's time, as the last
	// uninterrupted one took: a faster machine or build does not let the
	// stagings outrun the kills.
	start := time.Now()
	if out, err := cli(stage(nSites)...).CombinedOutput(); err != nil {
		t.Fatalf("timing stage: %v\n%s", err, out)
	}
	whole := time.Since(start)
	t.Logf("one whole staging: %v", whole)
	kills, site, resumed := 0, 0, false
	for kills < 100 && site < nSites {
		c := cli(stage(site)...)
		began := time.Now()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("stage failed: %v", err)
			}
			if !resumed { // a whole staging: the new measure
				whole = time.Since(began)
			}
			site, resumed = site+1, false
			continue
		case <-time.After(time.Duration(float64(whole) * (0.05 + 0.9*rng.Float64()))):
		}
		c.Process.Signal(syscall.SIGKILL)
		<-done
		kills, resumed = kills+1, true
	}
	if kills < 100 {
		t.Fatalf("only %d kills landed before the staging finished at %d sites", kills, nSites)
	}
	for i := 0; i <= site && i < nSites; i++ {
		if out, err := cli(stage(i)...).CombinedOutput(); err != nil {
			t.Fatalf("final stage to site-%d: %v\n%s", i, err, out)
		}
	}
	out, err := cli("dataset", "ledger", "crawl", "--totals", "-o", "json", "-f", siteFile).Output()
	if err != nil {
		t.Fatal(err)
	}
	var sums []transfer.Summary
	if err := json.Unmarshal(out, &sums); err != nil {
		t.Fatalf("totals: %v %s", err, out)
	}
	checked, partial := 0, int64(0)
	for _, s := range sums {
		var n int
		fmt.Sscanf(s.Site, "site-%d", &n)
		var present int64
		filepath.WalkDir(filepath.Join(dir, fmt.Sprintf("store-%d", n), "t", "default", "data", "meridian", "crawl"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, ".tmp") {
				fi, _ := d.Info()
				present += fi.Size()
			}
			return nil
		})
		// Parts a kill mid-write left crossed too: the ledger confirms
		// them, and the reconcile that counted them removed them.
		if s.BytesConfirmed-s.BytesPartial != present || s.OpenIntents != 0 {
			t.Errorf("%s: the ledger confirms %d bytes (%d of them parts since removed) with %d intents open; %d bytes are at the site", s.Site, s.BytesConfirmed, s.BytesPartial, s.OpenIntents, present)
		}
		partial += s.BytesPartial
		checked++
	}
	t.Logf("%d kills over %d sites; ledger and sites agree at %d sites (%d bytes of parts cut mid-write)", kills, site+1, checked, partial)
	if checked < site {
		t.Errorf("the ledger covers %d sites, want %d", checked, site+1)
	}
}

// TestAttackDamagedSiteChunk: the host flips a byte in a staged chunk; the
// next staging notices, sends the chunk again, and the site verifies.
func TestAttackDamagedSiteChunk(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	b := make([]byte, 3<<20)
	rand.Read(b)
	os.WriteFile(filepath.Join(src, "blob"), b, 0o644)
	siteStore := filepath.Join(dir, "site-store")
	siteFile := filepath.Join(dir, "site.yaml")
	os.WriteFile(siteFile, []byte(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: my-site}
spec:
  country: MY
  location: {lat: 1.5, lon: 103.7}
  operator: {name: dc, headquarters: SG}
  pools: [{accelerator: nvidia-h100-sxm, count: 8, available: 8, pricePerHour: 2}]
  network: {egressPerGB: 0.08, gbps: 10}
  store: file://`+siteStore+"\n"), 0o644)
	if _, err := runCLI(t, "dataset", "add", "blob", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "dataset", "stage", "blob", "--to", "my-site", "-f", siteFile); err != nil {
		t.Fatal(err)
	}
	var chunk string
	filepath.WalkDir(filepath.Join(siteStore, "t", "default", "data", "meridian", "blob", "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && chunk == "" {
			chunk = p
		}
		return nil
	})
	data, _ := os.ReadFile(chunk)
	data[len(data)/2] ^= 0x40
	os.WriteFile(chunk, data, 0o644)
	if out, err := runCLI(t, "dataset", "verify", "blob", "--at", "my-site", "-f", siteFile); err == nil {
		t.Fatalf("verify passed a damaged chunk:\n%s", out)
	}
	out, err := runCLI(t, "dataset", "stage", "blob", "--to", "my-site", "-f", siteFile, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ent transfer.Entry
	json.Unmarshal([]byte(out), &ent)
	if ent.ChunksSent != 1 || ent.Totals == nil || ent.Totals.Damaged != 1 {
		t.Fatalf("re-stage after damage: %s", out)
	}
	if out, err := runCLI(t, "dataset", "verify", "blob", "--at", "my-site", "-f", siteFile); err != nil {
		t.Fatalf("verify after re-stage: %v\n%s", err, out)
	}
}

// threeRuns submits and cancels three of alpha's runs: entries in the log.
func threeRuns(t *testing.T, tv *tenants) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		r, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobFor("lab", "SG", nil, "sleep 30")}}})
		if err != nil {
			t.Fatal(err)
		}
		tv.alpha.Cancel(ctx, r.ID)
		waitRun(t, tv.alpha, r.ID)
	}
}

// cutAuditAfter deletes the stopped server's audit entries after seq n, as
// someone who can write the database would; what is left is an intact
// chain, which is the attack.
func cutAuditAfter(t *testing.T, tv *tenants, n int) {
	t.Helper()
	ctx := context.Background()
	key, _ := audit.LoadKey(tv.p.state)
	db, err := store.OpenSQLite(ctx, filepath.Join(tv.p.state, "meridian.db"), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.DB().Exec(`DELETE FROM audit WHERE seq > ?`, n); err != nil {
		t.Fatal(err)
	}
	if res, _ := db.VerifyAudit(ctx); !res.OK {
		t.Fatalf("the cut chain should be internally intact (that is the attack): %+v", res)
	}
}

// TestAttackAuditTruncation: cutting the log's tail is noticed by the
// anchor: the server refuses to start, verify names the cut.
func TestAttackAuditTruncation(t *testing.T) {
	tv := newTenants(t)
	threeRuns(t, tv)
	tv.p.stop()
	cutAuditAfter(t, tv, 6)
	if err := tv.p.tryStart(); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("serve on a truncated log: %v", err)
	}
	out, err := exec.Command(tv.p.bin, "audit", "verify", "--state", tv.p.state).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "BROKEN at entry 7 (truncated)") {
		t.Fatalf("verify of a truncated log: exit %d\n%s", exitCode(err), out)
	}
}

// TestAttackAuditAnchorRemoved: cutting the tail and removing anchor.json
// (or the whole anchor directory), which takes no key, no longer passes
// for a log never anchored: the log records the anchor key that guards
// it. Only the operator's recorded acceptance brings the server back.
func TestAttackAuditAnchorRemoved(t *testing.T) {
	tv := newTenants(t)
	ctx := context.Background()
	threeRuns(t, tv)
	if res, err := tv.p.c.Verify(ctx); err != nil || !res.OK || res.AnchorKeySeq == 0 || res.AnchorKeySeq > 6 {
		t.Fatalf("verify before the attack: %+v %v", res, err)
	}
	tv.p.stop()
	cutAuditAfter(t, tv, 6)
	anchorDir := filepath.Join(tv.p.state, "anchor")
	if err := os.Remove(filepath.Join(anchorDir, audit.AnchorFile)); err != nil {
		t.Fatal(err)
	}
	if err := tv.p.tryStart(); err == nil || !strings.Contains(err.Error(), audit.AnchorMissing) {
		tv.p.stop()
		t.Fatalf("serve on a cut log whose anchor.json was removed: %v", err)
	}
	out, err := exec.Command(tv.p.bin, "audit", "verify", "--state", tv.p.state).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "("+audit.AnchorMissing+")") {
		t.Fatalf("verify of a cut log whose anchor.json was removed: exit %d\n%s", exitCode(err), out)
	}
	// The whole directory, key included: the same.
	if err := os.RemoveAll(anchorDir); err != nil {
		t.Fatal(err)
	}
	if err := tv.p.tryStart(); err == nil || !strings.Contains(err.Error(), audit.AnchorMissing) {
		tv.p.stop()
		t.Fatalf("serve on a cut log whose anchor directory was removed: %v", err)
	}
	out, err = exec.Command(tv.p.bin, "audit", "verify", "--state", tv.p.state).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "("+audit.AnchorMissing+")") {
		t.Fatalf("verify of a cut log whose anchor directory was removed: exit %d\n%s", exitCode(err), out)
	}
	// The operator accepts the log; the new key is recorded with it, and
	// the next plain start verifies.
	extra := tv.p.extra
	tv.p.extra = append(append([]string(nil), extra...), "--accept-broken-audit")
	tv.p.start()
	tv.p.stop()
	tv.p.extra = extra
	tv.p.start()
	res, err := tv.p.c.Verify(ctx)
	if err != nil || !res.OK || res.AnchorKeySeq <= 6 || res.Anchored == nil {
		t.Fatalf("verify after the accepted start: %+v %v", res, err)
	}
	es, err := tv.p.c.AuditAll(ctx)
	if err != nil || len(es) < 8 || es[6].Kind != "audit-broken-accepted" || es[7].Kind != audit.KindAnchored {
		t.Fatalf("the acceptance and the new key are not entries 7 and 8: %v", err)
	}
}

// TestAttackSlowloris: thousands of connections that never finish their
// headers, from one address, do not stop the server answering others.
func TestAttackSlowloris(t *testing.T) {
	tv := newTenants(t)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 2 * time.Second}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 3000; i++ {
		c, err := d.Dial("tcp", tv.p.addr)
		if err != nil {
			continue
		}
		c.Write([]byte("GET /v1/runs HTTP/1.1\r\nHost: x\r\n"))
		conns = append(conns, c)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + tv.p.addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz with %d slow connections open: %v", len(conns), err)
	}
	resp.Body.Close()
	if _, err := tv.alpha.List(context.Background()); err != nil {
		t.Fatalf("API with slow connections open: %v", err)
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", tv.p.cmd.Process.Pid))
	if len(fds) > api.DefaultLimits.MaxConnsPerIP+200 {
		t.Errorf("server holds %d descriptors for %d attacking connections", len(fds), len(conns))
	}
}

// TestAttackFIFOInSiteStore: a named pipe where a chunk should be does not
// hang verify or unseal.
func TestAttackFIFOInSiteStore(t *testing.T) {
	home := t.TempDir()
	t.Setenv("MERIDIAN_HOME", home)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), bytes.Repeat([]byte("x"), 100), 0o644)
	if _, err := runCLI(t, "dataset", "add", "tiny", "--from", src, "--origin", "SG", "--classification", "public"); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(home, "store")
	var chunk string
	filepath.WalkDir(filepath.Join(store, "meridian", "tiny", "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			chunk = p
		}
		return nil
	})
	os.Remove(chunk)
	if err := syscall.Mkfifo(chunk, 0o644); err != nil {
		t.Fatal(err)
	}
	key, _ := dataset.Keyring{Dir: filepath.Join(home, "keyring")}.Get("tiny")
	keyFile := filepath.Join(dir, "k")
	os.WriteFile(keyFile, []byte(key.String()), 0o600)
	for _, args := range [][]string{
		{"dataset", "verify", "tiny", "--store", "file://" + store},
		{"dataset", "unseal", "tiny", "--store", "file://" + store, "--key-file", keyFile, "--keep-key-file", "--to", filepath.Join(dir, "out")},
	} {
		done := make(chan error, 1)
		go func() { _, err := runCLI(t, args...); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%v succeeded over a FIFO", args)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%v hangs on a FIFO in the store", args)
		}
	}
}

// TestAttackOrganizationName: organisation names are each tenant's own, so
// beta, by naming its organisation as alpha's ("lab"), neither uses a site
// the operator keeps for alpha's lab, nor swells alpha's export totals
// (which would hold alpha's Chinese data at home), nor reads alpha's
// datasets in its own findings.
func TestAttackOrganizationName(t *testing.T) {
	cat := t.TempDir()
	sites, err := os.ReadFile("../../examples/demo/sites/sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	private := `---
apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: sg-lab-private}
spec:
  country: SG
  city: Singapore
  location: {lat: 1.30, lon: 103.80}
  operator: {name: demo-dc, headquarters: SG}
  access: private
  accessOrganizations: [alpha-lab/lab]
  pools:
    - {accelerator: nvidia-h100-sxm, count: 16, available: 8, pricePerHour: 1.00, priceSource: "illustrative value for the test", acquired: 2024-06-01, owner: operator}
  network: {egressPerGB: 0.08, gbps: 10}
  backend: {type: local}
  source: "test site; illustrative"
`
	// A name without a tenant is the default tenant's organisation.
	private += strings.NewReplacer("sg-lab-private", "sg-default-private", "[alpha-lab/lab]", "[lab]").Replace(private)
	if err := os.WriteFile(filepath.Join(cat, "sites.yaml"), append(sites, private...), 0o644); err != nil {
		t.Fatal(err)
	}
	tv := newTenants(t, "--catalog", cat)
	ctx := context.Background()

	// The private site: alpha's lab may use it, beta's lab may not.
	job := []run.Document{{Name: "job.yaml", Content: jobFor("lab", "SG", nil, "true")}}
	placed := func(c *api.Client, site string) (bool, string) {
		t.Helper()
		p, err := c.Plan(ctx, run.PlanRequest{Documents: job}, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, pl := range p.Placements {
			if pl.Site == site {
				return true, ""
			}
		}
		for _, r := range p.Rejected {
			if r.Site == site && len(r.Reasons) > 0 {
				return false, string(r.Kind) + ": " + r.Reasons[0].Message
			}
		}
		return false, "neither placed nor rejected"
	}
	if ok, why := placed(tv.alpha, "sg-lab-private"); !ok {
		t.Errorf("alpha's lab cannot use the site kept for it: %s", why)
	}
	if ok, why := placed(tv.beta, "sg-lab-private"); ok || !strings.Contains(why, "private") {
		t.Errorf("beta's lab, named like alpha's: placed %v (%s); want an access rejection", ok, why)
	}
	for _, c := range []*api.Client{tv.alpha, tv.beta} {
		if ok, why := placed(c, "sg-default-private"); ok || !strings.Contains(why, "tenant default's") {
			t.Errorf("a site private to the default tenant's lab: placed %v (%s); want an access rejection that says whose", ok, why)
		}
	}

	// Export totals: beta exports 999,999 Chinese people's data as "lab"
	// under a security assessment; alpha's 600,000 need only a standard
	// contract as long as beta's do not count for alpha's lab.
	bdata, bkey := personalData(t, tv.home, "beta-cn", "CN", 999999, "cn-security-assessment", "cn-standard-contract")
	org := []run.Document{{Name: "org.yaml", Content: strings.SplitN(jobFor("lab", "SG", nil, "true"), "---", 2)[0]}}
	if _, err := tv.beta.Apply(ctx, append(org, run.Document{Name: "d.yaml", Content: bdata}), false); err != nil {
		t.Fatal(err)
	}
	if err := tv.beta.PutKey(ctx, "beta-cn", bkey.String()); err != nil {
		t.Fatal(err)
	}
	res, err := tv.beta.Stage(ctx, "beta-cn", run.StageRequest{Site: "sg-jurong-1", Organization: "lab"})
	if err != nil || !res.Allowed {
		t.Fatalf("beta's own staging: %+v %v", res, err)
	}
	adata, _ := personalData(t, tv.home, "alpha-cn", "CN", 600000, "cn-standard-contract")
	if _, err := tv.alpha.Apply(ctx, append(org, run.Document{Name: "d.yaml", Content: adata}), false); err != nil {
		t.Fatal(err)
	}
	ask, err := tv.alpha.Stage(ctx, "alpha-cn", run.StageRequest{Site: "sg-jurong-1", Organization: "lab", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := json.Marshal(ask.Decision)
	if !ask.Allowed {
		t.Errorf("alpha's 600,000 people were counted with beta's exports: %s", text)
	}
	if strings.Contains(string(text), "beta-cn") {
		t.Errorf("alpha's decision names beta's dataset: %s", text)
	}
	// Beta's own next export does count its first: 999,999 + 2 passes
	// 1,000,000, so without an assessment it is refused.
	more, _ := personalData(t, tv.home, "beta-cn-2", "CN", 2, "cn-standard-contract")
	if _, err := tv.beta.Apply(ctx, []run.Document{{Name: "d.yaml", Content: more}}, false); err != nil {
		t.Fatal(err)
	}
	if got, err := tv.beta.Stage(ctx, "beta-cn-2", run.StageRequest{Site: "sg-jurong-1", Organization: "lab", DryRun: true}); err != nil || got.Allowed {
		b, _ := json.Marshal(got)
		t.Errorf("beta's second export, past 1,000,000 with its first: allowed %v %v\n%s", got.Allowed, err, b)
	}
}

// TestAttackWorkloadReachesNetwork: a workload cannot reach a TCP service
// beside it: not by TCP (Landlock refuses the connect), not by Multipath
// TCP (IPPROTO_MPTCP, which Landlock let through to TCP listeners), not
// by UDP, and not by io_uring. Through them it reached the site's services
// (slurmctld, a cloud's metadata). The probe reaches the workload as a
// tenant's program does, in a dataset: a command outside the paths every
// workload may read that the server's user owns is refused in the landlock
// sandbox (agent.TestAttackLandlockCommandReadsServerFile).
func TestAttackWorkloadReachesNetwork(t *testing.T) {
	dir := t.TempDir()
	probeDir := filepath.Join(dir, "netprobe")
	if err := os.Mkdir(probeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(probeDir, "probe")
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(`package main

import (
	"fmt"
	"os"
	"syscall"
)

func try(name string, domain, typ, proto int, port int) {
	fd, err := syscall.Socket(domain, typ, proto)
	if err != nil {
		fmt.Println("DENIED", name, "socket:", err)
		return
	}
	defer syscall.Close(fd)
	err = syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	if err != nil {
		fmt.Println("DENIED", name, "connect:", err)
		return
	}
	if typ == syscall.SOCK_DGRAM {
		if _, err := syscall.Write(fd, []byte("x")); err != nil {
			fmt.Println("DENIED", name, "send:", err)
			return
		}
	}
	fmt.Println("REACHED", name)
}

func main() {
	if len(os.Args) > 2 { // compat's child
		compat()
		return
	}
	var port int
	fmt.Sscan(os.Args[1], &port)
	try("tcp", syscall.AF_INET, syscall.SOCK_STREAM, 0, port)
	try("mptcp", syscall.AF_INET, syscall.SOCK_STREAM, 262, port)
	try("udp", syscall.AF_INET, syscall.SOCK_DGRAM, 0, port)
	_, _, e := syscall.Syscall(425, 8, 0, 0) // io_uring_setup
	fmt.Println("io_uring:", e)
	compat()
	fmt.Println("done-probing")
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same socket through the kernel's i386 entry (int $0x80, where
	// socket is 359): a seccomp filter written for the native numbers let
	// it through.
	compat := "package main\n\nfunc compat() { println(\"compat: none on this architecture\") }\n"
	if runtime.GOARCH == "amd64" {
		compat = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func int80(trap, a1, a2, a3 uintptr) uintptr

// compat asks in a child of its own: a kernel built without the i386
// entry (or with it turned off) answers int $0x80 with SIGSEGV, and then
// there is no such way to the network to close.
func compat() {
	if len(os.Args) > 2 && os.Args[2] == "compat-child" {
		fd := int32(int80(359, 2, 1, 262)) // i386 socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)
		if fd >= 0 {
			fmt.Println("REACHED i386 socket: fd", fd)
			return
		}
		fmt.Println("DENIED i386 socket: errno", -fd)
		return
	}
	c := exec.Command("/proc/self/exe", os.Args[1], "compat-child")
	c.Stdout, c.Stderr = os.Stdout, nil
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSEGV {
			fmt.Println("compat: this kernel has no i386 entry")
			return
		}
	}
	if err != nil {
		fmt.Println("compat: the child failed:", err)
	}
}
`
		asm := "#include \"textflag.h\"\n\n" +
			"TEXT ·int80(SB),NOSPLIT,$0-40\n" +
			"\tMOVQ trap+0(FP), AX\n\tMOVQ a1+8(FP), BX\n\tMOVQ a2+16(FP), CX\n\tMOVQ a3+24(FP), DX\n" +
			"\tINT $0x80\n\tMOVQ AX, ret+32(FP)\n\tRET\n"
		if err := os.WriteFile(filepath.Join(dir, "int80_amd64.s"), []byte(asm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "compat.go"), []byte(compat), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", probe, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	os.Chmod(probe, 0o755)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	eachSandbox(t, func(t *testing.T, mode string) {
		tv := newTenants(t, "--workload-sandbox", mode)
		ctx := context.Background()
		if mode == "landlock" {
			// Named by its path, the probe (the server's user's file,
			// outside what every workload may read) is refused.
			job := strings.Replace(jobFor("lab", "SG", nil, "unused"), `command: [/bin/sh, -c, "unused"]`, fmt.Sprintf(`command: [%q, "%d"]`, probe, port), 1)
			r, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
			if err != nil {
				t.Fatal(err)
			}
			r = waitRun(t, tv.alpha, r.ID)
			logs, _, _ := tv.alpha.Logs(ctx, r.ID, 0)
			if r.State != run.Failed || !bytes.Contains(logs, []byte(probe+" is owned by the server's user")) || bytes.Contains(logs, []byte("done-probing")) {
				t.Errorf("a command of the server's user named by its path: %s (%s); want failed, refused naming it:\n%s", r.State, r.Reason, logs)
			}
		}
		doc, key := programData(t, tv.home, "netprobe", probeDir)
		if _, err := tv.alpha.Apply(ctx, []run.Document{{Name: "d.yaml", Content: doc}}, false); err != nil {
			t.Fatal(err)
		}
		if err := tv.alpha.PutKey(ctx, "netprobe", key.String()); err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf(`p="$TMPDIR/probe" && cp "$MERIDIAN_DATA_DIR/netprobe/probe" "$p" && chmod 700 "$p" && exec "$p" %d`, port)
		logs := sandboxedRun(t, tv, jobFor("lab", "SG", []string{"netprobe"}, script), "done-probing")
		if bytes.Contains(logs, []byte("REACHED")) || !bytes.Contains(logs, []byte("io_uring: operation not permitted")) {
			t.Errorf("the workload reached the network:\n%s", logs)
		}
	})
}

// TestScreeningImportRechecksRuns: a run of an organisation the law
// allowed runs; a screening list imported afterwards finds the
// organisation (its restricted-party status undetermined until a person
// decides), and the running run is judged again and leaves its site. A
// screening import or decision changes the law under the same rules
// revision, and no check ran for it: the run went on.
func TestScreeningImportRechecksRuns(t *testing.T) {
	tv := newTenants(t)
	ctx := context.Background()
	job := strings.Replace(jobFor("exemplar", "DE", nil, "sleep 300"), "spec: {headquarters: DE}", `spec: {headquarters: DE, legalName: "Exemplar Lab GmbH"}`, 1)
	r, err := tv.alpha.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for r.State != run.Running && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if r, err = tv.alpha.Get(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r.State != run.Running {
		t.Fatalf("the run is %s (%s), want running", r.State, r.Reason)
	}
	imp := exec.Command(tv.p.bin, "screen", "import", filepath.Join("..", "..", "screen", "testdata", "csl-sample-id.csv"))
	imp.Env = append(os.Environ(), "MERIDIAN_HOME="+tv.p.state)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("screen import: %v\n%s", err, out)
	}
	deadline = time.Now().Add(60 * time.Second)
	for r.State == run.Running && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if r, err = tv.alpha.Get(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r.State == run.Running {
		t.Fatalf("the run still runs a minute after the list that finds its organisation was imported")
	}
	evs, err := tv.alpha.Events(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var why []string
	for _, e := range evs {
		why = append(why, e.Kind+": "+e.Reason)
	}
	if !strings.Contains(strings.Join(why, "\n"), "restricted-party") {
		t.Errorf("the run left its site (%s) without naming the screening:\n%s", r.State, strings.Join(why, "\n"))
	}
}
