package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/audit"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/examples/trainer/charlm"
	"meridian.dev/meridian/run"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/store"
	"meridian.dev/meridian/transfer"
)

// builtBinary is meridian compiled once per test binary; TestMain removes it.
var builtBinary string

func TestMain(m *testing.M) {
	if spec := os.Getenv(confineEnv); spec != "" {
		os.Exit(confineExec(spec, os.Args[1:]))
	}
	code := m.Run()
	if builtBinary != "" {
		os.RemoveAll(filepath.Dir(builtBinary))
	}
	os.Exit(code)
}

func binary(t testing.TB) string {
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
		os.RemoveAll(dir)
		t.Fatalf("go build: %v\n%s", err, b)
	}
	// Sites whose jobs run as another user (slurmrestd's) start it too.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	builtBinary = out
	return out
}

// serveProc is `meridian serve` running as a child process.
type serveProc struct {
	t     testing.TB
	bin   string
	state string
	cat   string
	// addr stays the same across restarts, as a real server's does: the
	// attempts' agents keep reporting to it.
	addr  string
	extra []string
	// confine, when set, runs serve under Landlock, reaching nothing but
	// the system's directories, its executable, its state directory and
	// these paths.
	confine *confinement
	// files, when set, are descriptors serve inherits from its parent
	// (fd 3 on), as a supervisor or a shell may leave them open.
	files []*os.File
	// umask, when set, is the umask serve starts under (through a shell).
	umask string
	// as, when set, is the user serve runs as; env is added to its
	// environment.
	as     *syscall.Credential
	env    []string
	cmd    *exec.Cmd
	c      *api.Client
	errb   *syncBuffer
	waited chan error
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (p *serveProc) start() {
	p.t.Helper()
	if err := p.tryStart(); err != nil {
		p.t.Fatal(err)
	}
}

// output waits, within a bound, for serve's error output to hold each of
// want, and returns it. What serve wrote before its API answered may still
// be in the pipe this process copies it from: a loaded machine may not
// have run the copy yet when the API first answers.
func (p *serveProc) output(want ...string) string {
	log := p.errb.String()
	holds := func() bool {
		for _, w := range want {
			if !strings.Contains(log, w) {
				return false
			}
		}
		return true
	}
	for wait := time.Now().Add(20 * time.Second); !holds() && time.Now().Before(wait); log = p.errb.String() {
		time.Sleep(20 * time.Millisecond)
	}
	return log
}

// tryStart starts serve and waits for its API; it returns serve's error
// output when serve exits or does not come up.
func (p *serveProc) tryStart() error {
	p.t.Helper()
	if p.addr == "" {
		p.addr = freeAddr(p.t)
	}
	os.Remove(filepath.Join(p.state, clientFile))
	args := []string{"serve", "--state", p.state, "--listen", p.addr, "--poll", "50ms"}
	if p.cat != "" {
		args = append(args, "--catalog", p.cat)
	}
	args = append(args, p.extra...)
	p.cmd = exec.Command(p.bin, args...)
	if p.umask != "" {
		p.cmd = exec.Command("/bin/sh", append([]string{"-c", `umask "$1" && shift && exec "$@"`, "sh", p.umask, p.bin}, args...)...)
	}
	if p.confine != nil {
		cmd, err := p.confined(append([]string{p.bin}, args...))
		if err != nil {
			return err
		}
		p.cmd = cmd
	}
	if p.as != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.as}
	}
	if p.env != nil {
		p.cmd.Env = append(os.Environ(), p.env...)
	}
	p.errb = &syncBuffer{}
	p.cmd.Stderr = p.errb
	p.cmd.ExtraFiles = p.files
	if err := p.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("serve exited (%v): %s", err, p.errb.String())
		default:
		}
		// Another user's client.json is refused to this one (root): a
		// serve run as another user is up once it says so.
		if p.as != nil && strings.Contains(p.errb.String(), "msg=serving") {
			p.waited = exited
			return nil
		}
		if cfg, err := readClientConfig(p.state); err == nil {
			c, err := api.NewPinnedClient(cfg.Server, cfg.Token, cfg.Fingerprint)
			if err != nil {
				return err
			}
			p.c = c
			if _, err := p.c.List(context.Background()); err == nil {
				p.waited = exited
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Kill()
	<-exited
	return fmt.Errorf("serve did not come up: %s", p.errb.String())
}

// confined is the command that runs args under the serve's confinement:
// this test binary as a wrapper that restricts itself, then executes args.
func (p *serveProc) confined(args []string) (*exec.Cmd, error) {
	tmp := filepath.Join(p.state, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	ro := []string{p.bin}
	if p.cat != "" {
		ro = append(ro, p.cat)
	}
	c := confinement{RO: append(ro, p.confine.RO...), RW: append([]string{p.state}, p.confine.RW...)}
	spec, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), confineEnv+"="+string(spec), "TMPDIR="+tmp)
	return cmd, nil
}

