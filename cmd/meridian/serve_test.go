package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/examples/trainer/charlm"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// builtBinary is meridian compiled once per test binary; TestMain removes it.
var builtBinary string

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBinary != "" {
		os.RemoveAll(filepath.Dir(builtBinary))
	}
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	if builtBinary != "" {
		return builtBinary
	}
	dir, err := os.MkdirTemp("", "meridian-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "meridian")
	cmd := exec.Command("go", "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	builtBinary = out
	return out
}

// serveProc is `meridian serve` running as a child process.
type serveProc struct {
	t     *testing.T
	bin   string
	state string
	cat   string
	cmd   *exec.Cmd
	c     *api.Client
}

func (p *serveProc) start() {
	p.t.Helper()
	os.Remove(filepath.Join(p.state, clientFile))
	p.cmd = exec.Command(p.bin, "serve", "--state", p.state, "--listen", "127.0.0.1:0", "--catalog", p.cat, "--poll", "50ms")
	var errb bytes.Buffer
	p.cmd.Stderr = &errb
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cfg, err := readClientConfig(p.state); err == nil {
			p.c = api.NewClient(cfg.Server, cfg.Token)
			if _, err := p.c.List(context.Background()); err == nil {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("serve did not come up: %s", errb.String())
}

func (p *serveProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *serveProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

func newServeProc(t *testing.T) *serveProc {
	dir := t.TempDir()
	p := &serveProc{t: t, bin: binary(t), state: filepath.Join(dir, "state"), cat: "../../examples/demo/sites"}
	return p
}

// demoJob is the demo's job with its own step counts, run by the built-in
// example trainer behind a shell line that logs every launch into the
// working directory, so that the tests can count launches without trusting
// the backend. Its dataset is added to the server's state directory, as in
// the demo, so every attempt stages it and the job's prologue unseals it.
func demoJob(t *testing.T, bin, stateDir string, steps, every int, delay string) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "corpus")
	if err := charlm.WriteCorpus(data); err != nil {
		t.Fatal(err)
	}
	job, err := os.ReadFile("../../examples/demo/job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	home := "file://" + filepath.Join(stateDir, "store")
	if _, err := demoAddDataset(context.Background(), stateDir, home, data); err != nil {
		t.Fatal(err)
	}
	s := demoJobText(string(job), bin, home)
	logLaunch := `printf 'run=%s attempt=%s\n' "$MERIDIAN_RUN_ID" "$MERIDIAN_ATTEMPT" >> launches.log; exec "$0" "$@"`
	s = strings.Replace(s, "command: [", "command: [/bin/sh, -c, "+quoteYAML(logLaunch)+", ", 1)
	old := `-steps, "300", -checkpoint-every, "25", -step-delay, 15ms`
	if !strings.Contains(s, old) {
		t.Fatalf("examples/demo/job.yaml no longer has %q", old)
	}
	return strings.Replace(s, old, fmt.Sprintf(`-steps, "%d", -checkpoint-every, "%d", -step-delay, %s`, steps, every, delay), 1)
}

// TestCrashSafety kills `meridian serve` with SIGKILL at random moments,
// restarts it, and checks that every run finishes, none is launched twice,
// and every checkpoint is intact. One site is lost on the way so that
// migrations are interrupted too.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	crashSafety(t, crashCase{catalog: "../../examples/demo/sites", runs: 4, steps: 200, lose: "sg-jurong-1", backend: catalog.BackendSpec{Type: "local"}})
}

// TestCrashSafetySlurm is TestCrashSafety on the single-machine Slurm that
// scripts/slurm-up.sh starts (MERIDIAN_TEST_SLURM=1, SLURM_CONF set).
func TestCrashSafetySlurm(t *testing.T) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("set MERIDIAN_TEST_SLURM=1 with a running cluster (scripts/slurm-up.sh)")
	}
	spec := catalog.BackendSpec{Type: "slurm", Partition: "site-a", GresType: "h100"}
	crashSafety(t, crashCase{catalog: "testdata/slurm-sites", runs: 2, steps: 150, lose: "slurm-a", backend: spec})
}

