package main

import (
	"context"
	encbin "encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/catalog"
	"meridian.dev/meridian/run"
)

// siteLab is where a serve test's sites run: their catalog, how to lose the
// site runs go to first and bring it back, and where the test (never the
// server) finds what the sites keep. The local and command-line Slurm labs
// keep their jobs in the server's state directory, as those backends do; the
// Kubernetes and slurmrestd labs keep everything of the sites outside it,
// where a confined server cannot reach (confine).
type siteLab struct {
	name    string
	catalog string
	// first is the site runs go to first (the one the tests lose); second
	// the one they move to.
	first, second string
	extra         []string // serve flags
	// denyCountry, when set, is the country a rule applied mid-test makes
	// unlawful, instead of losing the first site (fail).
	denyCountry string
	fail        func(ctx context.Context) error
	restore     func()
	// outputs lists the files in which the sites keep attempts' output, by
	// site.
	outputs func() map[string][]string
	// store is the URL of a site's store.
	store func(site string) string
	// siteDirs hold the sites' files (scratch, output, stores), for the
	// check that no key and no plaintext is left there.
	siteDirs []string
	// swept, when set, checks that the site swept the scratch of each
	// attempt lost with the first site (after the node's return).
	swept func(t *testing.T, runs []*run.Run)
	// ro and rw are what a confined server may read, and read and write,
	// besides the system's directories, its executable and its state
	// directory; nothing else of the sites.
	ro, rw []string
}

// localLab is the demo's three local sites.
func localLab(p *serveProc) *siteLab {
	l := &siteLab{name: "local", catalog: repoCatalog(p.t, "../../examples/demo/sites"), first: "sg-jurong-1", second: "my-johor-2"}
	l.stateSites(p, catalog.BackendSpec{Type: "local"})
	return l
}

// slurmLab is two partitions of the test cluster through Slurm's commands.
func slurmLab(t testing.TB, p *serveProc) *siteLab {
	t.Helper()
	backendtest.Exclusive(t, "slurm-site-ab")
	l := &siteLab{name: "slurm", catalog: repoCatalog(t, "testdata/slurm-sites"), first: "slurm-a", second: "slurm-b"}
	l.stateSites(p, catalog.BackendSpec{Type: "slurm", Partition: "site-a", GresType: "h100"})
	return l
}

// stateSites fills the hooks of sites whose backends keep their jobs under
// the state directory (local, Slurm through its commands).
func (l *siteLab) stateSites(p *serveProc, firstSpec catalog.BackendSpec) {
	root := filepath.Join(p.state, "sites", l.first)
	l.fail = func(ctx context.Context) error { return failSite(ctx, firstSpec, root) }
	l.restore = func() {
		if b, err := backend.For(firstSpec, root); err == nil {
			if f, ok := b.(backend.SiteFailer); ok {
				f.RestoreSite(context.Background())
			}
		}
	}
	l.outputs = func() map[string][]string {
		logs, _ := filepath.Glob(filepath.Join(p.state, "sites", "*", "jobs", "*", "output.log"))
		out := map[string][]string{}
		for _, f := range logs {
			site := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(f))))
			out[site] = append(out[site], f)
		}
		return out
	}
	l.store = func(site string) string { return "file://" + filepath.Join(p.state, "sites", site, "store") }
	l.siteDirs = []string{filepath.Join(p.state, "sites")}
}