func (p *serveProc) kill() { p.end(syscall.SIGKILL) }

func (p *serveProc) stop() { p.end(syscall.SIGTERM) }

// end signals the running serve, if any, and waits for it.
func (p *serveProc) end(sig syscall.Signal) {
	if p.waited == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	<-p.waited
	p.waited = nil
}

func newServeProc(t testing.TB) *serveProc {
	dir := t.TempDir()
	// Workloads run as their tenant's user when the tests run as root: they
	// pass through the test's directory to their scratch, as they would
	// through a real state directory's parents.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	p := &serveProc{t: t, bin: binary(t), state: filepath.Join(dir, "state"), cat: repoCatalog(t, "../../examples/demo/sites")}
	return p
}

// demoJob is the demo's job with its own step counts, run by the built-in
// example trainer behind a shell line that prints every launch into the
// attempt's output, which the site's scheduler keeps (the local backend in
// jobs/KEY/output.log), so that the tests can count launches without
// trusting the controller. Its dataset is added to the server's state
// directory, as in the demo, so every attempt stages it and the agent
// unseals it.
func demoJob(t testing.TB, bin, stateDir string, steps, every int, delay string) string {
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
	s := demoJobText(string(job), home)
	logLaunch := `printf 'launch run=%s attempt=%s\n' "$MERIDIAN_RUN_ID" "$MERIDIAN_ATTEMPT"; exec "$MERIDIAN_EXE" trainer "$@"`
	s = strings.Replace(s, "command: [meridian, trainer,", "command: [/bin/sh, -c, "+quoteYAML(logLaunch)+", launch,", 1)
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
	p := newServeProc(t)
	crashSafety(t, p, localLab(p), 4, 200)
}

// TestCrashSafetySlurm is TestCrashSafety on the single-machine Slurm that
// scripts/slurm-up.sh starts (MERIDIAN_TEST_SLURM=1, SLURM_CONF set).
func TestCrashSafetySlurm(t *testing.T) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("set MERIDIAN_TEST_SLURM=1 with a running cluster (scripts/slurm-up.sh)")
	}
	p := newServeProc(t)
	crashSafety(t, p, slurmLab(t, p), 2, 150)
}

// TestCrashSafetyRuleChange is TestCrashSafety where, instead of a site
// being lost, the admin applies a rule that makes the runs' country
// unlawful: the server is killed while it drains and moves them.
func TestCrashSafetyRuleChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	p := newServeProc(t)
	lab := localLab(p)
	lab.denyCountry = "SG"
	crashSafety(t, p, lab, 2, 150)
}

// TestCrashSafetySlurmRuleChange is TestCrashSafetyRuleChange on the
// single-machine Slurm cluster.
func TestCrashSafetySlurmRuleChange(t *testing.T) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("set MERIDIAN_TEST_SLURM=1 with a running cluster (scripts/slurm-up.sh)")
	}
	p := newServeProc(t)
	lab := slurmLab(t, p)
	lab.denyCountry = "SG"
	crashSafety(t, p, lab, 2, 150)
}

// TestCrashSafetySlurmREST is TestCrashSafety on the same Slurm reached
// through slurmrestd, whose jobs run as the slurm user.
func TestCrashSafetySlurmREST(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	lab := restLab(t)
	crashSafety(t, newServeProc(t), lab, 2, 150)
}

