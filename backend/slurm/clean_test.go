package slurm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/slurm"
)

// TestCleanKeepsWhatAJobMayStillUse: Clean removed the work directory of
// a job that Status read as lost because its node was down, though the
// node had only stopped responding and the job still ran there (or
// slurmctld had ended the job, NODE_FAIL, but could not yet tell the node
// to). It now removes the directory only once slurmctld has ended the job
// and the job's nodes respond and are up, or the job wrote its exit code;
// once slurmctld has forgotten the job, by the nodes it was seen on.
func TestCleanKeepsWhatAJobMayStillUse(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := filepath.Join(state, "jobs", "r1-1")
	script := filepath.Join(job, "job.sh")
	squeueOut, nodeOut := filepath.Join(dir, "squeue.out"), filepath.Join(dir, "node.out")
	b := fakeSlurm(t, state, map[string]string{
		"squeue":   "#!/bin/sh\n[ -e " + squeueOut + " ] || { echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1; }\ncat " + squeueOut + "\n",
		"scontrol": "#!/bin/sh\ncat " + nodeOut + "\n",
	})
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	slurm.WriteRecord(t, state, filepath.Join("handles", "777"), "r1-1")
	slurm.WriteRecord(t, state, filepath.Join("jobs", "r1-1", "jobid"), "777")
	write(script, "")
	write(filepath.Join(job, "started"), "")
	work := b.WorkDir(backend.Spec{RunID: "r1", Attempt: 1})
	for _, c := range []struct {
		what        string
		slurmState  string // "": slurmctld has forgotten the job
		node        string // the node's State, as scontrol shows it
		files       map[string]string
		removeFiles []string
		removed     bool
	}{
		{what: "running, its node not responding", slurmState: "RUNNING", node: "DOWN*"},
		{what: "node_fail, its node not responding", slurmState: "NODE_FAIL", node: "DOWN*"},
		{what: "node_fail, its node idle but not responding", slurmState: "NODE_FAIL", node: "IDLE*"},
		{what: "node_fail, its node down", slurmState: "NODE_FAIL", node: "DOWN+DRAIN"},
		{what: "completing, its node up", slurmState: "COMPLETING", node: "IDLE"},
		{what: "forgotten, its node not responding", node: "DOWN*"},
		{what: "forgotten, where it ran unknown", node: "IDLE", removeFiles: []string{"nodes"}},
		{what: "node_fail, its node back", slurmState: "NODE_FAIL", node: "IDLE", removed: true},
		{what: "forgotten, its node back", node: "IDLE", removed: true},
		{what: "forgotten, exit code written", node: "DOWN*", removeFiles: []string{"nodes"}, files: map[string]string{"exitcode": "0\n"}, removed: true},
	} {
		write(filepath.Join(work, "data"), "plaintext")
		for _, name := range c.removeFiles {
			os.Remove(filepath.Join(job, name))
		}
		for name, data := range c.files {
			write(filepath.Join(job, name), data)
		}
		os.Remove(squeueOut)
		if c.slurmState != "" {
			write(squeueOut, strings.Join([]string{"777", c.slurmState, "0", "2026-01-01T00:00:00", "2026-01-01T00:00:01", "n1", "None", filepath.Join(job, "output.log"), script, ownUID}, "\x1f")+"\x1f\n")
		}
		write(nodeOut, "NodeName=n1 Arch=x86_64 State="+c.node+" Partitions=p\n")
		if err := b.Clean(context.Background(), "777"); err != nil {
			t.Fatalf("%s: Clean: %v", c.what, err)
		}
		_, err := os.Stat(work)
		if gone := os.IsNotExist(err); gone != c.removed {
			t.Errorf("%s: work directory removed %v, want %v", c.what, gone, c.removed)
		}
	}
}

