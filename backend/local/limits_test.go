package local_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/backend/local"
	"meridian.dev/meridian/catalog"
)

// TestJobFileSizeLimit: nothing bounded the size of a file a job wrote in
// its process; a job now starts under the backend's limits, and a
// workload writing past fsize is stopped there (SIGXFSZ, code 153) with
// the file cut at the limit.
func TestJobFileSizeLimit(t *testing.T) {
	b := newLocal(t, t.TempDir())
	b.Limits = map[string]uint64{"core": 0, "fsize": 1 << 20}
	spec := backend.Spec{RunID: "fsize", Attempt: 1,
		Command: []string{"/bin/sh", "-c", `head -c 2097152 /dev/zero > big; echo "head=$?"`}}
	out := jobOutput(t, b, spec)
	if !strings.Contains(out, "head=153") {
		t.Errorf("a workload writing 2 MiB under fsize=1MiB: output %q; want head killed by SIGXFSZ (head=153)", out)
	}
	fi, err := os.Stat(filepath.Join(b.WorkDir(spec), "big"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 1<<20 {
		t.Errorf("the file written is %d bytes; want it cut at the limit, %d", fi.Size(), 1<<20)
	}
}

// TestJobProcessLimit: a workload under nproc cannot start more processes
// than it allows. As root (whom the kernel exempts from nproc) the
// workload drops to another user first, as the uid sandbox's does; the
// limit survives the change of user.
func TestJobProcessLimit(t *testing.T) {
	cmd := []string{"/bin/sh", "-c", `for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo ended`}
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root without setpriv to leave it: nproc does not apply to root")
		}
		cmd = append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}, cmd...)
	}
	b := newLocal(t, t.TempDir())
	b.Limits = map[string]uint64{"nproc": 3}
	ctx := context.Background()
	h, err := b.Submit(ctx, backend.Spec{RunID: "nproc", Attempt: 1, Command: cmd})
	if err != nil {
		t.Fatal(err)
	}
	st := backendtest.WaitFinal(t, b, h)
	out := jobOutput(t, b, backend.Spec{RunID: "nproc", Attempt: 1, Command: cmd})
	if st.State != backend.Failed || !strings.Contains(strings.ToLower(out), "fork") {
		t.Errorf("a workload starting 8 processes under nproc=3: %s (exit %d), output %q; want it failed for want of a fork", st.State, st.ExitCode, out)
	}
}

// TestJobsDumpNoCore: by default a job's processes write no core dump (a
// workload's memory, its run's key and data among it, on the disk).
func TestJobsDumpNoCore(t *testing.T) {
	b := newLocal(t, t.TempDir())
	out := jobOutput(t, b, backend.Spec{RunID: "core", Attempt: 1,
		Command: []string{"/bin/sh", "-c", `grep '^Max core file size' /proc/self/limits`}})
	if f := strings.Fields(out); len(f) < 6 || f[4] != "0" || f[5] != "0" {
		t.Errorf("a job's core file size limit: %q; want 0 soft and hard", out)
	}
}

// TestLimitsRefused: a limit the backend cannot take is refused by name,
// from the environment at New, and set on a Local at Submit, which then
// starts nothing.
func TestLimitsRefused(t *testing.T) {
	for _, bad := range []string{"nproc=lots", "nofile", "core=0,core=0", "memory=1", "fsize=0"} {
		t.Setenv(local.EnvLimits, bad)
		_, err := local.New(catalog.BackendSpec{}, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), local.EnvLimits) {
			t.Errorf("%s=%q: error %v; want one naming the setting", local.EnvLimits, bad, err)
		}
	}
	t.Setenv(local.EnvLimits, " nproc=4096, core=0 ")
	b, err := local.New(catalog.BackendSpec{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Limits) != 2 || b.Limits["nproc"] != 4096 || b.Limits["core"] != 0 {
		t.Errorf("limits read %v; want nproc=4096 and core=0", b.Limits)
	}
	b.Limits = map[string]uint64{"memory": 1 << 30}
	ran := filepath.Join(t.TempDir(), "ran")
	_, err = b.Submit(context.Background(), backend.Spec{RunID: "bad-limit", Attempt: 1,
		Command: []string{"/bin/sh", "-c", "touch " + ran}})
	if err == nil || !strings.Contains(err.Error(), `"memory"`) {
		t.Errorf("submit with a limit on memory: %v; want an error naming it", err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the job ran though its limits could not be set")
	}

	// One the kernel refuses once the wrapper has started (more open
	// files than the kernel allows any process): the wrapper starts
	// nothing, and has ended when Submit says so, so that a Submit
	// again, with limits that can be set, launches the job.
	data, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Skip(err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	spec := backend.Spec{RunID: "unset-limit", Attempt: 1, Command: []string{"/bin/sh", "-c", "touch " + ran}}
	b.Limits = map[string]uint64{"nofile": nrOpen + 1}
	if _, err := b.Submit(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "nofile") {
		t.Errorf("submit with nofile above the kernel's bound: %v; want an error naming the limit", err)
	}
	// The wrapper's own word that it started nothing, which it writes
	// before it ends: Submit returned after, so the job, had the wrapper
	// started it, would have run (touched ran) by now.
	out, err := os.ReadFile(filepath.Join(b.StateDir(), "jobs", spec.Key(), "output.log"))
	if err != nil || !strings.Contains(string(out), "the job's resource limits were not set; not starting it") {
		t.Errorf("output.log when Submit returned: %q (%v); want the wrapper's refusal to start the job", out, err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the job ran though its limits could not be set")
	}
	b.Limits = local.DefaultLimits()
	jobOutput(t, b, spec)
	if _, err := os.Stat(ran); err != nil {
		t.Errorf("submitted again with limits that can be set, the job did not run: %v", err)
	}
}