// TestCrashSafetyKubernetes is TestCrashSafety on the Kubernetes test
// cluster: one node per site, the first node lost on the way.
func TestCrashSafetyKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	lab := kubeLab(t)
	crashSafety(t, newServeProc(t), lab, 2, 150)
}

func crashSafety(t *testing.T, p *serveProc, lab *siteLab, nRuns, steps int) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	lab.serve(t, p)
	ctx := context.Background()
	t.Cleanup(lab.restore)
	var rev int64
	job := demoJob(t, p.bin, p.state, steps, 10, "20ms")
	ids := map[string]bool{}
	for i := 0; i < nRuns; i++ {
		r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}},
			IdempotencyKey: fmt.Sprintf("crash-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Site != lab.first {
			t.Fatalf("run %s planned at %s, want %s (the site the test loses)", r.ID, r.Site, lab.first)
		}
		ids[r.ID] = true
	}
	lost := false
	const kills = 12
	for kill := 0; kill < kills; kill++ {
		time.Sleep(time.Duration(20+rng.Intn(400)) * time.Millisecond) // chaos timing, not synchronisation
		if !lost && kill == 3 {
			if lab.denyCountry != "" {
				pack := mustRead(t, denyCountryPack(t, t.TempDir(), "test-crash-no-"+strings.ToLower(lab.denyCountry), lab.denyCountry, "2020-01-01"))
				res, err := p.c.RulesApply(ctx, api.RulesApplyRequest{Files: []api.RuleFile{{Name: "crash.yaml", Content: string(pack)}}, Reason: "crash test"})
				if err != nil {
					t.Fatal(err)
				}
				rev = res.Revision
			} else if err := lab.fail(ctx); err != nil {
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
	runs := waitRunsFinal(t, 90*time.Second, 50*time.Millisecond, func() ([]*run.Run, error) { return p.c.List(ctx) })
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
		launches := checkLaunches(t, lab, r)
		// An attempt may be recorded and never launched (its site was lost
		// while it queued), but the last one ran.
		last := r.Attempts[len(r.Attempts)-1]
		if !containsString(launches, fmt.Sprintf("%s run=%s attempt=%d", last.Site, r.ID, last.N)) || len(r.Attempts) != r.Attempt {
			t.Errorf("run %s: final attempt %d never launched: %v\n%s", r.ID, r.Attempt, launches, lab.outputOf(r.ID))
		}
		evs, err := p.c.Events(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Every launched attempt was recorded as submitted exactly once; an
		// attempt whose site was lost before its submission is recorded
		// without one. One the server handed to its site and was killed
		// before recording is recorded as found when the run left the site
		// before a restart's submit step found it.
		submitted := map[string]int{}
		for _, e := range evs {
			var n int
			var site string
			if e.Kind == "state" && e.To == string(run.Queued) || e.Kind == "attempt-found" {
				if _, err := fmt.Sscanf(e.Reason, "attempt %d submitted to %s", &n, &site); err != nil {
					t.Errorf("run %s: submission event %q does not name its attempt", r.ID, e.Reason)
				}
				submitted[fmt.Sprintf("%s run=%s attempt=%d", site, r.ID, n)]++
			}
		}
		for l, k := range submitted {
			if k != 1 {
				t.Errorf("run %s: %d submissions recorded for %s", r.ID, k, l)
			}
		}
		for _, l := range launches {
			if submitted[l] == 0 {
				var b strings.Builder
				for _, e := range evs {
					fmt.Fprintf(&b, "  %s %s %s→%s %s\n", e.Time.Format("15:04:05.000"), e.Kind, e.From, e.To, e.Reason)
				}
				t.Errorf("run %s: launched with no submission recorded: %s\n%s", r.ID, l, b.String())
			}
		}
		// The final checkpoint is sealed at the run's last site, complete
		// and self-consistent, at the last step.
		if r.Checkpoint == nil || r.Checkpoint.Step != int64(steps) {
			t.Errorf("run %s: final checkpoint %+v", r.ID, r.Checkpoint)
		} else if ck := unsealCheckpoint(t, p.state, lab.store(r.Checkpoint.Site), r); ck.Step != uint64(steps) {
			t.Errorf("run %s: sealed checkpoint at step %d", r.ID, ck.Step)
		}
	}
	if migrated == 0 {
		t.Error("no run migrated; the site loss or rule came too late to test recovery under crashes")
	}
	if lost && lab.denyCountry == "" {
		// The lost node comes back before the sites are searched for
		// plaintext: what it does with a lost attempt's scratch then is
		// part of what is checked.
		lab.restore()
	}
	if lab.denyCountry != "" {
		// Every run left the country, each move naming the revision.
		for _, r := range runs {
			if r.Placement.Country == lab.denyCountry {
				t.Errorf("run %s finished in %s after the rule against it", r.ID, lab.denyCountry)
			}
			evs, err := p.c.Events(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			named := false
			for _, e := range evs {
				named = named || e.Kind == "law-move" && strings.Contains(e.Reason, fmt.Sprintf("rules revision %d", rev))
			}
			if r.Attempt > 1 && !named {
				t.Errorf("run %s moved without a law-move event naming revision %d", r.ID, rev)
			}
		}
	}
	checkCrashStaging(t, p, lab, runs, kills)
	if lab.swept != nil {
		lab.swept(t, runs)
	}
	res, err := p.c.Verify(ctx)
	if err != nil || !res.OK {
		t.Errorf("audit after crashes: %+v %v", res, err)
	}
}

// checkCrashStaging checks the data side of the crash test: every attempt's
// site got the dataset (a ledger entry of the run for it), no object was
// ever delivered whole twice to one site whatever the kills interrupted,
// and no key file or plaintext is left at any site. kills is how many
// times the server was killed.
func checkCrashStaging(t *testing.T, p *serveProc, lab *siteLab, runs []*run.Run, kills int) {
	t.Helper()
	home := filepath.Join(p.state, "store")
	objects := map[string]int64{} // the dataset's sealed objects, by key, with their sizes
	filepath.WalkDir(filepath.Join(home, "meridian", "demo-text", "chunks"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				if rel, err := filepath.Rel(home, path); err == nil {
					objects[filepath.ToSlash(rel)] = fi.Size()
				}
			}
		}
		return nil
	})
	if len(objects) == 0 {
		t.Fatal("the home store holds no chunk")
	}
	if fi, err := os.Stat(filepath.Join(home, filepath.FromSlash(dataset.ManifestKey("demo-text")))); err == nil {
		objects[dataset.ManifestKey("demo-text")] = fi.Size() // sent once to each site, with the last batch
	}
	var sealed int64
	for _, n := range objects {
		sealed += n
	}
	var entries []transfer.Entry
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
			if tr.Kind == transfer.KindCheckpoint {
				continue
			}
			staged[tr.Site] = true
			entries = append(entries, tr)
		}
		// A staging runs beside the loop, and a law move stops it: an
		// attempt the law sent away while it staged may have no completed
		// transfer (what crossed is in its open intents, which the export
		// volumes count: TestOpenIntentCounts). Every other attempt of a
		// finished run staged.
		evs, err := p.c.Events(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		leftByLaw := map[string]bool{}
		for _, e := range evs {
			if e.Kind == "law-move" {
				leftByLaw[strings.SplitN(e.Reason, " ", 2)[0]] = true
			}
		}
		for _, a := range r.Attempts {
			if !staged[a.Site] && r.State == run.Succeeded && !leftByLaw[a.Site] {
				t.Errorf("run %s: attempt %d at %s has no transfer entry", r.ID, a.N, a.Site)
			}
		}
	}
	for _, msg := range crashStagingSent(entries, objects, kills) {
		t.Error(msg)
	}
	corpus := filepath.Join(t.TempDir(), "corpus")
	if err := charlm.WriteCorpus(corpus); err != nil {
		t.Fatal(err)
	}
	// A lost attempt's scratch is the site's to remove once its node is
	// back (restored above): a Kubernetes node removes the pod's emptyDir,
	// a Slurm site runs the sweep job the backend queued. Wait for that.
	for _, dir := range lab.siteDirs {
		deadline := time.Now().Add(90 * time.Second)
		for {
			_, err := demoSiteCheck(dir, corpus)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Error(err)
				break
			}
			time.Sleep(250 * time.Millisecond) // polling interval
		}
	}
}

