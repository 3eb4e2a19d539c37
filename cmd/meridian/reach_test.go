package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"meridian.dev/meridian/api"
	"meridian.dev/meridian/run"
)

// descriptor is one open descriptor of a process, as /proc shows it.
type descriptor struct {
	fd     int
	target string // where its link leads
	flags  int    // fdinfo's flags (open flags, O_CLOEXEC among them)
}

// descriptorsOf lists the open descriptors of process pid.
func descriptorsOf(t *testing.T, pid int) []descriptor {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("the descriptors of process %d: %v", pid, err)
	}
	var out []descriptor
	for _, e := range es {
		fd, _ := strconv.Atoi(e.Name())
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
		d := descriptor{fd: fd, target: target, flags: -1}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64); err == nil {
					d.flags = int(n)
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// parentOf is the parent of process pid (0 when it cannot be read).
func parentOf(pid int) int {
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// serversDescriptor says whether a workload's descriptor d is one it
// must not hold: a file of serve's parent (under parentDir), of the state
// directory (the database, the audit log, a lock, a job's records), or a
// pipe or socket (a listener, a supervisor's pipe) beyond its standard
// output and error.
func serversDescriptor(d descriptor, parentDir, stateDir string) bool {
	return strings.HasPrefix(d.target, parentDir+"/") || strings.HasPrefix(d.target, stateDir+"/") ||
		strings.HasPrefix(d.target, "pipe:") || strings.HasPrefix(d.target, "socket:") || strings.HasPrefix(d.target, "anon_inode:")
}

// heldWorkload submits script as alpha-lab; the workload prints its pid
// and its working directory, then waits for a file go-on there. It returns
// the run, the workload's pid and its working directory.
func heldWorkload(t *testing.T, c *api.Client, script string) (*run.Run, int, string) {
	t.Helper()
	ctx := context.Background()
	// $$ is a literal $ in a job's command ($(VAR) names a variable).
	held := script + `; echo "PID $$$$ $(pwd)"; while [ ! -e go-on ]; do sleep 0.05; done; echo done-probing`
	r, err := c.Submit(ctx, run.SubmitRequest{Documents: []run.Document{{Name: "job.yaml", Content: jobFor("lab", "SG", nil, held)}}})
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`PID (\d+) (\S+)`)
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		logs, _, _ := c.Logs(ctx, r.ID, 0)
		if m := re.FindSubmatch(logs); m != nil {
			pid, _ := strconv.Atoi(string(m[1]))
			return r, pid, string(m[2])
		}
		if got, err := c.Get(ctx, r.ID); err == nil && got.State.Final() {
			t.Fatalf("the workload ended before it printed its pid (%s: %s):\n%s", got.State, got.Reason, logs)
		}
	}
	t.Fatalf("the workload did not print its pid")
	return nil, 0, ""
}

// TestAttackWorkloadInheritsServerDescriptors: serve started holding
// descriptors its parent left open without close-on-exec (a shell's
// `5>file`, a supervisor's pipe, a socket-activation listener) handed
// them on to every job's wrapper, agent and workload: Go opens its own
// descriptors close-on-exec, but leaves inherited ones as they came, and
// a job's sandbox does not reach a descriptor already open. The workload
// wrote into a file of the server's parent it could not otherwise open.
// Now it holds none of them, no file of the state directory and no pipe
// or socket beyond its standard output and error, neither do the
// processes above it hold any of the inherited ones, and what it writes
// to descriptors 3 to 9 reaches none.
func TestAttackWorkloadInheritsServerDescriptors(t *testing.T) {
	eachSandbox(t, func(t *testing.T, mode string) {
		dir := t.TempDir()
		var files []*os.File
		for i := 0; i < 6; i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("parent-%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			files = append(files, f)
		}
		tv := newTenantsInheriting(t, files, "--workload-sandbox", mode)
		script := `for n in 3 4 5 6 7 8 9; do { echo "workload wrote to $n" >&$n; } 2>/dev/null; done`
		r, pid, wd := heldWorkload(t, tv.alpha, script)
		for _, d := range descriptorsOf(t, pid) {
			if d.fd > 2 && serversDescriptor(d, dir, tv.p.state) {
				t.Errorf("the workload (%s sandbox) holds descriptor %d -> %s (flags %#o)", mode, d.fd, d.target, d.flags)
			}
		}
		for p := parentOf(pid); p > 1 && p != tv.p.cmd.Process.Pid; p = parentOf(p) {
			for _, d := range descriptorsOf(t, p) {
				if strings.HasPrefix(d.target, dir+"/") {
					t.Errorf("process %d above the workload holds descriptor %d -> %s, serve's parent's", p, d.fd, d.target)
				}
			}
		}
		if err := os.WriteFile(filepath.Join(wd, "go-on"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		r = waitRun(t, tv.alpha, r.ID)
		logs, _, _ := tv.alpha.Logs(context.Background(), r.ID, 0)
		if !bytes.Contains(logs, []byte("done-probing")) {
			t.Fatalf("the workload did not run to its end (%s: %s):\n%s", r.State, r.Reason, logs)
		}
		for _, f := range files {
			if b, _ := os.ReadFile(f.Name()); len(b) > 0 {
				t.Errorf("%s, open in serve's parent: %q", f.Name(), b)
			}
		}
	})
}

// TestServeUnderOpenUmaskMakesNothingWritableByOthers: serve started under
// umask 000 (a container's default, a service manager's setting) runs a
// job with a dataset, which it stages into the site's store under the
// state directory; no directory or file it made there may be written by
// others (group or other write bits), or a workload run as another
// tenant's user could change or remove what it holds.
func TestServeUnderOpenUmaskMakesNothingWritableByOthers(t *testing.T) {
	eachSandbox(t, func(t *testing.T, mode string) {
		tv := newTenantsPrepared(t, func(p *serveProc) { p.umask = "000" }, "--workload-sandbox", mode)
		ctx := context.Background()
		src := filepath.Join(t.TempDir(), "prog")
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, "train.sh"), []byte("echo hi\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		doc, key := programData(t, tv.home, "prog", src)
		if _, err := tv.alpha.Apply(ctx, []run.Document{{Name: "d.yaml", Content: doc}}, false); err != nil {
			t.Fatal(err)
		}
		if err := tv.alpha.PutKey(ctx, "prog", key.String()); err != nil {
			t.Fatal(err)
		}
		sandboxedRun(t, tv, jobFor("lab", "SG", []string{"prog"}, `sh "$MERIDIAN_DATA_DIR/prog/train.sh"; echo done-probing`), "done-probing")
		filepath.WalkDir(tv.p.state, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			fi, err := d.Info()
			if err == nil && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
				t.Errorf("%s: mode %v under serve's umask 000", path, fi.Mode())
			}
			return nil
		})
	})
}

// TestCloseUmaskAtOnceKeepsNoClosedUmask: two servers starting together in
// one process (the tests' replicas) each set the umask to 077 for a moment
// and read the other's 077 as the umask to keep, leaving the process at
// 077: every directory made after was closed to the tenants' users, and
// their workloads exited 126. The umask is now read without a change, and
// set under a lock.
func TestCloseUmaskAtOnceKeepsNoClosedUmask(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	for range 200 {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); closeUmask() }()
		}
		wg.Wait()
		if got := unix.Umask(0o022); got != 0o022 {
			t.Fatalf("umask after servers started together: %03o; want 022", got)
		}
	}
}
