package slurm_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/backend/backendtest"
	"meridian.dev/meridian/catalog"
)

// labGPUs is how many GPUs of the site's GRES the test partition's one node
// has (scripts/slurm-up.sh: the conformance partition is node meridian-c,
// gpu:h100:8).
const labGPUs = 8

// capacityReporter is the backend side of run.CapacityReporter.
type capacityReporter interface {
	backend.Backend
	Capacity(ctx context.Context) (map[string]int, error)
}

// capacityOf asks b once, logging how long the call took.
func capacityOf(t *testing.T, b capacityReporter, what string) int {
	t.Helper()
	return backendtest.Capacity(t, testCtx(t), b, what)
}

// squeueLines lists the partition's jobs in the given states.
func squeueLines(t *testing.T, partition, states string) []string {
	t.Helper()
	out, err := exec.Command("squeue", "-h", "-p", partition, "-t", states, "-o", "%i %T").CombinedOutput()
	if err != nil {
		t.Fatalf("squeue: %v: %s", err, out)
	}
	return strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' })
}

// waitQuiet waits until no job runs on the partition (jobs of earlier tests
// may still be ending), so that its GPUs are all free.
func waitQuiet(t *testing.T, partition string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		jobs := squeueLines(t, partition, "RUNNING,COMPLETING,SUSPENDED,PENDING,CONFIGURING")
		if len(jobs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition %s still has jobs after 60 s: %q", partition, jobs)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// foreignJob submits a job that is not Meridian's (sbatch directly) holding
// n of the partition's GPUs, and waits until it runs; it is cancelled when
// the test ends. It returns the job id.
func foreignJob(t *testing.T, site catalog.BackendSpec, n int) string {
	t.Helper()
	out, err := exec.Command("sbatch", "--parsable", "--no-requeue", "-p", site.Partition,
		"--gres=gpu:"+site.GresType+":"+strconv.Itoa(n), "-o", "/dev/null", "--job-name=not-meridian",
		"--wrap", "exec sleep 600").CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	cancelAtEnd(t, id)
	waitJobState(t, id, "RUNNING")
	return id
}

// waitJobState waits until squeue reports the job in state (or, for "",
// no longer lists it as pending, running or completing).
func waitJobState(t *testing.T, id, state string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := exec.Command("squeue", "-h", "-j", id, "-t", "all", "-o", "%T").Output()
		got := strings.TrimSpace(string(out))
		if got == state || state == "" && got != "RUNNING" && got != "PENDING" && got != "COMPLETING" && got != "CONFIGURING" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %q after 60 s, want %q", id, got, state)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// testCapacity runs the capacity story against one path to the cluster:
// idle, a foreign job, Meridian's own job (seen as own by its server and as
// foreign by another), a drained node, a lost site.
func testCapacity(t *testing.T, cli catalog.BackendSpec, mk func(t *testing.T, dir string) capacityReporter, spec func(t *testing.T) backend.Spec) {
	failer := newSlurm(t, cli, t.TempDir())
	t.Cleanup(func() {
		if err := failer.RestoreSite(context.Background()); err != nil {
			t.Errorf("restore the site: %v", err)
		}
	})
	b := mk(t, t.TempDir())
	other := mk(t, t.TempDir()) // another server's view of the same site
	waitQuiet(t, cli.Partition)
	if n := capacityOf(t, b, "idle"); n != labGPUs {
		t.Fatalf("idle partition: capacity %d, want the node's %d GPUs", n, labGPUs)
	}

	foreign := foreignJob(t, cli, 3)
	if n := capacityOf(t, b, "a foreign job holds 3"); n != labGPUs-3 {
		t.Fatalf("with a foreign job holding 3: capacity %d, want %d", n, labGPUs-3)
	}

	sp := spec(t)
	sp.Accelerators = 2
	h, err := b.Submit(testCtx(t), sp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Cancel(context.Background(), h) })
	waitJobState(t, h, "RUNNING")
	if n := capacityOf(t, b, "own job holds 2"); n != labGPUs-3 {
		t.Fatalf("with the server's own job holding 2: capacity %d, want %d (its GPUs are its to give)", n, labGPUs-3)
	}
	if n := capacityOf(t, other, "another server's job holds 2"); n != labGPUs-3-2 {
		t.Fatalf("another server sees capacity %d, want %d (the job is not its own)", n, labGPUs-3-2)
	}

	// A drained node takes no new jobs: only what the own job holds there
	// counts.
	node := nodeOf(t, cli.Partition)
	if out, err := exec.Command("scontrol", "update", "nodename="+node, "state=drain", "reason=meridian-capacity-test").CombinedOutput(); err != nil {
		t.Fatalf("drain %s: %v: %s", node, err, out)
	}
	if n := capacityOf(t, b, "node drained"); n != 2 {
		t.Fatalf("node drained: capacity %d, want the own job's 2", n)
	}
	if n := capacityOf(t, other, "node drained, another server"); n != 0 {
		t.Fatalf("node drained: another server sees capacity %d, want 0", n)
	}
	if err := failer.RestoreSite(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitResponding(t, node)
	if n := capacityOf(t, b, "node resumed"); n != labGPUs-3 {
		t.Fatalf("node resumed: capacity %d, want %d", n, labGPUs-3)
	}

	// The foreign job ends: its GPUs come back.
	if out, err := exec.Command("scancel", foreign).CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v: %s", err, out)
	}
	waitJobState(t, foreign, "")
	if n := capacityOf(t, b, "foreign job ended"); n != labGPUs {
		t.Fatalf("foreign job ended: capacity %d, want %d", n, labGPUs)
	}

	// The site is lost (partition and node down, jobs killed): nothing.
	if err := failer.FailSite(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := capacityOf(t, b, "site lost"); n != 0 {
		t.Fatalf("site lost: capacity %d, want 0", n)
	}
}

// waitResponding waits until slurmctld has heard from a resumed node:
// until then sinfo flags it not_responding, and it takes no jobs.
func waitResponding(t *testing.T, node string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command("sinfo", "-h", "-N", "-n", node, "-O", "StateComplete:|").Output()
		if err != nil {
			t.Fatal(err)
		}
		st := strings.TrimSpace(string(out))
		if !strings.Contains(st, "not_responding") && !strings.Contains(st, "drain") && !strings.Contains(st, "down") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s is %q 60 s after it was resumed", node, st)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// nodeOf is the partition's one node.
func nodeOf(t *testing.T, partition string) string {
	t.Helper()
	out, err := exec.Command("sinfo", "-h", "-p", partition, "-N", "-o", "%N").Output()
	if err != nil {
		t.Fatal(err)
	}
	nodes := strings.Fields(string(out))
	if len(nodes) != 1 {
		t.Fatalf("partition %s has nodes %q, want one", partition, nodes)
	}
	return nodes[0]
}

// TestCapacity: through Slurm's commands, a site reports its idle GPUs,
// less those a foreign job holds, not less those its own job holds, and
// none of a drained or lost node.
func TestCapacity(t *testing.T) {
	site := cluster(t)
	testCapacity(t, site, func(t *testing.T, dir string) capacityReporter {
		return newSlurm(t, site, dir)
	}, func(t *testing.T) backend.Spec {
		return backend.Spec{RunID: uniqueRunID(t, "capacity"), Attempt: 1,
			Command: []string{"/bin/sh", "-c", "exec sleep 600"}, WorkDir: t.TempDir()}
	})
}

// TestRESTCapacity: the same through slurmrestd.
func TestRESTCapacity(t *testing.T) {
	site, cli := restCluster(t)
	testCapacity(t, cli, func(t *testing.T, dir string) capacityReporter {
		return newREST(t, site, dir)
	}, func(t *testing.T) backend.Spec {
		return backend.Spec{RunID: uniqueRunID(t, "rest-capacity"), Attempt: 1,
			Command: []string{"/bin/sh", "-c", "exec sleep 600"}, WorkDir: restWorkDir(t)}
	})
}

// TestCapacityDefaultPartition: a site that names no partition counts the
// cluster's default one; an unknown partition is an error naming it.
func TestCapacityDefaultPartition(t *testing.T) {
	rest, cli := restCluster(t)
	cli.Partition, rest.Partition = "", ""
	for name, b := range map[string]capacityReporter{
		"commands": newSlurm(t, cli, t.TempDir()),
		"rest":     newREST(t, rest, t.TempDir()),
	} {
		if n, err := b.Capacity(testCtx(t)); err != nil {
			t.Errorf("%s: capacity of the default partition: %v", name, err)
		} else {
			t.Logf("%s: default partition: %v", name, n)
		}
	}
	cli.Partition, rest.Partition = "no-such-partition", "no-such-partition"
	if _, err := newSlurm(t, cli, t.TempDir()).Capacity(testCtx(t)); err == nil || !strings.Contains(err.Error(), "no-such-partition") {
		t.Errorf("unknown partition: %v", err)
	}
	if _, err := newREST(t, rest, t.TempDir()).Capacity(testCtx(t)); err == nil || !strings.Contains(err.Error(), "backend.partition") {
		t.Errorf("unknown partition through slurmrestd: %v", err)
	}
}

// BenchmarkCapacity measures one capacity poll of the test partition
// through Slurm's commands (sinfo, squeue) and through slurmrestd (GET
// partitions, nodes, jobs). The cluster's job list (MinJobAge keeps ended
// jobs an hour) is part of what the slurmrestd path reads.
func BenchmarkCapacity(b *testing.B) {
	if os.Getenv("MERIDIAN_TEST_SLURM") != "1" || os.Getenv("MERIDIAN_SLURMREST_SOCKET") == "" {
		b.Skip("MERIDIAN_TEST_SLURM is not 1 or MERIDIAN_SLURMREST_SOCKET is unset")
	}
	part := envOr("MERIDIAN_TEST_SLURM_PARTITION", "conformance")
	gres := "gpu:" + envOr("MERIDIAN_TEST_SLURM_GRES", "h100")
	cli := newSlurm(b, catalog.BackendSpec{Type: "slurm", Partition: part, Gres: gres, Endpoint: os.Getenv("SLURM_CONF")}, b.TempDir())
	rest := newREST(b, catalog.BackendSpec{Type: "slurm", RestURL: "unix://" + os.Getenv("MERIDIAN_SLURMREST_SOCKET"), Partition: part, Gres: gres}, b.TempDir())
	for _, c := range []struct {
		name string
		r    capacityReporter
	}{{"commands", cli}, {"rest", rest}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.r.Capacity(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