// crashStagingSent checks what the ledger's confirmations of the dataset
// (entries: every run's, to every site) say crossed, against the dataset's
// sealed objects (objects: key → size), after the server was killed kills
// times. Each confirmation counts the objects it confirms whole and the
// parts of objects whose write a kill cut (Entry.Partial: a file store's
// temporary file, found by the next staging's reconcile, confirmed and
// removed; the object is then sent whole). Those parts crossed as well, so
// a site's bytes sent may legitimately exceed the dataset's: what must
// hold is that no object was delivered whole twice to one site (the bytes
// confirmed, less the parts, are at most the dataset's), and that each
// part is of one of the dataset's objects, no larger than it, with no
// object cut at one site more often than the server was killed (stagings
// into one site take turns, so one kill cuts at most one write of each
// object there). The labs' site stores are file stores, whose writes are
// never tried again: a part is only ever a cut write's temporary file. It
// returns what it found wrong.
func crashStagingSent(entries []transfer.Entry, objects map[string]int64, kills int) []string {
	var sealed int64
	for _, n := range objects {
		sealed += n
	}
	var bad []string
	whole := map[string]int64{}
	cuts := map[[2]string]int{}
	for _, e := range entries {
		var part int64
		for _, pt := range e.Partial {
			size, ok := objects[pt.Key]
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("a part of %s sent to %s, which is not one of the dataset's objects", pt.Key, e.Site))
			case pt.Bytes <= 0 || pt.Bytes > size:
				bad = append(bad, fmt.Sprintf("a part of %d bytes of %s sent to %s, whose object is %d bytes", pt.Bytes, pt.Key, e.Site, size))
			}
			part += pt.Bytes
			cuts[[2]string{e.Site, pt.Key}]++
		}
		whole[e.Site] += e.BytesSent - part
	}
	for _, site := range slices.Sorted(maps.Keys(whole)) {
		if n := whole[site]; n > sealed {
			bad = append(bad, fmt.Sprintf("%d bytes delivered whole to %s, more than the dataset's %d sealed bytes and manifest: a chunk was sent twice", n, site, sealed))
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(cuts), func(a, b [2]string) int { return strings.Compare(a[0]+"|"+a[1], b[0]+"|"+b[1]) }) {
		if n := cuts[k]; n > kills {
			bad = append(bad, fmt.Sprintf("%s cut mid-write %d times at %s, by %d kills", k[1], n, k[0], kills))
		}
	}
	return bad
}