// restLab is two partitions of the test cluster through slurmrestd over
// its unix socket (scripts/slurm-up.sh). Its jobs run as the slurm user, so
// the sites' work directories are made for that user and their stores
// carry a default ACL that lets that user write what the server (root)
// wrote there, as a bucket's policy would.
func restLab(t testing.TB) *siteLab {
	t.Helper()
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" {
		t.Skip("set MERIDIAN_TEST_SLURM=1 with a running cluster (scripts/slurm-up.sh)")
	}
	sock, work := os.Getenv("MERIDIAN_SLURMREST_SOCKET"), os.Getenv("MERIDIAN_SLURMREST_WORK")
	if sock == "" || work == "" {
		t.Fatal("MERIDIAN_TEST_SLURM=1 but MERIDIAN_SLURMREST_SOCKET or MERIDIAN_SLURMREST_WORK is unset (source the env.sh of scripts/slurm-up.sh)")
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("MERIDIAN_SLURMREST_SOCKET=%s is not a socket (%v); run scripts/slurm-up.sh", sock, err)
	}
	backendtest.Exclusive(t, "slurm-site-ab")
	slurmUser, err := user.Lookup("slurm")
	if err != nil {
		t.Fatalf("the slurm user that slurmrestd runs jobs as: %v", err)
	}
	uid, _ := strconv.Atoi(slurmUser.Uid)
	root, err := os.MkdirTemp(work, "serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	l := &siteLab{name: "slurmrest", first: "rest-a", second: "rest-b", siteDirs: []string{root},
		ro: []string{filepath.Dir(sock)}, rw: []string{filepath.Join(root, "stores")}}
	dirs := map[string]string{}
	var b strings.Builder
	for i, s := range []struct{ name, partition, gres, country string }{{"rest-a", "site-a", "gpu:h100", "SG"}, {"rest-b", "site-b", "gpu:h20", "MY"}} {
		wd := filepath.Join(root, "work", s.name)
		st := filepath.Join(root, "stores", s.name)
		mkdirs(t, 0o755, filepath.Join(root, "work"), filepath.Join(root, "stores"))
		mkdirs(t, 0o700, wd, st)
		if err := os.Chown(wd, uid, -1); err != nil {
			t.Fatal(err)
		}
		if err := setACL(st, uint32(uid)); err != nil {
			t.Fatalf("store %s: ACL for the slurm user: %v", st, err)
		}
		dirs[s.name] = wd
		fmt.Fprintf(&b, "%s", siteYAML(s.name, s.country, []string{"nvidia-h100-sxm", "nvidia-h20"}[i], float64(i+1), "file://"+st,
			fmt.Sprintf("{type: slurm, restURL: %q, partition: %s, gres: %q, workDir: %q, agent: %q}", "unix://"+sock, s.partition, s.gres, wd, binary(t))))
	}
	l.catalog = writeCatalog(t, b.String())
	cli := catalog.BackendSpec{Type: "slurm", Partition: "site-a", GresType: "h100"}
	cliRoot := t.TempDir()
	l.fail = func(ctx context.Context) error { return failSite(ctx, cli, cliRoot) }
	l.restore = func() {
		if b, err := backend.For(cli, cliRoot); err == nil {
			b.(backend.SiteFailer).RestoreSite(context.Background())
		}
	}
	l.outputs = func() map[string][]string {
		out := map[string][]string{}
		for site, wd := range dirs {
			out[site], _ = filepath.Glob(filepath.Join(wd, "meridian-r*.out"))
		}
		return out
	}
	// Each attempt lost with rest-a gets a sweep job (the backend's Clean),
	// which runs once the node is back and says what it removed.
	l.swept = func(t *testing.T, runs []*run.Run) {
		for _, r := range runs {
			for _, a := range r.Attempts {
				if a.Site != l.first || a.N == r.Attempt || a.Handle == "" {
					continue
				}
				out := filepath.Join(dirs[l.first], fmt.Sprintf("meridian-sweep-%s-%d.out", r.ID, a.N))
				deadline := time.Now().Add(90 * time.Second)
				for {
					data, _ := os.ReadFile(out)
					if strings.Contains(string(data), "removed") {
						t.Logf("sweep after %s attempt %d: %s", r.ID, a.N, strings.TrimSpace(string(data)))
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("no sweep ran for %s attempt %d lost at %s (%s: %q)", r.ID, a.N, a.Site, out, data)
						break
					}
					time.Sleep(250 * time.Millisecond) // polling interval
				}
			}
		}
	}
	l.store = func(site string) string { return "file://" + filepath.Join(root, "stores", site) }
	return l
}

// Nodes and namespaces of the kube-up.sh cluster that the serve tests use.
const (
	kubeNodeA = "meridian-kube-a"
	kubeNodeB = "meridian-kube-b"
)