// TestCleanWaitsForANodeNotRespondingOnRealSlurm: on the real cluster, the
// slurmd of a running job's node stops answering (it is stopped; the job's
// processes run on). slurmctld ends the job NODE_FAIL once the node
// reads down, and Status reads it lost, but the job still runs in its work
// directory: Clean removed it then. It now keeps the directory while the
// node does not respond, and removes it once the node is back.
func TestCleanWaitsForANodeNotRespondingOnRealSlurm(t *testing.T) {
	site := cluster(t)
	b := newSlurm(t, site, t.TempDir())
	pidFile := filepath.Join(t.TempDir(), "job.pid")
	spec := backend.Spec{RunID: uniqueRunID(t, "cleannr"), Attempt: 1,
		Command: []string{"/bin/sh", "-c", "echo $$ >" + pidFile + "; exec sleep 300"}}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, h)
	waitRunning(t, b, h)
	// slurmctld reads the job running once it has placed it; slurmd
	// starts it a moment later.
	var data []byte
	for deadline := time.Now().Add(30 * time.Second); ; {
		if data, err = os.ReadFile(pidFile); err == nil && len(data) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job's command has not started 30 s after the job read running: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	jobPid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	node, err := runCmd("squeue", "-h", "-j", h, "-o", "%N")
	if err != nil {
		t.Fatal(err)
	}
	node = strings.TrimSpace(node)
	data, err = os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(os.Getenv("SLURM_CONF"))), "run", "slurmd-"+node+".pid"))
	if err != nil {
		t.Fatalf("the slurmd of node %s: %v", node, err)
	}
	slurmd, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// slurmd is continued whatever happens to this test, even if it is
	// killed: by a process of its own after a while, and at the end.
	guard := exec.Command("/bin/sh", "-c", "sleep 180; kill -CONT "+strconv.Itoa(slurmd))
	guard.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := guard.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(slurmd, syscall.SIGCONT)
		guard.Process.Kill()
		guard.Wait()
		b.RestoreSite(context.Background())
	})
	if err := syscall.Kill(slurmd, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	work := b.WorkDir(spec)
	deadline := time.Now().Add(120 * time.Second)
	for {
		out, err := runCmd("squeue", "-h", "-t", "all", "-j", h, "-o", "%T")
		if err != nil {
			t.Fatal(err)
		}
		if st := strings.TrimSpace(out); st != "RUNNING" {
			if st != "NODE_FAIL" {
				t.Fatalf("job %s is %s once its node stopped answering, want node_fail", h, st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still running 120 s after its node stopped answering", h)
		}
		time.Sleep(time.Second) // polling interval
	}
	if st, err := b.Status(testCtx(t), h); err != nil || st.State != backend.Lost {
		t.Fatalf("Status once the node is down = %+v, %v; want lost", st, err)
	}
	if err := syscall.Kill(jobPid, 0); err != nil {
		t.Fatalf("the job's process %d no longer runs once its node reads down (%v): the test shows nothing", jobPid, err)
	}
	if err := b.Clean(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(work); err != nil {
		t.Fatalf("Clean while the job still ran on a node not responding removed its work directory: %v", err)
	}
	if err := syscall.Kill(slurmd, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := b.RestoreSite(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		if err := b.Clean(testCtx(t), h); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(work); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Clean kept the work directory 60 s after the node came back")
		}
		time.Sleep(time.Second) // polling interval
	}
}

// TestCancelEndsAJobStatusReadsLost: Status reads a job lost while it waits
// on a partition that is down, and Cancel, going by Status, took it for
// ended and did not cancel it: the job stayed queued and ran once the
// partition was back, beside the attempt that replaced it. Cancel now asks
// slurmctld whether the job has ended.
func TestCancelEndsAJobStatusReadsLost(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	script := filepath.Join(state, "jobs", "r1-1", "job.sh")
	calls := filepath.Join(dir, "scancel.calls")
	b := fakeSlurm(t, state, map[string]string{
		"squeue":  "#!/bin/sh\nprintf '777\\037PENDING\\0370\\037N/A\\037N/A\\037\\037PartitionDown\\037/x\\037" + script + "\\037" + ownUID + "\\037\\n'\n",
		"scancel": scancelEnds(calls),
	})
	if err := os.MkdirAll(filepath.Dir(script), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "handles", "777"), []byte("r1-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(context.Background(), "777"); err != nil || st.State != backend.Lost {
		t.Fatalf("Status of a job pending on a partition that is down = %+v, %v; want lost", st, err)
	}
	if err := b.Cancel(context.Background(), "777"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(calls); err != nil || strings.TrimSpace(string(data)) != "777" {
		t.Fatalf("scancel calls %q (%v); want one for job 777", data, err)
	}
}

// TestCancelEndsAJobPendingOnALostSiteOnRealSlurm: on the real cluster, a
// job waits for the node another job holds, and the site is lost (its
// partition and node set down): the job reads lost, but stays queued.
// Cancel left it so; it now cancels it.
func TestCancelEndsAJobPendingOnALostSiteOnRealSlurm(t *testing.T) {
	site := cluster(t)
	b := newSlurm(t, site, t.TempDir())
	out, err := runCmd("sbatch", "--parsable", "--partition="+site.Partition, "--gres=gpu:"+site.GresType+":8",
		"--output=/dev/null", "--chdir="+t.TempDir(), "--wrap=sleep 300")
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	blocker := strings.TrimSpace(out)
	cancelAtEnd(t, blocker)
	spec := backend.Spec{RunID: uniqueRunID(t, "pendlost"), Attempt: 1, Accelerators: 1,
		Command: []string{"/bin/sh", "-c", "exec sleep 300"}}
	h, err := b.Submit(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	cancelAtEnd(t, h)
	t.Cleanup(func() { b.RestoreSite(context.Background()) })
	if err := b.FailSite(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		st, err := b.Status(testCtx(t), h)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == backend.Lost {
			break
		}
		if st.State != backend.Pending || time.Now().After(deadline) {
			t.Fatalf("Status of the job waiting on the lost site = %+v; want pending, then lost", st)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	if err := b.Cancel(testCtx(t), h); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd("squeue", "-h", "-t", "all", "-j", h, "-o", "%T"); err != nil || strings.TrimSpace(out) != "CANCELLED" {
		t.Fatalf("the job after Cancel: %q, %v; want cancelled", out, err)
	}
}

// TestCancelNotSwayedByARewrittenHandleRecord: the record naming a job
// id's attempt (handles/ID) lies in the state directory, which the
// cluster's nodes write and a workload, running as the backend's user,
// may rewrite. A workload that pointed its job's record at another
// attempt (here one that succeeded) made Status read its running job as
// one that had taken over a forgotten id, with the other attempt's
// result, and Cancel leave it running. The job is now told by its
// command, which slurmctld fixes at submission: Status reads it running
// and Cancel ends it.
func TestCancelNotSwayedByARewrittenHandleRecord(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	script := filepath.Join(state, "jobs", "r1-1", "job.sh")
	calls := filepath.Join(dir, "scancel.calls")
	b := fakeSlurm(t, state, map[string]string{
		"squeue":  "#!/bin/sh\nprintf '777\\037RUNNING\\0370\\037N/A\\037N/A\\037\\037None\\037/x\\037" + script + "\\037" + ownUID + "\\037\\n'\n",
		"scancel": scancelEnds(calls),
	})
	for _, d := range []string{filepath.Dir(script), filepath.Join(state, "jobs", "r2-1")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for p, data := range map[string]string{
		filepath.Join(state, "jobs", "r1-1", "jobid"):    "777\n",
		filepath.Join(state, "jobs", "r2-1", "exitcode"): "0\n",
		// As the workload of r1-1 rewrote it.
		filepath.Join(state, "handles", "777"): "r2-1\n",
	} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := b.Status(context.Background(), "777"); err != nil || st.State != backend.Running {
		t.Fatalf("Status of the running job whose id record was rewritten = %+v, %v; want running", st, err)
	}
	if err := b.Cancel(context.Background(), "777"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(calls); err != nil || strings.TrimSpace(string(data)) != "777" {
		t.Fatalf("scancel calls %q (%v); want one for job 777", data, err)
	}
}