// waitRunsFinal lists the runs every poll until all have ended, failing
// after timeout; each list also goes to check, when given (an invariant
// that must hold at every step). It returns the last list.
func waitRunsFinal(t *testing.T, timeout, poll time.Duration, list func() ([]*run.Run, error), check ...func([]*run.Run)) []*run.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs, err := list()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range check {
			c(runs)
		}
		done := 0
		for _, r := range runs {
			if r.State.Final() {
				done++
			}
		}
		if done == len(runs) {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs did not finish: %d of %d", done, len(runs))
		}
		time.Sleep(poll)
	}
}

// checkLaunches checks that each of r's attempts was launched at most once,
// at its own site, and that no attempt the controller does not know of was
// launched: every launch prints a line into the output the site keeps. It
// returns the launches.
func checkLaunches(t *testing.T, lab *siteLab, r *run.Run) []string {
	t.Helper()
	launches := lab.launches(r.ID)
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
	return launches
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestServeBuiltinSites: serve with no site file plans on the built-in
// catalog and runs on the one runnable site it offers, the local one,
// which names no store: it gets a file:// store under its directory, so
// the demo job stages its dataset, runs, checkpoints and succeeds there.
func TestServeBuiltinSites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	p := newServeProc(t)
	p.cat = ""
	p.start()
	defer p.stop()
	ctx := context.Background()
	job := demoJob(t, p.bin, p.state, 60, 20, "5ms")
	r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != defaultLocalSite {
		t.Fatalf("run planned at %q, want the server's own site %q", r.Site, defaultLocalSite)
	}
	r = waitRun(t, p.c, r.ID)
	if r.State != run.Succeeded {
		t.Fatalf("run at built-in site %s ended %s: %s\n%s", r.Site, r.State, r.Reason, p.errb.String())
	}
	if r.Checkpoint == nil || r.Checkpoint.Step != 60 {
		t.Errorf("final checkpoint %+v, want step 60", r.Checkpoint)
	}
	store := "file://" + filepath.Join(p.state, "sites", r.Site, "store")
	if ck := unsealCheckpoint(t, p.state, store, r); ck.Step != 60 {
		t.Errorf("sealed checkpoint in %s at step %d, want 60", store, ck.Step)
	}
	if strings.Contains(p.errb.String(), "excluded from planning") {
		t.Errorf("serve excluded a built-in site:\n%s", p.errb.String())
	}
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
	for _, f := range []string{"audit.key", "agent.key", "client.json"} {
		fi, err := os.Stat(filepath.Join(p.state, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	// Tokens are kept in the database, hashed: no file holds them.
	if _, err := os.Stat(filepath.Join(p.state, api.TokensFile)); !os.IsNotExist(err) {
		t.Errorf("%s exists: %v", api.TokensFile, err)
	}
	second := exec.Command(p.bin, "serve", "--state", p.state, "--listen", "127.0.0.1:0")
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "in use by another meridian serve") {
		t.Errorf("a second serve on the same state started: %v %s", err, out)
	}
	cli(2, "describe", "run", "run-000000000000")
	cli(2, "run", "-f", "/nonexistent.yaml")
	cli(2, "get", "runs", "--token", "wrong")
	cli(2, "get", "jobs")
	// Tamper with the database: the server refuses to start on it, verify
	// must fail and name the entry, and only an explicit, recorded
	// acceptance brings the server back.
	before, err := p.c.AuditAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	db := exec.Command("go", "run", "./testdata/tamper", filepath.Join(p.state, "meridian.db"))
	if b, err := db.CombinedOutput(); err != nil {
		t.Fatalf("tamper: %v %s", err, b)
	}
	if err := p.tryStart(); err == nil || !strings.Contains(err.Error(), "refusing to serve") {
		p.stop()
		t.Fatalf("serve started on a tampered audit log: %v", err)
	}
	if out := cli(1, "audit", "verify", "--state", p.state); !strings.Contains(out, "BROKEN at entry 2 (modified)") {
		t.Errorf("verify after tampering: %s", out)
	}
	p.extra = []string{"--accept-broken-audit"}
	p.start()
	es, err := p.c.AuditAll(context.Background())
	// The acceptance is the first thing the start wrote (before, say, the
	// admin token it made since the harness removed client.json), and the
	// admin's token reads the server's own entries.
	n := len(before)
	if err != nil || len(es) <= n || es[n].Kind != "audit-broken-accepted" || es[n].Redacted {
		var tail []string
		for _, e := range es[min(n, len(es)):] {
			tail = append(tail, fmt.Sprintf("%d %s redacted=%v", e.Seq, e.Kind, e.Redacted))
		}
		t.Errorf("the acceptance is not the first entry after the %d there were: %v; %v", n, tail, err)
	}
	// Accepted once, the break is checked past: the next start needs no
	// acceptance, verify says what was accepted, and a tail cut since the
	// acceptance stops the server again (one accepted break used to hide
	// every later one).
	p.stop()
	p.extra = nil
	p.start()
	if out := cli(0, "audit", "verify", "--state", p.state); !strings.Contains(out, "broken at entry 2 (modified") || !strings.Contains(out, fmt.Sprintf("accepted at entry %d", n+1)) || !strings.Contains(out, "audit log intact") {
		t.Errorf("verify of the accepted log: %s", out)
	}
	p.stop()
	key, _ := audit.LoadKey(p.state)
	sqlExec := func(q string, args ...any) {
		t.Helper()
		sdb, err := store.OpenSQLite(context.Background(), filepath.Join(p.state, "meridian.db"), store.Options{AuditKey: key})
		if err != nil {
			t.Fatal(err)
		}
		_, err = sdb.DB().Exec(q, args...)
		sdb.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The accepted entry changed again is a new break, which the
	// acceptance does not cover: it pinned the entry as it was found (it
	// used to name only the entry and the kind). Put back as accepted, the
	// log verifies again.
	sqlExec(`UPDATE audit SET payload = '{"placement":"elsewhere again"}' WHERE seq = 2`)
	if err := p.tryStart(); err == nil || !strings.Contains(err.Error(), "not accepted") {
		p.stop()
		t.Fatalf("serve on an accepted log whose accepted entry changed again: %v", err)
	}
	if out := cli(1, "audit", "verify", "--state", p.state); !strings.Contains(out, "BROKEN at entry 2 (modified)") || !strings.Contains(out, fmt.Sprintf("entry %d accepted only", n+1)) {
		t.Errorf("verify after the accepted entry changed again: %s", out)
	}
	sqlExec(`UPDATE audit SET payload = '{"placement":"elsewhere"}' WHERE seq = 2`)
	if out := cli(0, "audit", "verify", "--state", p.state); !strings.Contains(out, "audit log intact") {
		t.Errorf("verify with the accepted entry put back: %s", out)
	}
	sqlExec(`DELETE FROM audit WHERE seq > ?`, n+2)
	if err := p.tryStart(); err == nil || !strings.Contains(err.Error(), audit.Truncated) {
		p.stop()
		t.Fatalf("serve on an accepted log cut since: %v", err)
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
		"dataset add demo-text", "transfer ledger", "no key file and no plaintext line of the dataset",
		// The rule change: what-if first, then the revision, the move off the
		// site it makes unlawful after a drain, and the revision in the log.
		"would move to us-ashburn-3", "rules apply rules/no-training-in-my.yaml: revision 1",
		"law-move", "under rules revision 1: rule demo-lab-no-training-in-my", "drained",
		"moved it off my-johor-2", "rules revision 1 (sha256", "law check under revision 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`state succeeded +site us-ashburn-3, attempt 3`).Match(out) {
		t.Errorf("the demo run did not finish at us-ashburn-3 after the rule change:\n%s", out)
	}
}

// checkDemoLedger reads the demo's audit log: it must verify, and hold one
// transfer of the dataset to each site the run used, each sending the whole
// dataset (the sites' stores are separate).
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
		if !tr.Complete || tr.Kind != transfer.KindDataset {
			continue
		}
		if tr.Dataset != "demo-text" || tr.Totals == nil || tr.Totals.ChunksSent != tr.Chunks || tr.Totals.BytesSent == 0 || tr.RunID == "" {
			t.Errorf("ledger entry %s", e.Payload)
		}
		sites = append(sites, tr.Site+" "+tr.To)
	}
	if diff := cmp.Diff([]string{"sg-jurong-1 SG", "my-johor-2 MY", "us-ashburn-3 US"}, sites); diff != "" {
		t.Errorf("transfer ledger sites (-want +got):\n%s", diff)
	}
}

// unsealCheckpoint reads a run's last checkpoint from its site's store with
// the run's key (as the next attempt's agent would) and decodes it.
func unsealCheckpoint(t testing.TB, stateDir, storeURL string, r *run.Run) *charlm.Checkpoint {
	t.Helper()
	ck := r.Checkpoint
	key, err := dataset.Keyring{Dir: filepath.Join(stateDir, "runkeys")}.Get(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(key, ck.Name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dataset.OpenStore(context.Background(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	sub := b.Sub(run.CheckpointPrefix(r.Tenant))
	defer sub.Close()
	dir := filepath.Join(t.TempDir(), "ck")
	if _, err := dataset.UnsealDir(context.Background(), sub, s, ck.Name, dir); err != nil {
		t.Fatalf("run %s: checkpoint %s: %v", r.ID, ck.Name, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ck.Path))
	if err != nil {
		t.Fatal(err)
	}
	c, err := charlm.DecodeCheckpoint(data)
	if err != nil {
		t.Fatalf("run %s: corrupt checkpoint: %v", r.ID, err)
	}
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