// kubeLab is two nodes of the Kubernetes test cluster (scripts/kube-up.sh),
// one site each in its own namespace. The nodes run pods as local
// processes, so the sites' agent is this test's meridian binary; their
// scratch and stores are directories of the test.
func kubeLab(t testing.TB) *siteLab {
	t.Helper()
	if os.Getenv("MERIDIAN_TEST_KUBE") != "1" {
		t.Skip("MERIDIAN_TEST_KUBE is not 1; scripts/test.sh starts a cluster and sets it")
	}
	kc, dir := os.Getenv("MERIDIAN_KUBECONFIG"), os.Getenv("MERIDIAN_KUBE_DIR")
	if kc == "" || dir == "" {
		t.Fatal("MERIDIAN_TEST_KUBE=1 but MERIDIAN_KUBECONFIG or MERIDIAN_KUBE_DIR is unset (source the env.sh of scripts/kube-up.sh)")
	}
	cs := kubeAdmin(t, kc)
	// Nodes a and b are lost on purpose here; no other test uses them.
	backendtest.Exclusive(t, "kube-site-ab")
	// A test killed before its cleanup leaves node a lost: restore it
	// (restoring a node that is up changes nothing).
	if err := signalNode(dir, kubeNodeA, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{kubeNodeA, kubeNodeB} {
		waitNodeReady(t, cs, n)
	}
	root := t.TempDir()
	l := &siteLab{name: "kubernetes", first: "kube-a", second: "kube-b", siteDirs: []string{root},
		extra: []string{"--site-timeout", "3s"}, ro: []string{kc}, rw: []string{filepath.Join(root, "stores")}}
	var b strings.Builder
	nodes := map[string]string{"kube-a": kubeNodeA, "kube-b": kubeNodeB}
	for i, s := range []struct{ name, ns, country string }{{"kube-a", "site-a", "SG"}, {"kube-b", "site-b", "MY"}} {
		wd := filepath.Join(root, "scratch", s.name)
		st := filepath.Join(root, "stores", s.name)
		mkdirs(t, 0o700, wd, st)
		fmt.Fprintf(&b, "%s", siteYAML(s.name, s.country, []string{"nvidia-h100-sxm", "nvidia-h20"}[i], float64(i+1), "file://"+st,
			fmt.Sprintf("{type: kubernetes, kubeconfig: %q, namespace: %s, image: %q, nodeSelector: {meridian.dev/site: %s}, workDir: %q, agent: %q}",
				kc, s.ns, "meridian.dev/lab-host:none", s.ns, wd, binary(t))))
	}
	l.catalog = writeCatalog(t, b.String())
	l.fail = func(context.Context) error { return signalNode(dir, kubeNodeA, syscall.SIGUSR1) }
	l.restore = func() {
		if err := signalNode(dir, kubeNodeA, syscall.SIGUSR2); err != nil {
			t.Error(err)
			return
		}
		waitNodeReady(t, cs, kubeNodeA)
	}
	l.outputs = func() map[string][]string {
		out := map[string][]string{}
		for site, node := range nodes {
			out[site], _ = filepath.Glob(filepath.Join(dir, "nodes", node, "pods", "*", "main.log"))
		}
		return out
	}
	l.store = func(site string) string { return "file://" + filepath.Join(root, "stores", site) }
	return l
}

func kubeAdmin(t testing.TB, kubeconfig string) k8s.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitNodeReady waits until the node reports Ready (after a restore, or a
// loss an earlier test left).
func waitNodeReady(t testing.TB, cs k8s.Interface, node string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		cancel()
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not Ready after 30s (%v); is the test cluster up (scripts/kube-up.sh)?", node, err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// signalNode sends sig to a node agent of the test cluster: SIGUSR1 loses
// the node (its pods' processes killed, NotReady), SIGUSR2 restores it.
func signalNode(dir, node string, sig syscall.Signal) error {
	data, err := os.ReadFile(filepath.Join(dir, "run", node+".pid"))
	if err != nil {
		return fmt.Errorf("node agent %s: %w", node, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("node agent %s: pid file: %w", node, err)
	}
	return syscall.Kill(pid, sig)
}

// siteYAML is one test site: one pool of one accelerator at a test price.
func siteYAML(name, country, acc string, price float64, store, backend string) string {
	return fmt.Sprintf(`apiVersion: meridian.dev/v1alpha1
kind: Site
metadata: {name: %s}
spec:
  country: %s
  location: {lat: 1.4, lon: 103.7}
  operator: {name: test-dc, headquarters: SG}
  pools:
    - {accelerator: %s, count: 8, available: 2, pricePerHour: %g, priceSource: "test value"}
  network: {egressPerGB: 0.08, gbps: 10}
  store: %q
  backend: %s
---
`, name, country, acc, price, store, backend)
}

func writeCatalog(t testing.TB, sites string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sites.yaml"), []byte(sites), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mkdirs(t testing.TB, mode os.FileMode, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// setACL gives uid full access to dir and, as a default ACL, to everything
// created in it later by anyone (POSIX ACLs, written as the kernel's
// extended attributes). The owner keeps full access; others none.
func setACL(dir string, uid uint32) error {
	const (
		userObj  = 0x01
		userTag  = 0x02
		groupObj = 0x04
		mask     = 0x10
		other    = 0x20
		noID     = 0xffffffff
	)
	entries := []struct {
		tag, perm uint16
		id        uint32
	}{{userObj, 7, noID}, {userTag, 7, uid}, {groupObj, 5, noID}, {mask, 7, noID}, {other, 0, noID}}
	buf := encbin.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		buf = encbin.LittleEndian.AppendUint16(buf, e.tag)
		buf = encbin.LittleEndian.AppendUint16(buf, e.perm)
		buf = encbin.LittleEndian.AppendUint32(buf, e.id)
	}
	for _, attr := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		if err := unix.Setxattr(dir, attr, buf, 0); err != nil {
			return fmt.Errorf("%s: %w", attr, err)
		}
	}
	return nil
}

// launches lists every launch of run id that the sites' output shows, as
// "SITE run=ID attempt=N", sorted.
func (l *siteLab) launches(id string) []string {
	var out []string
	for site, files := range l.outputs() {
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "launch" && f[1] == "run="+id {
					out = append(out, site+" "+f[1]+" "+f[2])
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// outputOf is the sites' output of run id, for failure messages.
func (l *siteLab) outputOf(id string) string {
	var b strings.Builder
	for _, files := range l.outputs() {
		for _, f := range files {
			data, _ := os.ReadFile(f)
			if strings.Contains(f, id) || strings.Contains(string(data), "run="+id) {
				fmt.Fprintf(&b, "--- %s\n%s\n", f, tail(data, 2000))
			}
		}
	}
	return b.String()
}

// confineEnv carries, to this test binary started as a wrapper, the paths
// the command it then executes may reach (confinement as JSON).
const confineEnv = "MERIDIAN_TEST_CONFINE"

// confinement is what a confined command may reach besides the system's
// directories.
type confinement struct {
	RO []string `json:"ro"`
	RW []string `json:"rw"`
}

// systemRO are the directories every confined command may read: programs,
// libraries, configuration, /proc and /sys. None holds a site's files.
var systemRO = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/proc", "/sys"}

// confineExec is the wrapper: it restricts itself with Landlock to the
// paths the environment names, for every thread and everything it executes
// after, and becomes args. It returns only on failure.
func confineExec(spec string, args []string) int {
	var c confinement
	if err := json.Unmarshal([]byte(spec), &c); err != nil || len(args) == 0 {
		fmt.Fprintf(os.Stderr, "confine: bad %s %q or no command: %v\n", confineEnv, spec, err)
		return 126
	}
	var roDirs, roFiles, rwDirs, rwFiles []string
	split := func(paths []string, dirs, files *[]string) {
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil {
				if fi.IsDir() {
					*dirs = append(*dirs, p)
				} else {
					*files = append(*files, p)
				}
			}
		}
	}
	split(append(append([]string(nil), systemRO...), c.RO...), &roDirs, &roFiles)
	split(c.RW, &rwDirs, &rwFiles)
	rwFiles = append(rwFiles, "/dev/null", "/dev/urandom", "/dev/zero")
	err := landlock.V7.BestEffort().RestrictPaths(
		landlock.RODirs(roDirs...), landlock.ROFiles(roFiles...),
		landlock.RWDirs(rwDirs...).WithRefer(), landlock.RWFiles(rwFiles...).IgnoreIfMissing())
	if err != nil {
		fmt.Fprintln(os.Stderr, "confine: landlock:", err)
		return 126
	}
	os.Unsetenv(confineEnv)
	err = syscall.Exec(args[0], args, os.Environ())
	fmt.Fprintf(os.Stderr, "confine: exec %s: %v\n", args[0], err)
	return 127
}

// confined reports whether the lab's sites keep their files outside the
// server's state directory, so that the server can run unable to open
// them (the Kubernetes and slurmrestd labs).
func (l *siteLab) confined() bool { return len(l.ro)+len(l.rw) > 0 }

// checkConfinement proves that the confinement p.confine holds here before
// a test relies on it: a probe file in each of the sites' directories,
// outside what the server may reach, cannot be read through the wrapper
// that starts the server, while a file the server may read can.
func (l *siteLab) checkConfinement(t testing.TB, p *serveProc) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(confinement{RO: append([]string{p.bin}, p.confine.RO...), RW: p.confine.RW})
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) ([]byte, error) {
		cmd := exec.Command(self, "/bin/cat", path)
		cmd.Env = append(os.Environ(), confineEnv+"="+string(spec))
		return cmd.CombinedOutput()
	}
	for _, dir := range l.siteDirs {
		probe := filepath.Join(dir, "confinement-probe")
		if err := os.WriteFile(probe, []byte("site file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := read(probe)
		os.Remove(probe)
		if err == nil {
			t.Fatalf("a confined process read the site's file %s (%q): Landlock does not confine on this kernel, so the test would prove nothing", probe, out)
		}
		if !strings.Contains(string(out), "Permission denied") {
			t.Fatalf("reading %s confined: %v, want permission denied:\n%s", probe, err, out)
		}
	}
	if out, err := read("/etc/passwd"); err != nil {
		t.Fatalf("a confined process cannot read the system's files: %v\n%s", err, out)
	}
}

// serve starts p on the lab's sites. Where the sites keep their files
// outside the state directory (confined), the server runs unable to open
// any of them but their stores: whatever the test then sees run,
// checkpoint and move, the controller did without reaching into a site.
func (l *siteLab) serve(t testing.TB, p *serveProc) {
	t.Helper()
	p.cat = l.catalog
	p.extra = append(p.extra, l.extra...)
	if l.confined() {
		p.confine = &confinement{RO: l.ro, RW: l.rw}
		l.checkConfinement(t, p)
	}
	p.start()
}

// TestMigrationKubernetes: a run's node is lost mid-run; the run resumes
// from its last checkpoint at the other site (the checkpoint moved store
// to store) and finishes there, each attempt launched once.
func TestMigrationKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	lab := kubeLab(t)
	migration(t, newServeProc(t), lab)
}

// TestMigrationSlurmREST is TestMigrationKubernetes on Slurm through
// slurmrestd, the partition of the run's site lost.
func TestMigrationSlurmREST(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	lab := restLab(t)
	migration(t, newServeProc(t), lab)
}

func migration(t *testing.T, p *serveProc, lab *siteLab) {
	// Long enough (12 s) that the loss, however slowly the scheduler
	// kills the job, comes before the end.
	const steps = 600
	lab.serve(t, p)
	defer p.stop()
	t.Cleanup(lab.restore)
	ctx := context.Background()
	job := demoJob(t, p.bin, p.state, steps, 10, "20ms")
	r, err := p.c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: job}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != lab.first {
		t.Fatalf("run %s planned at %s, want %s", r.ID, r.Site, lab.first)
	}
	deadline := time.Now().Add(60 * time.Second)
	for r.Checkpoint == nil || r.Checkpoint.Step < 20 {
		if r.State.Final() || time.Now().After(deadline) {
			t.Fatalf("run %s: no checkpoint at step 20 or later: %s %s\n%s", r.ID, r.State, r.Reason, lab.outputOf(r.ID))
		}
		time.Sleep(20 * time.Millisecond) // polling interval
		if r, err = p.c.Get(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	seen := r.Checkpoint.Step
	if err := lab.fail(ctx); err != nil {
		t.Fatal(err)
	}
	r = waitRun(t, p.c, r.ID)
	if r.State != run.Succeeded || r.Site != lab.second || r.Attempt != 2 {
		t.Fatalf("run %s ended %s at %s after %d attempts (%s), want succeeded at %s after 2\n%s", r.ID, r.State, r.Site, r.Attempt, r.Reason, lab.second, lab.outputOf(r.ID))
	}
	want := []string{lab.first + " run=" + r.ID + " attempt=1", lab.second + " run=" + r.ID + " attempt=2"}
	if got := lab.launches(r.ID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("launches %v, want %v", got, want)
	}
	// Attempt 2 resumed from a checkpoint no older than the one seen
	// before the loss, which only the store could have carried there.
	resumed := int64(-1)
	for _, f := range lab.outputs()[lab.second] {
		data, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(data), "\n") {
			var n int64
			if _, err := fmt.Sscanf(line, "resume step=%d ", &n); err == nil {
				resumed = n
			}
		}
	}
	if resumed < seen {
		t.Errorf("attempt 2 resumed from step %d, want %d or later\n%s", resumed, seen, lab.outputOf(r.ID))
	}
	if ck := unsealCheckpoint(t, p.state, lab.store(lab.second), r); ck.Step != steps {
		t.Errorf("final checkpoint at step %d, want %d", ck.Step, steps)
	}
}