type crashCase struct {
	catalog string
	runs    int
	steps   int
	lose    string
	backend catalog.BackendSpec
}

func crashSafety(t *testing.T, cc crashCase) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	p := newServeProc(t)
	p.cat = cc.catalog
	p.start()
	ctx := context.Background()
	loseRoot := filepath.Join(p.state, "sites", cc.lose)
	t.Cleanup(func() {
		b, err := backend.For(cc.backend, loseRoot)
		if err == nil {
			if f, ok := b.(backend.SiteFailer); ok {
				f.RestoreSite(context.Background())
			}
		}
	})
	nRuns := cc.runs
	job := demoJob(t, p.bin, p.state, cc.steps, 10, "20ms")
	ids := map[string]bool{}
	for i := 0; i < nRuns; i++ {
		r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}},
			IdempotencyKey: fmt.Sprintf("crash-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[r.ID] = true
	}
	lost := false
	for kill := 0; kill < 12; kill++ {
		time.Sleep(time.Duration(20+rng.Intn(400)) * time.Millisecond) // chaos timing, not synchronisation
		if !lost && kill == 3 {
			if err := failSite(ctx, cc.backend, loseRoot); err != nil {
				t.Fatal(err)
			}
			lost = true
		}
		p.kill()
		// A retried submission after the crash must not make a new run.
		p.start()
		r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}},
			IdempotencyKey: "crash-0"})
		if err != nil || !ids[r.ID] {
			t.Fatalf("retry after restart: %v %v", r.ID, err)
		}
	}
	// Let everything finish.
	deadline := time.Now().Add(90 * time.Second)
	var runs []*run.Run
	for {
		var err error
		runs, err = p.c.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, r := range runs {
			if r.State.Final() {
				done++
			}
		}
		if done == len(runs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs did not finish: %d of %d", done, len(runs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer p.stop()
	if len(runs) != nRuns {
		t.Fatalf("%d runs, want %d", len(runs), nRuns)
	}
	migrated := 0
	for _, r := range runs {
		if r.Attempt > 1 {
			migrated++
		}
		if !ids[r.ID] {
			t.Errorf("unexpected run %s", r.ID)
		}
		if r.State != run.Succeeded {
			t.Errorf("run %s ended %s: %s", r.ID, r.State, r.Reason)
		}
		// Each attempt was launched exactly once, at its own site, and no
		// attempt the controller does not know of was launched: the trainer
		// logs every launch in its working directory.
		logs, _ := filepath.Glob(filepath.Join(p.state, "sites", "*", "runs", r.ID, "launches.log"))
		var launches []string
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			site := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(l))))
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				launches = append(launches, site+" "+strings.Join(strings.Fields(line)[:2], " "))
			}
		}
		sort.Strings(launches)
		recorded := map[string]bool{}
		for _, a := range r.Attempts {
			recorded[fmt.Sprintf("%s run=%s attempt=%d", a.Site, r.ID, a.N)] = true
		}
		for i, l := range launches {
			if i > 0 && launches[i-1] == l {
				t.Errorf("run %s: launched twice: %s", r.ID, l)
			}
			if !recorded[l] {
				t.Errorf("run %s: launch the controller never recorded: %s", r.ID, l)
			}
		}
		// An attempt may be recorded and never launched (its site was lost
		// while it queued), but the last one ran.
		last := r.Attempts[len(r.Attempts)-1]
		if !containsString(launches, fmt.Sprintf("%s run=%s attempt=%d", last.Site, r.ID, last.N)) || len(r.Attempts) != r.Attempt {
			t.Errorf("run %s: final attempt %d never launched: %v", r.ID, r.Attempt, launches)
		}
		evs, err := p.c.Events(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		queued := 0
		for _, e := range evs {
			if e.Kind == "state" && e.To == string(run.Queued) {
				queued++
			}
		}
		if queued != r.Attempt {
			t.Errorf("run %s: %d submissions recorded for %d attempts", r.ID, queued, r.Attempt)
		}
		// Every checkpoint anywhere is complete and self-consistent.
		files, _ := filepath.Glob(filepath.Join(p.state, "sites", "*", "runs", r.ID, "checkpoints", "ckpt-*.bin"))
		if len(files) == 0 {
			t.Errorf("run %s: no checkpoints", r.ID)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil {
				_, err = charlm.DecodeCheckpoint(b)
			}
			if err != nil {
				t.Errorf("corrupt checkpoint %s: %v", f, err)
			}
		}
		if r.Checkpoint == nil || r.Checkpoint.Step != int64(cc.steps) {
			t.Errorf("run %s: final checkpoint %+v", r.ID, r.Checkpoint)
		}
	}
	if migrated == 0 {
		t.Error("no run migrated; the site loss came too late to test recovery under crashes")
	}
	checkCrashStaging(t, p, runs)
	res, err := p.c.Verify(ctx)
	if err != nil || !res.OK {
		t.Errorf("audit after crashes: %+v %v", res, err)
	}
}

// checkCrashStaging checks the data side of the crash test: every attempt's
// site got the dataset (a ledger entry of the run for it), no chunk was
// ever sent twice to one site whatever the kills interrupted (the bytes
// sent to a site, over all runs and retries, are at most the dataset's
// sealed size), and no key file or plaintext is left at any site.
func checkCrashStaging(t *testing.T, p *serveProc, runs []*run.Run) {
	t.Helper()
	var sealed int64
	filepath.WalkDir(filepath.Join(p.state, "store", "meridian", "demo-text", "chunks"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				sealed += fi.Size()
			}
		}
		return nil
	})
	if sealed == 0 {
		t.Fatal("the home store holds no chunk")
	}
	sent := map[string]int64{}
	for _, r := range runs {
		es, err := p.c.Audit(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		staged := map[string]bool{}
		for _, e := range es {
			if e.Kind != transfer.KindTransfer {
				continue
			}
			var tr transfer.Entry
			if err := json.Unmarshal(e.Payload, &tr); err != nil {
				t.Fatal(err)
			}
			staged[tr.Site] = true
			sent[tr.Site] += tr.BytesSent
		}
		for _, a := range r.Attempts {
			if !staged[a.Site] && r.State == run.Succeeded {
				t.Errorf("run %s: attempt %d at %s has no transfer entry", r.ID, a.N, a.Site)
			}
		}
	}
	for site, n := range sent {
		if n > sealed {
			t.Errorf("%d bytes sent to %s, more than the dataset's %d sealed bytes: a chunk was sent twice", n, site, sealed)
		}
	}
	corpus := filepath.Join(t.TempDir(), "corpus")
	if err := charlm.WriteCorpus(corpus); err != nil {
		t.Fatal(err)
	}
	if _, err := demoSiteCheck(filepath.Join(p.state, "sites"), corpus); err != nil {
		t.Error(err)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCLI drives the client verbs against a served process.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p := newServeProc(t)
	p.start()
	defer p.stop()
	jobFile := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(jobFile, []byte(demoJob(t, p.bin, p.state, 100000, 1000, "20ms")), 0o644)
	cli := func(wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.Command(p.bin, args...)
		cmd.Env = append(os.Environ(), "MERIDIAN_HOME="+p.state)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != wantCode {
			t.Fatalf("meridian %v: exit %d, want %d\n%s", args, code, wantCode, out)
		}
		return string(out)
	}
	var r run.Run
	if err := json.Unmarshal([]byte(cli(0, "run", "-f", jobFile, "--placement", "2", "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	if r.Site != "my-johor-2" || r.Rank != 2 {
		t.Errorf("--placement 2 ran at %s rank %d", r.Site, r.Rank)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(cli(0, "get", "runs"), "running") {
		if time.Now().After(deadline) {
			t.Fatal("run never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := cli(0, "describe", "run", r.ID); !strings.Contains(out, "staging → queued") || !strings.Contains(out, "attempt 1 submitted to my-johor-2") {
		t.Errorf("describe:\n%s", out)
	}
	for !strings.Contains(cli(0, "logs", r.ID), "step=") {
		if time.Now().After(deadline) {
			t.Fatal("no progress in logs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := cli(0, "cancel", r.ID); !strings.Contains(out, "cancel requested") {
		t.Errorf("cancel: %s", out)
	}
	if out := cli(0, "logs", r.ID, "-f"); !strings.Contains(out, "cancelled") {
		t.Errorf("logs -f did not end with the run: %s", out)
	}
	if out := cli(0, "audit", "log", "--run", r.ID); !strings.Contains(out, "decision") || !strings.Contains(out, "plan") {
		t.Errorf("audit log:\n%s", out)
	}
	if out := cli(0, "audit", "verify"); !strings.Contains(out, "audit log intact") {
		t.Errorf("verify: %s", out)
	}
	for _, f := range []string{"audit.key", "tokens.json", "client.json"} {
		fi, err := os.Stat(filepath.Join(p.state, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, want mode 0600 (%v)", f, fi.Mode().Perm(), err)
		}
	}
	second := exec.Command(p.bin, "serve", "--state", p.state, "--listen", "127.0.0.1:0")
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "in use by another meridian serve") {
		t.Errorf("a second serve on the same state started: %v %s", err, out)
	}
	cli(2, "describe", "run", "run-000000000000")
	cli(2, "run", "-f", "/nonexistent.yaml")
	cli(2, "get", "runs", "--token", "wrong")
	cli(2, "get", "jobs")
	// Tamper with the database: verify must fail and name the entry.
	p.stop()
	db := exec.Command("go", "run", "./testdata/tamper", filepath.Join(p.state, "meridian.db"))
	if b, err := db.CombinedOutput(); err != nil {
		t.Fatalf("tamper: %v %s", err, b)
	}
	p.start()
	if out := cli(1, "audit", "verify"); !strings.Contains(out, "BROKEN at entry 2 (modified)") {
		t.Errorf("verify after tampering: %s", out)
	}
}

// TestDemo runs the README's main command end to end.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	bin := binary(t)
	start := time.Now()
	cmd := exec.Command(bin, "demo", "--timeout", "90s", "--keep")
	out, err := cmd.CombinedOutput()
	t.Logf("demo took %s", time.Since(start).Round(time.Millisecond))
	const kept = "state kept in "
	if i := strings.LastIndex(string(out), kept); i >= 0 {
		dir := strings.TrimSpace(string(out[i+len(kept):]))
		t.Cleanup(func() { os.RemoveAll(dir) })
		checkDemoLedger(t, filepath.Join(dir, "state"))
	} else {
		t.Errorf("demo output does not say where its state is")
	}
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"simulating the loss of site", "site-lost", "replanned", "checkpoint-moved",
		"migrating → staging", "checkpointed → succeeded", "audit log intact",
		"dataset add demo-text", "transfer ledger:", "no key file and no plaintext line of the dataset"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

// checkDemoLedger reads the demo's audit log: it must verify, and hold one
// transfer of the dataset to each site the run used, each sending the whole
// dataset (the two sites' stores are separate).
func checkDemoLedger(t *testing.T, stateDir string) {
	t.Helper()
	ctx := context.Background()
	key, err := audit.LoadKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(stateDir, "meridian.db"), store.Options{AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if res, err := st.VerifyAudit(ctx); err != nil || !res.OK {
		t.Errorf("audit chain: %+v %v", res, err)
	}
	es, err := st.AuditEntries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var sites []string
	for _, e := range es {
		if e.Kind != transfer.KindTransfer {
			continue
		}
		var tr transfer.Entry
		if err := json.Unmarshal(e.Payload, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Dataset != "demo-text" || tr.ChunksSent != tr.Chunks || tr.BytesSent == 0 || tr.RunID == "" {
			t.Errorf("ledger entry %s", e.Payload)
		}
		sites = append(sites, tr.Site+" "+tr.To)
	}
	if diff := cmp.Diff([]string{"sg-jurong-1 SG", "my-johor-2 MY"}, sites); diff != "" {
		t.Errorf("transfer ledger sites (-want +got):\n%s", diff)
	}
}
